using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sac.Core.Compute;

/// <summary>Which register-blocked micro-kernel a <see cref="ManagedGemm"/> uses.</summary>
public enum GemmKernel
{
    /// <summary>The widest the CPU accelerates: <see cref="Avx512"/>, else <see cref="Avx2"/>, else <see cref="Scalar"/>.</summary>
    Auto = 0,
    /// <summary>8x32 tile, sixteen 512-bit accumulators.</summary>
    Avx512 = 1,
    /// <summary>6x16 tile, twelve 256-bit accumulators (fits the 16 registers of AVX2).</summary>
    Avx2 = 2,
    /// <summary>Portable 4x4 scalar tile.</summary>
    Scalar = 3,
}

/// <summary>
/// Packed, register-blocked, SIMD single-precision GEMM in managed code, split across a <see cref="WorkerTeam"/>.
/// </summary>
/// <remarks>
/// Operands are packed into MR-row panels of op(A) and NR-column panels of op(B) (which is how every transpose
/// case reaches the same micro-kernel), except where packing would cost more than it saves: where op(B) is one
/// panel wide, full panels of A^T are read in place at A's row stride (the weight gradient of a narrow input layer,
/// 256x23x256 TN); with the AVX-512 kernel, full panels of an untransposed A are read by rows in place wherever A's
/// panels are the outer loop (a layer's forward step, 256x256x256 NT, and its input gradient, 256x23x256 NN); and
/// where op(A) has at most two panels, full panels of an untransposed B are read in place (12x256x256 TN). K is
/// blocked by <see cref="KBlock"/>, each C tile is computed by exactly one thread in a fixed order, and every C element
/// accumulates over k in the same order and is written with the same rounding whatever path its tile takes, so
/// results are bitwise identical for any thread count, packed or in place. Each thread packs the panels its own
/// tiles read, so a call is one fork-join on the team.
/// An instance owns its pack buffers and worker threads; concurrent calls on one instance are serialized (give each
/// thread its own instance for parallel independent GEMMs).
/// </remarks>
public sealed unsafe class ManagedGemm : IGemm, IDisposable
{
    /// <summary>Depth of one K block: a B panel of KBlock x 32 floats stays in L1/L2.</summary>
    public const int KBlock = 384;

    readonly WorkerTeam team;
    readonly PackedWork packedWork;
    readonly object gate = new();
    readonly int mr, nr;

    /// <summary>Creates a GEMM using <paramref name="threads"/> threads and the given micro-kernel.</summary>
    public ManagedGemm(int threads = 1, GemmKernel kernel = GemmKernel.Auto)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "Threads must be at least 1.");
        Kernel = Resolve(kernel);
        (mr, nr) = Kernel switch { GemmKernel.Avx512 => (8, 32), GemmKernel.Avx2 => (6, 16), _ => (4, 4) };
        team = new WorkerTeam(threads);
        packedWork = new PackedWork(this, threads);
    }

    /// <summary>The micro-kernel in use (never <see cref="GemmKernel.Auto"/>).</summary>
    public GemmKernel Kernel { get; }

    /// <inheritdoc />
    public string Name => "managed";

    /// <inheritdoc />
    public int Threads => team.Size;

    /// <summary>
    /// The team this GEMM's calls split over. Other work may run on it between calls, never during one, and must not
    /// call this instance's <see cref="Sgemm"/> inside that work: the host backend runs a pair of independent branches
    /// here, each with a one-thread GEMM of its own, so one set of threads serves both kinds of splitting.
    /// </summary>
    public WorkerTeam Team => team;

    /// <summary>The micro-kernel a <see cref="ManagedGemm"/> with <see cref="GemmKernel.Auto"/> uses on this CPU.</summary>
    public static GemmKernel BestKernel => Resolve(GemmKernel.Auto);

    static GemmKernel Resolve(GemmKernel k)
    {
        bool has512 = Vector512.IsHardwareAccelerated, has256 = Vector256.IsHardwareAccelerated;
        return k switch
        {
            GemmKernel.Auto => has512 ? GemmKernel.Avx512 : has256 ? GemmKernel.Avx2 : GemmKernel.Scalar,
            GemmKernel.Avx512 when !has512 => throw new PlatformNotSupportedException("This CPU does not accelerate 512-bit vectors."),
            GemmKernel.Avx2 when !has256 => throw new PlatformNotSupportedException("This CPU does not accelerate 256-bit vectors."),
            _ => k,
        };
    }

    /// <inheritdoc />
    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        GemmChecks.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0f) { ScaleC(m, n, beta, pc, ldc); return; }
            // Matrix-vector shapes (SAC's 256->1 layers) would waste most of a packed tile: take a dot/axpy path.
            if (n == 1 || m == 1) { Gemv(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc); return; }
            RunPacked(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, null, false, Activation.Identity);
        }
    }

    // The packed, tiled product on the team, with the step (if stepX is set) each tile takes as it stores its last K
    // block. The pack buffers and the team belong to this instance: one call at a time may use them.
    void RunPacked(Transpose transA, Transpose transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc, float* stepX, bool derivative, Activation act)
    {
        lock (gate)
        {
            packedWork.Set(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            packedWork.SetStep(stepX, derivative, act);
            try { team.Run(packedWork); }
            finally { packedWork.Clear(); }
        }
    }

    // Whether a product of alpha 1 takes the tiled path (not the matrix-vector one, nor a scaling of C).
    static bool Tiled(int m, int n, int k) => m > 1 && n > 1 && k > 0;

    /// <summary>
    /// <c>C = act(op(A) op(B) + bias)</c>, a layer's forward step: <see cref="Sgemm"/> with alpha 1 and beta 0 into a
    /// dense C, then <see cref="FusedOps.BiasActivationForward"/> on it, bit for bit. For identity, ReLU and LeakyReLU
    /// the tiles add the bias and apply the activation as they store, so C is written once.
    /// </summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C (and bias elements).</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="a">A.</param>
    /// <param name="lda">A's leading dimension.</param>
    /// <param name="b">B.</param>
    /// <param name="ldb">B's leading dimension.</param>
    /// <param name="c">C, <c>m x n</c> dense (leading dimension n); overwritten.</param>
    /// <param name="bias">n elements.</param>
    /// <param name="act">The activation.</param>
    public void SgemmBiasActivation(Transpose transA, Transpose transB, int m, int n, int k, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, Span<float> c, ReadOnlySpan<float> bias, Activation act)
    {
        GemmChecks.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, n);
        if (bias.Length != n) throw new ArgumentException($"bias has {bias.Length} elements, expected n = {n}.", nameof(bias));
        // The matrix-vector and empty shapes, and activations that are not element-wise, take the two passes.
        if (!Tiled(m, n, k) || !FusedOps.ForwardIsPerElement(act))
        {
            Sgemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
            FusedOps.BiasActivationForward(c.Slice(0, m * n), m, n, bias, act);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
            RunPacked(transA, transB, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, n, pbias, false, act);
    }

    /// <summary>
    /// <c>C = (op(A) op(B) + beta C) * act'(Y)</c>, a layer's gradient handed below its activation: <see cref="Sgemm"/>
    /// with alpha 1 into a dense C, then <see cref="FusedOps.ActivationBackward"/> with <paramref name="y"/>, bit for
    /// bit. The AVX-512 tiles apply the derivative as they store the last K block, so C is written once.
    /// </summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="a">A.</param>
    /// <param name="lda">A's leading dimension.</param>
    /// <param name="b">B.</param>
    /// <param name="ldb">B's leading dimension.</param>
    /// <param name="beta">Scale of the old C.</param>
    /// <param name="c">C, <c>m x n</c> dense (leading dimension n); overwritten.</param>
    /// <param name="y">The activation's outputs, <c>m x n</c> dense.</param>
    /// <param name="act">The activation.</param>
    public void SgemmActivationBackward(Transpose transA, Transpose transB, int m, int n, int k, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, ReadOnlySpan<float> y, Activation act)
    {
        GemmChecks.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, n);
        if (y.Length != (long)m * n) throw new ArgumentException($"y has {y.Length} elements, expected m * n = {m} * {n}.", nameof(y));
        // The matrix-vector and empty shapes take the two passes; identity has no derivative to apply.
        if (!Tiled(m, n, k) || act == Activation.Identity)
        {
            Sgemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, beta, c, n);
            FusedOps.ActivationBackward(y, c.Slice(0, m * n), act);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c, py = y)
            RunPacked(transA, transB, m, n, k, 1f, pa, lda, pb, ldb, beta, pc, n, py, true, act);
    }

    /// <summary>Frees the worker threads.</summary>
    public void Dispose() => team.Dispose();

    static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    // y = alpha * op(A) x + beta * y, for n == 1 (C is a column) or m == 1 (C is a row).
    static void Gemv(Transpose transA, Transpose transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (n == 1)
        {
            // op(B) is k x 1: a vector with stride (ldb if not transposed, 1 if transposed).
            int sb = transB == Transpose.No ? ldb : 1;
            if (transA == Transpose.No)
            {
                float* x = b;
                float[]? tmp = null;
                if (sb != 1) { tmp = Scratch(k); for (int p = 0; p < k; p++) tmp[p] = b[(long)p * sb]; }
                fixed (float* xt = tmp)
                {
                    float* xv = tmp is null ? x : xt;
                    for (int i = 0; i < m; i++)
                    {
                        float dot = Dot(a + (long)i * lda, xv, k);
                        float* ci = c + (long)i * ldc;
                        *ci = MicroKernels.Blend(dot, alpha, beta, *ci);
                    }
                }
            }
            else
            {
                // op(A) = A^T with A stored k x m: y = sum_p x_p * A[p, :], accumulated in a row buffer.
                float[] acc = Scratch(m);
                Array.Clear(acc, 0, m);
                fixed (float* pacc = acc)
                    for (int p = 0; p < k; p++) Axpy(b[(long)p * sb], a + (long)p * lda, pacc, m);
                for (int i = 0; i < m; i++)
                {
                    float* ci = c + (long)i * ldc;
                    *ci = MicroKernels.Blend(acc[i], alpha, beta, *ci);
                }
            }
            return;
        }
        // m == 1: C is 1 x n, c_j = sum_p a_p op(B)[p, j]; op(A) is 1 x k with stride (1 if not transposed, lda if transposed).
        int sa = transA == Transpose.No ? 1 : lda;
        if (transB == Transpose.Yes)
        {
            float[]? tmp = null;
            if (sa != 1) { tmp = Scratch(k); for (int p = 0; p < k; p++) tmp[p] = a[(long)p * sa]; }
            fixed (float* at = tmp)
            {
                float* av = tmp is null ? a : at;
                for (int j = 0; j < n; j++)
                {
                    float dot = Dot(b + (long)j * ldb, av, k);
                    c[j] = MicroKernels.Blend(dot, alpha, beta, c[j]);
                }
            }
        }
        else
        {
            float[] acc = Scratch(n);
            Array.Clear(acc, 0, n);
            fixed (float* pacc = acc)
                for (int p = 0; p < k; p++) Axpy(a[(long)p * sa], b + (long)p * ldb, pacc, n);
            for (int j = 0; j < n; j++) c[j] = MicroKernels.Blend(acc[j], alpha, beta, c[j]);
        }
    }

    [ThreadStatic] static float[]? scratch;
    static float[] Scratch(int n)
    {
        if (scratch is null || scratch.Length < n) scratch = new float[Math.Max(n, 1024)];
        return scratch;
    }

    // Fixed summation order (lane-wise partial sums, then lanes in order) keeps dot products reproducible.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float* x, float* y, int k) =>
        System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(x, k), new ReadOnlySpan<float>(y, k));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Axpy(float s, float* x, float* y, int n)
    {
        var ys = new Span<float>(y, n);
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x, n), s, ys, ys);
    }

    // A packed GEMM as one fork-join on the team. Each part owns a contiguous range of the larger panel count and
    // packs, into buffers of its own, every panel its tiles read, so no packed cache line moves between cores and the
    // K blocks need no barrier. The shared operand is packed once per part: packing is cheap next to the traffic a
    // shared pack costs (at 256^3 on two cores, the interleaved shared pack took 2-3x as long as one core packing all).
    sealed class PackedWork : IPartitionedWork
    {
        readonly ManagedGemm g;
        public Transpose TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc;
        public float Alpha, Beta;
        public float* A, B, C;
        readonly PackBuffer[] packA, packB;

        public PackedWork(ManagedGemm g, int parts)
        {
            this.g = g;
            packA = new PackBuffer[parts];
            packB = new PackBuffer[parts];
            for (int i = 0; i < parts; i++) { packA[i] = new PackBuffer(); packB[i] = new PackBuffer(); }
        }

        public void Set(Transpose ta, Transpose tb, int m, int n, int k, float alpha, float* a, int lda,
            float* b, int ldb, float beta, float* c, int ldc)
        {
            (TransA, TransB, M, N, K, Alpha, Lda, Ldb, Beta, Ldc) = (ta, tb, m, n, k, alpha, lda, ldb, beta, ldc);
            A = a; B = b; C = c;
            SplitN = NPanels >= MPanels;
            int kc = Math.Min(KBlock, k), parts = packA.Length;
            for (int part = 0; part < parts; part++)
            {
                var (aFrom, aTo, bFrom, bTo) = Panels(part, parts);
                packA[part].Ensure((long)(aTo - aFrom) * g.mr * kc);
                packB[part].Ensure((long)(bTo - bFrom) * g.nr * kc);
            }
        }

        // The step C takes as its last K block is stored (stepX null: a plain product): a layer's bias row and
        // activation, or an activation's derivative through its outputs (dense, at C's stride).
        float* stepX;
        bool derivative;
        Activation activation;

        public void SetStep(float* x, bool derivative, Activation act) { stepX = x; this.derivative = derivative; activation = act; }

        public void Clear() { A = B = C = null; stepX = null; }

        // The A and B panel ranges part `part` reads: its own share of the larger panel count, all of the other.
        (int aFrom, int aTo, int bFrom, int bTo) Panels(int part, int parts)
        {
            int mPanels = MPanels, nPanels = NPanels;
            int total = SplitN ? nPanels : mPanels;
            int lo = (int)((long)total * part / parts), hi = (int)((long)total * (part + 1) / parts);
            return SplitN ? (0, mPanels, lo, hi) : (lo, hi, 0, nPanels);
        }

        int MPanels => (M + g.mr - 1) / g.mr;
        int NPanels => (N + g.nr - 1) / g.nr;
        // Splitting the larger panel count keeps the operand every part packs the smaller one. Set once per call: every
        // tile's in-place test reads it.
        bool SplitN;

        public void Execute(int part, int parts)
        {
            int mr = g.mr, nr = g.nr;
            var (aFrom, aTo, bFrom, bTo) = Panels(part, parts);
            if (aFrom == aTo || bFrom == bTo) return;
            bool splitN = SplitN;
            float* ownA = packA[part].Aligned, ownB = packB[part].Aligned;
            for (int k0 = 0; k0 < K; k0 += KBlock)
            {
                int kc = Math.Min(KBlock, K - k0);
                for (int ip = aFrom; ip < aTo; ip++)
                    if (!InPlaceA(ip)) PackA(ip * mr, k0, kc, ownA + (long)(ip - aFrom) * mr * kc);
                for (int jp = bFrom; jp < bTo; jp++)
                    if (!InPlaceB(jp)) PackB(jp * nr, k0, kc, ownB + (long)(jp - bFrom) * nr * kc);
                float beta = k0 == 0 ? Beta : 1f;
                bool stepping = stepX != null && k0 + kc >= K;
                // A part keeps reusing the panels of its own range: they are the inner loop's constant operand.
                if (splitN)
                {
                    for (int jp = bFrom; jp < bTo; jp++)
                        for (int ip = aFrom; ip < aTo; ip++) TileAt(ip, jp);
                }
                else
                {
                    for (int ip = aFrom; ip < aTo; ip++)
                        for (int jp = bFrom; jp < bTo; jp++) TileAt(ip, jp);
                }

                void TileAt(int ip, int jp) =>
                    Tile(ip, jp, k0, kc, ownA + (long)(ip - aFrom) * mr * kc, ownB + (long)(jp - bFrom) * nr * kc, beta, stepping);
            }
        }

        // One C tile over one K block; `stepping` (the last K block of a call with a step) also takes the step, with
        // FusedOps' operations: in the AVX-512 tile's registers where it has 8 full rows, otherwise after the store.
        void Tile(int ip, int jp, int k0, int kc, float* packedA, float* packedB, float beta, bool stepping)
        {
            int mr = g.mr, nr = g.nr;
            int i0 = ip * mr, j0 = jp * nr;
            int rows = Math.Min(mr, M - i0), cols = Math.Min(nr, N - j0);
            // Full panels are read in place where that pays (see InPlaceA and InPlaceB), packed copies otherwise.
            bool rowsA = RowsInPlaceA(ip), transposedA = TransposedInPlaceA(ip), directB = InPlaceB(jp);
            float* pa = rowsA ? A + (long)i0 * Lda + k0 : transposedA ? A + (long)k0 * Lda + i0 : packedA;
            int sa = rowsA || transposedA ? Lda : mr;
            float* pb = directB ? B + (long)k0 * Ldb + j0 : packedB;
            int sb = directB ? Ldb : nr;
            float* c = C + (long)i0 * Ldc + j0;
            // The AVX-512 kernels write a tile's first columns straight into C with masked stores.
            if (stepping && rows == mr && g.Kernel == GemmKernel.Avx512)
            {
                if (derivative)
                {
                    float* y = stepX + (long)i0 * Ldc + j0;
                    switch (activation)
                    {
                        case Activation.Relu: Tile512<Through<FusedOps.ReluBackward>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, y, Ldc); break;
                        case Activation.Tanh: Tile512<Through<FusedOps.TanhBackward>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, y, Ldc); break;
                        case Activation.Elu: Tile512<Through<FusedOps.EluBackward>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, y, Ldc); break;
                        default: Tile512<Through<FusedOps.LeakyReluBackward>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, y, Ldc); break;
                    }
                    return;
                }
                float* bias = stepX + j0;
                switch (activation)
                {
                    case Activation.Relu: Tile512<Through<FusedOps.AddBiasRelu>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, bias, 0); break;
                    case Activation.LeakyRelu: Tile512<Through<FusedOps.AddBiasLeakyRelu>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, bias, 0); break;
                    default: Tile512<Through<FusedOps.AddBias>>(rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols, bias, 0); break;
                }
                return;
            }
            if (rows == mr && (cols == nr || g.Kernel == GemmKernel.Avx512))
            {
                Micro(g.Kernel, rowsA, kc, pa, sa, pb, sb, c, Ldc, Alpha, beta, cols);
                if (stepping) FinishTile(c, i0, j0, rows, cols);
                return;
            }
            // Edge tile: compute the full tile into a stack buffer, then merge the valid part.
            float* t = stackalloc float[8 * 32];
            Micro(g.Kernel, rowsA, kc, pa, sa, pb, sb, t, nr, 1f, 0f, nr);
            for (int r = 0; r < rows; r++)
            for (int s = 0; s < cols; s++)
            {
                float* ce = c + (long)r * Ldc + s;
                *ce = MicroKernels.Blend(t[r * nr + s], Alpha, beta, *ce);
            }
            if (stepping) FinishTile(c, i0, j0, rows, cols);
        }

        // The step of a tile already stored at c, rows from i0 and columns from j0 (the kernels without an output
        // step, and edge tiles), row by row through FusedOps.
        void FinishTile(float* c, int i0, int j0, int rows, int cols)
        {
            for (int r = 0; r < rows; r++)
            {
                var row = new Span<float>(c + (long)r * Ldc, cols);
                if (derivative) FusedOps.ActivationBackward(new ReadOnlySpan<float>(stepX + (long)(i0 + r) * Ldc + j0, cols), row, activation);
                else FusedOps.BiasActivationForward(row, 1, cols, new ReadOnlySpan<float>(stepX + j0, cols), activation);
            }
        }

        // Operands read in place. A full panel of A^T already holds, for each p, mr consecutive values of stored row
        // k0 + p; it is read in place only where op(B) is one panel wide, so that each A panel is read once: read again
        // at a stride of whole rows, it meets cache-set conflicts that its packed copy avoids (256^3 TN fell from 166
        // to 154 GFLOP/s in place, while 256x23x256 TN rose from 53 to 69). A full panel of an untransposed A is mr
        // stored rows, read at their stride (StoredRows, AVX-512): mr lines at a time, which stay in L1 while the
        // panel is reused, so it is read in place also wherever the panels of A are the outer loop (not SplitN),
        // which saves packing A with transposes (on Zen 5, 256^3 NT 187 -> 193 GFLOP/s, 4096x256x256 NN 154 -> 164).
        // Where B's panels are the outer loop, every pass would stream all of A's rows from L2 again, so A is packed.
        bool InPlaceA(int ip) => TransposedInPlaceA(ip) || RowsInPlaceA(ip);
        bool TransposedInPlaceA(int ip) => TransA == Transpose.Yes && (ip + 1) * g.mr <= M && N <= g.nr;
        bool RowsInPlaceA(int ip) => TransA == Transpose.No && g.Kernel == GemmKernel.Avx512 && (ip + 1) * g.mr <= M && (N <= g.nr || !SplitN);

        // A full panel of an untransposed B is, for each p, nr consecutive values of stored row k0 + p. Where op(A)
        // has at most two panels each B panel is read at most twice, and packing all of B would cost more than the
        // product (12x256x256 TN, the policy head's weight gradient).
        bool InPlaceB(int jp) => TransB == Transpose.No && (jp + 1) * g.nr <= N && M <= 2 * g.mr;

        // Packed A panel: for each p, mr consecutive values op(A)[i0 + r, k0 + p], zero-padded past M.
        void PackA(int i0, int k0, int kc, float* dst)
        {
            int mr = g.mr, rows = Math.Min(mr, M - i0);
            if (TransA == Transpose.No)
            {
                int p0 = 0;
                if (rows == 8 && mr == 8 && Transpose8x8.IsSupported)
                    for (; p0 + 8 <= kc; p0 += 8)
                        Transpose8x8.Run(A + (long)i0 * Lda + k0 + p0, Lda, dst + p0 * 8, 8);
                for (int r = 0; r < rows; r++)
                {
                    float* src = A + (long)(i0 + r) * Lda + k0;
                    for (int p = p0; p < kc; p++) dst[p * mr + r] = src[p];
                }
            }
            else if (rows == 8 && mr == 8 && Vector256.IsHardwareAccelerated)
            {
                // op(A) = A^T: each k step of the panel is 8 contiguous values of a stored row.
                for (int p = 0; p < kc; p++)
                    Vector256.Store(Vector256.Load(A + (long)(k0 + p) * Lda + i0), dst + p * 8);
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = A + (long)(k0 + p) * Lda + i0;
                    float* d = dst + p * mr;
                    for (int r = 0; r < rows; r++) d[r] = src[r];
                }
            }
            if (rows < mr)
                for (int p = 0; p < kc; p++)
                    for (int r = rows; r < mr; r++) dst[p * mr + r] = 0f;
        }

        // Packed B panel: for each p, nr consecutive values op(B)[k0 + p, j0 + s], zero-padded past N.
        void PackB(int j0, int k0, int kc, float* dst)
        {
            int nr = g.nr, cols = Math.Min(nr, N - j0);
            if (TransB == Transpose.No)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = B + (long)(k0 + p) * Ldb + j0;
                    float* d = dst + p * nr;
                    if (cols == nr) CopyRow(src, d, nr);
                    else
                    {
                        for (int s = 0; s < cols; s++) d[s] = src[s];
                        for (int s = cols; s < nr; s++) d[s] = 0f;
                    }
                }
            }
            else
            {
                int p0 = 0;
                if (cols == nr && nr % 8 == 0 && Transpose8x8.IsSupported)
                    for (; p0 + 8 <= kc; p0 += 8)
                        for (int s8 = 0; s8 < nr; s8 += 8)
                            Transpose8x8.Run(B + (long)(j0 + s8) * Ldb + k0 + p0, Ldb, dst + p0 * nr + s8, nr);
                for (int s = 0; s < cols; s++)
                {
                    float* src = B + (long)(j0 + s) * Ldb + k0;
                    for (int p = p0; p < kc; p++) dst[p * nr + s] = src[p];
                }
                if (cols < nr)
                    for (int p = 0; p < kc; p++)
                        for (int s = cols; s < nr; s++) dst[p * nr + s] = 0f;
            }
        }
    }

    // One k step of a full B panel, nr floats: inline vector moves, where a call per 128-byte row cost more than the
    // copy (a library memmove per row was 2.7% of a one-thread SAC update).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void CopyRow(float* src, float* dst, int nr)
    {
        if (nr == 32 && Vector512.IsHardwareAccelerated)
        {
            Vector512.Store(Vector512.Load(src), dst);
            Vector512.Store(Vector512.Load(src + 16), dst + 16);
        }
        else if (nr % 8 == 0 && Vector256.IsHardwareAccelerated)
            for (int s = 0; s < nr; s += 8) Vector256.Store(Vector256.Load(src + s), dst + s);
        else
            for (int s = 0; s < nr; s++) dst[s] = src[s];
    }

    // A 64-byte aligned float buffer on the pinned heap (so the micro-kernel's vector loads never split cache lines)
    // that grows on demand; sized before a call's fork, never inside it.
    sealed class PackBuffer
    {
        float[] buffer = Array.Empty<float>();

        public float* Aligned { get; private set; }

        public void Ensure(long need)
        {
            if (buffer.Length >= need + 16) return;
            buffer = GC.AllocateUninitializedArray<float>((int)need + 16, pinned: true);
            var start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
            Aligned = (float*)((start + 63) & ~(nint)63);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Micro(GemmKernel kernel, bool rowsA, int kc, float* a, int sa, float* b, int sb, float* c, int ldc, float alpha, float beta, int cols)
    {
        switch (kernel)
        {
            case GemmKernel.Avx512: Tile512<Plain>(rowsA, kc, a, sa, b, sb, c, ldc, alpha, beta, cols, null, 0); break;
            case GemmKernel.Avx2: MicroKernels.Tile6x16(kc, a, sa, b, sb, c, ldc, alpha, beta); break;
            default: MicroKernels.Tile4x4(kc, a, sa, b, sb, c, ldc, alpha, beta); break;
        }
    }

    // An AVX-512 tile of 8 full rows, its A a panel or stored rows read in place, taking TOut's step with its rows of
    // x (stride ldx) as it stores.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tile512<TOut>(bool rowsA, int kc, float* a, int sa, float* b, int sb, float* c, int ldc, float alpha, float beta,
        int cols, float* x, nint ldx) where TOut : struct, ITileOutput
    {
        if (rowsA) MicroKernels.Tile8x32<StoredRows, TOut>(kc, a, sa, 1, b, sb, c, ldc, alpha, beta, cols, x, ldx);
        else MicroKernels.Tile8x32<PanelRows, TOut>(kc, a, 0, sa, b, sb, c, ldc, alpha, beta, cols, x, ldx);
    }

    static int RoundUp(int x, int m) => (x + m - 1) / m * m;
}
