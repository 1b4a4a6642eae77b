// Reparameterised tanh-Gaussian policy sample and its backward pass (SAC v2, eq. 8; appendix C, eq. 21), as Sac.Fs
// TanhGaussian.sampleForward / sampleBackward, reading and writing the actor's interleaved rows [mean (A), raw (A)].
#include "cuda_prelude.h"

#define SAC_LN2_F 0.693147180559945309f
#define SAC_HALF_LOG_2PI_F 0.918938533204672742f

// log(1 + e) for e in [0, 1] with Goldberg's correction: the rounding error of fl(1 + e) cancels in log(w) e / (w - 1).
SAC_INLINE float log1p01(float e)
{
    float w = 1.0f + e;
    return w == 1.0f ? e : sac_logf(w) * e / (w - 1.0f);
}

// log(1 - tanh(u)^2) = 2 (log 2 - |u| - softplus(-2|u|)), stable for every finite u.
SAC_INLINE float squash_correction(float u)
{
    float au = __builtin_fabsf(u);
    return 2.0f * (SAC_LN2_F - au - log1p01(sac_expf(-2.0f * au)));
}

// One thread per row (grid-stride): log pi is summed over the row's dimensions in index order, as on the host.
// bound 0: log sigma = clamp(raw, min, max), gradient 1 inside [min, max] (ends included) and 0 outside;
// bound 1: log sigma = min + 0.5 (max - min) (tanh(raw) + 1), gradient 0.5 (max - min) (1 - tanh(raw)^2).
extern "C" __global__ void tanh_gaussian_forward(int rows, int actDim, int bound, float logStdMin, float logStdMax,
                                                 const float* actorOutput, const float* noise, float* action,
                                                 float* sigma, float* logStdGrad, float* logPi)
{
    for (long long i = sac_first(); i < rows; i += sac_stride())
    {
        const float* mean = actorOutput + i * 2 * actDim;
        const float* raw = mean + actDim;
        float acc = 0.0f;
        for (int j = 0; j < actDim; j++)
        {
            long long k = i * actDim + j;
            float r = raw[j];
            float ls, g;
            if (bound == 0)
            {
                if (r < logStdMin) { ls = logStdMin; g = 0.0f; }
                else if (r > logStdMax) { ls = logStdMax; g = 0.0f; }
                else { ls = r; g = 1.0f; }
            }
            else
            {
                float t = sac_tanhf(r);
                float half = 0.5f * (logStdMax - logStdMin);
                ls = logStdMin + half * (t + 1.0f);
                g = half * (1.0f - t * t);
            }
            float s = sac_expf(ls);
            float e = noise[k];
            float u = mean[j] + s * e;
            action[k] = sac_tanhf(u);
            sigma[k] = s;
            logStdGrad[k] = g;
            acc = acc + (-0.5f * e * e - ls - SAC_HALF_LOG_2PI_F - squash_correction(u));
        }
        logPi[i] = acc;
    }
}

// One thread per element k = i A + j (grid-stride): du = dA (1 - a^2) + dLogPi 2a, dmu = du,
// draw = (du sigma eps - dLogPi) dlogSigma/draw, written to row i of actorOutputGrad as [dmu (A), draw (A)].
extern "C" __global__ void tanh_gaussian_backward(int rows, int actDim, const float* action, const float* sigma,
                                                  const float* noise, const float* logStdGrad,
                                                  const float* actionGrad, const float* logPiGrad,
                                                  float* actorOutputGrad)
{
    long long total = (long long)rows * actDim;
    for (long long k = sac_first(); k < total; k += sac_stride())
    {
        long long i = k / actDim;
        long long j = k - i * actDim;
        float a = action[k];
        float gl = logPiGrad[i];
        float du = actionGrad[k] * (1.0f - a * a) + gl * 2.0f * a;
        float* row = actorOutputGrad + i * 2 * actDim;
        row[j] = du;
        row[actDim + j] = (du * sigma[k] * noise[k] - gl) * logStdGrad[k];
    }
}
