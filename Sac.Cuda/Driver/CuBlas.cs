using System;
using System.Runtime.CompilerServices;
using Sac.Core.Compute;
using Sac.Cuda.Backend;

namespace Sac.Cuda.Driver;

/// <summary>How <see cref="CuBlas"/> multiplies float32 matrices.</summary>
public enum GemmMath
{
    /// <summary>Full float32 arithmetic (<c>cublasSgemm_v2</c>).</summary>
    Float32 = 0,
    /// <summary>Tensor cores with TF32 inputs and float32 accumulation (<c>cublasGemmEx</c> with
    /// <c>CUBLAS_COMPUTE_32F_FAST_TF32</c>): faster on Ampere and later, about 10 bits of mantissa per input.</summary>
    Tf32 = 1,
}

/// <summary>
/// A cuBLAS handle bound to a stream, with a row-major SGEMM: <c>C = alpha op(A) op(B) + beta C</c> in the layout
/// and argument order of <see cref="IGemm.Sgemm"/>.
/// </summary>
/// <remarks>
/// <para>cuBLAS is column-major. A row-major matrix with leading dimension ld is, read column-major, its transpose with
/// the same ld, so the row-major product is computed as <c>C^T = op(B)^T op(A)^T</c>: B and A swap places, m and n
/// swap, and each operand keeps its own transpose flag.</para>
/// <para>Without a stream, cuBLAS enqueues on the legacy default stream, which this binding's non-blocking streams
/// never wait for, nor it for them. A GEMM then waits for all work in the context before and after
/// (<c>cuCtxSynchronize</c>), as the stream-less <see cref="DeviceBuffer"/> operations do, so it cannot race with
/// a stream's kernels; bind a stream on hot paths.</para>
/// </remarks>
public sealed unsafe class CuBlas : CudaResource
{
    readonly CuBlasApi _api;
    readonly nint _handle;
    CudaStream? _stream;
    GemmMath _math;

    /// <summary>Loads cuBLAS and creates a handle (<c>cublasCreate_v2</c>) bound to <paramref name="stream"/>.</summary>
    /// <param name="context">The context; must be current.</param>
    /// <param name="stream">The stream GEMMs are enqueued on, or null for the legacy default stream, where each GEMM
    /// waits for the whole context before and after (see the remarks).</param>
    /// <param name="libraryPath">An explicit cuBLAS path, or null: <c>SAC_LIBCUBLAS</c>, else libcublas.so.12, .so.11, .so.</param>
    /// <exception cref="CudaUnavailableException">cuBLAS could not be loaded.</exception>
    /// <exception cref="CudaException">cuBLAS refused to create the handle or take the stream.</exception>
    public CuBlas(CudaContext context, CudaStream? stream = null, string? libraryPath = null) : base(context)
    {
        _api = CuBlasApi.Load(libraryPath);
        nint h;
        Check(_api.cublasCreate_v2(&h), "cublasCreate_v2");
        _handle = h;
        try
        {
            Stream = stream;
        }
        catch
        {
            _api.cublasDestroy_v2(h);
            throw;
        }
    }

    /// <summary>The file name or path cuBLAS was loaded from.</summary>
    public string LibraryPath => _api.Path;

    /// <summary>Whether <see cref="GemmMath.Tf32"/> is available (the library exports <c>cublasGemmEx</c>).</summary>
    public bool SupportsTf32 => _api.cublasGemmEx != null;

    /// <summary>The stream GEMMs are enqueued on (<c>cublasSetStream_v2</c>); null for the legacy default stream, where
    /// each GEMM is synchronous with respect to the whole context (see the remarks).</summary>
    public CudaStream? Stream
    {
        get => _stream;
        set
        {
            ThrowIfDisposed();
            Check(_api.cublasSetStream_v2(_handle, value?.Handle ?? 0), "cublasSetStream_v2");
            _stream = value;
        }
    }

    /// <summary>The arithmetic of <see cref="Sgemm(Transpose, Transpose, int, int, int, float, DeviceBuffer, int, DeviceBuffer, int, float, DeviceBuffer, int)"/>; float32 by default.</summary>
    /// <exception cref="NotSupportedException">TF32 asked of a cuBLAS without <c>cublasGemmEx</c>.</exception>
    public GemmMath Math
    {
        get => _math;
        set
        {
            if (value == GemmMath.Tf32 && !SupportsTf32)
                throw new NotSupportedException($"{_api.Path} does not export cublasGemmEx; TF32 GEMM is unavailable.");
            _math = value;
        }
    }

    /// <summary>Row-major <c>C = alpha op(A) op(B) + beta C</c> over whole buffers, as <see cref="IGemm.Sgemm"/>.
    /// With <paramref name="beta"/> = 0, C is not read.</summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A, row-major.</param>
    /// <param name="lda">A's row stride as stored.</param>
    /// <param name="b">B, row-major.</param>
    /// <param name="ldb">B's row stride as stored.</param>
    /// <param name="beta">Scale of the old C.</param>
    /// <param name="c">C, row-major.</param>
    /// <param name="ldc">C's row stride.</param>
    /// <exception cref="ArgumentException">A shape or leading dimension does not fit its buffer (<see cref="GemmChecks.Validate"/>).</exception>
    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, DeviceBuffer a, int lda,
        DeviceBuffer b, int ldb, float beta, DeviceBuffer c, int ldc)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        Gemm(transA, transB, m, n, k, alpha, a.DevicePointer, a.Length, lda, b.DevicePointer, b.Length, ldb,
            beta, c.DevicePointer, c.Length, ldc);
    }

    /// <summary>Row-major <c>C = alpha op(A) op(B) + beta C</c> over slices of CUDA arrays, as <see cref="ISacBackend.Gemm"/>.</summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A, row-major.</param>
    /// <param name="lda">A's row stride as stored.</param>
    /// <param name="b">B, row-major.</param>
    /// <param name="ldb">B's row stride as stored.</param>
    /// <param name="beta">Scale of the old C.</param>
    /// <param name="c">C, row-major.</param>
    /// <param name="ldc">C's row stride.</param>
    /// <exception cref="ArgumentException">A shape does not fit its slice, or a slice is not of a CUDA array.</exception>
    public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, DeviceSlice a, int lda,
        DeviceSlice b, int ldb, float beta, DeviceSlice c, int ldc) =>
        Gemm(transA, transB, m, n, k, alpha, CudaDeviceArray.DevicePointer(a), a.Length, lda,
            CudaDeviceArray.DevicePointer(b), b.Length, ldb, beta, CudaDeviceArray.DevicePointer(c), c.Length, ldc);

    void Gemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ulong a, int aLength, int lda,
        ulong b, int bLength, int ldb, float beta, ulong c, int cLength, int ldc)
    {
        ThrowIfDisposed();
        GemmChecks.Validate(transA, transB, m, n, k, aLength, lda, bLength, ldb, cLength, ldc);
        if (m == 0 || n == 0) return;
        // Column-major C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m); see the class remarks.
        int opB = transB == Transpose.No ? CuBlasApi.OpN : CuBlasApi.OpT;
        int opA = transA == Transpose.No ? CuBlasApi.OpN : CuBlasApi.OpT;
        // cuBLAS wants ld >= max(1, stored rows) even for an operand it never reads (k = 0).
        int ldbCol = System.Math.Max(ldb, System.Math.Max(1, transB == Transpose.No ? n : k));
        int ldaCol = System.Math.Max(lda, System.Math.Max(1, transA == Transpose.No ? k : m));
        // On the legacy stream: nothing of a non-blocking stream may be pending on either side (class remarks).
        bool legacy = _stream is null;
        if (legacy) WaitForContext();
        if (_math == GemmMath.Tf32)
            Check(_api.cublasGemmEx(_handle, opB, opA, n, m, k, &alpha, b, CuBlasApi.DataTypeR32F, ldbCol,
                a, CuBlasApi.DataTypeR32F, ldaCol, &beta, c, CuBlasApi.DataTypeR32F, ldc,
                CuBlasApi.Compute32FFastTf32, CuBlasApi.GemmDefault), "cublasGemmEx");
        else
            Check(_api.cublasSgemm_v2(_handle, opB, opA, n, m, k, &alpha, b, ldbCol, a, ldaCol, &beta, c, ldc),
                "cublasSgemm_v2");
        if (legacy) WaitForContext();
    }

    void WaitForContext() => Driver.Check(Driver.Api.cuCtxSynchronize(), "cuCtxSynchronize");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void Check(int status, string call)
    {
        if (status != 0) throw Error(status, call);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    CudaException Error(int status, string call) =>
        new(CudaLibrary.CuBlas, call, status, _api.StatusName(status), _api.StatusString(status));

    /// <inheritdoc />
    private protected override void Release() => Check(_api.cublasDestroy_v2(_handle), "cublasDestroy_v2");
}
