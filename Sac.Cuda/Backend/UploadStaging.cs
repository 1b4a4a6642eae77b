using System;
using Sac.Cuda.Driver;

namespace Sac.Cuda.Backend;

/// <summary>
/// Page-locked staging for a stream's uploads: two halves of <see cref="Capacity"/> floats, filled in turn. An upload
/// is copied into the current half and from there to the device asynchronously; an event recorded after the copy
/// guards the half, and a half is rewritten only after its event has completed (the device reads pinned memory when the
/// copy runs, not when it is enqueued). Made at the first upload that fits; not thread-safe.
/// </summary>
internal sealed class UploadStaging : IDisposable
{
    readonly CudaContext _context;
    readonly CudaStream _stream;
    int _capacity;
    PinnedHostBuffer? _memory;
    readonly CudaEvent?[] _done = new CudaEvent?[2];
    readonly bool[] _recorded = new bool[2];
    int _half, _cursor;

    public UploadStaging(CudaContext context, CudaStream stream, int capacity)
    {
        _context = context;
        _stream = stream;
        _capacity = capacity;
    }

    /// <summary>Floats per half; uploads of more are not staged. Setting it waits for the stream and frees the memory.</summary>
    public int Capacity
    {
        get => _capacity;
        set
        {
            if (_memory is not null)
            {
                _stream.Synchronize();
                Free();
            }
            _capacity = value;
        }
    }

    /// <summary>Stages <paramref name="source"/> and enqueues its copy into <paramref name="dest"/> from
    /// <paramref name="offset"/>; false, doing nothing, when it is empty or larger than a half.</summary>
    public bool TryUpload(ReadOnlySpan<float> source, DeviceBuffer dest, int offset)
    {
        int n = source.Length;
        if (n == 0 || n > _capacity) return false;
        dest.CheckRange(offset, n);
        int at = Reserve(n);
        var memory = _memory!;
        source.CopyTo(memory.Span.Slice(at, n));
        dest.Upload(memory, at, offset, n, _stream);
        _cursor += n;
        _done[_half]!.Record(_stream);
        _recorded[_half] = true;
        return true;
    }

    /// <summary>Where the next n floats go: the current half if it has room, else the other one once its copies are done.</summary>
    int Reserve(int n)
    {
        if (_memory is null) Allocate();
        if (_cursor + n > _capacity)
        {
            _half ^= 1;
            _cursor = 0;
            if (_recorded[_half]) _done[_half]!.Synchronize();
            _recorded[_half] = false;
        }
        return _half * _capacity + _cursor;
    }

    void Allocate()
    {
        var memory = new PinnedHostBuffer(_context, 2 * _capacity);
        try
        {
            _done[0] = _context.CreateEvent();
            _done[1] = _context.CreateEvent();
        }
        catch
        {
            _done[0]?.Dispose();
            _done[0] = null;
            memory.Dispose();
            throw;
        }
        _memory = memory;
    }

    void Free()
    {
        var memory = _memory;
        var done0 = _done[0];
        var done1 = _done[1];
        _memory = null;
        _done[0] = _done[1] = null;
        _recorded[0] = _recorded[1] = false;
        _half = _cursor = 0;
        try { memory?.Dispose(); }
        finally
        {
            try { done0?.Dispose(); }
            finally { done1?.Dispose(); }
        }
    }

    /// <summary>Frees the memory and events; the caller has waited for the stream.</summary>
    public void Dispose() => Free();
}
