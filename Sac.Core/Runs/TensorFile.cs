using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Sac.Core.Runs;

/// <summary>The element types a <see cref="TensorFile"/> holds, by their safetensors names.</summary>
public enum TensorDType
{
    /// <summary>32-bit float, <c>"F32"</c>.</summary>
    F32,

    /// <summary>64-bit float, <c>"F64"</c>.</summary>
    F64,

    /// <summary>64-bit signed integer, <c>"I64"</c>.</summary>
    I64,

    /// <summary>32-bit unsigned integer, <c>"U32"</c>.</summary>
    U32,

    /// <summary>8-bit unsigned integer, <c>"U8"</c>.</summary>
    U8,
}

/// <summary>One tensor's entry in a <see cref="TensorFile"/>: element type, shape and its bytes.</summary>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions (empty for a scalar); their product is the element count.</param>
/// <param name="Data">The little-endian bytes (a read file's tensors are slices of the file's bytes, not copies).</param>
public sealed record Tensor(TensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>The number of elements, the product of <see cref="Shape"/>.</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>A float32 tensor of the given shape (a vector of the array's length when none is given).</summary>
    /// <param name="values">The elements, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the length.</param>
    /// <returns>The tensor, holding a copy.</returns>
    public static Tensor Of(ReadOnlySpan<float> values, params long[] shape) => Make(TensorDType.F32, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>A float64 tensor; see <see cref="Of(ReadOnlySpan{float}, long[])"/>.</summary>
    /// <param name="values">The elements, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the length.</param>
    /// <returns>The tensor, holding a copy.</returns>
    public static Tensor Of(ReadOnlySpan<double> values, params long[] shape) => Make(TensorDType.F64, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>An int64 tensor; see <see cref="Of(ReadOnlySpan{float}, long[])"/>.</summary>
    /// <param name="values">The elements, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the length.</param>
    /// <returns>The tensor, holding a copy.</returns>
    public static Tensor Of(ReadOnlySpan<long> values, params long[] shape) => Make(TensorDType.I64, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>A uint32 tensor; see <see cref="Of(ReadOnlySpan{float}, long[])"/>.</summary>
    /// <param name="values">The elements, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the length.</param>
    /// <returns>The tensor, holding a copy.</returns>
    public static Tensor Of(ReadOnlySpan<uint> values, params long[] shape) => Make(TensorDType.U32, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>A uint8 tensor; see <see cref="Of(ReadOnlySpan{float}, long[])"/>.</summary>
    /// <param name="values">The elements, row-major.</param>
    /// <param name="shape">The dimensions; their product must equal the length.</param>
    /// <returns>The tensor, holding a copy.</returns>
    public static Tensor Of(ReadOnlySpan<byte> values, params long[] shape) => Make(TensorDType.U8, values, values.Length, shape);

    /// <summary>A float32 scalar: shape <c>[]</c>, one element.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The tensor.</returns>
    public static Tensor Scalar(float value) => new(TensorDType.F32, [], BitConverter.GetBytes(value));

    static Tensor Make(TensorDType type, ReadOnlySpan<byte> bytes, int count, long[] shape)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Tensor files are written on little-endian machines only.");
        shape = shape.Length == 0 ? [count] : (long[])shape.Clone();
        if (shape.Any(d => d < 0) || shape.Aggregate(1L, (a, b) => a * b) != count)
            throw new ArgumentException($"Shape [{string.Join(", ", shape)}] does not hold {count} elements.", nameof(shape));
        return new Tensor(type, shape, bytes.ToArray());
    }

    /// <summary>The elements as float32.</summary>
    /// <returns>A new array.</returns>
    /// <exception cref="InvalidOperationException">The tensor is of another type.</exception>
    public float[] ToFloat32() => As<float>(TensorDType.F32);

    /// <summary>The elements as float64.</summary>
    /// <returns>A new array.</returns>
    /// <exception cref="InvalidOperationException">The tensor is of another type.</exception>
    public double[] ToFloat64() => As<double>(TensorDType.F64);

    /// <summary>The elements as int64.</summary>
    /// <returns>A new array.</returns>
    /// <exception cref="InvalidOperationException">The tensor is of another type.</exception>
    public long[] ToInt64() => As<long>(TensorDType.I64);

    /// <summary>The elements as uint32.</summary>
    /// <returns>A new array.</returns>
    /// <exception cref="InvalidOperationException">The tensor is of another type.</exception>
    public uint[] ToUInt32() => As<uint>(TensorDType.U32);

    T[] As<T>(TensorDType expected) where T : struct =>
        DType == expected ? MemoryMarshal.Cast<byte, T>(Data.Span).ToArray()
        : throw new InvalidOperationException($"The tensor holds {DType}, not {expected}.");

    internal static int ElementSize(TensorDType type) => type switch
    {
        TensorDType.F32 or TensorDType.U32 => 4,
        TensorDType.F64 or TensorDType.I64 => 8,
        _ => 1,
    };
}

/// <summary>
/// A safetensors-compatible file of named tensors plus string metadata: an 8-byte little-endian header length, a
/// UTF-8 JSON header mapping each tensor name to <c>{"dtype", "shape", "data_offsets"}</c> with a
/// <c>"__metadata__"</c> object of strings, then the tensors' raw little-endian bytes, contiguous in header order.
/// Any safetensors reader (Python's <c>safetensors</c>, or 20 lines of stdlib Python) opens it.
/// </summary>
/// <remarks>
/// <para>
/// Integrity: the metadata key <see cref="ChecksumKey"/> holds the CRC-32 (8 hex digits) of the whole file computed
/// with that value written as <c>00000000</c>, so a flipped byte anywhere (length, header or data) and any truncation
/// is rejected with a <see cref="CheckpointException"/>. Files are written atomically (<see cref="AtomicFile"/>): a
/// crash leaves the previous file whole.
/// </para>
/// <para>The header is padded with spaces so the data starts 8-byte aligned, as the safetensors writer does.</para>
/// </remarks>
public sealed class TensorFile
{
    /// <summary>The metadata key of the whole-file CRC-32.</summary>
    public const string ChecksumKey = "crc32";

    /// <summary>Header lengths above this are refused before reading (safetensors' own limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    const string Placeholder = "00000000";

    TensorFile(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<string> names, IReadOnlyDictionary<string, Tensor> tensors)
    {
        Metadata = metadata;
        Names = names;
        Tensors = tensors;
    }

    /// <summary>The string metadata (the checksum included).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor names in file order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The tensors by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>Writes a tensor file atomically.</summary>
    /// <param name="path">The file; replaced whole, or left as it was if writing fails.</param>
    /// <param name="metadata">String metadata; the key <see cref="ChecksumKey"/> is reserved.</param>
    /// <param name="tensors">The tensors in the order to write them; names must be unique, non-empty and not <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentException">A reserved or duplicate key or name.</exception>
    public static void Write(string path, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        if (metadata.ContainsKey(ChecksumKey)) throw new ArgumentException($"The metadata key '{ChecksumKey}' is reserved for the checksum.", nameof(metadata));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in tensors)
            if (string.IsNullOrEmpty(name) || name == "__metadata__" || !seen.Add(name))
                throw new ArgumentException($"Tensor name '{name}' is empty, reserved or repeated.", nameof(tensors));

        byte[] header = Header(metadata, tensors);
        uint crc = Crc32.Append(0u, header.AsSpan(0, 8 + HeaderLength(header)));
        foreach (var (_, t) in tensors) crc = Crc32.Append(crc, t.Data.Span);
        // The placeholder is the only "00000000" the header can hold in the checksum's place: patch it in.
        int at = IndexOfChecksum(header);
        Encoding.ASCII.GetBytes(crc.ToString("x8")).CopyTo(header, at);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            foreach (var (_, t) in tensors) stream.Write(t.Data.Span);
        });
    }

    static int HeaderLength(byte[] prefixed) => (int)BinaryPrimitives.ReadUInt64LittleEndian(prefixed);

    static byte[] Header(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
    {
        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
            w.WriteString(ChecksumKey, Placeholder);
            w.WriteEndObject();
            long offset = 0;
            foreach (var (name, t) in tensors)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", t.DType.ToString());
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.Data.Length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.Data.Length;
            }
            w.WriteEndObject();
        }
        int length = (int)json.Length;
        int padded = (length + 8 + 7) / 8 * 8 - 8;
        var bytes = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        json.GetBuffer().AsSpan(0, length).CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(8 + length).Fill((byte)' ');
        return bytes;
    }

    // The checksum value's position: after "crc32":" inside the header (the writer puts it in __metadata__).
    static int IndexOfChecksum(ReadOnlySpan<byte> header)
    {
        ReadOnlySpan<byte> key = "\"crc32\":\""u8;
        int i = header.IndexOf(key);
        return i < 0 ? -1 : i + key.Length;
    }

    /// <summary>Reads and verifies a tensor file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>Its metadata and tensors.</returns>
    /// <exception cref="CheckpointException">The file is missing, truncated, damaged (checksum), of the library's
    /// older checkpoint format (the message names its version), or not a valid tensor file.</exception>
    public static TensorFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        CheckpointException Fail(CheckpointFailure reason, string detail, Exception? inner = null) => new(path, reason, detail, inner);
        if (Directory.Exists(path)) throw Fail(CheckpointFailure.NotFound, "is a directory, not a checkpoint file");
        if (!File.Exists(path)) throw Fail(CheckpointFailure.NotFound, "no such file");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw Fail(CheckpointFailure.NotFound, $"cannot be read ({e.Message})", e); }

        if (bytes.Length >= 8 && bytes.AsSpan(0, 8).SequenceEqual(CheckpointFraming.Magic))
        {
            string version = bytes.Length >= 12 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)).ToString() : "unknown";
            throw Fail(CheckpointFailure.UnsupportedVersion,
                $"is a checkpoint of the library's older binary format (SACFCKPT version {version}); this build reads the tensor format only");
        }
        if (bytes.Length < 8) throw Fail(CheckpointFailure.Truncated, $"is {bytes.Length} bytes long, shorter than the 8-byte header length");
        // A tensor file's JSON header starts right after the length: anything else is some other kind of file.
        if (bytes.Length > 8 && bytes[8] != (byte)'{')
            throw Fail(CheckpointFailure.BadMagic, "is not a tensor file (safetensors layout: an 8-byte length, then a JSON header); it is not a Sac.Functional checkpoint");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes) throw Fail(CheckpointFailure.Malformed, $"declares a {headerLength}-byte header, more than {MaxHeaderBytes}");
        if (8 + (long)headerLength > bytes.Length)
            throw Fail(CheckpointFailure.Truncated, $"declares a {headerLength}-byte header but holds {bytes.Length - 8} bytes after the length");
        var header = bytes.AsSpan(8, (int)headerLength);

        // A file cut short is the common damage (an interrupted copy): when the header still reads, say so rather than
        // report a checksum mismatch.
        if (DataEnd(bytes.AsMemory(8, (int)headerLength)) is long dataEnd && 8 + (long)headerLength + dataEnd > bytes.Length)
            throw Fail(CheckpointFailure.Truncated, $"has {bytes.Length} bytes but its tensors end at byte {8 + (long)headerLength + dataEnd}; it was cut short");

        // Verify before interpreting anything: the checksum covers the file with its own value zeroed.
        int at = IndexOfChecksum(bytes.AsSpan(0, 8 + (int)headerLength));
        if (at < 0 || at + 8 > 8 + (int)headerLength) throw Fail(CheckpointFailure.Malformed, $"has no \"{ChecksumKey}\" in its metadata");
        string stored = Encoding.ASCII.GetString(bytes, at, 8);
        // The CRC of the file with the placeholder in the checksum's place, chained over the three pieces (no copy of
        // a file that may hold a whole replay buffer).
        uint crc = Crc32.Append(0u, bytes.AsSpan(0, at));
        crc = Crc32.Append(crc, Encoding.ASCII.GetBytes(Placeholder));
        string actual = Crc32.Append(crc, bytes.AsSpan(at + 8)).ToString("x8");
        if (!string.Equals(stored, actual, StringComparison.Ordinal))
            throw Fail(CheckpointFailure.ChecksumMismatch, $"is damaged: CRC-32 {actual} does not match the stored {stored}");

        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength)); }
        catch (JsonException e) { throw Fail(CheckpointFailure.Malformed, $"has a header that is not JSON ({e.Message})", e); }
        using (doc)
        {
            try { return Interpret(doc, bytes, headerLength, Fail); }
            // A name or string that is not valid UTF-8 surfaces only when it is read.
            catch (InvalidOperationException e) { throw Fail(CheckpointFailure.Malformed, $"has a header with text that is not valid UTF-8 ({e.Message})", e); }
        }
    }

    static TensorFile Interpret(JsonDocument doc, byte[] bytes, ulong headerLength, Func<CheckpointFailure, string, Exception?, CheckpointException> fail)
    {
        CheckpointException Fail(CheckpointFailure reason, string detail) => fail(reason, detail, null);
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Fail(CheckpointFailure.Malformed, "has a header that is not a JSON object");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new List<string>();
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            long dataStart = 8 + (long)headerLength, expectedOffset = 0;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw Fail(CheckpointFailure.Malformed, "has __metadata__ that is not an object");
                    foreach (var m in p.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw Fail(CheckpointFailure.Malformed, $"has metadata '{m.Name}' that is not a string");
                    continue;
                }
                var t = ReadEntry(p, fail, out long begin, out long end);
                if (begin != expectedOffset) throw Fail(CheckpointFailure.Malformed, $"tensor '{p.Name}' starts at {begin}, not at {expectedOffset} where the previous one ended");
                if (dataStart + end > bytes.Length) throw Fail(CheckpointFailure.Truncated, $"tensor '{p.Name}' ends at byte {dataStart + end}, past the end of the file ({bytes.Length})");
                expectedOffset = end;
                if (tensors.ContainsKey(p.Name)) throw Fail(CheckpointFailure.Malformed, $"names tensor '{p.Name}' twice");
                // A slice of the file's bytes: the typed arrays a reader makes are the only copy.
                tensors[p.Name] = t with { Data = bytes.AsMemory((int)(dataStart + begin), (int)(end - begin)) };
                names.Add(p.Name);
            }
            if (dataStart + expectedOffset != bytes.Length)
                throw Fail(CheckpointFailure.Malformed, $"has {bytes.Length - dataStart - expectedOffset} bytes after its last tensor");
            return new TensorFile(metadata, names, tensors);
        }
    }

    // The largest data_offsets end the header declares, or null when the header does not parse as one.
    static long? DataEnd(ReadOnlyMemory<byte> header)
    {
        try
        {
            using var doc = JsonDocument.Parse(header);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            long end = 0;
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("data_offsets", out var off)
                    && off.ValueKind == JsonValueKind.Array && off.GetArrayLength() == 2 && off[1].TryGetInt64(out long e))
                    end = Math.Max(end, e);
            return end;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    static Tensor ReadEntry(JsonProperty p, Func<CheckpointFailure, string, Exception?, CheckpointException> fail, out long begin, out long end)
    {
        CheckpointException Bad(string what) => fail(CheckpointFailure.Malformed, $"tensor '{p.Name}' {what}", null);
        var e = p.Value;
        if (e.ValueKind != JsonValueKind.Object) throw Bad("is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String || !Enum.TryParse<TensorDType>(dt.GetString(), false, out var type)
            || !Enum.IsDefined(type) || dt.GetString() != type.ToString())
            throw Bad("has no known dtype (F32, F64, I64, U32, U8)");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("has no shape");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        long count = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (!d.TryGetInt64(out shape[i]) || shape[i] < 0 || shape[i] > int.MaxValue) throw Bad("has an invalid dimension");
            count = count * shape[i] > int.MaxValue ? throw Bad("is too large") : count * shape[i];
            i++;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
            || !off[0].TryGetInt64(out begin) || !off[1].TryGetInt64(out end) || begin < 0 || end < begin)
            throw Bad("has invalid data_offsets");
        if (end - begin != count * Tensor.ElementSize(type))
            throw Bad($"has {end - begin} bytes for a {type} shape [{string.Join(", ", shape)}] ({count * Tensor.ElementSize(type)} bytes)");
        return new Tensor(type, shape, ReadOnlyMemory<byte>.Empty);
    }
}
