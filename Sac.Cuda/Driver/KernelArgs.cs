using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Sac.Cuda.Backend;

namespace Sac.Cuda.Driver;

/// <summary>Inline storage for <see cref="KernelArgs"/>: one 8-byte slot per argument.</summary>
[InlineArray(KernelArgs.Capacity)]
internal struct KernelArgSlots
{
    ulong _first;
}

/// <summary>
/// A kernel's arguments, built on the stack without allocating: add them in the kernel's declaration order, then pass
/// the builder to <see cref="CudaFunction.Launch(int, int, int, CudaStream, in KernelArgs)"/>.
/// <code>var args = new KernelArgs(); args.Add(y); args.Add(x); args.Add(2f); args.Add(n);</code>
/// </summary>
/// <remarks>
/// Each argument occupies one 8-byte slot; the driver copies as many bytes from it as the kernel's parameter has
/// (taken from the kernel image), so scalars up to 8 bytes and device pointers fit. At most <see cref="Capacity"/>.
/// </remarks>
public unsafe ref struct KernelArgs
{
    /// <summary>The most arguments one launch takes.</summary>
    public const int Capacity = 32;

    KernelArgSlots _slots;
    int _count;

    /// <summary>Number of arguments added.</summary>
    public readonly int Count => _count;

    /// <summary>The slots of the arguments added so far.</summary>
    [UnscopedRef]
    internal readonly ReadOnlySpan<ulong> Slots => ((ReadOnlySpan<ulong>)_slots)[.._count];

    /// <summary>Adds a scalar argument (int, uint, float, long, ulong, double, bool or any unmanaged value of at most 8 bytes).</summary>
    /// <typeparam name="T">The parameter's type as the kernel declares it.</typeparam>
    /// <param name="value">The value.</param>
    /// <exception cref="ArgumentException">The value is larger than 8 bytes.</exception>
    /// <exception cref="InvalidOperationException">Already <see cref="Capacity"/> arguments.</exception>
    public void Add<T>(T value) where T : unmanaged
    {
        if (sizeof(T) > sizeof(ulong))
            throw new ArgumentException($"A kernel argument of type {typeof(T).Name} takes {sizeof(T)} bytes; at most 8 fit a slot.", nameof(value));
        if (_count == Capacity)
            throw new InvalidOperationException($"A launch takes at most {Capacity} arguments.");
        ulong slot = 0;
        Unsafe.WriteUnaligned(&slot, value);
        _slots[_count++] = slot;
    }

    /// <summary>Adds the device address of <paramref name="buffer"/>'s element 0 (a <c>float*</c> parameter).</summary>
    /// <param name="buffer">The buffer.</param>
    public void Add(DeviceBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        Add(buffer.DevicePointer);
    }

    /// <summary>Adds the device address of a slice's first element (a <c>float*</c> parameter).</summary>
    /// <param name="slice">A slice of a <see cref="CudaDeviceArray"/>.</param>
    public void Add(DeviceSlice slice) => Add(CudaDeviceArray.DevicePointer(slice));
}
