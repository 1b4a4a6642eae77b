using System;
using System.Buffers.Binary;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Sac.Core.Runs;

/// <summary>
/// Reads the primitives of the checkpoint format from a stream whose checksum has already been verified. Every read is
/// bounded by <paramref name="end"/> (the start of the CRC) before anything is allocated, so a length field claiming
/// more than the file holds becomes a <see cref="CheckpointException"/>, never an allocation or an end-of-stream error.
/// </summary>
internal sealed class CheckpointReader(string path, Stream stream, long end)
{
    /// <summary>Offset of the next byte to read.</summary>
    public long Position => stream.Position;

    /// <summary>Bytes left before the checksum.</summary>
    public long Remaining => end - stream.Position;

    public CheckpointException Fail(CheckpointFailure reason, string detail, Exception? inner = null) => new(path, reason, detail, inner);

    public uint UInt32(string what)
    {
        Span<byte> b = stackalloc byte[4];
        Fill(b, what);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public ulong UInt64(string what)
    {
        Span<byte> b = stackalloc byte[8];
        Fill(b, what);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    public byte[] Bytes(long count, string what)
    {
        Need(count, what);
        var bytes = new byte[count];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>
    /// Reads a section's name, type and element count, and checks the name and type against what the format puts
    /// here. The count is returned unchecked: the caller compares it with the size the header implies.
    /// </summary>
    public long SectionHead(string expectedName, CheckpointSectionType expectedType)
    {
        long at = Position;
        Span<byte> one = stackalloc byte[1];
        Fill(one, $"the name of section '{expectedName}'");
        byte[] name = Bytes(one[0], $"the name of section '{expectedName}'");
        if (!name.AsSpan().SequenceEqual(Encoding.ASCII.GetBytes(expectedName)))
            throw Fail(CheckpointFailure.Malformed, $"expected section '{expectedName}' at byte {at}, found {Printable(name)}.");
        Fill(one, $"the type of section '{expectedName}'");
        if (one[0] != (byte)expectedType)
            throw Fail(CheckpointFailure.Malformed,
                $"section '{expectedName}' at byte {at} has element type {one[0]}, expected {(byte)expectedType} ({expectedType}).");
        ulong count = UInt64($"the element count of section '{expectedName}'");
        // Above long.MaxValue it cannot be a real count; report it as one anyway so the caller's message shows it.
        return count > long.MaxValue ? long.MaxValue : (long)count;
    }

    public float[] Floats(string section, long count)
    {
        var values = new float[Elements(section, count, sizeof(float))];
        ReadWords(MemoryMarshal.Cast<float, uint>(values.AsSpan()));
        return values;
    }

    public uint[] UInt32s(string section, long count)
    {
        var values = new uint[Elements(section, count, sizeof(uint))];
        ReadWords(values);
        return values;
    }

    public long[] Int64s(string section, long count)
    {
        var values = new long[Elements(section, count, sizeof(long))];
        stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(values, values);
        return values;
    }

    int Elements(string section, long count, int size)
    {
        // Compare in elements first so count * size cannot overflow.
        if (count < 0 || count > Remaining / size || count > Array.MaxLength)
            throw Fail(CheckpointFailure.Malformed,
                $"section '{section}' claims {count} elements of {size} bytes at byte {Position}, but only {Remaining} bytes remain before the checksum.");
        return (int)count;
    }

    void ReadWords(Span<uint> words)
    {
        stream.ReadExactly(MemoryMarshal.AsBytes(words));
        if (!BitConverter.IsLittleEndian) BinaryPrimitives.ReverseEndianness(words, words);
    }

    void Fill(Span<byte> destination, string what)
    {
        Need(destination.Length, what);
        stream.ReadExactly(destination);
    }

    void Need(long bytes, string what)
    {
        if (bytes > Remaining)
            throw Fail(CheckpointFailure.Malformed,
                $"{what} needs {bytes} bytes at byte {Position}, but only {Remaining} remain before the checksum.");
    }

    /// <summary>A section name from the file as it can safely be shown: quoted, with any non-printable byte as \xNN.</summary>
    public static string Printable(ReadOnlySpan<byte> name)
    {
        var text = new StringBuilder("'");
        foreach (byte b in name)
        {
            if (b is >= 0x20 and < 0x7F && b != (byte)'\'') text.Append((char)b);
            else text.Append($"\\x{b:X2}");
        }
        return text.Append('\'').ToString();
    }
}
