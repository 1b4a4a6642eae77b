using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;

namespace Sac.Core.Compute;

/// <summary>
/// Measures this machine's single-precision FMA throughput right now, the ceiling every kernel figure is read against
/// (the machines are shared and noisy, so benchmarks report ratios to a peak taken in the same run).
/// </summary>
public static class FmaPeak
{
    /// <summary>Runs independent FMA chains on <paramref name="threads"/> threads for about <paramref name="seconds"/> and returns GFLOP/s.</summary>
    public static double Measure(int threads, double seconds)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "Threads must be at least 1.");
        Chains(10_000); // past tiered JIT
        double total = 0;
        var results = new double[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            long iterations = 0;
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalSeconds < seconds) { Chains(200_000); iterations += 200_000; }
            results[t] = iterations * FlopsPerIteration / sw.Elapsed.TotalSeconds / 1e9;
        });
        foreach (var r in results) total += r;
        return total;
    }

    static int FlopsPerIteration => 16 * 2 * (Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1);

    // Sixteen independent accumulators hide the FMA latency on two pipes.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Chains(int n)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(0.999f); var d = Vector512.Create(1e-3f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
                a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
            for (int i = 0; i < n; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, d); a1 = Vector512.FusedMultiplyAdd(a1, m, d);
                a2 = Vector512.FusedMultiplyAdd(a2, m, d); a3 = Vector512.FusedMultiplyAdd(a3, m, d);
                a4 = Vector512.FusedMultiplyAdd(a4, m, d); a5 = Vector512.FusedMultiplyAdd(a5, m, d);
                a6 = Vector512.FusedMultiplyAdd(a6, m, d); a7 = Vector512.FusedMultiplyAdd(a7, m, d);
                a8 = Vector512.FusedMultiplyAdd(a8, m, d); a9 = Vector512.FusedMultiplyAdd(a9, m, d);
                a10 = Vector512.FusedMultiplyAdd(a10, m, d); a11 = Vector512.FusedMultiplyAdd(a11, m, d);
                a12 = Vector512.FusedMultiplyAdd(a12, m, d); a13 = Vector512.FusedMultiplyAdd(a13, m, d);
                a14 = Vector512.FusedMultiplyAdd(a14, m, d); a15 = Vector512.FusedMultiplyAdd(a15, m, d);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(0.999f); var d = Vector256.Create(1e-3f);
            Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
                a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
            for (int i = 0; i < n; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, d); a1 = Vector256.FusedMultiplyAdd(a1, m, d);
                a2 = Vector256.FusedMultiplyAdd(a2, m, d); a3 = Vector256.FusedMultiplyAdd(a3, m, d);
                a4 = Vector256.FusedMultiplyAdd(a4, m, d); a5 = Vector256.FusedMultiplyAdd(a5, m, d);
                a6 = Vector256.FusedMultiplyAdd(a6, m, d); a7 = Vector256.FusedMultiplyAdd(a7, m, d);
                a8 = Vector256.FusedMultiplyAdd(a8, m, d); a9 = Vector256.FusedMultiplyAdd(a9, m, d);
                a10 = Vector256.FusedMultiplyAdd(a10, m, d); a11 = Vector256.FusedMultiplyAdd(a11, m, d);
                a12 = Vector256.FusedMultiplyAdd(a12, m, d); a13 = Vector256.FusedMultiplyAdd(a13, m, d);
                a14 = Vector256.FusedMultiplyAdd(a14, m, d); a15 = Vector256.FusedMultiplyAdd(a15, m, d);
            }
            return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
        }
        float s0 = 1f, s1 = 1f, s2 = 1f, s3 = 1f, s4 = 1f, s5 = 1f, s6 = 1f, s7 = 1f,
            s8 = 1f, s9 = 1f, s10 = 1f, s11 = 1f, s12 = 1f, s13 = 1f, s14 = 1f, s15 = 1f;
        for (int i = 0; i < n; i++)
        {
            s0 = MathF.FusedMultiplyAdd(s0, 0.999f, 1e-3f); s1 = MathF.FusedMultiplyAdd(s1, 0.999f, 1e-3f);
            s2 = MathF.FusedMultiplyAdd(s2, 0.999f, 1e-3f); s3 = MathF.FusedMultiplyAdd(s3, 0.999f, 1e-3f);
            s4 = MathF.FusedMultiplyAdd(s4, 0.999f, 1e-3f); s5 = MathF.FusedMultiplyAdd(s5, 0.999f, 1e-3f);
            s6 = MathF.FusedMultiplyAdd(s6, 0.999f, 1e-3f); s7 = MathF.FusedMultiplyAdd(s7, 0.999f, 1e-3f);
            s8 = MathF.FusedMultiplyAdd(s8, 0.999f, 1e-3f); s9 = MathF.FusedMultiplyAdd(s9, 0.999f, 1e-3f);
            s10 = MathF.FusedMultiplyAdd(s10, 0.999f, 1e-3f); s11 = MathF.FusedMultiplyAdd(s11, 0.999f, 1e-3f);
            s12 = MathF.FusedMultiplyAdd(s12, 0.999f, 1e-3f); s13 = MathF.FusedMultiplyAdd(s13, 0.999f, 1e-3f);
            s14 = MathF.FusedMultiplyAdd(s14, 0.999f, 1e-3f); s15 = MathF.FusedMultiplyAdd(s15, 0.999f, 1e-3f);
        }
        return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11 + s12 + s13 + s14 + s15;
    }
}
