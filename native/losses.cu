// Per-row SAC loss terms and their gradients (SAC v2, eqs. 5 and 9), as Sac.Fs Losses.critic / Losses.actor; the
// loss is the sum of the terms (sum_reduce).
#include "cuda_prelude.h"

// J_Q = mean 0.5 (q - y)^2: qGrad = (q - y) / n, terms = 0.5 (q - y)^2 / n.
extern "C" __global__ void critic_loss(int n, const float* q, const float* target, float* qGrad, float* terms)
{
    float nf = (float)n;
    for (long long i = sac_first(); i < n; i += sac_stride())
    {
        float d = q[i] - target[i];
        qGrad[i] = d / nf;
        terms[i] = 0.5f * d * d / nf;
    }
}

// J_pi = mean (alpha logPi - min(q1, q2)): terms = (alpha logPi - min(q1, q2)) / n, dLogPi = alpha / n, and -1/n to
// the smaller critic (q1 when q1 <= q2, q2 otherwise, so q2 also when either is NaN), 0 to the other.
extern "C" __global__ void actor_loss(int n, float alpha, const float* logPi, const float* q1, const float* q2,
                                      float* logPiGrad, float* q1Grad, float* q2Grad, float* terms)
{
    float nf = (float)n;
    float gLogPi = alpha / nf;
    float gMin = -1.0f / nf;
    for (long long i = sac_first(); i < n; i += sac_stride())
    {
        float a = q1[i], c = q2[i];
        terms[i] = (alpha * logPi[i] - sac_min(a, c)) / nf;
        logPiGrad[i] = gLogPi;
        bool first = a <= c;
        q1Grad[i] = first ? gMin : 0.0f;
        q2Grad[i] = first ? 0.0f : gMin;
    }
}
