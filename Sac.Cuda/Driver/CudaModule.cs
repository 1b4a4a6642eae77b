using System;
using System.Text;
using System.Text.RegularExpressions;

namespace Sac.Cuda.Driver;

/// <summary>A module loaded from PTX text (<c>cuModuleLoadDataEx</c>, which JIT-compiles it for the device at hand
/// and reports what the compiler logged).</summary>
public sealed unsafe class CudaModule : CudaResource
{
    /// <summary>Bytes of each JIT log buffer; longer logs are cut there.</summary>
    const int LogBytes = 16 * 1024;

    readonly nint _handle;
    readonly string _ptx;

    /// <summary>Loads <paramref name="ptx"/> into <paramref name="context"/>.</summary>
    /// <param name="context">The context; must be current.</param>
    /// <param name="ptx">PTX source text.</param>
    /// <exception cref="CudaException">The driver rejected the image, e.g. <c>CUDA_ERROR_INVALID_PTX</c>; the
    /// exception's <see cref="CudaException.Log"/> and message carry the JIT compiler's error and info logs.</exception>
    public CudaModule(CudaContext context, string ptx) : base(context)
    {
        ArgumentNullException.ThrowIfNull(ptx);
        _ptx = ptx;
        // The driver reads the image as a NUL-terminated string.
        byte[] image = new byte[Encoding.UTF8.GetByteCount(ptx) + 1];
        Encoding.UTF8.GetBytes(ptx, image);
        byte[] errorLog = new byte[LogBytes], infoLog = new byte[LogBytes];
        nint m;
        int status;
        fixed (byte* p = image, e = errorLog, i = infoLog)
        {
            int* options = stackalloc int[4]
            {
                DriverApi.JitErrorLogBuffer, DriverApi.JitErrorLogBufferSizeBytes,
                DriverApi.JitInfoLogBuffer, DriverApi.JitInfoLogBufferSizeBytes,
            };
            // A size option's value is the number itself in the pointer slot (and comes back as the bytes written).
            void** values = stackalloc void*[4] { e, (void*)LogBytes, i, (void*)LogBytes };
            status = Driver.Api.cuModuleLoadDataEx(&m, p, 4, options, values);
        }
        string error = LogText(errorLog), info = LogText(infoLog);
        if (status != 0)
        {
            string log = error.Length > 0 && info.Length > 0 ? error + Environment.NewLine + info : error + info;
            throw Driver.Error(status, "cuModuleLoadDataEx", log);
        }
        _handle = m;
        JitInfoLog = info;
    }

    /// <summary>What the JIT compiler logged as information while loading (e.g. register use), or empty.</summary>
    public string JitInfoLog { get; }

    /// <summary>A log buffer's text up to its NUL, without trailing whitespace.</summary>
    static string LogText(byte[] buffer)
    {
        int end = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end).TrimEnd();
    }

    /// <summary>
    /// The number of parameters the PTX declares for entry <paramref name="name"/> (each <c>.param</c> of its list,
    /// whatever its type), or null when the text has no such entry the parser recognises.
    /// </summary>
    /// <param name="ptx">PTX text.</param>
    /// <param name="name">The entry's name as it appears after <c>.entry</c>.</param>
    public static int? EntryParameterCount(string ptx, string name)
    {
        ArgumentNullException.ThrowIfNull(ptx);
        ArgumentNullException.ThrowIfNull(name);
        var entry = Regex.Match(ptx, @"\.entry\s+" + Regex.Escape(name) + @"\s*\(([^)]*)\)");
        if (!entry.Success) return null;
        return Regex.Matches(entry.Groups[1].Value, @"(?<![\w.])\.param\b").Count;
    }

    /// <summary>The driver's <c>CUmodule</c> handle.</summary>
    public nint Handle
    {
        get
        {
            ThrowIfDisposed();
            return _handle;
        }
    }

    /// <summary>The kernel <paramref name="name"/> (its unmangled <c>extern "C"</c> name) (<c>cuModuleGetFunction</c>).</summary>
    /// <param name="name">Entry name.</param>
    /// <exception cref="CudaException">No such entry: <c>CUDA_ERROR_NOT_FOUND</c>.</exception>
    public CudaFunction GetFunction(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfDisposed();
        byte[] utf8 = new byte[Encoding.UTF8.GetByteCount(name) + 1];
        Encoding.UTF8.GetBytes(name, utf8);
        nint f;
        fixed (byte* p = utf8)
            Driver.Check(Driver.Api.cuModuleGetFunction(&f, _handle, p), "cuModuleGetFunction");
        return new CudaFunction(this, name, f, EntryParameterCount(_ptx, name));
    }

    /// <summary>Throws if the module or its context is disposed (for its functions).</summary>
    internal void EnsureUsable() => ThrowIfDisposed();

    internal CudaDriver ModuleDriver => Driver;

    /// <inheritdoc />
    private protected override void Release() => Driver.Check(Driver.Api.cuModuleUnload(_handle), "cuModuleUnload");
}

/// <summary>Grid or block dimensions of a launch.</summary>
/// <param name="X">Extent in x, at least 1.</param>
/// <param name="Y">Extent in y, at least 1.</param>
/// <param name="Z">Extent in z, at least 1.</param>
public readonly record struct Dim3(int X, int Y = 1, int Z = 1)
{
    /// <summary>A one-dimensional extent.</summary>
    /// <param name="x">Extent in x.</param>
    public static implicit operator Dim3(int x) => new(x);
}

/// <summary>A kernel of a loaded <see cref="CudaModule"/>; valid while the module is.</summary>
public sealed unsafe class CudaFunction
{
    readonly nint _handle;

    internal CudaFunction(CudaModule module, string name, nint handle, int? parameterCount)
    {
        Module = module;
        Name = name;
        _handle = handle;
        ParameterCount = parameterCount;
    }

    /// <summary>How many parameters the kernel takes, from its PTX entry's <c>.param</c> list; null when the PTX
    /// could not be read for it (then launches are not checked).</summary>
    public int? ParameterCount { get; }

    /// <summary>The module the kernel lives in.</summary>
    public CudaModule Module { get; }

    /// <summary>The kernel's entry name.</summary>
    public string Name { get; }

    /// <summary>Launches a one-dimensional grid: <paramref name="gridX"/> blocks of <paramref name="blockX"/> threads.</summary>
    /// <param name="gridX">Blocks, at least 1.</param>
    /// <param name="blockX">Threads per block, at least 1.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block in bytes.</param>
    /// <param name="stream">The stream the launch is ordered on.</param>
    /// <param name="args">The kernel's arguments in declaration order.</param>
    public void Launch(int gridX, int blockX, int sharedBytes, CudaStream stream, scoped in KernelArgs args) =>
        Launch(new Dim3(gridX), new Dim3(blockX), sharedBytes, stream, in args);

    /// <summary>Launches <paramref name="grid"/> blocks of <paramref name="block"/> threads (<c>cuLaunchKernel</c>);
    /// asynchronous: launch faults surface at the next synchronising call.</summary>
    /// <remarks>There is no launch on the legacy default stream: the streams of this binding are non-blocking and
    /// never wait for it, nor it for them, so such a launch would race with their work.</remarks>
    /// <param name="grid">Blocks per dimension, each at least 1.</param>
    /// <param name="block">Threads per block per dimension, each at least 1.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block in bytes.</param>
    /// <param name="stream">The stream the launch is ordered on.</param>
    /// <param name="args">The kernel's arguments in declaration order.</param>
    /// <exception cref="ArgumentException">The kernel declares <see cref="ParameterCount"/> parameters and
    /// <paramref name="args"/> holds another number of values.</exception>
    public void Launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream stream, scoped in KernelArgs args)
    {
        Module.EnsureUsable();
        ArgumentNullException.ThrowIfNull(stream);
        CheckDim(grid, nameof(grid));
        CheckDim(block, nameof(block));
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        int count = args.Count;
        // The driver reads as many argument pointers as the kernel has parameters: too few reads past the array.
        if (ParameterCount is int expected && count != expected)
            throw new ArgumentException($"Kernel {Name} takes {expected} argument(s); {count} were given.", nameof(args));
        nint s = stream.Handle;
        // The driver wants an array of pointers, one to each argument's value; the values live in args' slots.
        void** pointers = stackalloc void*[Math.Max(count, 1)];
        fixed (ulong* slots = args.Slots)
        {
            for (int i = 0; i < count; i++) pointers[i] = slots + i;
            var driver = Module.ModuleDriver;
            driver.Check(driver.Api.cuLaunchKernel(_handle,
                (uint)grid.X, (uint)grid.Y, (uint)grid.Z, (uint)block.X, (uint)block.Y, (uint)block.Z,
                (uint)sharedBytes, s, pointers, null), "cuLaunchKernel");
        }
    }

    static void CheckDim(Dim3 d, string name)
    {
        if (d.X < 1 || d.Y < 1 || d.Z < 1)
            throw new ArgumentOutOfRangeException(name, $"Launch dimensions must be at least 1, got ({d.X}, {d.Y}, {d.Z}).");
    }
}
