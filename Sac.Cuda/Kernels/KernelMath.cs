using System;

namespace Sac.Cuda.Kernels;

/// <summary>
/// The scalar functions the CUDA kernels share (<c>native/cuda_prelude.h</c>), written operation for operation the
/// same way on the host, so <see cref="KernelReference"/> reproduces a kernel's results bit for bit.
/// </summary>
/// <remarks>
/// The PTX is built without libdevice, so the kernels carry their own exp, log, tanh and sin/cos. Each is evaluated
/// in double (relative error about 2^-40) and rounded to float once: the result is the correctly rounded float except
/// within 2^-40 of a rounding boundary, where it may be 1 ulp off. Every double operation here is a single IEEE
/// operation with the same rounding on the GPU; fused multiply-adds appear only where the kernels call <c>fma</c>.
/// </remarks>
public static class KernelMath
{
    const double Log2E = 1.4426950408889634;
    const double Ln2Hi = 0.69314718055994529;
    const double Ln2Lo = 2.3190468138462996e-17;
    const double PiOver2Hi = 1.5707963267948966;
    const double PiOver2Lo = 6.123233995736766e-17;
    const double TwoOverPi = 0.63661977236758138;
    const double Sqrt2 = 1.4142135623730951;

    /// <summary>The 2π the Box–Muller angle is computed with, as in Sac.Core's Philox.</summary>
    public const float TwoPi = 6.28318548f;

    /// <summary><see cref="MathF.Min(float, float)"/> written with comparisons (NaN propagates, -0 &lt; +0), as the
    /// kernels' <c>sac_min</c>; PTX's own <c>min.f32</c> would drop a NaN operand.</summary>
    /// <param name="x">First operand.</param>
    /// <param name="y">Second operand.</param>
    /// <returns>The smaller operand.</returns>
    public static float Min(float x, float y)
    {
        if (float.IsNaN(x)) return x;
        if (float.IsNaN(y)) return y;
        if (x == y) return SignBit(x) ? x : y;
        return x < y ? x : y;
    }

    /// <summary><see cref="MathF.Max(float, float)"/> written with comparisons (NaN propagates, -0 &lt; +0), as the
    /// kernels' <c>sac_max</c>.</summary>
    /// <param name="x">First operand.</param>
    /// <param name="y">Second operand.</param>
    /// <returns>The larger operand.</returns>
    public static float Max(float x, float y)
    {
        if (float.IsNaN(x)) return x;
        if (float.IsNaN(y)) return y;
        if (x == y) return SignBit(x) ? y : x;
        return x > y ? x : y;
    }

    static bool SignBit(float x) => (BitConverter.SingleToUInt32Bits(x) >> 31) != 0u;

    /// <summary><c>exp(x)</c> for <c>|x| &lt;= 700</c>: <c>x = k ln2 + r</c> with <c>|r| &lt;= ln2 / 2</c>, a degree-11
    /// Taylor polynomial in r, scaled by <c>2^k</c> (the kernels' <c>sac_exp_core</c>).</summary>
    /// <param name="x">The argument.</param>
    /// <returns><c>exp(x)</c> to about 2^-50 relative.</returns>
    public static double ExpCore(double x)
    {
        double k = Math.Round(x * Log2E);
        double r = Math.FusedMultiplyAdd(-k, Ln2Hi, x);
        r = Math.FusedMultiplyAdd(-k, Ln2Lo, r);
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
        long e = (long)k;
        return p * BitConverter.UInt64BitsToDouble((ulong)(e + 1023) << 52);
    }

    /// <summary><c>exp(y) - 1</c> for <c>0 &lt;= y &lt;= 700</c>: a degree-13 Taylor polynomial below 0.5 (no
    /// cancellation), <see cref="ExpCore"/> minus one above (the kernels' <c>sac_expm1_pos</c>).</summary>
    /// <param name="y">The argument, non-negative.</param>
    /// <returns><c>expm1(y)</c> to about 2^-50 relative.</returns>
    public static double Expm1Positive(double y)
    {
        if (y >= 0.5) return ExpCore(y) - 1.0;
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

    /// <summary>The kernels' <c>expf</c>: NaN stays NaN, overflow gives +inf, underflow a subnormal or +0.</summary>
    /// <param name="x">The argument.</param>
    /// <returns><c>exp(x)</c>, within 1 ulp (almost always correctly rounded).</returns>
    public static float Exp(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x > 100.0f) return float.PositiveInfinity;
        if (x < -110.0f) return 0.0f;
        return (float)ExpCore(x);
    }

    /// <summary>The kernels' <c>logf</c>: <c>log(m 2^e) = e ln2 + 2 atanh((m - 1) / (m + 1))</c> with
    /// <c>m</c> in <c>[sqrt(1/2), sqrt(2))</c>, the atanh series to degree 17.</summary>
    /// <param name="x">The argument.</param>
    /// <returns><c>log(x)</c> within 1 ulp; NaN below zero, -inf at zero, +inf at +inf.</returns>
    public static float Log(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x < 0.0f) return float.NaN;
        if (x == 0.0f) return float.NegativeInfinity;
        if (x == float.PositiveInfinity) return x;
        ulong bits = BitConverter.DoubleToUInt64Bits(x);
        long e = (long)(bits >> 52) - 1023;
        double m = BitConverter.UInt64BitsToDouble((bits & 0x000FFFFFFFFFFFFFUL) | 0x3FF0000000000000UL);
        if (m > Sqrt2) { m = m * 0.5; e = e + 1; }
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
        double de = e;
        return (float)(de * Ln2Hi + 2.0 * s * p);
    }

    /// <summary>The kernels' <c>expm1f</c>: <c>expm1|x|</c> from <see cref="Expm1Positive"/>, and for negative x
    /// <c>expm1(x) = -t / (t + 1)</c> with <c>t = expm1(-x)</c> (no cancellation near 0); -1 below -100, +inf above 100,
    /// NaN stays NaN, <c>expm1(-0) = -0</c>.</summary>
    /// <param name="x">The argument.</param>
    /// <returns><c>exp(x) - 1</c> within 1 ulp.</returns>
    public static float Expm1(float x)
    {
        if (float.IsNaN(x)) return x;
        if (x > 100.0f) return float.PositiveInfinity;
        if (x < -100.0f) return -1.0f;
        double a = MathF.Abs(x);
        double t = Expm1Positive(a);
        return SignBit(x) ? (float)(-t / (t + 1.0)) : (float)t;
    }

    /// <summary>The kernels' <c>tanhf</c>: <c>tanh|x| = t / (t + 2)</c> with <c>t = expm1(2|x|)</c>, 1 beyond
    /// <c>|x| = 10</c>, odd (so <c>tanh(-0) = -0</c>).</summary>
    /// <param name="x">The argument.</param>
    /// <returns><c>tanh(x)</c> within 1 ulp.</returns>
    public static float Tanh(float x)
    {
        if (float.IsNaN(x)) return x;
        double a = MathF.Abs(x);
        float y = 1.0f;
        if (a <= 10.0)
        {
            double t = Expm1Positive(2.0 * a);
            y = (float)(t / (t + 2.0));
        }
        return SignBit(x) ? -y : y;
    }

    /// <summary>The kernels' <c>sincosf</c> (accurate for <c>|theta| &lt;= 2^20</c>): <c>theta = k pi/2 + r</c>,
    /// <c>|r| &lt;= pi/4</c>, Taylor polynomials of degree 15 (sin) and 16 (cos) in r, then the quadrant of k.</summary>
    /// <param name="theta">The angle in radians.</param>
    /// <returns><c>(sin theta, cos theta)</c>, each within 1 ulp.</returns>
    public static (float Sin, float Cos) SinCos(float theta)
    {
        double x = theta;
        double k = Math.Round(x * TwoOverPi);
        double r = Math.FusedMultiplyAdd(-k, PiOver2Hi, x);
        r = Math.FusedMultiplyAdd(-k, PiOver2Lo, r);
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
        int q = (int)((long)k & 3);
        double sv = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
        double cv = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
        return ((float)sv, (float)cv);
    }

    /// <summary>The Philox4x32-10 bijection as the kernels compute it (32-bit high and low products per round);
    /// equal to Sac.Core's <c>Philox.Block</c>.</summary>
    /// <param name="k0">Key word 0.</param>
    /// <param name="k1">Key word 1.</param>
    /// <param name="c0">Counter word 0.</param>
    /// <param name="c1">Counter word 1.</param>
    /// <param name="c2">Counter word 2.</param>
    /// <param name="c3">Counter word 3.</param>
    /// <returns>The four output words.</returns>
    public static (uint, uint, uint, uint) PhiloxBlock(uint k0, uint k1, uint c0, uint c1, uint c2, uint c3)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
            uint lo0 = 0xD2511F53u * c0, hi0 = (uint)(((ulong)0xD2511F53u * c0) >> 32);
            uint lo1 = 0xCD9E8D57u * c2, hi1 = (uint)(((ulong)0xCD9E8D57u * c2) >> 32);
            uint n0 = hi1 ^ c1 ^ k0;
            uint n2 = hi0 ^ c3 ^ k1;
            c1 = lo1;
            c3 = lo0;
            c0 = n0;
            c2 = n2;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>32 random bits to the open interval (0, 1): <c>((bits &gt;&gt; 9) + 0.5) 2^-23</c>, exact in float.</summary>
    /// <param name="bits">Random bits.</param>
    /// <returns>A float strictly between 0 and 1.</returns>
    public static float ToUniform(uint bits) => ((int)(bits >> 9) + 0.5f) * (1.0f / 8388608.0f);

    /// <summary>Box–Muller in float: <c>r = sqrt(-2 ln u1)</c>, <c>theta = 2 pi u2</c>, returning
    /// <c>(r cos theta, r sin theta)</c> with this class's <see cref="Log"/> and <see cref="SinCos"/>.</summary>
    /// <param name="u1">Uniform in (0, 1]; sets the radius.</param>
    /// <param name="u2">Uniform in [0, 1); sets the angle.</param>
    /// <returns>Two standard normals, the cosine branch first.</returns>
    public static (float, float) BoxMuller(float u1, float u2)
    {
        float r = MathF.Sqrt(-2.0f * Log(u1));
        var (s, c) = SinCos(TwoPi * u2);
        return (r * c, r * s);
    }
}
