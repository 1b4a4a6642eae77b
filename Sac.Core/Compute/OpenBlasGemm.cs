using System;
using System.Runtime.InteropServices;

namespace Sac.Core.Compute;

/// <summary>
/// GEMM through a native OpenBLAS (<c>cblas_sgemm</c>), where <c>libopenblas.so.0</c> is installed. Optional: the
/// managed GEMM is always available; <see cref="TryCreate"/> returns null when the library cannot be loaded.
/// </summary>
/// <remarks>OpenBLAS's thread count is process-wide; creating a provider sets it.</remarks>
public sealed unsafe class OpenBlasGemm : IGemm
{
    const int RowMajor = 101, NoTrans = 111, Trans = 112;

    readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> sgemm;

    OpenBlasGemm(nint sgemm, nint setThreads, int threads, string path)
    {
        this.sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
        if (setThreads != 0) ((delegate* unmanaged<int, void>)setThreads)(threads);
        Threads = threads;
        LibraryPath = path;
    }

    /// <summary>Library names tried in order when <c>SAC_OPENBLAS</c> does not name one.</summary>
    public static readonly string[] DefaultLibraryNames =
    [
        "libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "libopenblas.so",
    ];

    /// <summary>Loads OpenBLAS (the path in the <c>SAC_OPENBLAS</c> environment variable, else the usual names) or returns null.</summary>
    public static OpenBlasGemm? TryCreate(int threads = 1)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "Threads must be at least 1.");
        var overridePath = Environment.GetEnvironmentVariable("SAC_OPENBLAS");
        var names = string.IsNullOrEmpty(overridePath) ? DefaultLibraryNames : [overridePath];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            if (!NativeLibrary.TryGetExport(lib, "cblas_sgemm", out var f)) continue;
            NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out var st);
            return new OpenBlasGemm(f, st, threads, name);
        }
        return null;
    }

    /// <summary>The library that was loaded.</summary>
    public string LibraryPath { get; }

    /// <inheritdoc />
    public string Name => "openblas";

    /// <inheritdoc />
    public int Threads { get; }

    /// <inheritdoc />
    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmChecks.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        // BLAS requires ld >= 1 even for empty operands.
        fixed (float* pa = a, pb = b, pc = c)
            sgemm(RowMajor, transA == Transpose.No ? NoTrans : Trans, transB == Transpose.No ? NoTrans : Trans,
                m, n, k, alpha, pa, Math.Max(1, lda), pb, Math.Max(1, ldb), beta, pc, Math.Max(1, ldc));
    }
}
