using System;
using System.Collections.Generic;
using System.IO;
using Sac.Core.Config;
using Sac.Core.Data;
using Sac.Core.Optim;

namespace Sac.Core.Runs;

/// <summary>
/// Saves and loads a DQN-family learner (<see cref="DqnLearnerState"/>) in the checkpoint format every algorithm shares
/// (see <see cref="Checkpoint"/>), so <see cref="PeekAlgorithm"/> tells which loader a file needs. Saving is atomic;
/// loading checks everything and reports any problem with the file as a <see cref="CheckpointException"/>.
/// </summary>
/// <remarks>
/// The header is a <see cref="DqnCheckpointHeader"/> (<c>algorithm</c> <c>"dqn"</c>, <c>"double-dqn"</c> or
/// <c>"soft-dqn"</c>); the tensors, in order: <c>q_network</c> and <c>target_q_network</c> (the MLP
/// <c>[obs, hidden..., actions]</c> each), <c>optimizer.step</c>, <c>optimizer.first_moment</c>,
/// <c>optimizer.second_moment</c>, <c>step</c>, <c>key</c>; then, as for every algorithm, <c>episode.actions</c> with
/// progress and the <c>replay.*</c> tensors with a replay buffer. Actions are stored as their indices, one float each,
/// and a load rejects any that is not an integer index below the action count.
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
    public static void Save(string path, DqnCheckpointHeader header, DqnLearnerState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata) =>
        Schema.Save(path, header, state, replay, episodeActions, metadata);

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
        var c = Schema.Load(path);
        return (c.Header, c.State);
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
    public static TrainingCheckpoint<DqnCheckpointHeader, DqnLearnerState> LoadTraining(string path) => Schema.Load(path);

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

    static readonly DqnSchema Schema = new();

    /// <summary>The DQN family's learner to and from named tensors.</summary>
    sealed class DqnSchema : CheckpointSchema<DqnCheckpointHeader, DqnLearnerState, DqnShapes>
    {
        protected override string Format => "DQN";

        protected override string Kind => "DQN-family";

        protected override IReadOnlyList<string> Algorithms { get; } = ["dqn", "double-dqn", "soft-dqn"];

        protected override int StoredActionSize(DqnCheckpointHeader header) => 1;

        protected override int? ActionCount(DqnCheckpointHeader header) => header.ActionCount;

        protected override DqnShapes ShapesOf(DqnCheckpointHeader header) => new(header);

        protected override void Check(DqnCheckpointHeader header, DqnShapes shapes, DqnLearnerState s)
        {
            shapes.Check(s.QNetwork, "state.QNetwork", shapes.Q);
            shapes.Check(s.TargetQNetwork, "state.TargetQNetwork", shapes.Q);
            shapes.Check(s.Optimizer, "state.Optimizer", shapes.Q);
            StateShapes.CheckStep(s.Step, "state.Step");
        }

        protected override void Emit(CheckpointWriter w, DqnCheckpointHeader header, DqnLearnerState s)
        {
            w.Floats("q_network", s.QNetwork);
            w.Floats("target_q_network", s.TargetQNetwork);
            StateShapes.Emit(w, "optimizer", s.Optimizer);
            StateShapes.Emit(w, s.Step, s.Key);
        }

        protected override DqnLearnerState Read(CheckpointReader r, DqnCheckpointHeader header, DqnShapes shapes)
        {
            float[] online = shapes.Floats(r, "q_network", shapes.Q);
            float[] target = shapes.Floats(r, "target_q_network", shapes.Q);
            AdamState adam = shapes.Adam(r, "optimizer", shapes.Q);
            var (step, key) = StateShapes.StepAndKey(r);
            return new DqnLearnerState(online, target, adam, step, key);
        }
    }

    /// <summary>The array lengths a DQN-family header implies.</summary>
    sealed class DqnShapes(DqnCheckpointHeader h)
        : StateShapes($"for observation size {h.ObservationSize}, {h.ActionCount} actions, hidden [{string.Join(", ", h.HiddenSizes)}]")
    {
        public Expected Q { get; } = Expected.Network("Q-network", [h.ObservationSize, .. h.HiddenSizes, h.ActionCount]);
    }
}
