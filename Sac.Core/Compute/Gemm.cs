using System;

namespace Sac.Core.Compute;

/// <summary>Whether a GEMM operand is used as stored or transposed.</summary>
public enum Transpose
{
    /// <summary>Use the operand as stored (row-major).</summary>
    No = 0,
    /// <summary>Use the transpose of the stored operand.</summary>
    Yes = 1,
}

/// <summary>
/// A single-precision matrix-multiply provider: <c>C = alpha * op(A) * op(B) + beta * C</c> over row-major storage.
/// </summary>
/// <remarks>
/// <c>op(A)</c> is <c>m x k</c>, <c>op(B)</c> is <c>k x n</c>, <c>C</c> is <c>m x n</c>. Leading dimensions are row strides of
/// the operands as stored (for a transposed <c>A</c>, the stored matrix is <c>k x m</c> and <c>lda &gt;= m</c>).
/// When <c>beta</c> is zero, <c>C</c> is not read (NaNs in it do not propagate), as in BLAS.
/// </remarks>
public interface IGemm
{
    /// <summary>Short provider name as it appears in benchmark output: <c>managed</c>, <c>openblas</c> or <c>reference</c>.</summary>
    string Name { get; }

    /// <summary>Threads this provider uses for one call.</summary>
    int Threads { get; }

    /// <summary>Computes <c>C = alpha * op(A) * op(B) + beta * C</c>.</summary>
    void Sgemm(Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc);
}

/// <summary>Argument checks shared by every GEMM provider, so all of them fail the same way on bad shapes.</summary>
public static class GemmChecks
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the operand whose size or leading dimension is wrong.</summary>
    public static void Validate(Transpose transA, Transpose transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"GEMM dimensions must be non-negative, got m={m}, n={n}, k={k}.");
        int aRows = transA == Transpose.No ? m : k, aCols = transA == Transpose.No ? k : m;
        int bRows = transB == Transpose.No ? k : n, bCols = transB == Transpose.No ? n : k;
        Check("A", aRows, aCols, aLength, lda);
        Check("B", bRows, bCols, bLength, ldb);
        Check("C", m, n, cLength, ldc);
    }

    static void Check(string name, int rows, int cols, int length, int ld)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols)
            throw new ArgumentException($"GEMM operand {name}: leading dimension {ld} is smaller than its {cols} stored columns.");
        long needed = (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"GEMM operand {name}: {rows}x{cols} with leading dimension {ld} needs {needed} elements, the span has {length}.");
    }
}
