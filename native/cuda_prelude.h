// Shared definitions for the kernels in native/: what the CUDA headers would provide (clang-14 compiles these files
// with -nocudainc -nocudalib), .NET-compatible min/max, the transcendental functions the kernels need, and the
// Philox4x32-10 block function.
//
// Every function here has a line-for-line C# twin in Sac.Cuda/Kernels/KernelMath.cs; change both together.
// Floating-point contraction must stay off (-ffp-contract=off, nvcc -fmad=false): the kernels reproduce the host
// code's separate multiply and add roundings, and use fma only where they call it explicitly.
#pragma once

#if defined(__clang__) && defined(__CUDA__) && !defined(__NVCC__)
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define SAC_INLINE static __attribute__((device)) __attribute__((always_inline)) inline
SAC_INLINE int sac_tid() { return (int)__nvvm_read_ptx_sreg_tid_x(); }
SAC_INLINE int sac_ntid() { return (int)__nvvm_read_ptx_sreg_ntid_x(); }
SAC_INLINE int sac_ctaid() { return (int)__nvvm_read_ptx_sreg_ctaid_x(); }
SAC_INLINE int sac_nctaid() { return (int)__nvvm_read_ptx_sreg_nctaid_x(); }
SAC_INLINE unsigned long long sac_bits_d(double x) { return __builtin_bit_cast(unsigned long long, x); }
SAC_INLINE double sac_from_bits_d(unsigned long long b) { return __builtin_bit_cast(double, b); }
SAC_INLINE unsigned int sac_bits_f(float x) { return __builtin_bit_cast(unsigned int, x); }
SAC_INLINE float sac_from_bits_f(unsigned int b) { return __builtin_bit_cast(float, b); }
SAC_INLINE double sac_rint(double x) { return __builtin_rint(x); }
SAC_INLINE double sac_fma(double a, double b, double c) { return __builtin_fma(a, b, c); }
SAC_INLINE float sac_sqrtf(float x) { return __builtin_sqrtf(x); }
SAC_INLINE double sac_sqrt(double x) { return __builtin_sqrt(x); }
SAC_INLINE unsigned int sac_mulhi(unsigned int a, unsigned int b) { return __nvvm_mulhi_ui(a, b); }
#else
// nvcc: the CUDA headers define the qualifiers; only the helpers are spelled differently.
#define SAC_INLINE static __device__ __forceinline__
SAC_INLINE int sac_tid() { return (int)threadIdx.x; }
SAC_INLINE int sac_ntid() { return (int)blockDim.x; }
SAC_INLINE int sac_ctaid() { return (int)blockIdx.x; }
SAC_INLINE int sac_nctaid() { return (int)gridDim.x; }
SAC_INLINE unsigned long long sac_bits_d(double x) { return (unsigned long long)__double_as_longlong(x); }
SAC_INLINE double sac_from_bits_d(unsigned long long b) { return __longlong_as_double((long long)b); }
SAC_INLINE unsigned int sac_bits_f(float x) { return __float_as_uint(x); }
SAC_INLINE float sac_from_bits_f(unsigned int b) { return __uint_as_float(b); }
SAC_INLINE double sac_rint(double x) { return rint(x); }
SAC_INLINE double sac_fma(double a, double b, double c) { return __fma_rn(a, b, c); }
SAC_INLINE float sac_sqrtf(float x) { return __fsqrt_rn(x); }
SAC_INLINE double sac_sqrt(double x) { return __dsqrt_rn(x); }
SAC_INLINE unsigned int sac_mulhi(unsigned int a, unsigned int b) { return __umulhi(a, b); }
#endif

// ---- Grid-stride loops --------------------------------------------------------------------------------------------

SAC_INLINE long long sac_first() { return (long long)sac_ctaid() * sac_ntid() + sac_tid(); }
SAC_INLINE long long sac_stride() { return (long long)sac_ntid() * sac_nctaid(); }

// ---- .NET MathF.Min / MathF.Max (IEEE 754-2019 minimum / maximum) --------------------------------------------------
// NaN propagates and -0 < +0, unlike PTX min/max, which drop a NaN operand.

SAC_INLINE bool sac_signbit(float x) { return (sac_bits_f(x) >> 31) != 0u; }

SAC_INLINE float sac_min(float x, float y)
{
    if (x != x) return x;
    if (y != y) return y;
    if (x == y) return sac_signbit(x) ? x : y;
    return x < y ? x : y;
}

SAC_INLINE float sac_max(float x, float y)
{
    if (x != x) return x;
    if (y != y) return y;
    if (x == y) return sac_signbit(x) ? y : x;
    return x > y ? x : y;
}

// ---- Transcendentals ----------------------------------------------------------------------------------------------
// Evaluated in double and rounded to float once: the double result is within about 2^-40 relative of the exact value,
// so the float result is the correctly rounded one except within 2^-40 of a rounding boundary (at most 1 ulp off).

#define SAC_LOG2E 1.4426950408889634
#define SAC_LN2_HI 0.69314718055994529
#define SAC_LN2_LO 2.3190468138462996e-17
#define SAC_PIO2_HI 1.5707963267948966
#define SAC_PIO2_LO 6.123233995736766e-17
#define SAC_TWO_OVER_PI 0.63661977236758138

// exp(x) for |x| <= 700 (x = k ln2 + r, |r| <= ln2/2, Taylor polynomial of degree 11 in r, times 2^k).
SAC_INLINE double sac_exp_core(double x)
{
    double k = sac_rint(x * SAC_LOG2E);
    double r = sac_fma(-k, SAC_LN2_HI, x);
    r = sac_fma(-k, SAC_LN2_LO, r);
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    long long e = (long long)k;
    return p * sac_from_bits_d((unsigned long long)(e + 1023) << 52);
}

// expm1(y) for 0 <= y <= 700: a Taylor polynomial below 0.5 (no cancellation), exp(y) - 1 above.
SAC_INLINE double sac_expm1_pos(double y)
{
    if (y >= 0.5) return sac_exp_core(y) - 1.0;
    double p = 1.0 / 6227020800.0;
    p = p * y + 1.0 / 479001600.0;
    p = p * y + 1.0 / 39916800.0;
    p = p * y + 1.0 / 3628800.0;
    p = p * y + 1.0 / 362880.0;
    p = p * y + 1.0 / 40320.0;
    p = p * y + 1.0 / 5040.0;
    p = p * y + 1.0 / 720.0;
    p = p * y + 1.0 / 120.0;
    p = p * y + 1.0 / 24.0;
    p = p * y + 1.0 / 6.0;
    p = p * y + 0.5;
    p = p * y + 1.0;
    return p * y;
}

// expf: NaN stays NaN, overflow gives +inf, underflow gives (subnormal or) +0.
SAC_INLINE float sac_expf(float x)
{
    if (x != x) return x;
    if (x > 100.0f) return sac_from_bits_f(0x7F800000u);
    if (x < -110.0f) return 0.0f;
    return (float)sac_exp_core((double)x);
}

// logf: log(m 2^e) = e ln2 + 2 atanh(s), s = (m - 1) / (m + 1), m in [sqrt(1/2), sqrt(2)).
SAC_INLINE float sac_logf(float x)
{
    if (x != x) return x;
    if (x < 0.0f) return sac_from_bits_f(0x7FC00000u);
    if (x == 0.0f) return sac_from_bits_f(0xFF800000u);
    if (x == sac_from_bits_f(0x7F800000u)) return x;
    unsigned long long bits = sac_bits_d((double)x);
    long long e = (long long)(bits >> 52) - 1023;
    double m = sac_from_bits_d((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    if (m > 1.4142135623730951) { m = m * 0.5; e = e + 1; }
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double p = 1.0 / 17.0;
    p = p * z + 1.0 / 15.0;
    p = p * z + 1.0 / 13.0;
    p = p * z + 1.0 / 11.0;
    p = p * z + 1.0 / 9.0;
    p = p * z + 1.0 / 7.0;
    p = p * z + 1.0 / 5.0;
    p = p * z + 1.0 / 3.0;
    p = p * z + 1.0;
    double de = (double)e;
    return (float)(de * SAC_LN2_HI + 2.0 * s * p);
}

// expm1f: expm1(x) = -t / (t + 1) with t = expm1(-x) for negative x, free of cancellation near 0; -1 below -100.
SAC_INLINE float sac_expm1f(float x)
{
    if (x != x) return x;
    if (x > 100.0f) return sac_from_bits_f(0x7F800000u);
    if (x < -100.0f) return -1.0f;
    double a = (double)__builtin_fabsf(x);
    double t = sac_expm1_pos(a);
    return sac_signbit(x) ? (float)(-t / (t + 1.0)) : (float)t;
}

// tanhf: tanh|x| = t / (t + 2) with t = expm1(2|x|); |x| > 10 rounds to 1 in float. Odd, so tanh(-0) = -0.
SAC_INLINE float sac_tanhf(float x)
{
    if (x != x) return x;
    double a = (double)__builtin_fabsf(x);
    float y = 1.0f;
    if (a <= 10.0)
    {
        double t = sac_expm1_pos(2.0 * a);
        y = (float)(t / (t + 2.0));
    }
    return sac_signbit(x) ? -y : y;
}

// sin and cos of theta (accurate for |theta| <= 2^20): theta = k pi/2 + r, |r| <= pi/4, Taylor polynomials in r.
SAC_INLINE void sac_sincosf(float theta, float* sinOut, float* cosOut)
{
    double x = (double)theta;
    double k = sac_rint(x * SAC_TWO_OVER_PI);
    double r = sac_fma(-k, SAC_PIO2_HI, x);
    r = sac_fma(-k, SAC_PIO2_LO, r);
    double z = r * r;
    double s = -1.0 / 1307674368000.0;
    s = s * z + 1.0 / 6227020800.0;
    s = s * z - 1.0 / 39916800.0;
    s = s * z + 1.0 / 362880.0;
    s = s * z - 1.0 / 5040.0;
    s = s * z + 1.0 / 120.0;
    s = s * z - 1.0 / 6.0;
    s = s * z * r + r;
    double c = 1.0 / 20922789888000.0;
    c = c * z - 1.0 / 87178291200.0;
    c = c * z + 1.0 / 479001600.0;
    c = c * z - 1.0 / 3628800.0;
    c = c * z + 1.0 / 40320.0;
    c = c * z - 1.0 / 720.0;
    c = c * z + 1.0 / 24.0;
    c = c * z - 0.5;
    c = c * z + 1.0;
    int q = (int)((long long)k & 3);
    double sv = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
    double cv = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
    *sinOut = (float)sv;
    *cosOut = (float)cv;
}

// ---- Philox4x32-10 (Salmon et al. 2011), as Sac.Core's Philox.Block -------------------------------------------------

struct sac_philox4 { unsigned int x0, x1, x2, x3; };

SAC_INLINE sac_philox4 sac_philox_block(unsigned int k0, unsigned int k1, unsigned int c0, unsigned int c1,
                                        unsigned int c2, unsigned int c3)
{
    for (int round = 0; round < 10; round++)
    {
        if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned int lo0 = 0xD2511F53u * c0, hi0 = sac_mulhi(0xD2511F53u, c0);
        unsigned int lo1 = 0xCD9E8D57u * c2, hi1 = sac_mulhi(0xCD9E8D57u, c2);
        unsigned int n0 = hi1 ^ c1 ^ k0;
        unsigned int n2 = hi0 ^ c3 ^ k1;
        c1 = lo1;
        c3 = lo0;
        c0 = n0;
        c2 = n2;
    }
    sac_philox4 out = { c0, c1, c2, c3 };
    return out;
}

// 32 random bits to the open interval (0, 1): ((bits >> 9) + 0.5) 2^-23, exact in float.
SAC_INLINE float sac_to_uniform(unsigned int bits)
{
    return ((float)(int)(bits >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

// ---- Fixed-shape reductions -----------------------------------------------------------------------------------------

// Every order-stable reduction works over 256 virtual lanes, whatever the block size, and combines them with the same
// tree: for s = 128, 64, ..., 1: lane[j] += lane[j + s] for j < s. The host references repeat exactly this order.
#define SAC_LANES 256

// A 16-byte aligned vector of four floats, loaded and stored with one instruction (ld/st.global.v4.f32).
struct __attribute__((aligned(16))) sac_float4 { float x, y, z, w; };
