// Adam with global-norm gradient clipping, as Sac.Core Adam.Update (PyTorch numerics, clip_grad_norm_ as a scale).
#include "cuda_prelude.h"

// Sums 256 lanes held in sh[0..255] with the fixed tree; the sum ends in sh[0]. Every thread of the block must call it.
SAC_INLINE void tree_sum_lanes(double* sh)
{
    __syncthreads();
    for (int s = SAC_LANES / 2; s > 0; s >>= 1)
    {
        for (int j = sac_tid(); j < s; j += sac_ntid())
            sh[j] = sh[j] + sh[j + s];
        __syncthreads();
    }
}

// partials[b] = sum of g[i]^2 in double over block b's share of the fixed partition: lane L of block b takes
// i = b * 256 + L + k * 256 * gridDim (k = 0, 1, ...) in increasing k; the 256 lanes are then tree-summed.
// The partition depends only on gridDim.x (at most 256), never on blockDim.x.
extern "C" __global__ void sum_squares_partial(int n, const float* g, double* partials)
{
    __shared__ double sh[SAC_LANES];
    long long stride = (long long)SAC_LANES * sac_nctaid();
    for (int lane = sac_tid(); lane < SAC_LANES; lane += sac_ntid())
    {
        double acc = 0.0;
        for (long long i = (long long)sac_ctaid() * SAC_LANES + lane; i < n; i += stride)
        {
            double x = (double)g[i];
            acc = acc + x * x;
        }
        sh[lane] = acc;
    }
    tree_sum_lanes(sh);
    if (sac_tid() == 0) partials[sac_ctaid()] = sh[0];
}

// One Adam step (Kingma & Ba 2015, Alg. 1, PyTorch form): g' = scale g, m = b1 m + (1 - b1) g',
// v = b2 v + (1 - b2) g'^2, p -= stepSize m / (sqrt(v) invSqrtCorrection2 + eps), where stepSize = lr / (1 - b1^t) and
// invSqrtCorrection2 = 1 / sqrt(1 - b2^t) come from the host (double, rounded to float). With partialCount > 0 the
// clip scale min(1, maxNorm / (||g|| + 1e-6)) is computed on the device from sum_squares_partial's partials: lanes
// j < partialCount hold partials[j], the rest 0, tree-summed as there; ||g|| = (float)sqrt(sum).
extern "C" __global__ void adam(int n, float stepSize, float invSqrtCorrection2, float beta1, float beta2, float eps,
                                float maxNorm, int partialCount, const double* partials, float* parameters,
                                const float* gradients, float* firstMoment, float* secondMoment)
{
    __shared__ double sh[SAC_LANES];
    __shared__ float shScale;
    float scale = 1.0f;
    if (partialCount > 0)
    {
        for (int lane = sac_tid(); lane < SAC_LANES; lane += sac_ntid())
            sh[lane] = lane < partialCount ? partials[lane] : 0.0;
        tree_sum_lanes(sh);
        if (sac_tid() == 0)
        {
            float norm = (float)sac_sqrt(sh[0]);
            shScale = sac_min(1.0f, maxNorm / (norm + 1e-6f));
        }
        __syncthreads();
        scale = shScale;
    }
    float oneMinusBeta1 = 1.0f - beta1, oneMinusBeta2 = 1.0f - beta2;
    for (long long i = sac_first(); i < n; i += sac_stride())
    {
        float g = gradients[i] * scale;
        float m = beta1 * firstMoment[i] + oneMinusBeta1 * g;
        float v = beta2 * secondMoment[i] + oneMinusBeta2 * (g * g);
        float denom = sac_sqrtf(v) * invSqrtCorrection2 + eps;
        firstMoment[i] = m;
        secondMoment[i] = v;
        parameters[i] = parameters[i] - stepSize * m / denom;
    }
}
