using System;

namespace Sac.Cuda.Driver;

/// <summary>
/// Page-locked host memory of float32 elements (<c>cuMemAllocHost_v2</c>, freed with <c>cuMemFreeHost</c>). The device
/// reads it directly, so an asynchronous upload from it (<see cref="DeviceBuffer.Upload(PinnedHostBuffer, int, int, int, CudaStream)"/>)
/// returns at once and runs in order on its stream, where one from pageable memory is first staged by the driver on
/// the calling thread. The price: the memory must not be rewritten until every copy from it has completed (wait for
/// an event recorded after the copy).
/// </summary>
public sealed unsafe class PinnedHostBuffer : CudaResource
{
    readonly float* _pointer;

    /// <summary>Allocates <paramref name="length"/> page-locked floats (contents undefined).</summary>
    /// <param name="context">The context; must be current.</param>
    /// <param name="length">Number of float32 elements, at least 1.</param>
    /// <exception cref="CudaException">The driver refused, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</exception>
    public PinnedHostBuffer(CudaContext context, int length) : base(context)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        void* p;
        Driver.Check(Driver.Api.cuMemAllocHost_v2(&p, (nuint)(4L * length)), "cuMemAllocHost_v2");
        _pointer = (float*)p;
        Length = length;
    }

    /// <summary>Number of float32 elements.</summary>
    public int Length { get; }

    /// <summary>The memory, for the host to write (only while no copy from it is pending).</summary>
    public Span<float> Span
    {
        get
        {
            ThrowIfDisposed();
            return new Span<float>(_pointer, Length);
        }
    }

    /// <summary>The host address of element <paramref name="offset"/>, after the range check.</summary>
    internal float* PointerAt(int offset, int count)
    {
        ThrowIfDisposed();
        if (offset < 0 || count < 0 || (long)offset + count > Length)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"Range [{offset}, {(long)offset + count}) does not lie inside a pinned host buffer of {Length} elements.");
        return _pointer + offset;
    }

    /// <inheritdoc />
    private protected override void Release() => Driver.Check(Driver.Api.cuMemFreeHost(_pointer), "cuMemFreeHost");
}
