using System;
using System.Collections.Generic;
using System.Buffers;
using System.Buffers.Binary;
using System.IO;
using System.Text;
using System.Text.Json;
using Sac.Core.Config;
using Sac.Core.Data;
using Sac.Core.Networks;
using Sac.Core.Optim;
using Sac.Core.Random;

using static Sac.Core.Runs.CheckpointFraming;

namespace Sac.Core.Runs;

/// <summary>
/// Saves and loads a SAC learner (and optionally its replay buffer) as a versioned, checksummed binary file. Saving is
/// atomic; loading checks everything and reports any problem as a <see cref="CheckpointException"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Format, version 1.</b> All integers and floats are little-endian.
/// <list type="number">
/// <item>Preamble: the 8 bytes <c>SACFCKPT</c>; the format version (uint32, 1); the total file length in bytes
/// (uint64), so a file cut short is told apart from a damaged one.</item>
/// <item>Header: its length (uint32) and a UTF-8 JSON object, <see cref="CheckpointHeader"/> with camelCase keys.</item>
/// <item>Sections, each a name (one length byte and ASCII), an element type (one byte: 1 float32, 2 int64,
/// 3 uint32), an element count (uint64) and the elements, in this order: <c>actor</c>, <c>critic</c>,
/// <c>target_critic</c>, then for V1 only <c>value</c> and <c>target_value</c>; for each optimizer (<c>actor_optimizer</c>,
/// <c>critic_optimizer</c>, <c>alpha_optimizer</c>, and for V1 <c>value_optimizer</c>) the sections
/// <c>NAME.step</c> (int64), <c>NAME.first_moment</c> and <c>NAME.second_moment</c>; <c>log_alpha</c> (one float32),
/// <c>step</c> (one int64), <c>key</c> (uint32 <c>K0</c>, <c>K1</c>). When a replay buffer is saved, there follow
/// <c>replay.shape</c> (int64 capacity, observation size, action size, total added), <c>replay.observations</c>,
/// <c>replay.actions</c>, <c>replay.rewards</c>, <c>replay.next_observations</c>, <c>replay.terminated</c> and
/// <c>replay.truncated</c> (float32, the buffer's stored slots).</item>
/// <item>The CRC-32 (IEEE, <see cref="Crc32"/>) of every byte before it, as uint32.</item>
/// </list>
/// </para>
/// <para>
/// Array lengths follow from the header: the actor is the MLP <c>[obs, hidden..., 2 * act]</c>, each Q-network
/// <c>[obs + act, hidden..., 1]</c> (the twin critic is two of them), the value network <c>[obs, hidden..., 1]</c>, with
/// <see cref="MlpSpec.ParameterCount"/> parameters each.
/// </para>
/// </remarks>
public static class Checkpoint
{
    /// <summary>
    /// The format version this build writes and the only one it reads: 2, the safetensors-compatible
    /// <see cref="TensorFile"/> shared by every algorithm (version 1 was the older <c>SACFCKPT</c> binary layout).
    /// </summary>
    public const uint FormatVersion = 2;

    /// <summary>The metadata key under which trainers store the run's resolved configuration as JSON.</summary>
    public const string ConfigMetadataKey = "config";

    /// <summary>The string metadata of a checkpoint (verified as <see cref="Load"/> does): format, version,
    /// algorithm, environment id, sizes, header, checksum and whatever the writer added, such as
    /// <see cref="ConfigMetadataKey"/>.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The metadata.</returns>
    /// <exception cref="CheckpointException">The file is missing, damaged or not a checkpoint.</exception>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path) => TensorFile.Read(path).Metadata;

    /// <summary>The conventional file name of a run's last checkpoint, as <c>sac train</c> writes it.</summary>
    public const string FinalFileName = "final.ckpt";

    /// <summary>
    /// Writes <paramref name="state"/> (and <paramref name="replay"/>, when given) to <paramref name="path"/>
    /// atomically: the file is written as <c>path + ".tmp"</c>, flushed to the disk, then renamed over
    /// <paramref name="path"/>, so a crash or error while saving leaves any previous checkpoint there intact.
    /// </summary>
    /// <remarks>Everything is checked before the file is opened, so a rejected state writes nothing at all.</remarks>
    /// <param name="path">The checkpoint file to create or replace; its directory must exist.</param>
    /// <param name="header">What the checkpoint holds; its sizes must match every array of <paramref name="state"/>.</param>
    /// <param name="state">The learner. Its arrays are only read.</param>
    /// <param name="replay">The replay buffer to save with it, or null; its observation and action sizes must match the header.</param>
    /// <param name="episodeActions">With <see cref="CheckpointHeader.Progress"/>: the running episode's actions,
    /// <c>EpisodeLength x ActionSize</c>, from which a resumed run rebuilds the environment's state; empty otherwise.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="header"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="path"/> is empty or a directory; an array of <paramref name="state"/> is null or has a length the
    /// header does not imply; the value networks are present in a V2 state or missing in a V1 one; a step count is
    /// negative; or the replay sizes differ from the header's (the message names the field and both sizes).
    /// </exception>
    /// <exception cref="IOException">The file cannot be written; the previous one, if any, is unchanged.</exception>
    public static void Save(string path, CheckpointHeader header, LearnerState state, ReplayBuffer? replay = null, ReadOnlyMemory<float> episodeActions = default) =>
        Save(path, header, state, replay, episodeActions, null);

    /// <summary>As <see cref="Save(string, CheckpointHeader, LearnerState, ReplayBuffer?, ReadOnlyMemory{float})"/>,
    /// with more string metadata stored in the file (for example <see cref="ConfigMetadataKey"/>, the resolved
    /// configuration, which <see cref="ReadMetadata"/> returns).</summary>
    /// <param name="path">The checkpoint file to create or replace.</param>
    /// <param name="header">What the checkpoint holds.</param>
    /// <param name="state">The learner.</param>
    /// <param name="replay">The replay buffer, or null.</param>
    /// <param name="episodeActions">The running episode's actions (with progress), or empty.</param>
    /// <param name="metadata">Extra metadata; the format's own keys cannot be overridden.</param>
    public static void Save(string path, CheckpointHeader header, LearnerState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata)
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
        Write(path, "SAC", headerJson, w => Emit(w, header, state, replay, episodeActions.Span), metadata);
    }

    /// <summary>
    /// Reads a checkpoint written by <see cref="Save(string, CheckpointHeader, LearnerState, ReplayBuffer?, ReadOnlyMemory{float})"/>, checking the magic bytes, version, length, checksum, header
    /// and the length of every array against the sizes the header declares.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The header, the learner state (owning fresh arrays), and the replay buffer if one was saved, otherwise null.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">
    /// The file is missing, cut short, not a checkpoint, of another format version, damaged, malformed, or its arrays
    /// disagree with its header; <see cref="CheckpointException.Reason"/> says which, and the message names the file
    /// and what exactly was wrong.
    /// </exception>
    /// <exception cref="IOException">The file exists but cannot be read (an I/O error, not a problem with its contents).</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static (CheckpointHeader Header, LearnerState State, ReplayBuffer? Replay) Load(string path)
    {
        var (header, state, replay, _) = ReadChecked(path, r => Read(r));
        return (header, state, replay);
    }

    /// <summary>
    /// Reads a checkpoint written during training, as <see cref="Load"/> does, together with the running episode's
    /// actions that a checkpoint with <see cref="CheckpointHeader.Progress"/> stores (empty without progress).
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>Everything the file holds.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">The file is missing, damaged or inconsistent, as for <see cref="Load"/>.</exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static TrainingCheckpoint LoadTraining(string path)
    {
        var (header, state, replay, actions) = ReadChecked(path, r => Read(r));
        return new TrainingCheckpoint(header, state, replay, actions);
    }

    static void Emit(CheckpointWriter w, CheckpointHeader header, LearnerState s, ReplayBuffer? replay, ReadOnlySpan<float> episodeActions)
    {
        w.Floats("actor", s.Actor);
        w.Floats("critic", s.Critic);
        w.Floats("target_critic", s.TargetCritic);
        bool v1 = IsV1(header);
        if (v1)
        {
            w.Floats("value", s.Value!);
            w.Floats("target_value", s.TargetValue!);
        }
        EmitAdam(w, "actor_optimizer", s.ActorOptimizer);
        EmitAdam(w, "critic_optimizer", s.CriticOptimizer);
        EmitAdam(w, "alpha_optimizer", s.AlphaOptimizer);
        if (v1) EmitAdam(w, "value_optimizer", s.ValueOptimizer!.Value);
        w.Floats("log_alpha", [s.LogAlpha]);
        w.Int64s("step", [s.Step]);
        w.UInt32s("key", [s.Key.K0, s.Key.K1]);
        if (header.Progress is not null) w.Floats("episode.actions", episodeActions);

        if (replay is not null) ReplaySections.Emit(w, replay);
    }

    static bool IsV1(CheckpointHeader header) => header.Variant == nameof(SacVariant.V1);

    // ---------- Save-side checks: the caller's arguments, reported as ArgumentException ----------

    static void CheckState(CheckpointHeader header, Shapes shapes, LearnerState s, ReplayBuffer? replay)
    {
        CheckArray(s.Actor, "state.Actor", shapes.Actor, shapes);
        CheckArray(s.Critic, "state.Critic", shapes.Critic, shapes);
        CheckArray(s.TargetCritic, "state.TargetCritic", shapes.Critic, shapes);
        CheckAdam(s.ActorOptimizer, "state.ActorOptimizer", shapes.Actor, shapes);
        CheckAdam(s.CriticOptimizer, "state.CriticOptimizer", shapes.Critic, shapes);
        CheckAdam(s.AlphaOptimizer, "state.AlphaOptimizer", Shapes.LogAlpha, shapes);

        if (IsV1(header))
        {
            string missing = s.Value is null ? "state.Value" : s.TargetValue is null ? "state.TargetValue" : s.ValueOptimizer is null ? "state.ValueOptimizer" : "";
            if (missing.Length > 0)
                throw new ArgumentException($"{missing} is null, but the header's variant is V1, whose checkpoint includes the value network.", "state");
            CheckArray(s.Value, "state.Value", shapes.Value, shapes);
            CheckArray(s.TargetValue, "state.TargetValue", shapes.Value, shapes);
            CheckAdam(s.ValueOptimizer!.Value, "state.ValueOptimizer", shapes.Value, shapes);
        }
        else if (s.Value is not null || s.TargetValue is not null || s.ValueOptimizer is not null)
        {
            throw new ArgumentException(
                $"The state has a value network (Value, TargetValue or ValueOptimizer is set), but the header's variant is {header.Variant}, which has none; use \"V1\" or drop them.",
                "state");
        }

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
            throw new ArgumentException(
                $"{name} has {values.Length} floats, but the header {shapes.Context} needs {expected.Description}.", "state");
    }

    static void CheckAdam(AdamState adam, string name, Expected expected, Shapes shapes)
    {
        CheckArray(adam.FirstMoment, name + ".FirstMoment", expected, shapes);
        CheckArray(adam.SecondMoment, name + ".SecondMoment", expected, shapes);
        if (adam.Step < 0)
            throw new ArgumentException($"{name}.Step must be zero or more, got {adam.Step}.", "state");
    }

    // ---------- Load ----------

    /// <summary>
    /// The algorithm a checkpoint file was written by (its header's <c>algorithm</c>, such as <c>"sac"</c>), after the
    /// same preamble and checksum checks as <see cref="Load"/>; lets a caller pick the loader before loading.
    /// </summary>
    /// <exception cref="CheckpointException">The file is missing, not a checkpoint, damaged, or its header names no algorithm.</exception>
    public static string ReadAlgorithm(string path) =>
        ReadChecked(path, r =>
        {
            byte[] json = r.HeaderJson;
            try
            {
                using var doc = JsonDocument.Parse(json);
                if (doc.RootElement.ValueKind == JsonValueKind.Object
                    && doc.RootElement.TryGetProperty("algorithm", out var a) && a.ValueKind == JsonValueKind.String
                    && a.GetString() is { Length: > 0 } name)
                    return name;
            }
            catch (JsonException e)
            {
                throw new CheckpointException(path, CheckpointFailure.Malformed, $"the header is not valid JSON: {e.Message}", e);
            }
            throw new CheckpointException(path, CheckpointFailure.Malformed, "the header names no algorithm.");
        });

    static (CheckpointHeader, LearnerState, ReplayBuffer?, float[]) Read(CheckpointReader r)
    {
        CheckpointHeader header = ParseHeader(r, r.HeaderJson);
        Shapes shapes;
        try
        {
            shapes = new Shapes(header);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.ShapeMismatch, $"the header's sizes do not describe networks this build can hold: {e.Message}");
        }

        float[] actor = Floats(r, "actor", shapes.Actor, shapes);
        float[] critic = Floats(r, "critic", shapes.Critic, shapes);
        float[] targetCritic = Floats(r, "target_critic", shapes.Critic, shapes);
        bool v1 = IsV1(header);
        float[]? value = v1 ? Floats(r, "value", shapes.Value, shapes) : null;
        float[]? targetValue = v1 ? Floats(r, "target_value", shapes.Value, shapes) : null;
        AdamState actorAdam = ReadAdam(r, "actor_optimizer", shapes.Actor, shapes);
        AdamState criticAdam = ReadAdam(r, "critic_optimizer", shapes.Critic, shapes);
        AdamState alphaAdam = ReadAdam(r, "alpha_optimizer", Shapes.LogAlpha, shapes);
        AdamState? valueAdam = v1 ? ReadAdam(r, "value_optimizer", shapes.Value, shapes) : null;
        float logAlpha = Floats(r, "log_alpha", Shapes.LogAlpha, shapes)[0];
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

        var state = new LearnerState(
            actor, critic, targetCritic, value, targetValue,
            actorAdam, criticAdam, alphaAdam, valueAdam,
            logAlpha, step, new PhiloxKey(key[0], key[1]));
        return (header, state, replay, episodeActions);
    }

    static CheckpointHeader ParseHeader(CheckpointReader r, byte[] json)
    {
        try
        {
            string text = StrictUtf8.GetString(json);
            return JsonSerializer.Deserialize<CheckpointHeader>(text, HeaderJson)
                ?? throw r.Fail(CheckpointFailure.Malformed, "the header is JSON null, not an object.");
        }
        catch (DecoderFallbackException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid UTF-8: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not a valid checkpoint header: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header has an invalid field: {e.Message}", e);
        }
    }

    static float[] Floats(CheckpointReader r, string name, Expected expected, Shapes shapes)
    {
        long count = r.SectionHead(name, CheckpointSectionType.Float32);
        if (count != expected.Count)
            throw r.Fail(expected.Reason,
                $"section '{name}' has {count} floats, expected {expected.Description} {shapes.Context}.");
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
        public static readonly Expected LogAlpha = new(1, "1 (log alpha is a single number)", CheckpointFailure.Malformed);

        public Shapes(CheckpointHeader header)
        {
            int obs = header.ObservationSize, act = header.ActionSize;
            int[] hidden = [.. header.HiddenSizes];
            string hiddenText = string.Join(", ", hidden);
            Context = $"for observation size {obs}, action size {act}, hidden [{hiddenText}]";
            // Sums in long: an int overflow here would make a bogus header look consistent.
            if ((long)obs + act > int.MaxValue || 2L * act > int.MaxValue)
                throw new ArgumentException($"observation size {obs} and action size {act} are too large for a network input or output.");

            int[] actorSizes = [obs, .. hidden, 2 * act];
            int[] qSizes = [obs + act, .. hidden, 1];
            int[] valueSizes = [obs, .. hidden, 1];
            int actorCount = new MlpSpec(actorSizes).ParameterCount;
            int qCount = new MlpSpec(qSizes).ParameterCount;
            int valueCount = new MlpSpec(valueSizes).ParameterCount;
            if (2L * qCount > Array.MaxLength)
                throw new ArgumentException($"two Q-networks of {qCount} parameters exceed the largest array.");

            Actor = new(actorCount, $"{actorCount} (the actor MLP [{string.Join(", ", actorSizes)}])", CheckpointFailure.ShapeMismatch);
            Critic = new(2L * qCount, $"2 x {qCount} = {2L * qCount} (twin Q MLPs [{string.Join(", ", qSizes)}])", CheckpointFailure.ShapeMismatch);
            Value = new(valueCount, $"{valueCount} (the value MLP [{string.Join(", ", valueSizes)}])", CheckpointFailure.ShapeMismatch);
        }

        public Expected Actor { get; }

        public Expected Critic { get; }

        public Expected Value { get; }

        /// <summary>The sizes behind the expectations, for messages: "for observation size 3, action size 1, hidden [8, 8]".</summary>
        public string Context { get; }
    }
}
