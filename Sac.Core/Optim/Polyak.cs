using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sac.Core.Optim;

/// <summary>
/// Polyak (exponential moving average) averaging of parameters, used by SAC to track target networks.
/// </summary>
public static class Polyak
{
    /// <summary>
    /// Moves <paramref name="target"/> toward <paramref name="online"/> in place:
    /// <c>target &lt;- tau * online + (1 - tau) * target</c>. Each result lies between the old target value and the
    /// online value, <c>tau = 0</c> leaves the target unchanged and <c>tau = 1</c> copies the online values exactly.
    /// Allocates nothing.
    /// </summary>
    /// <param name="tau">Interpolation weight of the online parameters; in <c>[0, 1]</c>.</param>
    /// <param name="online">The parameters being trained.</param>
    /// <param name="target">The averaged copy, updated in place.</param>
    /// <exception cref="ArgumentException"><paramref name="tau"/> is outside <c>[0, 1]</c> or the spans differ in length.</exception>
    public static void Update(float tau, ReadOnlySpan<float> online, Span<float> target)
    {
        OptimChecks.UnitClosed(tau, nameof(tau));
        OptimChecks.SameLength(target.Length, online.Length, nameof(online));
        int n = target.Length;
        float keep = 1f - tau;
        ref float oRef = ref MemoryMarshal.GetReference(online);
        ref float tRef = ref MemoryMarshal.GetReference(target);

        // SAC target networks (Haarnoja et al. 2018): theta_bar <- tau*theta + (1-tau)*theta_bar.
        // Rounding can push the sum an ulp past its two endpoints (e.g. when online == target), so the result is
        // clamped back into [min, max] of the two: the convex-combination bound then holds exactly.
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vTau = new Vector<float>(tau);
            var vKeep = new Vector<float>(keep);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                nuint k = (nuint)i;
                Vector<float> o = Vector.LoadUnsafe(ref oRef, k);
                Vector<float> t = Vector.LoadUnsafe(ref tRef, k);
                Vector<float> mixed = vTau * o + vKeep * t;
                Vector.Min(Vector.Max(mixed, Vector.Min(o, t)), Vector.Max(o, t)).StoreUnsafe(ref tRef, k);
            }
        }
        for (; i < n; i++)
        {
            float o = Unsafe.Add(ref oRef, i);
            ref float t = ref Unsafe.Add(ref tRef, i);
            float mixed = tau * o + keep * t;
            t = MathF.Min(MathF.Max(mixed, MathF.Min(o, t)), MathF.Max(o, t));
        }
    }
}
