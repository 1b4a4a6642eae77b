using System;
using System.Text;

namespace Sac.Core.Runs;

/// <summary>
/// Reads a checkpoint's sections in the order its format wrote them, from a verified <see cref="TensorFile"/>: each
/// section must be the next tensor, of the expected name and element type.
/// </summary>
internal sealed class CheckpointReader(string path, TensorFile file)
{
    int _next;

    /// <summary>The index of the next section.</summary>
    public long Position => _next;

    /// <summary>Sections not yet read.</summary>
    public long Remaining => file.Names.Count - _next;

    /// <summary>The exception for a problem with this file.</summary>
    public CheckpointException Fail(CheckpointFailure reason, string detail, Exception? inner = null) => new(path, reason, detail, inner);

    /// <summary>The file's string metadata (the header, the configuration, and whatever else the writer stored).</summary>
    public System.Collections.Generic.IReadOnlyDictionary<string, string> Metadata => file.Metadata;

    /// <summary>The format's JSON header, as UTF-8.</summary>
    public byte[] HeaderJson =>
        file.Metadata.TryGetValue(CheckpointFraming.HeaderKey, out var header) ? Encoding.UTF8.GetBytes(header)
        : throw Fail(CheckpointFailure.Malformed, "the metadata has no checkpoint header.");

    /// <summary>Checks that the next section is <paramref name="expectedName"/> of <paramref name="expectedType"/> and returns its element count.</summary>
    public long SectionHead(string expectedName, CheckpointSectionType expectedType)
    {
        if (_next >= file.Names.Count)
            throw Fail(CheckpointFailure.Malformed, $"expected section '{expectedName}' as section {_next}, but the checkpoint ends there.");
        string name = file.Names[_next];
        if (name != expectedName)
            throw Fail(CheckpointFailure.Malformed, $"expected section '{expectedName}' as section {_next}, found '{name}'.");
        var tensor = file.Tensors[name];
        var type = expectedType switch
        {
            CheckpointSectionType.Float32 => TensorDType.F32,
            CheckpointSectionType.Int64 => TensorDType.I64,
            _ => TensorDType.U32,
        };
        if (tensor.DType != type)
            throw Fail(CheckpointFailure.Malformed, $"section '{expectedName}' holds {tensor.DType}, expected {type}.");
        return tensor.Count;
    }

    /// <summary>The section just checked by <see cref="SectionHead"/>, as float32; moves to the next.</summary>
    public float[] Floats(string section, long count) => Take(section, count).ToFloat32();

    /// <summary>The section just checked, as uint32; moves to the next.</summary>
    public uint[] UInt32s(string section, long count) => Take(section, count).ToUInt32();

    /// <summary>The section just checked, as int64; moves to the next.</summary>
    public long[] Int64s(string section, long count) => Take(section, count).ToInt64();

    Tensor Take(string section, long count)
    {
        var tensor = file.Tensors[file.Names[_next]];
        if (file.Names[_next] != section || tensor.Count != count)
            throw new InvalidOperationException($"Read '{section}' of {count} elements without checking its head first.");
        _next++;
        return tensor;
    }
}
