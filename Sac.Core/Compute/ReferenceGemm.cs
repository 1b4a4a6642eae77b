using System;

namespace Sac.Core.Compute;

/// <summary>
/// The plain triple-loop GEMM that defines the semantics the fast providers must match.
/// Accumulates in double precision; used by tests and as a last-resort fallback, never on the hot path.
/// </summary>
public sealed class ReferenceGemm : IGemm
{
    /// <summary>The single instance.</summary>
    public static readonly ReferenceGemm Instance = new();

    /// <inheritdoc />
    public string Name => "reference";

    /// <inheritdoc />
    public int Threads => 1;

    /// <inheritdoc />
    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmChecks.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                float av = transA == Transpose.No ? a[i * lda + p] : a[p * lda + i];
                float bv = transB == Transpose.No ? b[p * ldb + j] : b[j * ldb + p];
                s += (double)av * bv;
            }
            float prior = beta == 0f ? 0f : beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s) + prior;
        }
    }
}
