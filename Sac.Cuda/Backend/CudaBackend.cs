using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using Sac.Core.Compute;
using Sac.Core.Config;
using Sac.Core.Optim;
using Sac.Core.Random;
using Sac.Cuda.Driver;
using Sac.Cuda.Kernels;

namespace Sac.Cuda.Backend;

/// <summary>
/// <see cref="ISacBackend"/> on a CUDA device: arrays are <see cref="CudaDeviceArray"/>s, every operation is enqueued
/// on one stream (kernels from native/, launched as native/README.md prescribes; GEMM through cuBLAS on the same
/// stream), and only <see cref="Download"/> and <see cref="Synchronize"/> wait for the stream (an upload waits at
/// most for the copies of a staging half it reuses; see the remarks).
/// </summary>
/// <remarks>
/// <para>Nothing is allocated on the device or the managed heap per operation: the Adam partial sums use one scratch
/// buffer made at construction, the upload staging is made once, and kernel arguments are built on the stack. The context is made current again when
/// an operation comes from another thread than the last one. Not thread-safe: one caller at a time.</para>
/// <para>Uploads of up to <see cref="StagingCapacity"/> floats go through page-locked staging memory (two halves,
/// made at the first such upload): the data is copied there, the device copies it from there asynchronously, and an
/// event recorded after the copy guards the half, which is rewritten only after its event has completed. Larger uploads
/// are staged by the driver from pageable memory on the calling thread.</para>
/// <para>With <see cref="CaptureGraphs"/>, every run of device operations between two operations that involve the
/// host (<see cref="Allocate"/>, <see cref="Upload"/>, <see cref="Download"/>, <see cref="Synchronize"/>) is captured
/// from the stream into a CUDA graph and launched as one (see <see cref="CaptureGraphs"/>).</para>
/// </remarks>
public sealed class CudaBackend : ISacBackend
{
    /// <summary>Threads per block for every kernel (native/README.md, launch conventions).</summary>
    public const int BlockSize = 256;

    /// <summary>The most blocks a grid-stride kernel is launched with.</summary>
    public const int MaxGrid = 1024;

    /// <summary>The most blocks (and partial sums) of <c>sum_squares_partial</c>.</summary>
    public const int MaxPartials = 256;

    /// <summary>The default <see cref="StagingCapacity"/>: 2^20 floats (4 MiB) per staging half.</summary>
    public const int DefaultStagingCapacity = 1 << 20;

    /// <summary>The largest <see cref="StagingCapacity"/>: 2^28 floats (1 GiB) per staging half.</summary>
    public const int MaxStagingCapacity = 1 << 28;

    readonly bool _ownsContext;
    readonly List<IDisposable> _owned = new();
    readonly CudaFunction _softTarget, _polyak, _sumSquaresPartial, _adam, _tanhForward, _tanhBackward, _philoxUInt32,
        _philoxNormal, _biasActivation, _activationBackward, _columnSums, _concatColumns, _sumColumnBlock, _criticLoss,
        _actorLoss, _sumReduce;
    // MaxPartials doubles for the Adam clip norm: cuMemAlloc returns 256-byte aligned memory, so 8-byte alignment holds.
    readonly DeviceBuffer _partials;
    int _thread;
    bool _disposed;
    readonly UploadStaging _staging;
    readonly StreamGraphCapture _graphs;

    /// <summary>A backend on <paramref name="context"/> with the kernels embedded in this build
    /// (<see cref="KernelImages"/>) and cuBLAS from its default location.</summary>
    /// <param name="context">The device's context; current on the calling thread.</param>
    /// <param name="ownsContext">Dispose the context with the backend.</param>
    /// <exception cref="KernelImageMissingException">This build has no kernels (<see cref="KernelImages.MissingReason"/>).</exception>
    /// <exception cref="CudaUnavailableException">cuBLAS could not be loaded.</exception>
    /// <exception cref="CudaException">The driver refused a module, the stream or the scratch buffer.</exception>
    public CudaBackend(CudaContext context, bool ownsContext = false) : this(context, ownsContext, null, null)
    {
    }

    /// <summary>
    /// A backend on <paramref name="context"/> with the PTX of each module from <paramref name="ptxSource"/> and cuBLAS
    /// from <paramref name="cublasPath"/>. On failure everything made so far is released (and the context, when owned).
    /// </summary>
    /// <param name="context">The device's context; current on the calling thread.</param>
    /// <param name="ownsContext">Dispose the context with the backend.</param>
    /// <param name="ptxSource">The PTX text of a module by name, e.g. <c>"adam"</c>; null for <see cref="KernelImages.GetPtx"/>.</param>
    /// <param name="cublasPath">An explicit cuBLAS library path, or null for the default search.</param>
    /// <exception cref="KernelImageMissingException">A module's PTX is not available.</exception>
    /// <exception cref="CudaUnavailableException">cuBLAS could not be loaded.</exception>
    /// <exception cref="CudaException">The driver refused a module, a kernel entry, the stream or the scratch buffer.</exception>
    public CudaBackend(CudaContext context, bool ownsContext, Func<string, string>? ptxSource, string? cublasPath)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
        _ownsContext = ownsContext;
        bool embedded = ptxSource is null;
        ptxSource ??= KernelImages.GetPtx;
        try
        {
            if (embedded && !KernelImages.BuiltWithKernels)
                throw new KernelImageMissingException("*", "The CUDA backend needs the kernels of native/: " + KernelImages.MissingReason + ".");
            context.MakeCurrent();
            _thread = Environment.CurrentManagedThreadId;
            Stream = Keep(context.CreateStream());
            Blas = Keep(new CuBlas(context, Stream, cublasPath));
            var functions = new Dictionary<string, CudaFunction>(StringComparer.Ordinal);
            foreach (var (module, kernels) in KernelImages.KernelNames)
            {
                var loaded = Keep(context.LoadModule(ptxSource(module)));
                foreach (string kernel in kernels) functions[kernel] = loaded.GetFunction(kernel);
            }
            _softTarget = functions["soft_target"];
            _polyak = functions["polyak"];
            _sumSquaresPartial = functions["sum_squares_partial"];
            _adam = functions["adam"];
            _tanhForward = functions["tanh_gaussian_forward"];
            _tanhBackward = functions["tanh_gaussian_backward"];
            _philoxUInt32 = functions["philox_uint32"];
            _philoxNormal = functions["philox_normal"];
            _biasActivation = functions["bias_activation_forward"];
            _activationBackward = functions["activation_backward"];
            _columnSums = functions["column_sums"];
            _concatColumns = functions["concat_columns"];
            _sumColumnBlock = functions["sum_column_block"];
            _criticLoss = functions["critic_loss"];
            _actorLoss = functions["actor_loss"];
            _sumReduce = functions["sum_reduce"];
            _partials = Keep(context.Allocate(2 * MaxPartials));
            _staging = Keep(new UploadStaging(context, Stream, DefaultStagingCapacity));
            _graphs = new StreamGraphCapture(context, Stream);
        }
        catch
        {
            ReleaseOwned();
            if (ownsContext) context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens device <paramref name="ordinal"/> through the default driver and builds a backend on its primary context
    /// (owned by the backend). Never throws for a missing driver, device, cuBLAS or kernels: answers false and why.
    /// </summary>
    /// <param name="ordinal">Device ordinal, usually 0.</param>
    /// <param name="backend">The backend; null on failure.</param>
    /// <param name="reason">Empty on success, else <c>no usable GPU: why</c>.</param>
    public static bool TryCreate(int ordinal, [NotNullWhen(true)] out CudaBackend? backend, out string reason) =>
        TryCreate(null, null, null, ordinal, out backend, out reason);

    /// <summary>As <see cref="TryCreate(int, out CudaBackend?, out string)"/>, with explicit libraries and PTX source.</summary>
    /// <param name="driverPath">The CUDA driver library, or null for the default (<c>SAC_LIBCUDA</c>, else libcuda.so.1).</param>
    /// <param name="cublasPath">The cuBLAS library, or null for the default search.</param>
    /// <param name="ptxSource">The PTX of a module by name, or null for the embedded kernels.</param>
    /// <param name="ordinal">Device ordinal.</param>
    /// <param name="backend">The backend; null on failure.</param>
    /// <param name="reason">Empty on success, else <c>no usable GPU: why</c>.</param>
    public static bool TryCreate(string? driverPath, string? cublasPath, Func<string, string>? ptxSource, int ordinal,
        [NotNullWhen(true)] out CudaBackend? backend, out string reason)
    {
        backend = null;
        if (ptxSource is null && !KernelImages.BuiltWithKernels)
        {
            reason = "no usable GPU: " + KernelImages.MissingReason;
            return false;
        }
        if (!CudaDevice.TryOpen(driverPath, ordinal, out var context, out reason)) return false;
        try
        {
            backend = new CudaBackend(context, ownsContext: true, ptxSource, cublasPath);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaException or CudaUnavailableException or KernelImageMissingException)
        {
            // The constructor has released the context it owned.
            reason = "no usable GPU: " + e.Message;
            return false;
        }
    }

    /// <summary>The context everything is made in.</summary>
    public CudaContext Context { get; }

    /// <summary>The stream every operation is enqueued on.</summary>
    public CudaStream Stream { get; }

    /// <summary>The cuBLAS handle bound to <see cref="Stream"/>.</summary>
    public CuBlas Blas { get; }

    /// <summary>"cuda".</summary>
    public string Name => "cuda";

    /// <summary>Device name, compute capability, SMs and memory.</summary>
    public override string ToString() => "cuda: " + Context.Device;

    T Keep<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    void ReleaseOwned()
    {
        // Reverse order of creation: cuBLAS before its stream, everything before the context.
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            try { _owned[i].Dispose(); }
            catch (CudaException) { /* a failed release still counts as released; keep releasing the rest */ }
        }
        _owned.Clear();
    }

    /// <summary>Makes the context current if this call comes from another thread than the last; throws after Dispose.</summary>
    void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int thread = Environment.CurrentManagedThreadId;
        if (thread != _thread)
        {
            Context.MakeCurrent();
            _thread = thread;
        }
    }

    /// <summary><see cref="Enter"/> for an operation that only enqueues device work: with <see cref="CaptureGraphs"/>
    /// on, it is captured.</summary>
    void EnterDevice()
    {
        Enter();
        _graphs.BeginIfEnabled();
    }

    /// <summary><see cref="Enter"/> for an operation that involves the host: a capture in progress is ended and its
    /// graph launched first, so the operation is ordered after the captured work.</summary>
    void EnterHost()
    {
        Enter();
        _graphs.End(launch: true);
    }

    /// <summary>Whether the driver has what <see cref="CaptureGraphs"/> needs (stream capture, and graph update in
    /// place, from CUDA 12.0); if not, <see cref="GraphsUnsupportedReason"/> says which entry point it lacks.</summary>
    public bool GraphsSupported => _graphs.MissingExport is null;

    /// <summary>Why <see cref="CaptureGraphs"/> cannot be turned on; empty when it can.</summary>
    public string GraphsUnsupportedReason =>
        _graphs.MissingExport is string name
            ? $"the CUDA driver {Context.Driver.LibraryPath} does not export {name} (CUDA graphs need a driver of CUDA 12.0 or later)"
            : "";

    /// <summary>
    /// Capture device work into CUDA graphs: each run of device operations between two operations that involve the
    /// host is captured from the stream (<c>cuStreamBeginCapture_v2</c>, thread-local mode) and launched as one graph
    /// when the next such operation comes (<c>cuGraphLaunch</c>), the instantiated graph updated in place while the
    /// runs keep their shape. For a SAC update that is its whole device part: everything between the batch upload and
    /// the metrics download. Kernel arguments (Philox keys, Adam's bias corrections, alpha) are captured by value, so
    /// each update is captured afresh and only the instantiation is reused. The first run after turning it on runs
    /// uncaptured, so that cuBLAS sets itself up outside a capture. Off by default.
    /// </summary>
    /// <exception cref="NotSupportedException">Turned on where <see cref="GraphsSupported"/> is false.</exception>
    public bool CaptureGraphs
    {
        get => _graphs.Enabled;
        set
        {
            Enter();
            if (value && !GraphsSupported) throw new NotSupportedException("CUDA graph capture is unavailable: " + GraphsUnsupportedReason + ".");
            _graphs.Enabled = value;
        }
    }

    /// <summary>Captures begun, graphs instantiated, instantiated graphs updated in place, and graph launches, since
    /// the backend was made.</summary>
    public CudaGraphCounts GraphCounts => _graphs.Counts;

    /// <summary>
    /// Floats per half of the page-locked upload staging: uploads of at most this many floats are staged there
    /// (0: none are). Setting it waits for the stream and frees the staging memory; the next staged upload allocates
    /// two halves of the new size.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative, or above <see cref="MaxStagingCapacity"/>.</exception>
    public int StagingCapacity
    {
        get => _staging.Capacity;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxStagingCapacity);
            EnterHost();
            _staging.Capacity = value;
        }
    }

    /// <summary>The array behind a slice, refused unless this backend's context allocated it.</summary>
    CudaDeviceArray Own(DeviceSlice slice, string name)
    {
        if (slice.Array is not CudaDeviceArray array)
            throw new ArgumentException(
                $"{name} lies in a {slice.Array?.GetType().Name ?? "null"} array, not a CUDA one; only the backend that allocated an array may use it.", name);
        if (!ReferenceEquals(array.Buffer.Context, Context))
            throw new ArgumentException($"{name} lies in a CUDA array of another context; only the backend that allocated an array may use it.", name);
        return array;
    }

    /// <summary>The device address of a slice's first element, after the ownership check.</summary>
    ulong Ptr(DeviceSlice slice, string name) => Own(slice, name).Buffer.PointerAt(slice.Offset);

    static void Length(string name, int expected, int actual)
    {
        if (expected != actual) throw new ArgumentException($"{name} has {actual} elements, expected {expected}.", name);
    }

    /// <summary><c>min(ceil(work / 256), 1024)</c> blocks; work &gt; 0.</summary>
    static int Grid(long work) => (int)Math.Min((work + BlockSize - 1) / BlockSize, MaxGrid);

    void Launch(CudaFunction function, long work, scoped in KernelArgs args)
    {
        if (work <= 0) return;
        function.Launch(Grid(work), BlockSize, 0, Stream, in args);
    }

    /// <inheritdoc />
    public DeviceArray Allocate(int length)
    {
        EnterHost();
        // Zeroed by a fill ordered on the stream, before any later operation; nothing waits.
        return new CudaDeviceArray(Context, length, Stream);
    }

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<float> source, DeviceSlice dest)
    {
        EnterHost();
        Length("source", dest.Length, source.Length);
        var buffer = Own(dest, nameof(dest)).Buffer;
        // Larger than a staging half: the driver stages it from pageable memory before returning.
        if (!_staging.TryUpload(source, buffer, dest.Offset)) buffer.Upload(source, dest.Offset, Stream);
    }

    /// <inheritdoc />
    public void Download(DeviceSlice source, Span<float> dest)
    {
        EnterHost();
        Length("dest", source.Length, dest.Length);
        Own(source, nameof(source)).Buffer.Download(dest, source.Offset, Stream);
    }

    /// <inheritdoc />
    public void Copy(DeviceSlice source, DeviceSlice dest)
    {
        EnterDevice();
        Length("source", dest.Length, source.Length);
        Own(source, nameof(source)).Buffer.CopyTo(source.Offset, Own(dest, nameof(dest)).Buffer, dest.Offset, source.Length, Stream);
    }

    /// <inheritdoc />
    public void Synchronize()
    {
        EnterHost();
        Stream.Synchronize();
    }

    /// <inheritdoc />
    public void Gemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, DeviceSlice a, int lda,
        DeviceSlice b, int ldb, float beta, DeviceSlice c, int ldc)
    {
        EnterDevice();
        Own(a, nameof(a));
        Own(b, nameof(b));
        Own(c, nameof(c));
        Blas.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <inheritdoc />
    public void BiasActivationForward(DeviceSlice z, int rows, int cols, DeviceSlice bias, Activation activation)
    {
        EnterDevice();
        CheckShape(rows, cols);
        Length(nameof(z), rows * cols, z.Length);
        Length(nameof(bias), cols, bias.Length);
        var args = new KernelArgs();
        args.Add(rows);
        args.Add(cols);
        args.Add((int)activation);
        args.Add(Ptr(bias, nameof(bias)));
        args.Add(Ptr(z, nameof(z)));
        Launch(_biasActivation, (long)rows * cols, in args);
    }

    /// <inheritdoc />
    public void ActivationBackward(DeviceSlice y, DeviceSlice dy, Activation activation)
    {
        EnterDevice();
        Length(nameof(dy), y.Length, dy.Length);
        var args = new KernelArgs();
        args.Add(y.Length);
        args.Add((int)activation);
        args.Add(Ptr(y, nameof(y)));
        args.Add(Ptr(dy, nameof(dy)));
        // The identity's derivative is 1: nothing to do (native/README.md allows skipping the launch).
        if (activation != Activation.Identity) Launch(_activationBackward, y.Length, in args);
    }

    /// <inheritdoc />
    public void ColumnSums(DeviceSlice x, int rows, int cols, DeviceSlice dest, bool accumulate)
    {
        EnterDevice();
        CheckShape(rows, cols);
        Length(nameof(x), rows * cols, x.Length);
        Length(nameof(dest), cols, dest.Length);
        var args = new KernelArgs();
        args.Add(rows);
        args.Add(cols);
        args.Add(accumulate ? 1 : 0);
        args.Add(Ptr(x, nameof(x)));
        args.Add(Ptr(dest, nameof(dest)));
        Launch(_columnSums, cols, in args);
    }

    /// <inheritdoc />
    public void Sum(DeviceSlice x, DeviceSlice dest)
    {
        EnterDevice();
        Length(nameof(dest), 1, dest.Length);
        var args = new KernelArgs();
        args.Add(x.Length);
        args.Add(Ptr(x, nameof(x)));
        args.Add(Ptr(dest, nameof(dest)));
        // One block, launched even for an empty x so that dest receives 0.
        _sumReduce.Launch(1, BlockSize, 0, Stream, in args);
    }

    /// <inheritdoc />
    public void FillNormal(PhiloxKey key, ulong offset, DeviceSlice dest)
    {
        EnterDevice();
        var args = new KernelArgs();
        long blocks = PhiloxArgs(ref args, key, offset, dest);
        Launch(_philoxNormal, blocks, in args);
    }

    /// <summary>
    /// Raw Philox words <c>dest[i] = Philox4x32-10(key, offset + i)</c> as bit patterns, the same as
    /// <see cref="Philox.FillUInt32"/> (kernel <c>philox_uint32</c>): the float array carries the 32-bit words.
    /// </summary>
    /// <param name="key">Philox key.</param>
    /// <param name="offset">Index of the first draw in the key's stream.</param>
    /// <param name="dest">Receives the words (read them back with <see cref="BitConverter.SingleToUInt32Bits"/>).</param>
    public void FillUInt32(PhiloxKey key, ulong offset, DeviceSlice dest)
    {
        EnterDevice();
        var args = new KernelArgs();
        long blocks = PhiloxArgs(ref args, key, offset, dest);
        Launch(_philoxUInt32, blocks, in args);
    }

    /// <summary>Adds <c>(k0, k1, offset, n, dest)</c> and returns the work count: Philox blocks touched.</summary>
    long PhiloxArgs(ref KernelArgs args, PhiloxKey key, ulong offset, DeviceSlice dest)
    {
        int n = dest.Length;
        if (n > 0 && offset > ulong.MaxValue - (ulong)(n - 1))
            throw new ArgumentOutOfRangeException(nameof(offset), $"Draws [{offset}, {offset} + {n}) run past the end of the Philox stream.");
        args.Add(key.K0);
        args.Add(key.K1);
        args.Add(offset);
        args.Add(n);
        args.Add(Ptr(dest, nameof(dest)));
        return n == 0 ? 0 : (long)(((offset + (ulong)(n - 1)) >> 2) - (offset >> 2) + 1);
    }

    /// <inheritdoc />
    public void ConcatColumns(int rows, DeviceSlice left, int leftCols, DeviceSlice right, int rightCols, DeviceSlice dest)
    {
        EnterDevice();
        CheckShape(rows, leftCols);
        CheckShape(rows, rightCols);
        Length(nameof(left), rows * leftCols, left.Length);
        Length(nameof(right), rows * rightCols, right.Length);
        Length(nameof(dest), rows * (leftCols + rightCols), dest.Length);
        var args = new KernelArgs();
        args.Add(rows);
        args.Add(leftCols);
        args.Add(rightCols);
        args.Add(Ptr(left, nameof(left)));
        args.Add(Ptr(right, nameof(right)));
        args.Add(Ptr(dest, nameof(dest)));
        Launch(_concatColumns, (long)rows * (leftCols + rightCols), in args);
    }

    /// <inheritdoc />
    public void SumColumnBlock(int rows, int width, int offset, int cols, DeviceSlice x1, DeviceSlice x2, DeviceSlice dest)
    {
        EnterDevice();
        CheckShape(rows, width);
        if (offset < 0 || cols < 0 || offset + cols > width)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Columns [{offset}, {offset + cols}) do not lie inside a width of {width}.");
        Length(nameof(x1), rows * width, x1.Length);
        Length(nameof(x2), rows * width, x2.Length);
        Length(nameof(dest), rows * cols, dest.Length);
        var args = new KernelArgs();
        args.Add(rows);
        args.Add(width);
        args.Add(offset);
        args.Add(cols);
        args.Add(Ptr(x1, nameof(x1)));
        args.Add(Ptr(x2, nameof(x2)));
        args.Add(Ptr(dest, nameof(dest)));
        Launch(_sumColumnBlock, (long)rows * cols, in args);
    }

    /// <inheritdoc />
    public void TanhGaussianForward(LogStdBound bound, float logStdMin, float logStdMax, int rows, int actDim,
        DeviceSlice actorOutput, DeviceSlice noise, DeviceSlice action, DeviceSlice sigma, DeviceSlice logStdGrad,
        DeviceSlice logPi)
    {
        EnterDevice();
        CheckShape(rows, actDim);
        int n = rows * actDim;
        Length(nameof(actorOutput), 2 * n, actorOutput.Length);
        Length(nameof(noise), n, noise.Length);
        Length(nameof(action), n, action.Length);
        Length(nameof(sigma), n, sigma.Length);
        Length(nameof(logStdGrad), n, logStdGrad.Length);
        Length(nameof(logPi), rows, logPi.Length);
        var args = new KernelArgs();
        args.Add(rows);
        args.Add(actDim);
        args.Add((int)bound);
        args.Add(logStdMin);
        args.Add(logStdMax);
        args.Add(Ptr(actorOutput, nameof(actorOutput)));
        args.Add(Ptr(noise, nameof(noise)));
        args.Add(Ptr(action, nameof(action)));
        args.Add(Ptr(sigma, nameof(sigma)));
        args.Add(Ptr(logStdGrad, nameof(logStdGrad)));
        args.Add(Ptr(logPi, nameof(logPi)));
        Launch(_tanhForward, rows, in args);
    }

    // gSDE has no kernels yet: a configuration with UseSde is refused before it reaches this backend
    // (DeviceSacContext and --device cuda), so these throw only for a direct call.
    static NotSupportedException GsdeOnHostOnly() =>
        new("gSDE (UseSde) runs on the host backend only; the CUDA backend has no gSDE kernels. Train with --device cpu.");

    /// <inheritdoc/>
    public void GsdeExploration(bool fullStd, bool expln, int latentDim, int actDim, DeviceSlice logStd, DeviceSlice eps,
        DeviceSlice std, DeviceSlice exploration) => throw GsdeOnHostOnly();

    /// <inheritdoc/>
    public void GsdeForward(int rows, int latentDim, int actDim, DeviceSlice latent, DeviceSlice meanRaw, DeviceSlice std,
        DeviceSlice exploration, DeviceSlice action, DeviceSlice noise, DeviceSlice variance, DeviceSlice logPi) => throw GsdeOnHostOnly();

    /// <inheritdoc/>
    public void GsdeBackward(int rows, int latentDim, int actDim, bool fullStd, bool expln, DeviceSlice latent,
        DeviceSlice meanRaw, DeviceSlice logStd, DeviceSlice eps, DeviceSlice std, DeviceSlice action,
        DeviceSlice noise, DeviceSlice variance, DeviceSlice actionGrad, DeviceSlice logPiGrad, DeviceSlice meanGrad,
        DeviceSlice logStdGrad, DeviceSlice latentGrad) => throw GsdeOnHostOnly();

    /// <inheritdoc />
    public void TanhGaussianBackward(int rows, int actDim, DeviceSlice action, DeviceSlice sigma, DeviceSlice noise,
        DeviceSlice logStdGrad, DeviceSlice actionGrad, DeviceSlice logPiGrad, DeviceSlice actorOutputGrad)
    {
        EnterDevice();
        CheckShape(rows, actDim);
        int n = rows * actDim;
        Length(nameof(action), n, action.Length);
        Length(nameof(sigma), n, sigma.Length);
        Length(nameof(noise), n, noise.Length);
        Length(nameof(logStdGrad), n, logStdGrad.Length);
        Length(nameof(actionGrad), n, actionGrad.Length);
        Length(nameof(logPiGrad), rows, logPiGrad.Length);
        Length(nameof(actorOutputGrad), 2 * n, actorOutputGrad.Length);
        var args = new KernelArgs();
        args.Add(rows);
        args.Add(actDim);
        args.Add(Ptr(action, nameof(action)));
        args.Add(Ptr(sigma, nameof(sigma)));
        args.Add(Ptr(noise, nameof(noise)));
        args.Add(Ptr(logStdGrad, nameof(logStdGrad)));
        args.Add(Ptr(actionGrad, nameof(actionGrad)));
        args.Add(Ptr(logPiGrad, nameof(logPiGrad)));
        args.Add(Ptr(actorOutputGrad, nameof(actorOutputGrad)));
        Launch(_tanhBackward, n, in args);
    }

    /// <inheritdoc />
    public void SoftTarget(float gamma, float alpha, DeviceSlice reward, DeviceSlice terminated, DeviceSlice q1,
        DeviceSlice q2, DeviceSlice logPi, DeviceSlice target)
    {
        EnterDevice();
        int n = target.Length;
        Length(nameof(reward), n, reward.Length);
        Length(nameof(terminated), n, terminated.Length);
        Length(nameof(q1), n, q1.Length);
        Length(nameof(q2), n, q2.Length);
        Length(nameof(logPi), n, logPi.Length);
        var args = new KernelArgs();
        args.Add(n);
        args.Add(gamma);
        args.Add(alpha);
        args.Add(Ptr(reward, nameof(reward)));
        args.Add(Ptr(terminated, nameof(terminated)));
        args.Add(Ptr(q1, nameof(q1)));
        args.Add(Ptr(q2, nameof(q2)));
        args.Add(Ptr(logPi, nameof(logPi)));
        args.Add(Ptr(target, nameof(target)));
        Launch(_softTarget, n, in args);
    }

    /// <inheritdoc />
    public void CriticLoss(DeviceSlice q, DeviceSlice target, DeviceSlice qGrad, DeviceSlice terms)
    {
        EnterDevice();
        int n = q.Length;
        Length(nameof(target), n, target.Length);
        Length(nameof(qGrad), n, qGrad.Length);
        Length(nameof(terms), n, terms.Length);
        var args = new KernelArgs();
        args.Add(n);
        args.Add(Ptr(q, nameof(q)));
        args.Add(Ptr(target, nameof(target)));
        args.Add(Ptr(qGrad, nameof(qGrad)));
        args.Add(Ptr(terms, nameof(terms)));
        Launch(_criticLoss, n, in args);
    }

    /// <inheritdoc />
    public void ActorLoss(float alpha, DeviceSlice logPi, DeviceSlice q1, DeviceSlice q2, DeviceSlice logPiGrad,
        DeviceSlice q1Grad, DeviceSlice q2Grad, DeviceSlice terms)
    {
        EnterDevice();
        int n = logPi.Length;
        Length(nameof(q1), n, q1.Length);
        Length(nameof(q2), n, q2.Length);
        Length(nameof(logPiGrad), n, logPiGrad.Length);
        Length(nameof(q1Grad), n, q1Grad.Length);
        Length(nameof(q2Grad), n, q2Grad.Length);
        Length(nameof(terms), n, terms.Length);
        var args = new KernelArgs();
        args.Add(n);
        args.Add(alpha);
        args.Add(Ptr(logPi, nameof(logPi)));
        args.Add(Ptr(q1, nameof(q1)));
        args.Add(Ptr(q2, nameof(q2)));
        args.Add(Ptr(logPiGrad, nameof(logPiGrad)));
        args.Add(Ptr(q1Grad, nameof(q1Grad)));
        args.Add(Ptr(q2Grad, nameof(q2Grad)));
        args.Add(Ptr(terms, nameof(terms)));
        Launch(_actorLoss, n, in args);
    }

    /// <inheritdoc />
    public void Adam(AdamConfig config, long step, DeviceSlice parameters, DeviceSlice gradients, DeviceSlice firstMoment,
        DeviceSlice secondMoment, float learningRateFactor = 1f)
    {
        EnterDevice();
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1L);
        if (!(learningRateFactor >= 0f && learningRateFactor <= 1f))
            throw new ArgumentException($"learningRateFactor must lie in [0, 1], got {learningRateFactor}.", nameof(learningRateFactor));
        int n = parameters.Length;
        Length(nameof(gradients), n, gradients.Length);
        Length(nameof(firstMoment), n, firstMoment.Length);
        Length(nameof(secondMoment), n, secondMoment.Length);
        ulong p = Ptr(parameters, nameof(parameters)), g = Ptr(gradients, nameof(gradients));
        ulong m = Ptr(firstMoment, nameof(firstMoment)), v = Ptr(secondMoment, nameof(secondMoment));
        if (n == 0) return;
        // Host side of one step (native/README.md, adam.cu): bias corrections in double, then the optional norm.
        var (stepSize, invSqrtCorrection2) = KernelReference.AdamStepScalars(config, step, learningRateFactor);
        int partialCount = 0;
        float maxNorm = 0f;
        ulong partials = 0;
        if (config.MaxGradNorm is float clip)
        {
            partialCount = PartialCount(n);
            maxNorm = clip;
            partials = _partials.DevicePointer;
            var sums = new KernelArgs();
            sums.Add(n);
            sums.Add(g);
            sums.Add(partials);
            _sumSquaresPartial.Launch(partialCount, BlockSize, 0, Stream, in sums);
        }
        var args = new KernelArgs();
        args.Add(n);
        args.Add(stepSize);
        args.Add(invSqrtCorrection2);
        args.Add(config.Beta1);
        args.Add(config.Beta2);
        args.Add(config.Epsilon);
        args.Add(maxNorm);
        args.Add(partialCount);
        args.Add(partials);
        args.Add(p);
        args.Add(g);
        args.Add(m);
        args.Add(v);
        Launch(_adam, n, in args);
    }

    /// <summary>Blocks of <c>sum_squares_partial</c> for n gradients: <c>min(256, max(1, ceil(n / 256)))</c>.</summary>
    /// <param name="n">Number of gradients.</param>
    public static int PartialCount(int n) => Math.Min(MaxPartials, Math.Max(1, (int)(((long)n + BlockSize - 1) / BlockSize)));

    /// <inheritdoc />
    /// <remarks>One stream: branch 0's operations are enqueued before branch 1's.</remarks>
    public void RunPair(IPairWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Enter();
        work.Execute(this, 0);
        work.Execute(this, 1);
    }

    /// <inheritdoc />
    public void Polyak(float tau, DeviceSlice online, DeviceSlice target)
    {
        EnterDevice();
        Length(nameof(online), target.Length, online.Length);
        var args = new KernelArgs();
        args.Add(target.Length);
        args.Add(tau);
        args.Add(Ptr(online, nameof(online)));
        args.Add(Ptr(target, nameof(target)));
        Launch(_polyak, target.Length, in args);
    }

    static void CheckShape(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if ((long)rows * cols > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} x {cols} elements do not fit an array.");
    }

    /// <summary>Waits for enqueued work (a capture in progress is ended and dropped, not launched), then releases the
    /// instantiated graph, the staging memory, the kernels, cuBLAS, the stream, the scratch buffer and the context
    /// when owned. Arrays allocated by the backend are the caller's to dispose (before an owned context). Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        bool live = !Context.IsDisposed;
        try
        {
            if (live)
            {
                Context.MakeCurrent();
                _graphs.End(launch: false);
                Stream.Synchronize();
            }
        }
        catch (CudaException)
        {
            // A faulted stream still has to be released; the fault was or will be reported by the call that waits.
        }
        try
        {
            if (live) _graphs.DestroyExec();
        }
        catch (CudaException)
        {
            // As above: a failed release still counts as released.
        }
        ReleaseOwned();
        if (_ownsContext) Context.Dispose();
    }
}
