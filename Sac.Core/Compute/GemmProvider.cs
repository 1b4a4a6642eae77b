using System;

namespace Sac.Core.Compute;

/// <summary>
/// Chooses the GEMM provider: the managed GEMM where its micro-kernel is vectorised (AVX2 or AVX-512), which is as
/// fast as OpenBLAS at SAC's sizes on AVX2 and nearly twice as fast on AVX-512, and the only provider that runs an
/// update's independent branches side by side on two threads; OpenBLAS on CPUs without 256-bit vectors, where it loads.
/// </summary>
/// <remarks>
/// The environment variable <c>SAC_GEMM</c> overrides the choice: <c>managed</c>, <c>openblas</c> (an error if it
/// cannot be loaded) or <c>auto</c> (the default).
/// </remarks>
public static class GemmProvider
{
    /// <summary>Creates the provider named by <paramref name="choice"/> (<c>auto</c>, <c>managed</c>, <c>openblas</c>; null reads <c>SAC_GEMM</c>).</summary>
    public static IGemm Create(int threads = 1, string? choice = null)
    {
        choice ??= Environment.GetEnvironmentVariable("SAC_GEMM");
        switch ((choice ?? "auto").Trim().ToLowerInvariant())
        {
            case "" or "auto":
                return ManagedGemm.BestKernel != GemmKernel.Scalar
                    ? new ManagedGemm(threads)
                    : (IGemm?)OpenBlasGemm.TryCreate(threads) ?? new ManagedGemm(threads);
            case "managed":
                return new ManagedGemm(threads);
            case "openblas":
                return OpenBlasGemm.TryCreate(threads) ?? throw new InvalidOperationException(
                    "SAC_GEMM=openblas but libopenblas.so.0 could not be loaded (install Debian's libopenblas0, or set SAC_OPENBLAS to its path).");
            default:
                throw new ArgumentException($"Unknown GEMM provider '{choice}': expected auto, managed or openblas.", nameof(choice));
        }
    }

    /// <summary>
    /// What a run's numbers depend on in <paramref name="gemm"/>: <c>managed/avx512</c>, <c>managed/avx2</c> or
    /// <c>managed/scalar</c> (the managed GEMM and its micro-kernel), <c>openblas</c>, or another provider's
    /// <see cref="IGemm.Name"/>. Runs with the same description round alike; others round differently.
    /// </summary>
    /// <param name="gemm">The provider.</param>
    /// <returns>The description <c>sac train</c> writes to <c>config.json</c> under <c>gemm</c>.</returns>
    public static string Describe(IGemm gemm)
    {
        ArgumentNullException.ThrowIfNull(gemm);
        return gemm is ManagedGemm m ? $"{gemm.Name}/{m.Kernel.ToString().ToLowerInvariant()}" : gemm.Name;
    }
}
