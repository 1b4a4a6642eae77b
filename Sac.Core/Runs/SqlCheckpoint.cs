using System;
using System.Collections.Generic;
using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.Text;
using System.Text.Json;
using Sac.Core.Data;
using Sac.Core.Networks;
using Sac.Core.Optim;
using Sac.Core.Random;

using static Sac.Core.Runs.CheckpointFraming;

namespace Sac.Core.Runs;

/// <summary>
/// Saves and loads a Soft Q-Learning learner (and optionally its replay buffer) in the framing of
/// <see cref="Checkpoint"/>: same magic, format version, length field, JSON header, named sections and CRC-32. Saving
/// is atomic; loading checks everything and reports any problem with the file as a <see cref="CheckpointException"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Format, version 1.</b> The preamble (<c>SACFCKPT</c>, uint32 version 1, uint64 total length), the header (uint32
/// length and UTF-8 JSON, <see cref="SqlCheckpointHeader"/> with camelCase keys, <c>"algorithm": "sql"</c>), then the
/// sections, each a name (one length byte and ASCII), an element type (1 float32, 2 int64, 3 uint32), an element count
/// (uint64) and the elements, in this order: <c>q</c>, <c>target_q</c>, <c>sampler</c>; for <c>q_optimizer</c> and
/// <c>sampler_optimizer</c> the sections <c>NAME.step</c> (int64), <c>NAME.first_moment</c>, <c>NAME.second_moment</c>;
/// <c>step</c> (one int64) and <c>key</c> (uint32 <c>K0</c>, <c>K1</c>); when the header has
/// <see cref="SqlCheckpointHeader.Progress"/> (a checkpoint written during training), <c>episode.actions</c> (float32,
/// the running episode's <c>EpisodeLength x ActionSize</c> actions). A saved replay buffer follows exactly as in
/// <see cref="Checkpoint"/> (<c>replay.shape</c> and the six <c>replay.*</c> arrays). Last, the CRC-32 of every byte
/// before it. A file without progress has no <c>episode.actions</c> section, so files written before training
/// checkpoints existed load unchanged.
/// </para>
/// <para>
/// Array lengths follow from the header: the Q-network is the MLP <c>[obs + act, HiddenSizes..., 1]</c> (its target
/// too), the sampler <c>[obs + act, SamplerHiddenSizes..., act]</c>. A SAC checkpoint shares the framing but its header
/// says <c>"algorithm": "sac"</c>; <see cref="PeekAlgorithm"/> tells the two apart without loading either.
/// </para>
/// </remarks>
public static class SqlCheckpoint
{
    /// <summary>The algorithm name in the header, <c>"sql"</c>.</summary>
    public const string AlgorithmName = "sql";

    /// <summary>
    /// Writes <paramref name="state"/> (and <paramref name="replay"/>, when given) to <paramref name="path"/> atomically
    /// (see <see cref="AtomicFile"/>): a crash or error while saving leaves any previous file there intact. Everything
    /// is checked before the file is opened, so a rejected state writes nothing.
    /// </summary>
    /// <param name="path">The checkpoint file to create or replace; its directory must exist.</param>
    /// <param name="header">What the checkpoint holds; its sizes must match every array of <paramref name="state"/>.</param>
    /// <param name="state">The learner. Its arrays are only read.</param>
    /// <param name="replay">The replay buffer to save with it, or null; its sizes must match the header.</param>
    /// <param name="episodeActions">With <see cref="SqlCheckpointHeader.Progress"/>: the running episode's actions,
    /// <c>EpisodeLength x ActionSize</c>, from which a resumed run rebuilds the environment's state; empty otherwise.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="header"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="path"/> is empty or a directory, an array of <paramref name="state"/> is null or has a length the
    /// header does not imply, a step count is negative, the replay sizes differ from the header's, or
    /// <paramref name="episodeActions"/> does not hold the running episode's actions the progress implies.
    /// </exception>
    /// <exception cref="IOException">The file cannot be written; the previous one, if any, is unchanged.</exception>
    public static void Save(string path, SqlCheckpointHeader header, SqlLearnerState state, ReplayBuffer? replay = null, ReadOnlyMemory<float> episodeActions = default) =>
        Save(path, header, state, replay, episodeActions, null);

    /// <summary>As the overload without metadata, with more string metadata stored in the file (such as
    /// <see cref="Checkpoint.ConfigMetadataKey"/>, the resolved configuration; see <see cref="Checkpoint.ReadMetadata"/>).</summary>
    /// <param name="path">The checkpoint file to create or replace.</param>
    /// <param name="header">What the checkpoint holds.</param>
    /// <param name="state">The learner.</param>
    /// <param name="replay">The replay buffer, or null.</param>
    /// <param name="episodeActions">The running episode's actions (with progress), or empty.</param>
    /// <param name="metadata">Extra metadata; the format's own keys cannot be overridden.</param>
    public static void Save(string path, SqlCheckpointHeader header, SqlLearnerState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(header);
        Shapes shapes;
        try
        {
            shapes = new Shapes(header);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The header's sizes cannot describe networks: {e.Message}", nameof(header), e);
        }
        CheckState(header, shapes, state, replay);
        CheckEpisodeActions(header.Progress, header.ActionSize, episodeActions.Length);
        byte[] headerJson = JsonSerializer.SerializeToUtf8Bytes(header, HeaderJson);
        Write(path, "SQL", headerJson, w => Emit(w, header, state, replay, episodeActions.Span), metadata);
    }

    /// <summary>
    /// Reads a checkpoint written by <see cref="Save(string, SqlCheckpointHeader, SqlLearnerState, ReplayBuffer?, ReadOnlyMemory{float})"/>, checking the magic bytes, version, length, checksum, header
    /// (including that its algorithm is <c>"sql"</c>) and every array's length against the header's sizes.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The header, the learner state (owning fresh arrays), and the replay buffer if one was saved, otherwise null.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">
    /// The file is missing, cut short, not a checkpoint, of another version, damaged, of another algorithm, malformed,
    /// or its arrays disagree with its header; <see cref="CheckpointException.Reason"/> says which.
    /// </exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static (SqlCheckpointHeader Header, SqlLearnerState State, ReplayBuffer? Replay) Load(string path)
    {
        var (header, state, replay, _) = ReadChecked(path, r => ReadBody(r, ParseHeader(r, r.HeaderJson)));
        return (header, state, replay);
    }

    /// <summary>
    /// Reads a checkpoint written during training, as <see cref="Load"/> does, together with the running episode's
    /// actions that a checkpoint with <see cref="SqlCheckpointHeader.Progress"/> stores (empty without progress).
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>Everything the file holds.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">The file is missing, damaged, of another algorithm or inconsistent, as for <see cref="Load"/>.</exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static SqlTrainingCheckpoint LoadTraining(string path)
    {
        var (header, state, replay, actions) = ReadChecked(path, r => ReadBody(r, ParseHeader(r, r.HeaderJson)));
        return new SqlTrainingCheckpoint(header, state, replay, actions);
    }

    /// <summary>
    /// The <c>"algorithm"</c> field of any checkpoint in this framing (<c>"sql"</c>, <c>"sac"</c>, ...), after checking
    /// the preamble and the checksum, without reading the sections: lets a tool pick the loader.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The algorithm name the header records.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">The file is missing, cut short, damaged, or its header has no string <c>"algorithm"</c>.</exception>
    public static string PeekAlgorithm(string path) => Checkpoint.ReadAlgorithm(path);

    static void Emit(CheckpointWriter w, SqlCheckpointHeader header, SqlLearnerState s, ReplayBuffer? replay, ReadOnlySpan<float> episodeActions)
    {
        w.Floats("q", s.Q);
        w.Floats("target_q", s.TargetQ);
        w.Floats("sampler", s.Sampler);
        EmitAdam(w, "q_optimizer", s.QOptimizer);
        EmitAdam(w, "sampler_optimizer", s.SamplerOptimizer);
        w.Int64s("step", [s.Step]);
        w.UInt32s("key", [s.Key.K0, s.Key.K1]);
        if (header.Progress is not null) w.Floats("episode.actions", episodeActions);

        if (replay is not null) ReplaySections.Emit(w, replay);
    }

    // ---------- Save-side checks: the caller's arguments, reported as ArgumentException ----------

    static void CheckState(SqlCheckpointHeader header, Shapes shapes, SqlLearnerState s, ReplayBuffer? replay)
    {
        CheckArray(s.Q, "state.Q", shapes.Q, shapes);
        CheckArray(s.TargetQ, "state.TargetQ", shapes.Q, shapes);
        CheckArray(s.Sampler, "state.Sampler", shapes.Sampler, shapes);
        CheckAdam(s.QOptimizer, "state.QOptimizer", shapes.Q, shapes);
        CheckAdam(s.SamplerOptimizer, "state.SamplerOptimizer", shapes.Sampler, shapes);
        if (s.Step < 0)
            throw new ArgumentException($"state.Step must be zero or more, got {s.Step}.", "state");
        if (replay is not null && (replay.ObservationSize != header.ObservationSize || replay.ActionSize != header.ActionSize))
            throw new ArgumentException(
                $"The replay buffer stores observations of {replay.ObservationSize} and actions of {replay.ActionSize}, but the header says {header.ObservationSize} and {header.ActionSize}.",
                nameof(replay));
    }

    static void CheckArray(float[]? values, string name, Expected expected, Shapes shapes)
    {
        if (values is null)
            throw new ArgumentException($"{name} is null; a checkpoint needs {expected.Description} floats there.", "state");
        if (values.Length != expected.Count)
            throw new ArgumentException($"{name} has {values.Length} floats, but the header {shapes.Context} needs {expected.Description}.", "state");
    }

    static void CheckAdam(AdamState adam, string name, Expected expected, Shapes shapes)
    {
        CheckArray(adam.FirstMoment, name + ".FirstMoment", expected, shapes);
        CheckArray(adam.SecondMoment, name + ".SecondMoment", expected, shapes);
        if (adam.Step < 0)
            throw new ArgumentException($"{name}.Step must be zero or more, got {adam.Step}.", "state");
    }

    // ---------- Load ----------

    static string? AlgorithmOf(CheckpointReader r, byte[] json)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(StrictUtf8.GetString(json));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            return doc.RootElement.TryGetProperty("algorithm", out JsonElement a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        }
        catch (DecoderFallbackException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid UTF-8: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid JSON: {e.Message}", e);
        }
    }

    static SqlCheckpointHeader ParseHeader(CheckpointReader r, byte[] json)
    {
        // Name another algorithm's checkpoint plainly instead of reporting its fields as unknown.
        string? algorithm = AlgorithmOf(r, json);
        if (algorithm is not null && algorithm != AlgorithmName)
            throw r.Fail(CheckpointFailure.Malformed, $"this is a \"{algorithm}\" checkpoint, not a Soft Q-Learning (\"{AlgorithmName}\") one.");
        try
        {
            return JsonSerializer.Deserialize<SqlCheckpointHeader>(StrictUtf8.GetString(json), HeaderJson)
                ?? throw r.Fail(CheckpointFailure.Malformed, "the header is JSON null, not an object.");
        }
        catch (DecoderFallbackException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid UTF-8: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not a valid Soft Q-Learning checkpoint header: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header has an invalid field: {e.Message}", e);
        }
    }

    static (SqlCheckpointHeader, SqlLearnerState, ReplayBuffer?, float[]) ReadBody(CheckpointReader r, SqlCheckpointHeader header)
    {
        Shapes shapes;
        try
        {
            shapes = new Shapes(header);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.ShapeMismatch, $"the header's sizes do not describe networks this build can hold: {e.Message}");
        }

        float[] q = Floats(r, "q", shapes.Q, shapes);
        float[] targetQ = Floats(r, "target_q", shapes.Q, shapes);
        float[] sampler = Floats(r, "sampler", shapes.Sampler, shapes);
        AdamState qAdam = ReadAdam(r, "q_optimizer", shapes.Q, shapes);
        AdamState samplerAdam = ReadAdam(r, "sampler_optimizer", shapes.Sampler, shapes);
        long step = NonNegative(r, "step", Int64s(r, "step", 1)[0]);
        long at = r.Position;
        long keyCount = r.SectionHead("key", CheckpointSectionType.UInt32);
        if (keyCount != 2)
            throw r.Fail(CheckpointFailure.Malformed, $"section 'key' (section {at}) has {keyCount} elements, expected 2 (K0, K1).");
        uint[] key = r.UInt32s("key", keyCount);
        float[] episodeActions = header.Progress is { } progress
            ? Floats(r, "episode.actions",
                new Expected((long)progress.EpisodeLength * header.ActionSize,
                    $"{(long)progress.EpisodeLength * header.ActionSize} (the running episode's {progress.EpisodeLength} steps x action size {header.ActionSize})",
                    CheckpointFailure.ShapeMismatch), shapes)
            : [];

        ReplayBuffer? replay = r.Remaining > 0 ? ReplaySections.Read(r, header.ObservationSize, header.ActionSize, shapes.Context) : null;
        if (r.Remaining != 0)
            throw r.Fail(CheckpointFailure.Malformed, $"{r.Remaining} unexpected sections follow the last one, from section {r.Position}.");

        var state = new SqlLearnerState(q, targetQ, sampler, qAdam, samplerAdam, step, new PhiloxKey(key[0], key[1]));
        return (header, state, replay, episodeActions);
    }

    static float[] Floats(CheckpointReader r, string name, Expected expected, Shapes shapes)
    {
        long count = r.SectionHead(name, CheckpointSectionType.Float32);
        if (count != expected.Count)
            throw r.Fail(expected.Reason, $"section '{name}' has {count} floats, expected {expected.Description} {shapes.Context}.");
        return r.Floats(name, count);
    }

    static AdamState ReadAdam(CheckpointReader r, string name, Expected expected, Shapes shapes)
    {
        long step = NonNegative(r, name + ".step", Int64s(r, name + ".step", 1)[0]);
        float[] first = Floats(r, name + ".first_moment", expected, shapes);
        float[] second = Floats(r, name + ".second_moment", expected, shapes);
        return new AdamState(step, first, second);
    }

    /// <summary>A length the header implies, how to explain it, and what a mismatch is called.</summary>
    readonly record struct Expected(long Count, string Description, CheckpointFailure Reason);

    /// <summary>The array lengths a header implies, with the wording the error messages use.</summary>
    sealed class Shapes
    {
        public Shapes(SqlCheckpointHeader header)
        {
            int obs = header.ObservationSize, act = header.ActionSize;
            int[] hidden = [.. header.HiddenSizes];
            int[] samplerHidden = [.. header.SamplerHiddenSizes];
            Context = $"for observation size {obs}, action size {act}, hidden [{string.Join(", ", hidden)}], sampler hidden [{string.Join(", ", samplerHidden)}]";
            if ((long)obs + act > int.MaxValue)
                throw new ArgumentException($"observation size {obs} and action size {act} are too large for a network input.");
            int[] qSizes = [obs + act, .. hidden, 1];
            int[] samplerSizes = [obs + act, .. samplerHidden, act];
            int qCount = new MlpSpec(qSizes).ParameterCount;
            int samplerCount = new MlpSpec(samplerSizes).ParameterCount;
            Q = new(qCount, $"{qCount} (the Q MLP [{string.Join(", ", qSizes)}])", CheckpointFailure.ShapeMismatch);
            Sampler = new(samplerCount, $"{samplerCount} (the sampler MLP [{string.Join(", ", samplerSizes)}])", CheckpointFailure.ShapeMismatch);
        }

        public Expected Q { get; }

        public Expected Sampler { get; }

        /// <summary>The sizes behind the expectations, for messages.</summary>
        public string Context { get; }
    }
}
