using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;
using Sac.Core.Optim;

namespace Sac.Core.Runs;

/// <summary>
/// The framing every checkpoint format of this library shares (SAC, DQN family, Soft Q-Learning): one
/// safetensors-compatible <see cref="TensorFile"/> whose metadata marks it as a checkpoint of a format version and holds
/// the format's JSON header, and whose tensors are the format's named sections in order; one implementation for all.
/// </summary>
internal static class CheckpointFraming
{
    /// <summary>The metadata key and value that mark a Sac.Functional checkpoint.</summary>
    internal const string FormatKey = "format", FormatName = "sac-functional-checkpoint";

    /// <summary>The metadata key of the format version (<see cref="Checkpoint.FormatVersion"/>).</summary>
    internal const string VersionKey = "format_version";

    /// <summary>The metadata key of the format's JSON header.</summary>
    internal const string HeaderKey = "header";

    /// <summary>Builds a checkpoint with <paramref name="emit"/> and writes it atomically.</summary>
    internal static void Write(string path, string format, byte[] headerJson, Action<CheckpointWriter> emit, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var writer = new CheckpointWriter(format, headerJson, metadata);
        emit(writer);
        writer.Save(path);
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

    /// <summary>The first bytes of the older (format version 1) binary checkpoints, recognised to name them in errors.</summary>
    internal static ReadOnlySpan<byte> Magic => "SACFCKPT"u8;

    internal static readonly JsonSerializerOptions HeaderJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
    };

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

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
            throw r.Fail(CheckpointFailure.Malformed, $"section '{name}' (section {at}) has {count} elements, expected {expectedCount}.");
        return r.Int64s(name, count);
    }

    internal static long NonNegative(CheckpointReader r, string name, long value) =>
        value >= 0 ? value : throw r.Fail(CheckpointFailure.Malformed, $"section '{name}' holds {value}; a step count is never negative.");

    /// <summary>
    /// Reads and verifies a checkpoint file (a <see cref="TensorFile"/> marked as a Sac.Functional checkpoint of
    /// <see cref="Checkpoint.FormatVersion"/>), then runs <paramref name="body"/> over its sections.
    /// </summary>
    internal static T ReadChecked<T>(string path, Func<CheckpointReader, T> body)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = TensorFile.Read(path);
        if (!file.Metadata.TryGetValue(FormatKey, out var format) || format != FormatName)
            throw new CheckpointException(path, CheckpointFailure.BadMagic,
                $"the tensor file is not marked \"{FormatKey}\": \"{FormatName}\"; it is not a Sac.Functional checkpoint.");
        string version = file.Metadata.TryGetValue(VersionKey, out var v) ? v : "(none)";
        if (version != Checkpoint.FormatVersion.ToString())
            throw new CheckpointException(path, CheckpointFailure.UnsupportedVersion,
                $"the checkpoint has format version {version}; this build reads version {Checkpoint.FormatVersion} only.");
        return body(new CheckpointReader(path, file));
    }
}
