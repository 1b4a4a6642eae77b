using System;

namespace Sac.Cuda.Driver;

/// <summary>
/// A float32 array in device memory (<c>cuMemAlloc_v2</c>), with uploads, downloads, device-to-device copies and
/// fills over element ranges. Every upload and download returns once the host span may be reused.
/// </summary>
/// <remarks>
/// The operations with a stream are ordered on it and, except the download, return before the device is done. The
/// operations without one are synchronous with respect to the whole context: they wait for the work of every stream
/// (<c>cuCtxSynchronize</c>), run on the legacy default stream, and return once they are complete. That wait is what
/// makes them safe beside this binding's streams, which are non-blocking: the legacy stream neither waits for them
/// nor they for it, so without it a synchronous download could read before a kernel on a stream had written, and a
/// kernel could read memory a synchronous upload or fill was still writing. It costs two context-wide waits per call:
/// use the stream overloads on hot paths.
/// </remarks>
public sealed unsafe class DeviceBuffer : CudaResource
{
    readonly ulong _pointer;

    /// <summary>Allocates <paramref name="length"/> floats (contents undefined).</summary>
    /// <param name="context">The context to allocate in; must be current.</param>
    /// <param name="length">Number of float32 elements, at least 0 (0 allocates nothing).</param>
    /// <exception cref="CudaException">The allocation failed, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</exception>
    public DeviceBuffer(CudaContext context, int length) : base(context)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        if (length == 0) return;   // cuMemAlloc rejects 0 bytes; an empty buffer needs no memory.
        ulong p;
        Driver.Check(Driver.Api.cuMemAlloc_v2(&p, (nuint)SizeInBytes), "cuMemAlloc_v2");
        _pointer = p;
    }

    /// <summary>Number of float32 elements.</summary>
    public int Length { get; }

    /// <summary>Size in bytes, <c>4 * Length</c>.</summary>
    public long SizeInBytes => 4L * Length;

    /// <summary>The device address of element 0 (0 for an empty buffer).</summary>
    public ulong DevicePointer
    {
        get
        {
            ThrowIfDisposed();
            return _pointer;
        }
    }

    /// <summary>The device address of element <paramref name="offset"/> (0 &lt;= offset &lt;= Length).</summary>
    /// <param name="offset">Element index.</param>
    public ulong PointerAt(int offset)
    {
        ThrowIfDisposed();
        CheckRange(offset, 0);
        return _pointer + 4UL * (uint)offset;
    }

    /// <summary>Copies <paramref name="source"/> into elements <c>[offset, offset + source.Length)</c>
    /// (<c>cuMemcpyHtoD_v2</c>), after all work in the context and complete on return (see the remarks on
    /// <see cref="DeviceBuffer"/>).</summary>
    /// <param name="source">Host data.</param>
    /// <param name="offset">First element written.</param>
    public void Upload(ReadOnlySpan<float> source, int offset = 0)
    {
        ThrowIfDisposed();
        CheckRange(offset, source.Length);
        if (source.IsEmpty) return;
        WaitForContext();
        fixed (float* s = source)
            Driver.Check(Driver.Api.cuMemcpyHtoD_v2(PointerUnchecked(offset), s, Bytes(source.Length)), "cuMemcpyHtoD_v2");
        // From pageable memory the call returns once the data is staged, before it reaches the device.
        WaitForContext();
    }

    /// <summary>As <see cref="Upload(ReadOnlySpan{float}, int)"/>, ordered on <paramref name="stream"/>
    /// (<c>cuMemcpyHtoDAsync_v2</c>); from pageable host memory the driver stages the data before returning.</summary>
    /// <param name="source">Host data.</param>
    /// <param name="offset">First element written.</param>
    /// <param name="stream">The stream the copy is ordered on.</param>
    public void Upload(ReadOnlySpan<float> source, int offset, CudaStream stream)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        CheckRange(offset, source.Length);
        if (source.IsEmpty) return;
        fixed (float* s = source)
            Driver.Check(Driver.Api.cuMemcpyHtoDAsync_v2(PointerUnchecked(offset), s, Bytes(source.Length), stream.Handle), "cuMemcpyHtoDAsync_v2");
    }

    /// <summary>Copies <paramref name="count"/> elements of page-locked <paramref name="source"/> from
    /// <paramref name="sourceOffset"/> into elements <c>[offset, offset + count)</c> (<c>cuMemcpyHtoDAsync_v2</c>),
    /// ordered on <paramref name="stream"/>. Returns at once: the source must stay unchanged until the copy has
    /// completed (record an event on the stream after it and wait for that before rewriting).</summary>
    /// <param name="source">Pinned host memory.</param>
    /// <param name="sourceOffset">First element read.</param>
    /// <param name="offset">First element written.</param>
    /// <param name="count">Number of elements.</param>
    /// <param name="stream">The stream the copy is ordered on.</param>
    public void Upload(PinnedHostBuffer source, int sourceOffset, int offset, int count, CudaStream stream)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(stream);
        CheckRange(offset, count);
        float* s = source.PointerAt(sourceOffset, count);
        if (count == 0) return;
        Driver.Check(Driver.Api.cuMemcpyHtoDAsync_v2(PointerUnchecked(offset), s, Bytes(count), stream.Handle), "cuMemcpyHtoDAsync_v2");
    }

    /// <summary>Copies elements <c>[offset, offset + dest.Length)</c> into <paramref name="dest"/>
    /// (<c>cuMemcpyDtoH_v2</c>), after all work in the context, every stream's included.</summary>
    /// <param name="dest">Host memory.</param>
    /// <param name="offset">First element read.</param>
    public void Download(Span<float> dest, int offset = 0)
    {
        ThrowIfDisposed();
        CheckRange(offset, dest.Length);
        if (dest.IsEmpty) return;
        // The legacy stream does not wait for the non-blocking streams' kernels: wait for them here.
        WaitForContext();
        fixed (float* d = dest)
            Driver.Check(Driver.Api.cuMemcpyDtoH_v2(d, PointerUnchecked(offset), Bytes(dest.Length)), "cuMemcpyDtoH_v2");
    }

    /// <summary>As <see cref="Download(Span{float}, int)"/>, after the work enqueued on <paramref name="stream"/>
    /// (<c>cuMemcpyDtoHAsync_v2</c>); returns once the copy is complete.</summary>
    /// <param name="dest">Host memory.</param>
    /// <param name="offset">First element read.</param>
    /// <param name="stream">The stream the copy is ordered on.</param>
    public void Download(Span<float> dest, int offset, CudaStream stream)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        CheckRange(offset, dest.Length);
        if (dest.IsEmpty) return;
        fixed (float* d = dest)
            Driver.Check(Driver.Api.cuMemcpyDtoHAsync_v2(d, PointerUnchecked(offset), Bytes(dest.Length), stream.Handle), "cuMemcpyDtoHAsync_v2");
        // Into pageable memory the copy is already complete; the span is only pinned for this call, so make sure.
        stream.Synchronize();
    }

    /// <summary>Copies <paramref name="count"/> elements from <c>this[sourceOffset..]</c> to <c>dest[destOffset..]</c>
    /// (<c>cuMemcpyDtoD_v2</c>), after all work in the context and complete on return.</summary>
    /// <param name="sourceOffset">First element read.</param>
    /// <param name="dest">The buffer written (may be this one if the ranges do not overlap).</param>
    /// <param name="destOffset">First element written.</param>
    /// <param name="count">Number of elements.</param>
    /// <exception cref="ArgumentException">The ranges overlap in this buffer (a range onto itself is a no-op).</exception>
    public void CopyTo(int sourceOffset, DeviceBuffer dest, int destOffset, int count)
    {
        if (!CheckCopy(sourceOffset, dest, destOffset, count)) return;
        WaitForContext();
        Driver.Check(Driver.Api.cuMemcpyDtoD_v2(dest.PointerUnchecked(destOffset), PointerUnchecked(sourceOffset), Bytes(count)), "cuMemcpyDtoD_v2");
        WaitForContext();
    }

    /// <summary>As <see cref="CopyTo(int, DeviceBuffer, int, int)"/>, ordered on <paramref name="stream"/>
    /// (<c>cuMemcpyDtoDAsync_v2</c>): the copy runs after the work enqueued on the stream before it.</summary>
    /// <param name="sourceOffset">First element read.</param>
    /// <param name="dest">The buffer written (may be this one if the ranges do not overlap).</param>
    /// <param name="destOffset">First element written.</param>
    /// <param name="count">Number of elements.</param>
    /// <param name="stream">The stream the copy is ordered on.</param>
    /// <exception cref="ArgumentException">The ranges overlap in this buffer (a range onto itself is a no-op).</exception>
    public void CopyTo(int sourceOffset, DeviceBuffer dest, int destOffset, int count, CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!CheckCopy(sourceOffset, dest, destOffset, count)) return;
        Driver.Check(Driver.Api.cuMemcpyDtoDAsync_v2(dest.PointerUnchecked(destOffset), PointerUnchecked(sourceOffset), Bytes(count), stream.Handle),
            "cuMemcpyDtoDAsync_v2");
    }

    /// <summary>Copies the whole buffer into <paramref name="dest"/>, which must have the same length.</summary>
    /// <param name="dest">The buffer written.</param>
    public void CopyTo(DeviceBuffer dest)
    {
        ArgumentNullException.ThrowIfNull(dest);
        if (dest.Length != Length)
            throw new ArgumentException($"Cannot copy {Length} elements into a buffer of {dest.Length}.", nameof(dest));
        CopyTo(0, dest, 0, Length);
    }

    /// <summary>Sets every element to <paramref name="value"/> (<c>cuMemsetD32_v2</c>), after all work in the context
    /// and complete on return.</summary>
    /// <param name="value">The value written.</param>
    public void Fill(float value) => Fill(value, 0, Length);

    /// <summary>Sets elements <c>[offset, offset + count)</c> to <paramref name="value"/>: <c>cuMemsetD32Async</c> on
    /// <paramref name="stream"/> when one is given, else <c>cuMemsetD32_v2</c> after all work in the context and
    /// complete on return.</summary>
    /// <param name="value">The value written (its 32-bit pattern).</param>
    /// <param name="offset">First element.</param>
    /// <param name="count">Number of elements.</param>
    /// <param name="stream">The stream to order the fill on, or null for a synchronous fill.</param>
    public void Fill(float value, int offset, int count, CudaStream? stream = null)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckRange(offset, count);
        if (count == 0) return;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (stream is null)
        {
            WaitForContext();
            Driver.Check(Driver.Api.cuMemsetD32_v2(PointerUnchecked(offset), bits, (nuint)count), "cuMemsetD32_v2");
            WaitForContext();
        }
        else
            Driver.Check(Driver.Api.cuMemsetD32Async(PointerUnchecked(offset), bits, (nuint)count, stream.Handle), "cuMemsetD32Async");
    }

    /// <inheritdoc />
    private protected override void Release()
    {
        if (_pointer != 0) Driver.Check(Driver.Api.cuMemFree_v2(_pointer), "cuMemFree_v2");
    }

    ulong PointerUnchecked(int offset) => _pointer + 4UL * (uint)offset;

    /// <summary>Waits for all work in the context, every stream's included (<c>cuCtxSynchronize</c>).</summary>
    void WaitForContext() => Driver.Check(Driver.Api.cuCtxSynchronize(), "cuCtxSynchronize");

    /// <summary>The checks of both CopyTo overloads; false when there is nothing to copy.</summary>
    bool CheckCopy(int sourceOffset, DeviceBuffer dest, int destOffset, int count)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(dest);
        dest.ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckRange(sourceOffset, count);
        dest.CheckRange(destOffset, count);
        if (count == 0) return false;
        if (ReferenceEquals(dest, this))
        {
            if (sourceOffset == destOffset) return false;   // Onto itself: already there.
            // cuMemcpyDtoD's result for overlapping ranges is undefined.
            if (sourceOffset < destOffset + count && destOffset < sourceOffset + count)
                throw new ArgumentException(
                    $"Cannot copy elements [{sourceOffset}, {sourceOffset + count}) onto [{destOffset}, {destOffset + count}) of the same " +
                    "buffer: the ranges overlap, and a device-to-device copy of overlapping ranges is undefined.", nameof(dest));
        }
        return true;
    }

    static nuint Bytes(int count) => (nuint)(4L * count);

    /// <summary>Throws unless <c>[offset, offset + count)</c> lies inside the buffer.</summary>
    internal void CheckRange(int offset, int count)
    {
        if (offset < 0 || count < 0 || (long)offset + count > Length)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"Range [{offset}, {(long)offset + count}) does not lie inside a device buffer of {Length} elements.");
    }
}
