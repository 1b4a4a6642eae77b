using System;
using System.Collections.Generic;

namespace Sac.Cuda.Driver;

/// <summary>
/// A retain of a device's primary context (the one the CUDA runtime and cuBLAS also use), made current on the
/// creating thread. Every resource is made through a context; the context must be current on the thread that uses
/// them (<see cref="MakeCurrent"/> after switching threads).
/// </summary>
/// <remarks>
/// Dispose resources before their context. Disposing the context releases this retain only: while anything else
/// still retains the primary context (cuBLAS's runtime does, as does another <see cref="CudaContext"/> of the device)
/// the driver keeps everything made in it, so a resource disposed after its context still releases itself (making
/// the context current on the calling thread to do so). Only when the last retain went, and the driver freed the
/// context's memory, modules and streams with it, do resources disposed afterwards skip their release.
/// </remarks>
public sealed unsafe class CudaContext : IDisposable
{
    // The lifetimes of each device's primary context as this process has seen them end, by driver library and
    // device: a context made in an earlier lifetime must not free anything in a later one (the addresses may have
    // been handed out again).
    static readonly Dictionary<(nint Library, int Device), int> Lifetimes = new();
    readonly int _lifetime;

    /// <summary>Retains <paramref name="device"/>'s primary context (<c>cuDevicePrimaryCtxRetain</c>) and makes it current.</summary>
    /// <param name="device">The device.</param>
    /// <exception cref="CudaException">The driver refused.</exception>
    public CudaContext(CudaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        var driver = device.Driver;
        nint ctx;
        driver.Check(driver.Api.cuDevicePrimaryCtxRetain(&ctx, device.Handle), "cuDevicePrimaryCtxRetain");
        Handle = ctx;
        _lifetime = Lifetime(device);
        try
        {
            driver.Check(driver.Api.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
        }
        catch
        {
            // Give the retain back so a failed constructor leaks nothing.
            driver.Api.cuDevicePrimaryCtxRelease_v2(device.Handle);
            throw;
        }
    }

    /// <summary>The device whose primary context this is.</summary>
    public CudaDevice Device { get; }

    /// <summary>The driver the device belongs to.</summary>
    public CudaDriver Driver => Device.Driver;

    /// <summary>The driver's <c>CUcontext</c> handle.</summary>
    public nint Handle { get; }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Makes this context current on the calling thread (<c>cuCtxSetCurrent</c>).</summary>
    public void MakeCurrent()
    {
        ThrowIfDisposed();
        Driver.Check(Driver.Api.cuCtxSetCurrent(Handle), "cuCtxSetCurrent");
    }

    /// <summary>Waits for all work in the context to finish (<c>cuCtxSynchronize</c>); reports asynchronous kernel faults.</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        Driver.Check(Driver.Api.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /// <summary>Allocates <paramref name="length"/> floats of device memory (contents undefined).</summary>
    /// <param name="length">Number of float32 elements.</param>
    public DeviceBuffer Allocate(int length) => new(this, length);

    /// <summary>Allocates <paramref name="length"/> floats of page-locked host memory (contents undefined).</summary>
    /// <param name="length">Number of float32 elements, at least 1.</param>
    public PinnedHostBuffer AllocatePinned(int length) => new(this, length);

    /// <summary>Loads a module from PTX text; the driver JIT-compiles it for this device.</summary>
    /// <param name="ptx">PTX source.</param>
    public CudaModule LoadModule(string ptx) => new(this, ptx);

    /// <summary>Creates a stream that does not synchronise with the legacy default stream.</summary>
    public CudaStream CreateStream() => new(this);

    /// <summary>Creates a timing event.</summary>
    public CudaEvent CreateEvent() => new(this);

    /// <summary>Releases the primary-context retain (<c>cuDevicePrimaryCtxRelease_v2</c>). Idempotent.</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Driver.Check(Driver.Api.cuDevicePrimaryCtxRelease_v2(Device.Handle), "cuDevicePrimaryCtxRelease_v2");
        // That was the last retain: the driver has freed everything made in this lifetime of the context.
        if (!PrimaryActive()) EndLifetime(Device);
    }

    /// <summary>
    /// After <see cref="Dispose"/>: whether the primary context this one retained is still alive (retained by someone
    /// else, e.g. cuBLAS's runtime, since before this retain was released), so its resources are still allocated and
    /// must be released one by one; if so, makes it current on the calling thread for that.
    /// </summary>
    internal bool ReviveForRelease()
    {
        if (!PrimaryActive()) return false;
        if (Lifetime(Device) != _lifetime) return false;   // Released to nothing since, and retained afresh.
        return Driver.Api.cuCtxSetCurrent(Handle) == 0;
    }

    /// <summary><c>cuDevicePrimaryCtxGetState</c>'s active flag; false when the driver cannot tell.</summary>
    bool PrimaryActive()
    {
        uint flags;
        int active;
        return Driver.Api.cuDevicePrimaryCtxGetState(Device.Handle, &flags, &active) == 0 && active != 0;
    }

    static (nint, int) LifetimeKey(CudaDevice device) => ((nint)device.Driver.Api.cuInit, device.Handle);

    static int Lifetime(CudaDevice device)
    {
        lock (Lifetimes) return Lifetimes.GetValueOrDefault(LifetimeKey(device));
    }

    static void EndLifetime(CudaDevice device)
    {
        lock (Lifetimes) Lifetimes[LifetimeKey(device)] = Lifetimes.GetValueOrDefault(LifetimeKey(device)) + 1;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);
}

/// <summary>
/// Something made in a <see cref="CudaContext"/> that owns a driver object (memory, stream, event, module, cuBLAS
/// handle). Dispose is idempotent; any use after it throws <see cref="ObjectDisposedException"/>, as does any use
/// after the context is disposed. No finalizer: a forgotten resource is freed with the primary context's last retain.
/// </summary>
public abstract class CudaResource : IDisposable
{
    private protected CudaResource(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.ThrowIfDisposed();
        Context = context;
    }

    /// <summary>The context the resource was made in.</summary>
    public CudaContext Context { get; }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed { get; private set; }

    private protected CudaDriver Driver => Context.Driver;

    /// <summary>Releases the driver object, also after its <see cref="CudaContext"/> was disposed while the primary
    /// context lives on (see <see cref="CudaContext"/>). Idempotent; a failed release still counts as disposed.</summary>
    /// <exception cref="CudaException">The driver refused the release.</exception>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        GC.SuppressFinalize(this);
        // A context released to nothing took its resources with it; releasing them again would be an error. One that
        // others still retain keeps them: skipping the release would leak them for the process's life.
        if (!Context.IsDisposed || Context.ReviveForRelease()) Release();
    }

    /// <summary>Returns the driver object; called at most once.</summary>
    private protected abstract void Release();

    /// <summary>Throws <see cref="ObjectDisposedException"/> if this resource or its context is disposed.</summary>
    private protected void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Context.ThrowIfDisposed();
    }
}
