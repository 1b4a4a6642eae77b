using System;

namespace Sac.Cuda.Backend;

/// <summary>
/// A float32 array owned by an <see cref="ISacBackend"/>: device memory for the CUDA backend, a host array for the
/// host backend. Only the backend that allocated it may read or write it.
/// </summary>
public abstract class DeviceArray : IDisposable
{
    /// <summary>Creates the handle of an array of <paramref name="length"/> floats.</summary>
    /// <param name="length">Number of float32 elements, at least 0.</param>
    protected DeviceArray(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
    }

    /// <summary>Number of float32 elements.</summary>
    public int Length { get; }

    /// <summary>The whole array as a slice.</summary>
    public DeviceSlice All => new(this, 0, Length);

    /// <summary>Elements <c>[offset, offset + length)</c> as a slice.</summary>
    /// <param name="offset">First element.</param>
    /// <param name="length">Number of elements.</param>
    public DeviceSlice Slice(int offset, int length) => All.Slice(offset, length);

    /// <summary>Releases the memory. Idempotent.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the memory; called once per <see cref="Dispose()"/>, or from a finalizer with <c>false</c>.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>.</param>
    protected abstract void Dispose(bool disposing);
}

/// <summary>A contiguous range <c>[Offset, Offset + Length)</c> of a <see cref="DeviceArray"/>.</summary>
/// <param name="Array">The array the range lies in.</param>
/// <param name="Offset">First element.</param>
/// <param name="Length">Number of elements.</param>
public readonly record struct DeviceSlice(DeviceArray Array, int Offset, int Length)
{
    /// <summary>A sub-range of this slice.</summary>
    /// <param name="offset">First element, relative to this slice.</param>
    /// <param name="length">Number of elements.</param>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside this slice.</exception>
    public DeviceSlice Slice(int offset, int length)
    {
        if (offset < 0 || length < 0 || (long)offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range [{offset}, {(long)offset + length}) does not lie inside a slice of {Length} elements.");
        return new DeviceSlice(Array, Offset + offset, length);
    }
}
