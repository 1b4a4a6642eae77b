using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sac.Core.Optim;

/// <summary>
/// Global-norm gradient clipping over a flat parameter vector, with PyTorch <c>clip_grad_norm_</c> semantics:
/// the gradient is scaled by <c>min(1, maxNorm / (||g||_2 + 1e-6))</c>.
/// </summary>
public static class GradientClipping
{
    /// <summary>The constant PyTorch's <c>clip_grad_norm_</c> adds to the norm so a zero gradient does not divide by zero.</summary>
    public const float NormEpsilon = 1e-6f;

    /// <summary>
    /// The Euclidean norm <c>sqrt(sum_i g_i^2)</c>, accumulated in double precision so long vectors of
    /// small and large entries do not lose the small ones. Non-finite entries give a non-finite norm.
    /// </summary>
    /// <param name="gradients">The flat gradient vector.</param>
    /// <returns>The L2 norm rounded to single precision.</returns>
    public static float GlobalNorm(ReadOnlySpan<float> gradients)
    {
        int n = gradients.Length;
        ref float g = ref MemoryMarshal.GetReference(gradients);
        double total = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            // Widen each float lane to double before squaring: the products are then exact and only the sums round.
            var acc0 = Vector<double>.Zero;
            var acc1 = Vector<double>.Zero;
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                Vector.Widen(Vector.LoadUnsafe(ref g, (nuint)i), out Vector<double> lo, out Vector<double> hi);
                acc0 += lo * lo;
                acc1 += hi * hi;
            }
            total = Vector.Sum(acc0 + acc1);
        }
        for (; i < n; i++)
        {
            double x = Unsafe.Add(ref g, i);
            total += x * x;
        }
        return (float)Math.Sqrt(total);
    }

    /// <summary>
    /// The factor <c>min(1, maxNorm / (globalNorm + 1e-6))</c> by which a gradient of norm <paramref name="globalNorm"/>
    /// is scaled so its norm does not exceed <paramref name="maxNorm"/>. A NaN norm gives NaN, as in PyTorch, so a
    /// poisoned gradient stays visible instead of being silently zeroed.
    /// </summary>
    /// <param name="maxNorm">The largest norm allowed; finite and greater than zero.</param>
    /// <param name="globalNorm">The gradient's L2 norm, usually from <see cref="GlobalNorm"/>.</param>
    /// <returns>The scale factor, at most one.</returns>
    public static float ScaleFactor(float maxNorm, float globalNorm)
    {
        OptimChecks.PositiveFinite(maxNorm, nameof(maxNorm));
        return ScaleFactorUnchecked(maxNorm, globalNorm);
    }

    /// <summary>
    /// Scales <paramref name="gradients"/> in place so their global norm is at most <paramref name="maxNorm"/>.
    /// </summary>
    /// <param name="gradients">The flat gradient vector, overwritten with the clipped gradient.</param>
    /// <param name="maxNorm">The largest norm allowed; finite and greater than zero.</param>
    /// <returns>The norm before clipping, which training loops usually log.</returns>
    public static float ClipInPlace(Span<float> gradients, float maxNorm)
    {
        OptimChecks.PositiveFinite(maxNorm, nameof(maxNorm));
        float norm = GlobalNorm(gradients);
        float scale = ScaleFactorUnchecked(maxNorm, norm);
        if (scale != 1f)
            System.Numerics.Tensors.TensorPrimitives.Multiply(gradients, scale, gradients);
        return norm;
    }

    /// <summary>The clip factor without re-validating <paramref name="maxNorm"/>; callers have checked it already.</summary>
    internal static float ScaleFactorUnchecked(float maxNorm, float globalNorm)
    {
        // PyTorch clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1.
        // MathF.Min propagates NaN, so a NaN norm yields a NaN factor just as torch.clamp does.
        return MathF.Min(1f, maxNorm / (globalNorm + NormEpsilon));
    }
}
