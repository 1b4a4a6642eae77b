using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
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
/// What a DQN-family checkpoint holds, stored as JSON at the start of the file: the algorithm and environment, and the
/// sizes that fix the length of every array. Every field is checked when it is set, and a bad value throws
/// <see cref="ArgumentException"/> naming the field. Records compare by value, <see cref="HiddenSizes"/> included.
/// </summary>
/// <param name="Algorithm">
/// <c>"dqn"</c>, <c>"double-dqn"</c> or <c>"soft-dqn"</c> (see <see cref="DqnCheckpoint.AlgorithmName"/>).
/// </param>
/// <param name="EnvironmentId">The environment it was trained on, such as <c>"CartPole-v1"</c>; not blank.</param>
/// <param name="ObservationSize">Length of one observation; at least 1.</param>
/// <param name="ActionCount">Number of discrete actions, the Q-network's outputs; at least 1.</param>
/// <param name="HiddenSizes">Hidden layer widths of the Q-network; non-empty, each at least 1.</param>
/// <param name="EnvironmentSteps">Environment steps taken when the checkpoint was written; zero or more.</param>
public sealed record DqnCheckpointHeader(
    string Algorithm,
    string EnvironmentId,
    int ObservationSize,
    int ActionCount,
    IReadOnlyList<int> HiddenSizes,
    long EnvironmentSteps)
{
    /// <summary><c>"dqn"</c>, <c>"double-dqn"</c> or <c>"soft-dqn"</c>.</summary>
    public string Algorithm { get; init => field = CheckAlgorithm(value); } = CheckAlgorithm(Algorithm);

    /// <summary>The environment the learner was trained on; not blank.</summary>
    public string EnvironmentId { get; init => field = NotBlank(value, nameof(EnvironmentId)); } = NotBlank(EnvironmentId, nameof(EnvironmentId));

    /// <summary>Length of one observation; at least 1.</summary>
    public int ObservationSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ObservationSize)); }
        = ConfigChecks.AtLeast(ObservationSize, 1, nameof(ObservationSize));

    /// <summary>Number of discrete actions; at least 1.</summary>
    public int ActionCount { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ActionCount)); }
        = ConfigChecks.AtLeast(ActionCount, 1, nameof(ActionCount));

    /// <summary>Hidden layer widths of the Q-network; non-empty, each at least 1. Copied when set and compared by contents.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = ConfigChecks.Sizes(HiddenSizes, nameof(HiddenSizes));

    /// <summary>Environment steps taken when the checkpoint was written; zero or more.</summary>
    public long EnvironmentSteps { get; init => field = NotNegative(value, nameof(EnvironmentSteps)); }
        = NotNegative(EnvironmentSteps, nameof(EnvironmentSteps));

    /// <summary>The variant <see cref="Algorithm"/> names (derived, not stored in the file).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public DqnVariant Variant => DqnCheckpoint.VariantOf(Algorithm);

    /// <summary>
    /// The training loop's counters when the checkpoint was written, for resuming; null in a checkpoint of a learner
    /// alone (such as one written by a script, or by a build before training checkpoints). A checkpoint with progress
    /// also stores the running episode's <see cref="TrainingProgress.EpisodeLength"/> actions. Its
    /// <see cref="TrainingProgress.LastMetrics"/> holds the latest update's metrics in the order
    /// <see cref="DqnCheckpoint.MetricNames"/> lists: TD loss, mean Q, mean target, entropy.
    /// </summary>
    public TrainingProgress? Progress { get; init; }

    static string CheckAlgorithm(string value)
    {
        if (!DqnCheckpoint.IsDqnAlgorithm(value))
            throw new ArgumentException(
                $"{nameof(Algorithm)} must be \"dqn\", \"double-dqn\" or \"soft-dqn\", got {(value is null ? "null" : $"\"{value}\"")}.",
                nameof(Algorithm));
        return value;
    }

    static string NotBlank(string value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentException($"{name} must not be null or blank, got {(value is null ? "null" : $"'{value}'")}.", name);
        return value;
    }

    static long NotNegative(long value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be zero or more, got {value}.", name);
}

/// <summary>
/// Saves and loads a DQN-family learner (<see cref="DqnLearnerState"/>) in the framing of <see cref="Checkpoint"/>:
/// same magic, format version, length field, JSON header, named sections and CRC-32, so one file type serves every
/// algorithm and <see cref="PeekAlgorithm"/> tells which loader a file needs. Saving is atomic; loading checks
/// everything and reports any problem with the file as a <see cref="CheckpointException"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Format, version 1.</b> Little-endian. The preamble: the 8 bytes <c>SACFCKPT</c>, the format version (uint32, 1)
/// and the total file length (uint64). The header: its length (uint32) and UTF-8 JSON, a
/// <see cref="DqnCheckpointHeader"/> with camelCase keys, whose <c>algorithm</c> is <c>"dqn"</c>, <c>"double-dqn"</c>
/// or <c>"soft-dqn"</c>. Sections (a name as one length byte and ASCII, an element type byte, a uint64 count, the
/// elements), in order: <c>q_network</c> and <c>target_q_network</c> (float32, the MLP
/// <c>[obs, hidden..., actions]</c> each), <c>optimizer.step</c> (int64), <c>optimizer.first_moment</c>,
/// <c>optimizer.second_moment</c> (float32), <c>step</c> (int64), <c>key</c> (uint32 <c>K0</c>, <c>K1</c>). When the
/// header has <see cref="DqnCheckpointHeader.Progress"/> (a training checkpoint), <c>episode.actions</c> follows: the
/// running episode's action indices as float32, one per step. When a replay buffer is saved, its sections follow as in
/// <see cref="Checkpoint"/>: <c>replay.shape</c> (int64 capacity, observation size, action size 1, total added) and the
/// six <c>replay.*</c> float32 arrays, each action stored as its index. Last, the CRC-32 of every byte before it.
/// </para>
/// <para>Files written before training checkpoints existed (no progress, no replay) load unchanged.</para>
/// </remarks>
public static class DqnCheckpoint
{
    /// <summary>The header's algorithm name of <paramref name="variant"/>: <c>"dqn"</c>, <c>"double-dqn"</c> or <c>"soft-dqn"</c>, as <c>sac train --algo</c> spells them.</summary>
    /// <param name="variant">A defined variant.</param>
    /// <returns>The name.</returns>
    /// <exception cref="ArgumentException"><paramref name="variant"/> is not a defined value.</exception>
    public static string AlgorithmName(DqnVariant variant) => variant switch
    {
        DqnVariant.Dqn => "dqn",
        DqnVariant.DoubleDqn => "double-dqn",
        DqnVariant.SoftDqn => "soft-dqn",
        _ => throw new ArgumentException($"variant is {(int)variant}, not a defined DqnVariant.", nameof(variant)),
    };

    /// <summary>The variant an algorithm name stands for; the inverse of <see cref="AlgorithmName"/>.</summary>
    /// <param name="algorithm"><c>"dqn"</c>, <c>"double-dqn"</c> or <c>"soft-dqn"</c> (exact spelling).</param>
    /// <returns>The variant.</returns>
    /// <exception cref="ArgumentException">Any other name.</exception>
    public static DqnVariant VariantOf(string algorithm) => algorithm switch
    {
        "dqn" => DqnVariant.Dqn,
        "double-dqn" => DqnVariant.DoubleDqn,
        "soft-dqn" => DqnVariant.SoftDqn,
        _ => throw new ArgumentException($"'{algorithm}' is not a DQN-family algorithm; expected dqn, double-dqn or soft-dqn.", nameof(algorithm)),
    };

    /// <summary>Whether <paramref name="algorithm"/> is one of the names <see cref="AlgorithmName"/> returns.</summary>
    /// <param name="algorithm">An algorithm name, or null.</param>
    /// <returns>True for <c>"dqn"</c>, <c>"double-dqn"</c> and <c>"soft-dqn"</c>.</returns>
    public static bool IsDqnAlgorithm(string? algorithm) => algorithm is "dqn" or "double-dqn" or "soft-dqn";

    /// <summary>
    /// The order of the metrics a training checkpoint's <see cref="TrainingProgress.LastMetrics"/> holds: the update's
    /// mean TD loss, mean Q(s, a) over the taken actions, mean TD target, and mean Boltzmann entropy (0 outside soft DQN).
    /// </summary>
    public static IReadOnlyList<string> MetricNames { get; } = Array.AsReadOnly(["td_loss", "mean_q", "mean_target", "entropy"]);

    /// <summary>
    /// Writes <paramref name="state"/> to <paramref name="path"/> atomically (<see cref="AtomicFile"/>): a crash or an
    /// error while saving leaves any previous file there intact. Everything is checked before the file is opened.
    /// </summary>
    /// <param name="path">The checkpoint file to create or replace; its directory must exist.</param>
    /// <param name="header">What the checkpoint holds; its sizes must match every array of <paramref name="state"/>.</param>
    /// <param name="state">The learner; its arrays are only read.</param>
    /// <param name="replay">The replay buffer to save with it (observations of the header's size, one action index per
    /// transition), or null.</param>
    /// <param name="episodeActions">With <see cref="DqnCheckpointHeader.Progress"/>: the running episode's action
    /// indices, <c>EpisodeLength</c> of them, from which a resumed run rebuilds the environment's state; empty otherwise.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="header"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="path"/> is empty or a directory, an array is null or has a length the header does not imply, a
    /// step count is negative, the replay buffer's sizes differ from the header's, or the episode's actions are not
    /// <c>EpisodeLength</c> action indices (the message names the field and both sizes).
    /// </exception>
    /// <exception cref="IOException">The file cannot be written; the previous one, if any, is unchanged.</exception>
    public static void Save(string path, DqnCheckpointHeader header, DqnLearnerState state, ReplayBuffer? replay = null, ReadOnlyMemory<float> episodeActions = default) =>
        Save(path, header, state, replay, episodeActions, null);

    /// <summary>As the overload without metadata, with more string metadata stored in the file (such as
    /// <see cref="Checkpoint.ConfigMetadataKey"/>, the resolved configuration; see <see cref="Checkpoint.ReadMetadata"/>).</summary>
    /// <param name="path">The checkpoint file to create or replace.</param>
    /// <param name="header">What the checkpoint holds.</param>
    /// <param name="state">The learner.</param>
    /// <param name="replay">The replay buffer, or null.</param>
    /// <param name="episodeActions">The running episode's actions (with progress), or empty.</param>
    /// <param name="metadata">Extra metadata; the format's own keys cannot be overridden.</param>
    public static void Save(string path, DqnCheckpointHeader header, DqnLearnerState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(header);
        Expected q;
        try
        {
            q = QShape(header);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The header's sizes cannot describe a Q-network: {e.Message}", nameof(header), e);
        }
        CheckArray(state.QNetwork, "state.QNetwork", q);
        CheckArray(state.TargetQNetwork, "state.TargetQNetwork", q);
        CheckArray(state.Optimizer.FirstMoment, "state.Optimizer.FirstMoment", q);
        CheckArray(state.Optimizer.SecondMoment, "state.Optimizer.SecondMoment", q);
        if (state.Optimizer.Step < 0)
            throw new ArgumentException($"state.Optimizer.Step must be zero or more, got {state.Optimizer.Step}.", nameof(state));
        if (state.Step < 0)
            throw new ArgumentException($"state.Step must be zero or more, got {state.Step}.", nameof(state));
        if (replay is not null && (replay.ObservationSize != header.ObservationSize || replay.ActionSize != 1))
            throw new ArgumentException(
                $"The replay buffer stores observations of {replay.ObservationSize} and actions of {replay.ActionSize}, but the header needs {header.ObservationSize} and 1 (an action index).",
                nameof(replay));
        CheckEpisodeActions(header, episodeActions.Span);

        byte[] headerJson = JsonSerializer.SerializeToUtf8Bytes(header, HeaderJson);
        Write(path, "DQN", headerJson, w => Emit(w, header, state, replay, episodeActions.Span), metadata);
    }

    static void CheckEpisodeActions(DqnCheckpointHeader header, ReadOnlySpan<float> actions)
    {
        long expected = header.Progress is { } p ? p.EpisodeLength : 0;
        if (actions.Length != expected)
            throw new ArgumentException(
                header.Progress is null
                    ? $"episodeActions has {actions.Length} values, but the header has no Progress; only a checkpoint with progress stores the running episode's actions."
                    : $"episodeActions has {actions.Length} values, but the header's progress says the running episode has {expected} steps (one action index each).",
                "episodeActions");
        int bad = FirstInvalidAction(actions, header.ActionCount);
        if (bad >= 0)
            throw new ArgumentException($"episodeActions[{bad}] is {actions[bad]}; an action must be an integer index in [0, {header.ActionCount}).", "episodeActions");
    }

    /// <summary>The first value that is not an integer in <c>[0, actionCount)</c>, or -1.</summary>
    static int FirstInvalidAction(ReadOnlySpan<float> actions, int actionCount)
    {
        for (int i = 0; i < actions.Length; i++)
        {
            float a = actions[i];
            if (!(a >= 0 && a < actionCount && a == MathF.Floor(a))) return i;
        }
        return -1;
    }

    /// <summary>
    /// Reads a checkpoint written by <see cref="Save(string, DqnCheckpointHeader, DqnLearnerState, ReplayBuffer?, ReadOnlyMemory{float})"/>, checking the magic bytes, version, length, checksum, header
    /// and the length of every array against the sizes the header declares.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The header and the learner state (owning fresh arrays).</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">
    /// The file is missing, cut short, not a checkpoint, of another format version, damaged, malformed, a checkpoint of
    /// another algorithm (such as SAC; <see cref="Checkpoint.Load"/> reads those), or its arrays disagree with its
    /// header; <see cref="CheckpointException.Reason"/> says which.
    /// </exception>
    /// <exception cref="IOException">The file exists but cannot be read (an I/O error, not a problem with its contents).</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static (DqnCheckpointHeader Header, DqnLearnerState State) Load(string path)
    {
        var (header, state, _, _) = ReadChecked(path, r => Read(r));
        return (header, state);
    }

    /// <summary>
    /// Reads a checkpoint written during training, with the same checks as <see cref="Load"/>, together with the
    /// replay buffer when one was saved and the running episode's actions that a checkpoint with
    /// <see cref="DqnCheckpointHeader.Progress"/> stores. A checkpoint of a learner alone loads too: no progress, no
    /// replay buffer, no actions.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>Everything the file holds.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">The file is missing, damaged or inconsistent, as for <see cref="Load"/>.</exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static DqnTrainingCheckpoint LoadTraining(string path)
    {
        var (header, state, replay, actions) = ReadChecked(path, r => Read(r));
        return new DqnTrainingCheckpoint(header, state, replay, actions);
    }

    /// <summary>
    /// The <c>algorithm</c> field of any Sac.Functional checkpoint's header (<c>"sac"</c>, <c>"dqn"</c>, ...), after the
    /// same integrity checks as a load (magic, version, length, checksum), so a caller can pick the loader.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The algorithm name as stored.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">The file is missing, not a checkpoint, damaged, or its header has no string <c>algorithm</c>.</exception>
    /// <exception cref="IOException">The file exists but cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file exists but this process may not read it.</exception>
    public static string PeekAlgorithm(string path) => Checkpoint.ReadAlgorithm(path);

    static void Emit(CheckpointWriter w, DqnCheckpointHeader header, DqnLearnerState s,
                     ReplayBuffer? replay, ReadOnlySpan<float> episodeActions)
    {
        w.Floats("q_network", s.QNetwork);
        w.Floats("target_q_network", s.TargetQNetwork);
        w.Int64s("optimizer.step", [s.Optimizer.Step]);
        w.Floats("optimizer.first_moment", s.Optimizer.FirstMoment);
        w.Floats("optimizer.second_moment", s.Optimizer.SecondMoment);
        w.Int64s("step", [s.Step]);
        w.UInt32s("key", [s.Key.K0, s.Key.K1]);
        if (header.Progress is not null) w.Floats("episode.actions", episodeActions);
        if (replay is not null) ReplaySections.Emit(w, replay);
    }

    /// <summary>The Q-network's parameter count for a header, with the wording messages use.</summary>
    static Expected QShape(DqnCheckpointHeader header)
    {
        int[] sizes = [header.ObservationSize, .. header.HiddenSizes, header.ActionCount];
        int count = new MlpSpec(sizes).ParameterCount;
        return new Expected(count,
            $"{count} (the Q-network MLP [{string.Join(", ", sizes)}])");
    }

    static void CheckArray(float[]? values, string name, Expected expected)
    {
        if (values is null)
            throw new ArgumentException($"{name} is null; a checkpoint needs {expected.Description} floats there.", "state");
        if (values.Length != expected.Count)
            throw new ArgumentException($"{name} has {values.Length} floats, but the header needs {expected.Description}.", "state");
    }

    static (DqnCheckpointHeader, DqnLearnerState, ReplayBuffer?, float[]) Read(CheckpointReader r)
    {
        byte[] json = r.HeaderJson;
        string algorithm = ReadAlgorithm(r, json);
        if (!IsDqnAlgorithm(algorithm))
            throw r.Fail(CheckpointFailure.Malformed,
                $"this checkpoint holds a '{algorithm}' learner, not a DQN-family one (dqn, double-dqn, soft-dqn); load it with Checkpoint.Load.");
        DqnCheckpointHeader header = ParseHeader(r, json);
        Expected q;
        try
        {
            q = QShape(header);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.ShapeMismatch, $"the header's sizes do not describe a Q-network this build can hold: {e.Message}");
        }

        float[] online = Floats(r, "q_network", q);
        float[] target = Floats(r, "target_q_network", q);
        long adamStep = NonNegative(r, "optimizer.step", Int64s(r, "optimizer.step", 1)[0]);
        float[] first = Floats(r, "optimizer.first_moment", q);
        float[] second = Floats(r, "optimizer.second_moment", q);
        long step = NonNegative(r, "step", Int64s(r, "step", 1)[0]);
        long at = r.Position;
        long keyCount = r.SectionHead("key", CheckpointSectionType.UInt32);
        if (keyCount != 2)
            throw r.Fail(CheckpointFailure.Malformed, $"section 'key' (section {at}) has {keyCount} elements, expected 2 (K0, K1).");
        uint[] key = r.UInt32s("key", keyCount);
        float[] episodeActions = [];
        if (header.Progress is { } progress)
        {
            episodeActions = Floats(r, "episode.actions",
                new Expected(progress.EpisodeLength, $"{progress.EpisodeLength} (one action index per step of the running episode)"));
            int bad = FirstInvalidAction(episodeActions, header.ActionCount);
            if (bad >= 0)
                throw r.Fail(CheckpointFailure.Malformed, $"section 'episode.actions' holds {episodeActions[bad]} at index {bad}; an action is an integer index in [0, {header.ActionCount}).");
        }

        ReplayBuffer? replay = null;
        if (r.Remaining > 0)
        {
            replay = ReplaySections.Read(r, header.ObservationSize, 1,
                $"for observation size {header.ObservationSize} and one action index per transition");
            int bad = FirstInvalidAction(replay.Actions, header.ActionCount);
            if (bad >= 0)
                throw r.Fail(CheckpointFailure.Malformed, $"section 'replay.actions' holds {replay.Actions[bad]} at index {bad}; an action is an integer index in [0, {header.ActionCount}).");
        }
        if (r.Remaining != 0)
            throw r.Fail(CheckpointFailure.Malformed, $"{r.Remaining} unexpected sections follow the last one, from section {r.Position}.");

        var state = new DqnLearnerState(online, target, new AdamState(adamStep, first, second), step, new PhiloxKey(key[0], key[1]));
        return (header, state, replay, episodeActions);
    }

    /// <summary>The header's <c>algorithm</c> string, read without binding the rest, so any algorithm's header is accepted.</summary>
    static string ReadAlgorithm(CheckpointReader r, byte[] json)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(StrictUtf8.GetString(json));
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("algorithm", out JsonElement algorithm)
                && algorithm.ValueKind == JsonValueKind.String)
                return algorithm.GetString() ?? "";
            throw r.Fail(CheckpointFailure.Malformed, "the header is not a JSON object with a string 'algorithm'.");
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

    static DqnCheckpointHeader ParseHeader(CheckpointReader r, byte[] json)
    {
        try
        {
            return JsonSerializer.Deserialize<DqnCheckpointHeader>(StrictUtf8.GetString(json), HeaderJson)
                ?? throw r.Fail(CheckpointFailure.Malformed, "the header is JSON null, not an object.");
        }
        catch (DecoderFallbackException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid UTF-8: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not a valid DQN checkpoint header: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header has an invalid field: {e.Message}", e);
        }
    }

    static float[] Floats(CheckpointReader r, string name, Expected expected)
    {
        long count = r.SectionHead(name, CheckpointSectionType.Float32);
        if (count != expected.Count)
            throw r.Fail(CheckpointFailure.ShapeMismatch, $"section '{name}' has {count} floats, expected {expected.Description}.");
        return r.Floats(name, count);
    }

    /// <summary>A length the header implies and how to explain it.</summary>
    readonly record struct Expected(long Count, string Description);
}

/// <summary>Everything a DQN-family checkpoint written during training holds.</summary>
/// <param name="Header">Algorithm, environment, sizes and, for a training checkpoint, the loop's progress.</param>
/// <param name="State">The learner, owning fresh arrays.</param>
/// <param name="Replay">The replay buffer when it was saved (one action index per transition), otherwise null.</param>
/// <param name="EpisodeActions">The running episode's action indices, <c>EpisodeLength</c> of them (empty without progress).</param>
public sealed record DqnTrainingCheckpoint(DqnCheckpointHeader Header, DqnLearnerState State, ReplayBuffer? Replay, float[] EpisodeActions);
