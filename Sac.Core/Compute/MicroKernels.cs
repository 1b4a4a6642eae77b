using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Sac.Core.Compute;

// Register-blocked GEMM micro-kernels over panels (see ManagedGemm). Each keeps its whole C tile in vector
// registers: a k step loads one row of the B panel, broadcasts each A value and does MR x NR/W FMAs. The A panel's
// k steps lie aStride floats apart (MR when packed, A's row stride when a transposed A is read in place, 1 when an
// untransposed A is read by rows, AVX-512 only), and the B panel's bStride apart (NR when packed, B's row stride when
// B is read in place). Every kernel accumulates each C element over k in the same order, so where an operand is read
// from never changes a bit of the result, and every write of C rounds the same way (see Blend), so a C element never
// depends on the path its tile took.
// Fully unrolled on purpose: the JIT keeps named vector locals in registers, never arrays of vectors.
internal static unsafe class MicroKernels
{
    /// <summary>
    /// The one rounding of every C write: <c>alpha * acc</c> when beta is 0 (C is not read), otherwise
    /// <c>fma(acc, alpha, beta * C)</c>, as the vector epilogues compute it lane by lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Blend(float acc, float alpha, float beta, float c) =>
        beta == 0f ? alpha * acc : System.MathF.FusedMultiplyAdd(acc, alpha, beta * c);

    /// <summary>
    /// 8x32 tile: C = alpha * (A panel x B panel) + beta * C, over <paramref name="kc"/> steps; only the first
    /// <paramref name="cols"/> columns of C are read or written. A's element (r, p) is
    /// <c>a[TRows.Offset(r, rowStride) + p * aStride]</c>: consecutive rows for a panel (packed, or A^T read in place),
    /// stored rows <paramref name="rowStride"/> apart for an untransposed A read in place (aStride 1).
    /// </summary>
    /// <remarks>With an output step (<typeparamref name="TOut"/>), each written value z of row r, column j becomes
    /// <c>TOut.Apply(x[r * ldx + j], z)</c> before it is stored: a layer's bias and activation (x the bias row, ldx 0)
    /// or an activation's derivative (x the activation's outputs); <see cref="Plain"/> stores z.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x32<TRows, TOut>(int kc, float* a, nint rowStride, int aStride, float* b, int bStride, float* c, int ldc, float alpha, float beta, int cols, float* x, nint ldx)
        where TRows : struct, IRowOffsets
        where TOut : struct, ITileOutput
    {
        // Constants for a panel (the JIT folds them into the loads); one multiply each, outside the loop, for stored rows.
        nint o1 = TRows.Offset(1, rowStride), o2 = TRows.Offset(2, rowStride), o3 = TRows.Offset(3, rowStride);
        nint o4 = TRows.Offset(4, rowStride), o5 = TRows.Offset(5, rowStride), o6 = TRows.Offset(6, rowStride);
        nint o7 = TRows.Offset(7, rowStride);
        Vector512<float> c00 = default; Vector512<float> c01 = default;
        Vector512<float> c10 = default; Vector512<float> c11 = default;
        Vector512<float> c20 = default; Vector512<float> c21 = default;
        Vector512<float> c30 = default; Vector512<float> c31 = default;
        Vector512<float> c40 = default; Vector512<float> c41 = default;
        Vector512<float> c50 = default; Vector512<float> c51 = default;
        Vector512<float> c60 = default; Vector512<float> c61 = default;
        Vector512<float> c70 = default; Vector512<float> c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b + 0);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(a[o1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(a[o2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(a[o3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(a[o4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(a[o5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(a[o6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(a[o7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            a += aStride; b += bStride;
        }
        if (cols == 32) Store8x32<TOut>(c, ldc, alpha, beta, x, ldx, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71);
        else Store8x32Columns<TOut>(c, ldc, alpha, beta, cols, x, ldx, c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71);
    }

    // C = alpha * acc + beta * C for an 8x32 tile of accumulators (C is never read when beta is 0), each value through
    // TOut's step with its row of x before the store.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store8x32<TOut>(float* c, int ldc, float alpha, float beta, float* x, nint ldx,
        Vector512<float> c00, Vector512<float> c01, Vector512<float> c10, Vector512<float> c11,
        Vector512<float> c20, Vector512<float> c21, Vector512<float> c30, Vector512<float> c31,
        Vector512<float> c40, Vector512<float> c41, Vector512<float> c50, Vector512<float> c51,
        Vector512<float> c60, Vector512<float> c61, Vector512<float> c70, Vector512<float> c71)
        where TOut : struct, ITileOutput
    {
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        StoreRow32<TOut>(c + 0 * ldc, x + 0 * ldx, va, vb, beta, c00, c01);
        StoreRow32<TOut>(c + 1 * ldc, x + 1 * ldx, va, vb, beta, c10, c11);
        StoreRow32<TOut>(c + 2 * ldc, x + 2 * ldx, va, vb, beta, c20, c21);
        StoreRow32<TOut>(c + 3 * ldc, x + 3 * ldx, va, vb, beta, c30, c31);
        StoreRow32<TOut>(c + 4 * ldc, x + 4 * ldx, va, vb, beta, c40, c41);
        StoreRow32<TOut>(c + 5 * ldc, x + 5 * ldx, va, vb, beta, c50, c51);
        StoreRow32<TOut>(c + 6 * ldc, x + 6 * ldx, va, vb, beta, c60, c61);
        StoreRow32<TOut>(c + 7 * ldc, x + 7 * ldx, va, vb, beta, c70, c71);
    }

    // One row of 32: the value alpha * acc (+ beta * C), through TOut's step, stored.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow32<TOut>(float* q, float* xr, Vector512<float> va, Vector512<float> vb, float beta,
        Vector512<float> left, Vector512<float> right) where TOut : struct, ITileOutput
    {
        Vector512<float> x0 = default, x1 = default;
        if (TOut.ReadsX) { x0 = Vector512.Load(xr); x1 = Vector512.Load(xr + 16); }
        if (beta == 0f)
        {
            Vector512.Store(TOut.Apply(x0, left * va), q);
            Vector512.Store(TOut.Apply(x1, right * va), q + 16);
            return;
        }
        Vector512.Store(TOut.Apply(x0, Vector512.FusedMultiplyAdd(left, va, Vector512.Load(q) * vb)), q);
        Vector512.Store(TOut.Apply(x1, Vector512.FusedMultiplyAdd(right, va, Vector512.Load(q + 16) * vb)), q + 16);
    }

    // The first `cols` columns of an 8x32 tile, C = alpha * acc + beta * C, through masked loads and stores (masked-off
    // lanes never fault, the bias's included), rounded and stepped as Store8x32 rounds and steps them.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store8x32Columns<TOut>(float* c, int ldc, float alpha, float beta, int cols, float* x, nint ldx,
        Vector512<float> c00, Vector512<float> c01, Vector512<float> c10, Vector512<float> c11,
        Vector512<float> c20, Vector512<float> c21, Vector512<float> c30, Vector512<float> c31,
        Vector512<float> c40, Vector512<float> c41, Vector512<float> c50, Vector512<float> c51,
        Vector512<float> c60, Vector512<float> c61, Vector512<float> c70, Vector512<float> c71)
        where TOut : struct, ITileOutput
    {
        var lane = Vector512<int>.Indices;
        var m0 = Vector512.LessThan(lane, Vector512.Create(cols)).AsSingle();
        var m1 = Vector512.LessThan(lane, Vector512.Create(cols - 16)).AsSingle();
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        StoreRow(c + 0 * ldc, x + 0 * ldx, m0, m1, va, vb, beta, c00, c01);
        StoreRow(c + 1 * ldc, x + 1 * ldx, m0, m1, va, vb, beta, c10, c11);
        StoreRow(c + 2 * ldc, x + 2 * ldx, m0, m1, va, vb, beta, c20, c21);
        StoreRow(c + 3 * ldc, x + 3 * ldx, m0, m1, va, vb, beta, c30, c31);
        StoreRow(c + 4 * ldc, x + 4 * ldx, m0, m1, va, vb, beta, c40, c41);
        StoreRow(c + 5 * ldc, x + 5 * ldx, m0, m1, va, vb, beta, c50, c51);
        StoreRow(c + 6 * ldc, x + 6 * ldx, m0, m1, va, vb, beta, c60, c61);
        StoreRow(c + 7 * ldc, x + 7 * ldx, m0, m1, va, vb, beta, c70, c71);

        static void StoreRow(float* q, float* xr, Vector512<float> m0, Vector512<float> m1, Vector512<float> va, Vector512<float> vb,
            float beta, Vector512<float> left, Vector512<float> right)
        {
            // Masked loads of x too: its row ends with C's last column.
            Vector512<float> x0 = default, x1 = default;
            if (TOut.ReadsX) { x0 = Avx512F.MaskLoad(xr, m0, Vector512<float>.Zero); x1 = Avx512F.MaskLoad(xr + 16, m1, Vector512<float>.Zero); }
            if (beta == 0f)
            {
                Avx512F.MaskStore(q, m0, TOut.Apply(x0, left * va));
                Avx512F.MaskStore(q + 16, m1, TOut.Apply(x1, right * va));
                return;
            }
            Avx512F.MaskStore(q, m0, TOut.Apply(x0, Vector512.FusedMultiplyAdd(left, va, Avx512F.MaskLoad(q, m0, Vector512<float>.Zero) * vb)));
            Avx512F.MaskStore(q + 16, m1, TOut.Apply(x1, Vector512.FusedMultiplyAdd(right, va, Avx512F.MaskLoad(q + 16, m1, Vector512<float>.Zero) * vb)));
        }
    }

    /// <summary>6x16 tile: C = alpha * (A panel x B panel) + beta * C, over <paramref name="kc"/> steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile6x16(int kc, float* a, int aStride, float* b, int bStride, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default; Vector256<float> c01 = default;
        Vector256<float> c10 = default; Vector256<float> c11 = default;
        Vector256<float> c20 = default; Vector256<float> c21 = default;
        Vector256<float> c30 = default; Vector256<float> c31 = default;
        Vector256<float> c40 = default; Vector256<float> c41 = default;
        Vector256<float> c50 = default; Vector256<float> c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b + 0);
            var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += aStride; b += bStride;
        }
        var va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Vector256.Store(c00 * va, c + 0 * ldc + 0);
            Vector256.Store(c01 * va, c + 0 * ldc + 8);
            Vector256.Store(c10 * va, c + 1 * ldc + 0);
            Vector256.Store(c11 * va, c + 1 * ldc + 8);
            Vector256.Store(c20 * va, c + 2 * ldc + 0);
            Vector256.Store(c21 * va, c + 2 * ldc + 8);
            Vector256.Store(c30 * va, c + 3 * ldc + 0);
            Vector256.Store(c31 * va, c + 3 * ldc + 8);
            Vector256.Store(c40 * va, c + 4 * ldc + 0);
            Vector256.Store(c41 * va, c + 4 * ldc + 8);
            Vector256.Store(c50 * va, c + 5 * ldc + 0);
            Vector256.Store(c51 * va, c + 5 * ldc + 8);
        }
        else
        {
            var vb = Vector256.Create(beta);
            { float* q = c + 0 * ldc + 0; Vector256.Store(Vector256.FusedMultiplyAdd(c00, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 0 * ldc + 8; Vector256.Store(Vector256.FusedMultiplyAdd(c01, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 1 * ldc + 0; Vector256.Store(Vector256.FusedMultiplyAdd(c10, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 1 * ldc + 8; Vector256.Store(Vector256.FusedMultiplyAdd(c11, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 2 * ldc + 0; Vector256.Store(Vector256.FusedMultiplyAdd(c20, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 2 * ldc + 8; Vector256.Store(Vector256.FusedMultiplyAdd(c21, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 3 * ldc + 0; Vector256.Store(Vector256.FusedMultiplyAdd(c30, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 3 * ldc + 8; Vector256.Store(Vector256.FusedMultiplyAdd(c31, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 4 * ldc + 0; Vector256.Store(Vector256.FusedMultiplyAdd(c40, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 4 * ldc + 8; Vector256.Store(Vector256.FusedMultiplyAdd(c41, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 5 * ldc + 0; Vector256.Store(Vector256.FusedMultiplyAdd(c50, va, Vector256.Load(q) * vb), q); }
            { float* q = c + 5 * ldc + 8; Vector256.Store(Vector256.FusedMultiplyAdd(c51, va, Vector256.Load(q) * vb), q); }
        }
    }

    /// <summary>4x4 scalar tile for CPUs without SIMD acceleration.</summary>
    public static void Tile4x4(int kc, float* a, int aStride, float* b, int bStride, float* c, int ldc, float alpha, float beta)
    {
        float* acc = stackalloc float[16];
        for (int i = 0; i < 16; i++) acc[i] = 0f;
        for (int p = 0; p < kc; p++, a += aStride, b += bStride)
            for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++)
                acc[r * 4 + s] = System.MathF.FusedMultiplyAdd(a[r], b[s], acc[r * 4 + s]);
        for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++)
        {
            float* q = c + r * ldc + s;
            *q = Blend(acc[r * 4 + s], alpha, beta, *q);
        }
    }
}

/// <summary>Where row r of an A tile starts, relative to row 0 (see <see cref="MicroKernels.Tile8x32{TRows, TOut}"/>).</summary>
internal interface IRowOffsets
{
    /// <summary>The offset of row <paramref name="r"/>, in floats.</summary>
    static abstract nint Offset(int r, nint rowStride);
}

/// <summary>Rows side by side, as in a panel: row r at r.</summary>
internal readonly struct PanelRows : IRowOffsets
{
    public static nint Offset(int r, nint rowStride) => r;
}

/// <summary>Stored rows of an untransposed A: row r at r times the row stride.</summary>
internal readonly struct StoredRows : IRowOffsets
{
    public static nint Offset(int r, nint rowStride) => r * rowStride;
}

/// <summary>What an AVX-512 tile does to each value before it stores it (see <see cref="MicroKernels.Tile8x32{TRows, TOut}"/>).</summary>
internal interface ITileOutput
{
    /// <summary>Whether the step reads a row of x (false: x is never read).</summary>
    static abstract bool ReadsX { get; }

    /// <summary>The stored value for z, with <paramref name="x"/> the same columns of the step's row of operands.</summary>
    static abstract Vector512<float> Apply(Vector512<float> x, Vector512<float> z);
}

/// <summary>Stores z: a plain product.</summary>
internal readonly struct Plain : ITileOutput
{
    public static bool ReadsX => false;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> z) => z;
}

/// <summary>Stores <c>TOp.Apply(x, z)</c>, as FusedOps applies TOp: a layer's bias and element-wise activation (x the
/// bias row), or an activation's derivative (x the activation's outputs).</summary>
internal readonly struct Through<TOp> : ITileOutput where TOp : struct, IInPlaceOp
{
    public static bool ReadsX => true;
    public static Vector512<float> Apply(Vector512<float> x, Vector512<float> z) => TOp.Apply(x, z);
}
