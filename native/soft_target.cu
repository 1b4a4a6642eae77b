// Fused soft Q target for a minibatch (SAC v2, eqs. 2-3), as Sac.Fs SoftBellman.targetBatch.
#include "cuda_prelude.h"

// y[i] = r[i] + gamma (1 - terminated[i]) (min(q1[i], q2[i]) - alpha logPi[i]); target may alias an input.
extern "C" __global__ void soft_target(int n, float gamma, float alpha, const float* reward, const float* terminated,
                                       const float* q1, const float* q2, const float* logPi, float* target)
{
    for (long long i = sac_first(); i < n; i += sac_stride())
    {
        float v = sac_min(q1[i], q2[i]) - alpha * logPi[i];
        target[i] = reward[i] + gamma * (1.0f - terminated[i]) * v;
    }
}
