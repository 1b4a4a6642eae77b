using System;

namespace Sac.Core.Runs;

/// <summary>
/// CRC-32 with the IEEE 802.3 polynomial (reflected <c>0xEDB88320</c>, initial value and final XOR <c>0xFFFFFFFF</c>):
/// the checksum of zlib, gzip, PNG and Ethernet. <c>Compute("123456789")</c> is <c>0xCBF43926</c>.
/// </summary>
/// <remarks>
/// Table-driven, one byte per step. A checkpoint is read once per load, so a simple loop at several hundred MB/s is
/// plenty; the checksum exists to turn a damaged file into a clear error, not to resist tampering.
/// </remarks>
public static class Crc32
{
    const uint Polynomial = 0xEDB88320u;

    static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes to check.</param>
    /// <returns>The checksum, as zlib's <c>crc32(0, data, len)</c> returns it.</returns>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0u, data);

    /// <summary>
    /// Extends a running checksum: <c>Append(Compute(a), b) == Compute(a + b)</c>, so a stream can be checked in
    /// chunks. Start from 0 (the CRC of no bytes).
    /// </summary>
    /// <param name="crc">The CRC-32 of everything before <paramref name="data"/>; 0 at the start.</param>
    /// <param name="data">The next bytes.</param>
    /// <returns>The CRC-32 of the concatenation.</returns>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] table = Table;
        // The register holds the complement of the published value, so chained calls undo and redo the final XOR.
        uint c = ~crc;
        foreach (byte b in data)
            c = table[(byte)(c ^ b)] ^ (c >> 8);
        return ~c;
    }

    static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? Polynomial ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
