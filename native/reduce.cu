// Order-stable sum of a float vector.
#include "cuda_prelude.h"

// dest[0] = sum x[i]. Only block 0 works: lane L (of 256, whatever the block size) adds x[L], x[L + 256], ... in float
// in that order, then the lanes are tree-summed (s = 128, ..., 1: lane[j] += lane[j + s]). Bitwise reproducible.
extern "C" __global__ void sum_reduce(int n, const float* x, float* dest)
{
    __shared__ float sh[SAC_LANES];
    if (sac_ctaid() != 0) return;
    for (int lane = sac_tid(); lane < SAC_LANES; lane += sac_ntid())
    {
        float acc = 0.0f;
        for (long long i = lane; i < n; i += SAC_LANES)
            acc = acc + x[i];
        sh[lane] = acc;
    }
    __syncthreads();
    for (int s = SAC_LANES / 2; s > 0; s >>= 1)
    {
        for (int j = sac_tid(); j < s; j += sac_ntid())
            sh[j] = sh[j] + sh[j + s];
        __syncthreads();
    }
    if (sac_tid() == 0) dest[0] = sh[0];
}
