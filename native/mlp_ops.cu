// The element-wise and column kernels between an MLP's GEMMs, as Sac.Core FusedOps, plus the two column shuffles a
// SAC update needs (critic input [s, a], and dL/da summed over both critics).
#include "cuda_prelude.h"

// activation: 0 identity, 1 ReLU, 2 tanh, 3 ELU (alpha 1), 4 LeakyReLU (slope 0.01) (Sac.Core.Compute.Activation).

// z[i, j] = act(z[i, j] + bias[j]); one thread per element (grid-stride). ReLU and LeakyReLU keep NaN (they change
// only negative values); ELU is expm1 where v <= 0 (and NaN fails v > 0, so it stays NaN).
extern "C" __global__ void bias_activation_forward(int rows, int cols, int activation, const float* bias, float* z)
{
    long long total = (long long)rows * cols;
    for (long long k = sac_first(); k < total; k += sac_stride())
    {
        float v = z[k] + bias[k % cols];
        if (activation == 1) v = v < 0.0f ? 0.0f : v;
        else if (activation == 2) v = sac_tanhf(v);
        else if (activation == 3) v = v > 0.0f ? v : sac_expm1f(v);
        else if (activation == 4) v = v < 0.0f ? v * 0.01f : v;
        z[k] = v;
    }
}

// dy *= act'(z) through the output y: ReLU [y > 0], tanh 1 - y^2, ELU 1 or y + 1, LeakyReLU 1 or 0.01 (the
// negative piece's slope at y = 0, as ReLU), identity 1; one thread per element.
extern "C" __global__ void activation_backward(int n, int activation, const float* y, float* dy)
{
    if (activation == 0) return;
    for (long long k = sac_first(); k < n; k += sac_stride())
    {
        float yv = y[k];
        if (activation == 1) dy[k] = yv > 0.0f ? dy[k] : 0.0f;
        else if (activation == 3) dy[k] = yv > 0.0f ? dy[k] : dy[k] * (yv + 1.0f);
        else if (activation == 4) dy[k] = yv > 0.0f ? dy[k] : dy[k] * 0.01f;
        else dy[k] = dy[k] * (1.0f - yv * yv);
    }
}

// dest[j] (+)= sum_i x[i, j]; one thread per column (grid-stride), rows added top to bottom from 0, then to dest.
extern "C" __global__ void column_sums(int rows, int cols, int accumulate, const float* x, float* dest)
{
    for (long long j = sac_first(); j < cols; j += sac_stride())
    {
        float s = 0.0f;
        for (long long i = 0; i < rows; i++)
            s = s + x[i * cols + j];
        dest[j] = accumulate != 0 ? dest[j] + s : s;
    }
}

// dest[i, :] = [left[i, :], right[i, :]]; one thread per element of dest (grid-stride).
extern "C" __global__ void concat_columns(int rows, int leftCols, int rightCols, const float* left, const float* right,
                                          float* dest)
{
    long long width = (long long)leftCols + rightCols;
    long long total = (long long)rows * width;
    for (long long k = sac_first(); k < total; k += sac_stride())
    {
        long long i = k / width;
        long long j = k - i * width;
        dest[k] = j < leftCols ? left[i * leftCols + j] : right[i * rightCols + (j - leftCols)];
    }
}

// dest[i, j] = x1[i, offset + j] + x2[i, offset + j] for j < cols; one thread per element of dest (grid-stride).
extern "C" __global__ void sum_column_block(int rows, int width, int offset, int cols, const float* x1,
                                            const float* x2, float* dest)
{
    long long total = (long long)rows * cols;
    for (long long k = sac_first(); k < total; k += sac_stride())
    {
        long long i = k / cols;
        long long src = i * width + offset + (k - i * cols);
        dest[k] = x1[src] + x2[src];
    }
}
