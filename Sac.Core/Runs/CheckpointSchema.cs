using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using Sac.Core.Data;

using static Sac.Core.Runs.CheckpointFraming;

namespace Sac.Core.Runs;

/// <summary>What every checkpoint header says, whatever the algorithm: enough to pick a loader and rebuild the run.</summary>
public interface ICheckpointHeader
{
    /// <summary>The algorithm that produced the learner, such as <c>"sac"</c>, <c>"sql"</c> or <c>"dqn"</c>.</summary>
    string Algorithm { get; }

    /// <summary>The environment the learner was trained on, such as <c>"Pendulum-v1"</c>.</summary>
    string EnvironmentId { get; }

    /// <summary>Length of one observation.</summary>
    int ObservationSize { get; }

    /// <summary>Environment steps taken when the checkpoint was written.</summary>
    long EnvironmentSteps { get; }

    /// <summary>The training loop's counters for resuming, or null in a checkpoint of a learner alone.</summary>
    TrainingProgress? Progress { get; }
}

/// <summary>Everything a checkpoint written during training holds, for any algorithm.</summary>
/// <typeparam name="THeader">The algorithm's header (<see cref="CheckpointHeader"/>, <see cref="SqlCheckpointHeader"/>,
/// <see cref="DqnCheckpointHeader"/>).</typeparam>
/// <typeparam name="TState">The algorithm's learner state.</typeparam>
/// <param name="Header">Algorithm, environment, sizes and, for a training checkpoint, the loop's progress.</param>
/// <param name="State">The learner, owning fresh arrays.</param>
/// <param name="Replay">The replay buffer when it was saved, otherwise null.</param>
/// <param name="EpisodeActions">The running episode's stored actions, <c>EpisodeLength</c> of them (empty without progress).</param>
public sealed record TrainingCheckpoint<THeader, TState>(THeader Header, TState State, ReplayBuffer? Replay, float[] EpisodeActions)
    where THeader : class, ICheckpointHeader
{
    /// <summary>The file's string metadata: the header, the configuration, and, for a run that normalises, its
    /// statistics (<see cref="Sac.Core.Data.VecNormalize.MetadataKey"/>).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// The one save and load pipeline of every algorithm's checkpoint: the argument checks, the atomic write, and the
/// verified read of the header, the learner's named tensors, the running episode's actions and the replay buffer.
/// An algorithm supplies only what is its own: the names it reads, the array lengths its header implies, and its
/// state to and from named tensors.
/// </summary>
internal abstract class CheckpointSchema<THeader, TState, TShapes>
    where THeader : class, ICheckpointHeader
    where TShapes : StateShapes
{
    /// <summary>The file's <c>checkpoint</c> metadata: <c>"SAC"</c>, <c>"SQL"</c> or <c>"DQN"</c>.</summary>
    protected abstract string Format { get; }

    /// <summary>The algorithm's name in messages: "SAC", "Soft Q-Learning", "DQN-family".</summary>
    protected abstract string Kind { get; }

    /// <summary>The header <c>algorithm</c> values this schema reads.</summary>
    protected abstract IReadOnlyList<string> Algorithms { get; }

    /// <summary>Floats per stored action: the action size, or 1 for a discrete action's index.</summary>
    protected abstract int StoredActionSize(THeader header);

    /// <summary>For discrete actions their count (stored actions must be integer indices below it); null otherwise.</summary>
    protected virtual int? ActionCount(THeader header) => null;

    /// <summary>The array lengths <paramref name="header"/> implies; <see cref="ArgumentException"/> when its sizes describe no networks.</summary>
    protected abstract TShapes ShapesOf(THeader header);

    /// <summary>Checks every array and count of <paramref name="state"/> (an <see cref="ArgumentException"/> naming the field).</summary>
    protected abstract void Check(THeader header, TShapes shapes, TState state);

    /// <summary>The learner's sections, in the order <see cref="Read"/> takes them.</summary>
    protected abstract void Emit(CheckpointWriter w, THeader header, TState state);

    /// <summary>The learner back from its sections, each checked against <paramref name="shapes"/>.</summary>
    protected abstract TState Read(CheckpointReader r, THeader header, TShapes shapes);

    /// <summary>Checks everything, then writes the checkpoint atomically; a rejected argument writes nothing.</summary>
    public void Save(string path, THeader header, TState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(header);
        TShapes shapes;
        try
        {
            shapes = ShapesOf(header);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The header's sizes cannot describe networks: {e.Message}", nameof(header), e);
        }
        Check(header, shapes, state);
        int stored = StoredActionSize(header);
        if (replay is not null && (replay.ObservationSize != header.ObservationSize || replay.ActionSize != stored))
            throw new ArgumentException(
                $"The replay buffer stores observations of {replay.ObservationSize} and actions of {replay.ActionSize}, but the header says {header.ObservationSize} and {stored}.",
                nameof(replay));
        CheckEpisodeActions(header, stored, episodeActions.Span);

        var writer = new CheckpointWriter(Format, JsonSerializer.SerializeToUtf8Bytes(header, HeaderJson), metadata);
        Emit(writer, header, state);
        if (header.Progress is not null) writer.Floats("episode.actions", episodeActions.Span);
        if (replay is not null) ReplaySections.Emit(writer, replay);
        writer.Save(path);
    }

    /// <summary>Reads and verifies a checkpoint: framing, checksum, header, and every section against the header.</summary>
    public TrainingCheckpoint<THeader, TState> Load(string path) => ReadChecked(path, r =>
    {
        THeader header = ParseHeader(r);
        TShapes shapes;
        try
        {
            shapes = ShapesOf(header);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.ShapeMismatch, $"the header's sizes do not describe networks this build can hold: {e.Message}");
        }
        TState state = Read(r, header, shapes);

        int stored = StoredActionSize(header);
        float[] episodeActions = [];
        if (header.Progress is { } progress)
        {
            long count = progress.StoredEpisodeSteps * stored;
            episodeActions = shapes.Floats(r, "episode.actions",
                new(count, $"{count} (the running episodes' {progress.StoredEpisodeSteps} steps x {stored} floats per action)"));
            RequireIndices(r, "episode.actions", episodeActions, ActionCount(header));
        }
        ReplayBuffer? replay = null;
        if (r.Remaining > 0)
        {
            replay = ReplaySections.Read(r, header.ObservationSize, stored, shapes.Context);
            RequireIndices(r, "replay.actions", replay.Actions, ActionCount(header));
        }
        if (r.Remaining != 0)
            throw r.Fail(CheckpointFailure.Malformed, $"{r.Remaining} unexpected sections follow the last one, from section {r.Position}.");
        return new TrainingCheckpoint<THeader, TState>(header, state, replay, episodeActions) { Metadata = r.Metadata };
    });

    void CheckEpisodeActions(THeader header, int stored, ReadOnlySpan<float> actions)
    {
        long expected = header.Progress is { } p ? p.StoredEpisodeSteps * stored : 0;
        if (actions.Length != expected)
            throw new ArgumentException(
                header.Progress is null
                    ? $"episodeActions has {actions.Length} floats, but the header has no Progress; only a checkpoint with progress stores the running episode's actions."
                    : $"episodeActions has {actions.Length} floats, but the header's progress says the running episode{(header.Progress.Environments is null ? " has" : "s have")} {header.Progress.StoredEpisodeSteps} steps of {stored} floats per action ({expected} floats).",
                "episodeActions");
        if (ActionCount(header) is int n && FirstNonIndex(actions, n) is int bad and >= 0)
            throw new ArgumentException($"episodeActions[{bad}] is {actions[bad]}; an action must be an integer index in [0, {n}).", "episodeActions");
    }

    static void RequireIndices(CheckpointReader r, string section, ReadOnlySpan<float> actions, int? actionCount)
    {
        if (actionCount is int n && FirstNonIndex(actions, n) is int bad and >= 0)
            throw r.Fail(CheckpointFailure.Malformed,
                $"section '{section}' holds {actions[bad]} at index {bad}; an action is an integer index in [0, {n}).");
    }

    /// <summary>The first value that is not an integer in <c>[0, count)</c>, or -1.</summary>
    static int FirstNonIndex(ReadOnlySpan<float> actions, int count)
    {
        for (int i = 0; i < actions.Length; i++)
        {
            float a = actions[i];
            if (!(a >= 0 && a < count && a == MathF.Floor(a))) return i;
        }
        return -1;
    }

    THeader ParseHeader(CheckpointReader r)
    {
        byte[] json = r.HeaderJson;
        // Name another algorithm's checkpoint plainly instead of reporting its fields as unknown.
        string algorithm = AlgorithmOf(r, json);
        if (!Algorithms.Contains(algorithm))
            throw r.Fail(CheckpointFailure.Malformed,
                $"this is a \"{algorithm}\" checkpoint, not a {Kind} one ({string.Join(", ", Algorithms)}); Agents.Load reads any algorithm's.");
        try
        {
            return JsonSerializer.Deserialize<THeader>(StrictUtf8.GetString(json), HeaderJson)
                ?? throw r.Fail(CheckpointFailure.Malformed, "the header is JSON null, not an object.");
        }
        catch (DecoderFallbackException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not valid UTF-8: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header is not a valid {Kind} checkpoint header: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the header has an invalid field: {e.Message}", e);
        }
    }
}
