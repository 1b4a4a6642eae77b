// Philox4x32-10 streams, element for element those of Sac.Core Philox.FillUInt32 / Philox.FillNormal: element
// i = offset + j is lane i % 4 of Block(key, low32(i / 4), high32(i / 4), 0, 0).
#include "cuda_prelude.h"

// Number of Philox blocks that cover elements [offset, offset + n); the caller keeps offset + n - 1 <= 2^64 - 1.
SAC_INLINE long long philox_block_count(unsigned long long offset, int n)
{
    return (long long)(((offset + (unsigned long long)(n - 1)) >> 2) - (offset >> 2) + 1ull);
}

// One thread per Philox block (grid-stride); lanes outside [offset, offset + n) are not written.
extern "C" __global__ void philox_uint32(unsigned int k0, unsigned int k1, unsigned long long offset, int n,
                                         unsigned int* dest)
{
    if (n <= 0) return;
    long long blocks = philox_block_count(offset, n);
    for (long long b = sac_first(); b < blocks; b += sac_stride())
    {
        unsigned long long block = (offset >> 2) + (unsigned long long)b;
        sac_philox4 w = sac_philox_block(k0, k1, (unsigned int)block, (unsigned int)(block >> 32), 0u, 0u);
        long long j = (long long)((block << 2) - offset);   // dest index of lane 0; negative in a ragged first block
        unsigned int lanes[4] = { w.x0, w.x1, w.x2, w.x3 };
        for (int l = 0; l < 4; l++)
            if (j + l >= 0 && j + l < n) dest[j + l] = lanes[l];
    }
}

// Box-Muller in float (r = sqrt(-2 ln u1), theta = 2 pi u2 with 2 pi = 6.28318548f): cosine branch first.
SAC_INLINE void box_muller(float u1, float u2, float* z0, float* z1)
{
    float r = sac_sqrtf(-2.0f * sac_logf(u1));
    float s, c;
    sac_sincosf(6.28318548f * u2, &s, &c);
    *z0 = r * c;
    *z1 = r * s;
}

// Standard normals: lanes (0, 1) are BoxMuller(u0, u1), lanes (2, 3) BoxMuller(u2, u3), u = ((w >> 9) + 0.5) 2^-23.
extern "C" __global__ void philox_normal(unsigned int k0, unsigned int k1, unsigned long long offset, int n,
                                         float* dest)
{
    if (n <= 0) return;
    long long blocks = philox_block_count(offset, n);
    for (long long b = sac_first(); b < blocks; b += sac_stride())
    {
        unsigned long long block = (offset >> 2) + (unsigned long long)b;
        sac_philox4 w = sac_philox_block(k0, k1, (unsigned int)block, (unsigned int)(block >> 32), 0u, 0u);
        long long j = (long long)((block << 2) - offset);
        float z[4];
        box_muller(sac_to_uniform(w.x0), sac_to_uniform(w.x1), &z[0], &z[1]);
        box_muller(sac_to_uniform(w.x2), sac_to_uniform(w.x3), &z[2], &z[3]);
        for (int l = 0; l < 4; l++)
            if (j + l >= 0 && j + l < n) dest[j + l] = z[l];
    }
}
