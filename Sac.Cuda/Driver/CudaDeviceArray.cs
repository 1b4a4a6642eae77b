using System;
using Sac.Cuda.Backend;

namespace Sac.Cuda.Driver;

/// <summary>The CUDA backend's <see cref="DeviceArray"/>: a <see cref="DeviceBuffer"/> it owns.</summary>
public sealed class CudaDeviceArray : DeviceArray
{
    /// <summary>Allocates <paramref name="length"/> floats in <paramref name="context"/>, zero-filled before the
    /// constructor returns (a synchronous fill: see <see cref="DeviceBuffer"/>).</summary>
    /// <param name="context">The context; must be current.</param>
    /// <param name="length">Number of float32 elements.</param>
    public CudaDeviceArray(CudaContext context, int length) : this(context, length, null)
    {
    }

    /// <summary>Allocates <paramref name="length"/> floats in <paramref name="context"/>, zero-filled by a fill
    /// ordered on <paramref name="stream"/> (<c>cuMemsetD32Async</c>): work enqueued on that stream afterwards sees
    /// zeros, and nothing waits. With a null stream, as <see cref="CudaDeviceArray(CudaContext, int)"/>.</summary>
    /// <param name="context">The context; must be current.</param>
    /// <param name="length">Number of float32 elements.</param>
    /// <param name="stream">The stream the zero fill is ordered on, or null for a synchronous fill.</param>
    public CudaDeviceArray(CudaContext context, int length, CudaStream? stream) : base(length)
    {
        Buffer = new DeviceBuffer(context, length);
        try
        {
            Buffer.Fill(0f, 0, length, stream);
        }
        catch
        {
            Buffer.Dispose();
            throw;
        }
    }

    /// <summary>The device memory.</summary>
    public DeviceBuffer Buffer { get; }

    /// <summary>The device address of <paramref name="slice"/>'s first element.</summary>
    /// <param name="slice">A slice of a <see cref="CudaDeviceArray"/>.</param>
    /// <exception cref="ArgumentException">The slice belongs to another backend's array.</exception>
    public static ulong DevicePointer(DeviceSlice slice) => Of(slice).Buffer.PointerAt(slice.Offset);

    /// <summary>The CUDA array a slice lies in.</summary>
    /// <param name="slice">A slice.</param>
    /// <exception cref="ArgumentException">The slice belongs to another backend's array.</exception>
    public static CudaDeviceArray Of(DeviceSlice slice) =>
        slice.Array as CudaDeviceArray
        ?? throw new ArgumentException($"The slice belongs to a {slice.Array?.GetType().Name ?? "null"} array, not a CUDA one.", nameof(slice));

    /// <summary>Copies <paramref name="source"/> into <paramref name="dest"/> (lengths must match), synchronously
    /// with respect to the whole context (<see cref="DeviceBuffer.Upload(ReadOnlySpan{float}, int)"/>).</summary>
    /// <param name="source">Host data.</param>
    /// <param name="dest">A slice of a CUDA array.</param>
    public static void Upload(ReadOnlySpan<float> source, DeviceSlice dest)
    {
        CheckLengths(source.Length, dest.Length);
        Of(dest).Buffer.Upload(source, dest.Offset);
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="dest"/> (lengths must match), after all work in
    /// the context (<see cref="DeviceBuffer.Download(Span{float}, int)"/>).</summary>
    /// <param name="source">A slice of a CUDA array.</param>
    /// <param name="dest">Host memory.</param>
    public static void Download(DeviceSlice source, Span<float> dest)
    {
        CheckLengths(source.Length, dest.Length);
        Of(source).Buffer.Download(dest, source.Offset);
    }

    /// <summary>Copies one slice into another of the same length, device to device, synchronously with respect to
    /// the whole context; overlapping slices of one array are refused with <see cref="ArgumentException"/>.</summary>
    /// <param name="source">Read.</param>
    /// <param name="dest">Written.</param>
    public static void Copy(DeviceSlice source, DeviceSlice dest)
    {
        CheckLengths(source.Length, dest.Length);
        Of(source).Buffer.CopyTo(source.Offset, Of(dest).Buffer, dest.Offset, source.Length);
    }

    static void CheckLengths(int source, int dest)
    {
        if (source != dest)
            throw new ArgumentException($"Source has {source} elements, destination {dest}.");
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) Buffer.Dispose();
    }
}
