namespace Sac.Fs

open System
open Sac.Core.Compute

/// <summary>
/// A GEMM that computes <c>C = alpha op(A) op(B) + beta C</c> one row of C at a time with another provider, so that
/// every row of a batch is bitwise what that provider gives the row on its own. A provider may take another path
/// for a single row than for a block of rows (ManagedGemm's matrix-vector product sums in another order than its
/// packed kernel); acting for several environments at once uses this so that each environment's action is the one
/// it would get acting alone.
/// </summary>
/// <param name="inner">The provider each row's product runs on.</param>
[<Sealed>]
type RowGemm(inner: IGemm) =
    /// <summary>The provider each row's product runs on.</summary>
    member _.Inner = inner

    interface IGemm with
        member _.Name = inner.Name + " (row by row)"
        member _.Threads = inner.Threads
        member _.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =
            GemmChecks.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc)
            for i in 0 .. m - 1 do
                // Row i of op(A): row i of A, or column i of A^T (the same stride lda, from offset i).
                let ai = if transA = Transpose.No then a.Slice(i * lda) else a.Slice(i)
                inner.Sgemm(transA, transB, 1, n, k, alpha, ai, lda, b, ldb, beta, c.Slice(i * ldc), ldc)
