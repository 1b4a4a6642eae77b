using System;

namespace Sac.Cuda.Driver;

/// <summary>
/// A retain of a device's primary context (the one the CUDA runtime and cuBLAS also use), made current on the
/// creating thread. Every resource is made through a context; the context must be current on the thread that uses
/// them (<see cref="MakeCurrent"/> after switching threads).
/// </summary>
/// <remarks>
/// Dispose resources before their context. Disposing the context releases the retain; when it was the last one the
/// driver frees everything made in it, so resources disposed afterwards skip their own release.
/// </remarks>
public sealed unsafe class CudaContext : IDisposable
{
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
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);
}

/// <summary>
/// Something made in a <see cref="CudaContext"/> that owns a driver object (memory, stream, event, module, cuBLAS
/// handle). Dispose is idempotent; any use after it throws <see cref="ObjectDisposedException"/>, as does any use
/// after the context is disposed. No finalizer: a forgotten resource is freed with its context.
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

    /// <summary>Releases the driver object. Idempotent; a failed release still counts as disposed.</summary>
    /// <exception cref="CudaException">The driver refused the release.</exception>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        GC.SuppressFinalize(this);
        // A released context took its resources with it; releasing them again would be an error.
        if (!Context.IsDisposed) Release();
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
