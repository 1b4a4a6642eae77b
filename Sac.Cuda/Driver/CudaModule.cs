using System;
using System.Text;

namespace Sac.Cuda.Driver;

/// <summary>A module loaded from PTX text (<c>cuModuleLoadData</c>, which JIT-compiles it for the device at hand).</summary>
public sealed unsafe class CudaModule : CudaResource
{
    readonly nint _handle;

    /// <summary>Loads <paramref name="ptx"/> into <paramref name="context"/>.</summary>
    /// <param name="context">The context; must be current.</param>
    /// <param name="ptx">PTX source text.</param>
    /// <exception cref="CudaException">The driver rejected the image, e.g. <c>CUDA_ERROR_INVALID_PTX</c>.</exception>
    public CudaModule(CudaContext context, string ptx) : base(context)
    {
        ArgumentNullException.ThrowIfNull(ptx);
        // The driver reads the image as a NUL-terminated string.
        byte[] image = new byte[Encoding.UTF8.GetByteCount(ptx) + 1];
        Encoding.UTF8.GetBytes(ptx, image);
        nint m;
        fixed (byte* p = image)
            Driver.Check(Driver.Api.cuModuleLoadData(&m, p), "cuModuleLoadData");
        _handle = m;
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
        return new CudaFunction(this, name, f);
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

    internal CudaFunction(CudaModule module, string name, nint handle)
    {
        Module = module;
        Name = name;
        _handle = handle;
    }

    /// <summary>The module the kernel lives in.</summary>
    public CudaModule Module { get; }

    /// <summary>The kernel's entry name.</summary>
    public string Name { get; }

    /// <summary>Launches a one-dimensional grid: <paramref name="gridX"/> blocks of <paramref name="blockX"/> threads.</summary>
    /// <param name="gridX">Blocks, at least 1.</param>
    /// <param name="blockX">Threads per block, at least 1.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block in bytes.</param>
    /// <param name="stream">The stream, or null for the legacy default stream.</param>
    /// <param name="args">The kernel's arguments in declaration order.</param>
    public void Launch(int gridX, int blockX, int sharedBytes, CudaStream? stream, scoped in KernelArgs args) =>
        Launch(new Dim3(gridX), new Dim3(blockX), sharedBytes, stream, in args);

    /// <summary>Launches <paramref name="grid"/> blocks of <paramref name="block"/> threads (<c>cuLaunchKernel</c>);
    /// asynchronous: launch faults surface at the next synchronising call.</summary>
    /// <param name="grid">Blocks per dimension, each at least 1.</param>
    /// <param name="block">Threads per block per dimension, each at least 1.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block in bytes.</param>
    /// <param name="stream">The stream, or null for the legacy default stream.</param>
    /// <param name="args">The kernel's arguments in declaration order.</param>
    public void Launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream? stream, scoped in KernelArgs args)
    {
        Module.EnsureUsable();
        CheckDim(grid, nameof(grid));
        CheckDim(block, nameof(block));
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        nint s = stream?.Handle ?? 0;
        int count = args.Count;
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
