using System;

namespace Sac.Core.Runs;

/// <summary>Why a checkpoint could not be loaded; carried by <see cref="CheckpointException.Reason"/>.</summary>
public enum CheckpointFailure
{
    /// <summary>No file exists at the path.</summary>
    NotFound,

    /// <summary>The file ends before the data its own structure promises (cut short by a copy, a full disk or a crash outside the atomic save).</summary>
    Truncated,

    /// <summary>The file does not start with the magic bytes <c>SACFCKPT</c>: it is not a checkpoint.</summary>
    BadMagic,

    /// <summary>The file is a checkpoint of a format version this build cannot read.</summary>
    UnsupportedVersion,

    /// <summary>The CRC-32 stored at the end disagrees with the bytes before it: the file was damaged.</summary>
    ChecksumMismatch,

    /// <summary>The checksum holds but the contents break the format: a bad header, a missing or unexpected section, an invalid value.</summary>
    Malformed,

    /// <summary>An array's length disagrees with the network sizes the header declares.</summary>
    ShapeMismatch,
}

/// <summary>
/// A checkpoint file could not be loaded. <see cref="Reason"/> says what kind of problem it was and
/// <see cref="Path"/> which file; the message names both and what exactly was wrong.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception; the message is prefixed with the path.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="reason">What kind of problem it was.</param>
    /// <param name="detail">What exactly was wrong, as a sentence.</param>
    /// <param name="inner">The exception that revealed the problem, if any.</param>
    public CheckpointException(string path, CheckpointFailure reason, string detail, Exception? inner = null)
        : base($"{path}: {detail}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The checkpoint file, as it was given to the loader.</summary>
    public string Path { get; }

    /// <summary>What kind of problem it was.</summary>
    public CheckpointFailure Reason { get; }
}
