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

    /// <summary>The first bytes of the older (format version 1) binary checkpoints, recognised to name them in errors.</summary>
    internal static ReadOnlySpan<byte> Magic => "SACFCKPT"u8;

    internal static readonly JsonSerializerOptions HeaderJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
        // Enums (the hidden activation) by name, as in the configuration files.
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(namingPolicy: null, allowIntegerValues: false) },
    };

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

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

    /// <summary>The header's <c>algorithm</c> string, read without binding the rest, so any algorithm's header is accepted.</summary>
    internal static string AlgorithmOf(CheckpointReader r, byte[] json)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(StrictUtf8.GetString(json));
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("algorithm", out JsonElement a) && a.ValueKind == JsonValueKind.String
                && a.GetString() is { Length: > 0 } name)
                return name;
        }
        catch (DecoderFallbackException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid UTF-8: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid JSON: {e.Message}", e);
        }
        throw r.Fail(CheckpointFailure.Malformed, "the header names no algorithm.");
    }
}
