using System;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;

namespace Sac.Core.Runs;

/// <summary>
/// Collects a checkpoint's sections as named tensors, in the order a format emits them, with the format's JSON header
/// in the metadata, and writes them as one <see cref="TensorFile"/> (the checkpoint format of every algorithm).
/// </summary>
internal sealed class CheckpointWriter
{
    readonly List<KeyValuePair<string, Tensor>> _tensors = [];
    readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    /// <summary>Starts a checkpoint of <paramref name="format"/> ("SAC", "SQL", "DQN") with its JSON header.</summary>
    /// <param name="format">The format's name, stored as metadata <c>checkpoint</c>.</param>
    /// <param name="headerJson">The format's header, stored whole as metadata <c>header</c>; its algorithm, environment
    /// id and sizes are also copied to top-level metadata keys for readers outside .NET.</param>
    /// <param name="extra">More metadata from the caller (such as the resolved configuration); the reserved keys win.</param>
    public CheckpointWriter(string format, byte[] headerJson, IReadOnlyDictionary<string, string>? extra = null)
    {
        if (extra is not null)
            foreach (var (k, v) in extra) _metadata[k] = v;
        _metadata[CheckpointFraming.FormatKey] = CheckpointFraming.FormatName;
        _metadata[CheckpointFraming.VersionKey] = Checkpoint.FormatVersion.ToString();
        _metadata["checkpoint"] = format;
        string header = Encoding.UTF8.GetString(headerJson);
        _metadata[CheckpointFraming.HeaderKey] = header;
        using var doc = JsonDocument.Parse(header);
        foreach (var (json, key) in new[] { ("algorithm", "algorithm"), ("environmentId", "environment_id"), ("observationSize", "observation_size"), ("actionSize", "action_size") })
            if (doc.RootElement.TryGetProperty(json, out var v)) _metadata[key] = v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText();
    }

    /// <summary>Adds a float32 section.</summary>
    public void Floats(string name, ReadOnlySpan<float> values) => _tensors.Add(new(name, Tensor.Of(values)));

    /// <summary>Adds an int64 section.</summary>
    public void Int64s(string name, ReadOnlySpan<long> values) => _tensors.Add(new(name, Tensor.Of(values)));

    /// <summary>Adds a uint32 section.</summary>
    public void UInt32s(string name, ReadOnlySpan<uint> values) => _tensors.Add(new(name, Tensor.Of(values)));

    /// <summary>Writes the checkpoint atomically.</summary>
    public void Save(string path) => TensorFile.Write(path, _metadata, _tensors);
}
