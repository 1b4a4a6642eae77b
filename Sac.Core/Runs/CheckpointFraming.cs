using System;
using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.Text;
using System.Text.Json;
using Sac.Core.Optim;

namespace Sac.Core.Runs;

/// <summary>
/// The framing every checkpoint format of this library shares (SAC, DQN family, Soft Q-Learning): magic bytes, format
/// version, recorded length, JSON header, named sections and a trailing CRC-32; one implementation for all of them.
/// </summary>
internal static class CheckpointFraming
{
    /// <summary>
    /// Writes a checkpoint atomically in two passes of the same <paramref name="emit"/>: one that only measures, so the
    /// preamble can record the total length, then the real one, which must emit exactly as many bytes.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="format">The format's name for the error message, such as "SAC".</param>
    /// <param name="emit">Writes the whole file given the total length (0 in the measuring pass).</param>
    internal static void WriteMeasured(string path, string format, Action<CheckpointWriter, ulong> emit)
    {
        var counter = new CheckpointWriter(null);
        emit(counter, 0);
        ulong total = (ulong)counter.Length;
        AtomicFile.Write(path, stream =>
        {
            var writer = new CheckpointWriter(stream);
            emit(writer, total);
            if ((ulong)writer.Length != total)
                throw new InvalidOperationException($"{format} checkpoint writer emitted {writer.Length} bytes after measuring {total}; the state or the replay buffer changed during Save.");
        });
    }

    /// <summary>
    /// Checks the running episode's actions against a header's progress: <c>EpisodeLength x actionSize</c> floats with
    /// progress, none without (the caller's argument, reported as <see cref="ArgumentException"/>).
    /// </summary>
    /// <param name="progress">The header's progress, or null.</param>
    /// <param name="actionSize">Floats per action.</param>
    /// <param name="length">Floats given.</param>
    internal static void CheckEpisodeActions(TrainingProgress? progress, int actionSize, int length)
    {
        long expected = progress is { } p ? (long)p.EpisodeLength * actionSize : 0;
        if (length != expected)
            throw new ArgumentException(
                progress is null
                    ? $"episodeActions has {length} floats, but the header has no Progress; only a checkpoint with progress stores the running episode's actions."
                    : $"episodeActions has {length} floats, but the header's progress says the running episode has {progress.EpisodeLength} steps of {actionSize} actions ({expected} floats).",
                "episodeActions");
    }

    internal static ReadOnlySpan<byte> Magic => "SACFCKPT"u8;

    internal const int PreambleLength = 8 + 4 + 8;

    internal const int MinimumLength = PreambleLength + 4 + 4;

    internal static readonly JsonSerializerOptions HeaderJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
    };

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Checks magic, version, recorded length and checksum, in the order that names the most specific problem.</summary>
    internal static void CheckPreamble(string path, FileStream stream, long length)
    {
        stream.Position = 0;
        Span<byte> magic = stackalloc byte[8];
        int got = stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        if (got < magic.Length && Magic.StartsWith(magic[..got]))
            throw new CheckpointException(path, CheckpointFailure.Truncated,
                $"the file has only {length} bytes, fewer than the 8 magic bytes 'SACFCKPT' a checkpoint starts with.");
        if (!magic.SequenceEqual(Magic))
            throw new CheckpointException(path, CheckpointFailure.BadMagic,
                $"the file starts with {CheckpointReader.Printable(magic[..got])}, not the magic 'SACFCKPT'; it is not a Sac.Functional checkpoint.");

        if (length < 12)
            throw new CheckpointException(path, CheckpointFailure.Truncated, $"the file has only {length} bytes and ends inside its preamble.");
        Span<byte> word = stackalloc byte[8];
        stream.ReadExactly(word[..4]);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(word);
        if (version != Checkpoint.FormatVersion)
            throw new CheckpointException(path, CheckpointFailure.UnsupportedVersion,
                $"the checkpoint has format version {version}; this build reads version {Checkpoint.FormatVersion} only.");

        if (length < MinimumLength)
            throw new CheckpointException(path, CheckpointFailure.Truncated,
                $"the file has only {length} bytes; even an empty checkpoint needs {MinimumLength}.");
        stream.ReadExactly(word);
        ulong recorded = BinaryPrimitives.ReadUInt64LittleEndian(word);

        uint computed = ChecksumOfPrefix(stream, length - 4);
        stream.ReadExactly(word[..4]);
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(word);
        if (computed != stored)
        {
            // A file shorter than it was written is the common case (an interrupted copy); say so rather than "damaged".
            if (recorded > (ulong)length)
                throw new CheckpointException(path, CheckpointFailure.Truncated,
                    $"the file has {length} bytes but was written with {recorded}; it was cut short.");
            throw new CheckpointException(path, CheckpointFailure.ChecksumMismatch,
                $"the CRC-32 stored at the end is 0x{stored:X8} but the contents give 0x{computed:X8}; the file is damaged.");
        }
        if (recorded != (ulong)length)
            throw new CheckpointException(path, CheckpointFailure.Malformed,
                $"the file has {length} bytes but its preamble records {recorded}.");
    }

    internal static uint ChecksumOfPrefix(FileStream stream, long count)
    {
        stream.Position = 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            uint crc = 0;
            for (long left = count; left > 0;)
            {
                int n = (int)Math.Min(buffer.Length, left);
                stream.ReadExactly(buffer, 0, n);
                crc = Crc32.Append(crc, buffer.AsSpan(0, n));
                left -= n;
            }
            return crc;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static void EmitAdam(CheckpointWriter w, string name, AdamState adam)
    {
        w.Int64s(name + ".step", [adam.Step]);
        w.Floats(name + ".first_moment", adam.FirstMoment);
        w.Floats(name + ".second_moment", adam.SecondMoment);
    }

    internal static long[] Int64s(CheckpointReader r, string name, long expectedCount)
    {
        long at = r.Position;
        long count = r.SectionHead(name, CheckpointSectionType.Int64);
        if (count != expectedCount)
            throw r.Fail(CheckpointFailure.Malformed, $"section '{name}' at byte {at} has {count} elements, expected {expectedCount}.");
        return r.Int64s(name, count);
    }

    internal static long NonNegative(CheckpointReader r, string name, long value) =>
        value >= 0 ? value : throw r.Fail(CheckpointFailure.Malformed, $"section '{name}' holds {value}; a step count is never negative.");

    /// <summary>
    /// Opens a checkpoint, checks its preamble (magic, version, recorded length, checksum) and runs
    /// <paramref name="body"/> with a reader positioned just after the preamble. A missing file or directory, and a file
    /// that shrinks while it is read, become <see cref="CheckpointException"/>s like every other problem.
    /// </summary>
    internal static T ReadChecked<T>(string path, Func<FileStream, CheckpointReader, T> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new CheckpointException(path, CheckpointFailure.NotFound, "this is a directory, not a checkpoint file.");
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException e)
        {
            throw new CheckpointException(path, CheckpointFailure.NotFound, "no checkpoint file exists at this path.", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new CheckpointException(path, CheckpointFailure.NotFound, "the directory of this path does not exist.", e);
        }

        using (stream)
        {
            try
            {
                long length = stream.Length;
                CheckPreamble(path, stream, length);
                var r = new CheckpointReader(path, stream, length - 4);
                stream.Position = PreambleLength;
                return body(stream, r);
            }
            catch (EndOfStreamException e)
            {
                throw new CheckpointException(path, CheckpointFailure.Truncated, "the file ended while it was being read; was it changed during loading?", e);
            }
        }
    }
}
