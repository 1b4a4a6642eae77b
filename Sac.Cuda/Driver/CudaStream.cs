using System;

namespace Sac.Cuda.Driver;

/// <summary>A CUDA stream (<c>cuStreamCreate</c> with <c>CU_STREAM_NON_BLOCKING</c>): work on it runs in order,
/// independently of the legacy default stream.</summary>
public sealed unsafe class CudaStream : CudaResource
{
    const uint NonBlocking = 1;   // CU_STREAM_NON_BLOCKING
    readonly nint _handle;

    /// <summary>Creates a stream in <paramref name="context"/>.</summary>
    /// <param name="context">The context; must be current.</param>
    public CudaStream(CudaContext context) : base(context)
    {
        nint s;
        Driver.Check(Driver.Api.cuStreamCreate(&s, NonBlocking), "cuStreamCreate");
        _handle = s;
    }

    /// <summary>The driver's <c>CUstream</c> handle.</summary>
    public nint Handle
    {
        get
        {
            ThrowIfDisposed();
            return _handle;
        }
    }

    /// <summary>Waits until all work enqueued on the stream has finished (<c>cuStreamSynchronize</c>).</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        Driver.Check(Driver.Api.cuStreamSynchronize(_handle), "cuStreamSynchronize");
    }

    /// <inheritdoc />
    private protected override void Release() => Driver.Check(Driver.Api.cuStreamDestroy_v2(_handle), "cuStreamDestroy_v2");
}

/// <summary>A CUDA event for ordering and timing (<c>cuEventCreate</c> with default flags, so it records time).</summary>
public sealed unsafe class CudaEvent : CudaResource
{
    readonly nint _handle;

    /// <summary>Creates an event in <paramref name="context"/>.</summary>
    /// <param name="context">The context; must be current.</param>
    public CudaEvent(CudaContext context) : base(context)
    {
        nint e;
        Driver.Check(Driver.Api.cuEventCreate(&e, 0), "cuEventCreate");
        _handle = e;
    }

    /// <summary>The driver's <c>CUevent</c> handle.</summary>
    public nint Handle
    {
        get
        {
            ThrowIfDisposed();
            return _handle;
        }
    }

    /// <summary>Records the event after the work enqueued so far on <paramref name="stream"/> (<c>cuEventRecord</c>).</summary>
    /// <remarks>There is no recording on the legacy default stream: it does not wait for the non-blocking streams of
    /// this binding, so an event there would neither follow nor time their work.</remarks>
    /// <param name="stream">The stream whose work the event follows.</param>
    public void Record(CudaStream stream)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        Driver.Check(Driver.Api.cuEventRecord(_handle, stream.Handle), "cuEventRecord");
    }

    /// <summary>Waits until the recorded work has finished (<c>cuEventSynchronize</c>).</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        Driver.Check(Driver.Api.cuEventSynchronize(_handle), "cuEventSynchronize");
    }

    /// <summary>Milliseconds between two recorded, completed events (<c>cuEventElapsedTime</c>).</summary>
    /// <param name="start">The earlier event.</param>
    /// <param name="end">The later event.</param>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        start.ThrowIfDisposed();
        end.ThrowIfDisposed();
        float ms;
        start.Driver.Check(start.Driver.Api.cuEventElapsedTime(&ms, start._handle, end._handle), "cuEventElapsedTime");
        return ms;
    }

    /// <inheritdoc />
    private protected override void Release() => Driver.Check(Driver.Api.cuEventDestroy_v2(_handle), "cuEventDestroy_v2");
}
