namespace Sac.Core.Runs;

/// <summary>The element type of a checkpoint section, stored as one byte before its element count.</summary>
internal enum CheckpointSectionType : byte
{
    /// <summary>IEEE 754 single precision, little-endian, 4 bytes each.</summary>
    Float32 = 1,

    /// <summary>Signed 64-bit integer, little-endian, 8 bytes each.</summary>
    Int64 = 2,

    /// <summary>Unsigned 32-bit integer, little-endian, 4 bytes each.</summary>
    UInt32 = 3,
}
