using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sac.Core.Compute;

/// <summary>
/// One element-wise step <c>d[i] = Op(x[i], d[i])</c> at each vector width the CPU accelerates, then a scalar tail.
/// An operator computes each element from its own inputs alone, with the same operations in every lane and in the
/// tail, so an element's result never depends on where in the span it lies.
/// </summary>
internal interface IInPlaceOp
{
    /// <summary>Sixteen elements.</summary>
    static abstract Vector512<float> Apply(Vector512<float> x, Vector512<float> d);

    /// <summary>Eight elements.</summary>
    static abstract Vector256<float> Apply(Vector256<float> x, Vector256<float> d);

    /// <summary>One element.</summary>
    static abstract float Apply(float x, float d);
}

/// <summary>Runs an <see cref="IInPlaceOp"/> over a span pair (the JIT specialises each operator, so no call remains).</summary>
internal static class InPlaceKernel
{
    /// <summary><c>d[i] = TOp.Apply(x[i], d[i])</c> for every i; the spans have equal lengths.</summary>
    public static void Run<TOp>(ReadOnlySpan<float> x, Span<float> d) where TOp : struct, IInPlaceOp
    {
        int n = d.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dr = ref MemoryMarshal.GetReference(d);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                TOp.Apply(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref dr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                TOp.Apply(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref dr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref dr, i) = TOp.Apply(Unsafe.Add(ref xr, i), Unsafe.Add(ref dr, i));
    }
}
