// Polyak averaging of target parameters, as Sac.Core Polyak.Update.
#include "cuda_prelude.h"

// theta_bar <- tau theta + (1 - tau) theta_bar, clamped into [min, max] of the two so rounding cannot leave the interval.
SAC_INLINE float polyak_one(float tau, float keep, float o, float t)
{
    float mixed = tau * o + keep * t;
    return sac_min(sac_max(mixed, sac_min(o, t)), sac_max(o, t));
}

// Element-wise, so the split into a scalar head, float4 body and scalar tail cannot change a value. The float4 body
// is used only when both pointers sit at the same offset within 16 bytes (slices of cuMemAlloc memory at equal
// offsets modulo 4); otherwise every element goes through the scalar loop.
extern "C" __global__ void polyak(int n, float tau, const float* online, float* target)
{
    float keep = 1.0f - tau;
    unsigned long long mo = (unsigned long long)online & 15ull, mt = (unsigned long long)target & 15ull;
    long long head = n, quads = 0;
    if (mo == mt && (mo & 3ull) == 0ull)
    {
        head = (long long)(((16ull - mo) & 15ull) >> 2);
        if (head > n) head = n;
        quads = (n - head) >> 2;
    }
    const sac_float4* o4 = (const sac_float4*)(online + head);
    sac_float4* t4 = (sac_float4*)(target + head);
    for (long long q = sac_first(); q < quads; q += sac_stride())
    {
        sac_float4 o = o4[q], t = t4[q];
        sac_float4 r;
        r.x = polyak_one(tau, keep, o.x, t.x);
        r.y = polyak_one(tau, keep, o.y, t.y);
        r.z = polyak_one(tau, keep, o.z, t.z);
        r.w = polyak_one(tau, keep, o.w, t.w);
        t4[q] = r;
    }
    // Scalars: the head [0, head) and the tail [head + 4 quads, n).
    long long tailStart = head + 4 * quads;
    long long scalars = head + (n - tailStart);
    for (long long s = sac_first(); s < scalars; s += sac_stride())
    {
        long long i = s < head ? s : tailStart + (s - head);
        target[i] = polyak_one(tau, keep, online[i], target[i]);
    }
}
