using System;
using System.Buffers.Binary;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Sac.Core.Runs;

/// <summary>
/// Writes the primitives of the checkpoint format, little-endian, keeping the running CRC-32 and the byte count.
/// Without a stream it only counts, so the same emitting code can first measure the file (its length is stored in the
/// preamble) and then write it.
/// </summary>
internal sealed class CheckpointWriter(Stream? stream)
{
    // Big-endian machines byte-swap through this buffer; little-endian ones write the arrays' memory directly.
    uint[]? swapBuffer;

    /// <summary>Bytes emitted so far.</summary>
    public long Length { get; private set; }

    /// <summary>CRC-32 of the bytes emitted so far (not maintained when only counting).</summary>
    public uint Crc { get; private set; }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        if (stream is not null)
        {
            stream.Write(bytes);
            Crc = Crc32.Append(Crc, bytes);
        }
        Length += bytes.Length;
    }

    public void UInt32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Raw(b);
    }

    public void UInt64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Raw(b);
    }

    /// <summary>A section of float32 values: name, type, count, data.</summary>
    public void Floats(string name, ReadOnlySpan<float> values)
    {
        Head(name, CheckpointSectionType.Float32, values.Length);
        Words(MemoryMarshal.Cast<float, uint>(values));
    }

    /// <summary>A section of int64 values.</summary>
    public void Int64s(string name, ReadOnlySpan<long> values)
    {
        Head(name, CheckpointSectionType.Int64, values.Length);
        if (BitConverter.IsLittleEndian)
        {
            Raw(MemoryMarshal.AsBytes(values));
            return;
        }
        foreach (long v in values) UInt64((ulong)v);
    }

    /// <summary>A section of uint32 values.</summary>
    public void UInt32s(string name, ReadOnlySpan<uint> values)
    {
        Head(name, CheckpointSectionType.UInt32, values.Length);
        Words(values);
    }

    /// <summary>Writes the CRC-32 of everything before it; the last four bytes of the file.</summary>
    public void Finish() => UInt32(Crc);

    void Head(string name, CheckpointSectionType type, int count)
    {
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        Span<byte> b = stackalloc byte[1];
        b[0] = checked((byte)nameBytes.Length);
        Raw(b);
        Raw(nameBytes);
        b[0] = (byte)type;
        Raw(b);
        UInt64((ulong)count);
    }

    void Words(ReadOnlySpan<uint> words)
    {
        if (BitConverter.IsLittleEndian || stream is null)
        {
            Raw(MemoryMarshal.AsBytes(words));
            return;
        }
        swapBuffer ??= new uint[4096];
        for (int i = 0; i < words.Length; i += swapBuffer.Length)
        {
            int n = Math.Min(swapBuffer.Length, words.Length - i);
            BinaryPrimitives.ReverseEndianness(words.Slice(i, n), swapBuffer.AsSpan(0, n));
            Raw(MemoryMarshal.AsBytes(swapBuffer.AsSpan(0, n)));
        }
    }
}
