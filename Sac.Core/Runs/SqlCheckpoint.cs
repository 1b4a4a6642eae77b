using System;
using System.Collections.Generic;
using System.IO;
using Sac.Core.Data;
using Sac.Core.Optim;

namespace Sac.Core.Runs;

/// <summary>
/// Saves and loads a Soft Q-Learning learner (and optionally its replay buffer) in the checkpoint format every
/// algorithm shares (see <see cref="Checkpoint"/>). Saving is atomic; loading checks everything and reports any problem
/// with the file as a <see cref="CheckpointException"/>.
/// </summary>
/// <remarks>
/// The header is a <see cref="SqlCheckpointHeader"/> (<c>"algorithm": "sql"</c>); the tensors, in order: <c>q</c>,
/// <c>target_q</c>, <c>sampler</c>; for <c>q_optimizer</c> and <c>sampler_optimizer</c> <c>NAME.step</c>,
/// <c>NAME.first_moment</c>, <c>NAME.second_moment</c>; <c>step</c> and <c>key</c>; then, as for every algorithm,
/// <c>episode.actions</c> with progress and the <c>replay.*</c> tensors with a replay buffer. The Q-network is the MLP
/// <c>[obs + act, HiddenSizes..., 1]</c> (its target too), the sampler <c>[obs + act, SamplerHiddenSizes..., act]</c>.
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
    public static void Save(string path, SqlCheckpointHeader header, SqlLearnerState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata) =>
        Schema.Save(path, header, state, replay, episodeActions, metadata);

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
        var c = Schema.Load(path);
        return (c.Header, c.State, c.Replay);
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
    public static TrainingCheckpoint<SqlCheckpointHeader, SqlLearnerState> LoadTraining(string path) => Schema.Load(path);

    /// <summary>
    /// The <c>"algorithm"</c> field of any checkpoint in this framing (<c>"sql"</c>, <c>"sac"</c>, ...), after checking
    /// the preamble and the checksum, without reading the sections: lets a tool pick the loader.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>The algorithm name the header records.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="CheckpointException">The file is missing, cut short, damaged, or its header has no string <c>"algorithm"</c>.</exception>
    public static string PeekAlgorithm(string path) => Checkpoint.ReadAlgorithm(path);

    static readonly SqlSchema Schema = new();

    /// <summary>Soft Q-Learning's learner to and from named tensors.</summary>
    sealed class SqlSchema : CheckpointSchema<SqlCheckpointHeader, SqlLearnerState, SqlShapes>
    {
        protected override string Format => "SQL";

        protected override string Kind => "Soft Q-Learning";

        protected override IReadOnlyList<string> Algorithms { get; } = [AlgorithmName];

        protected override int StoredActionSize(SqlCheckpointHeader header) => header.ActionSize;

        protected override SqlShapes ShapesOf(SqlCheckpointHeader header) => new(header);

        protected override void Check(SqlCheckpointHeader header, SqlShapes shapes, SqlLearnerState s)
        {
            shapes.Check(s.Q, "state.Q", shapes.Q);
            shapes.Check(s.TargetQ, "state.TargetQ", shapes.Q);
            shapes.Check(s.Sampler, "state.Sampler", shapes.Sampler);
            shapes.Check(s.QOptimizer, "state.QOptimizer", shapes.Q);
            shapes.Check(s.SamplerOptimizer, "state.SamplerOptimizer", shapes.Sampler);
            StateShapes.CheckStep(s.Step, "state.Step");
        }

        protected override void Emit(CheckpointWriter w, SqlCheckpointHeader header, SqlLearnerState s)
        {
            w.Floats("q", s.Q);
            w.Floats("target_q", s.TargetQ);
            w.Floats("sampler", s.Sampler);
            StateShapes.Emit(w, "q_optimizer", s.QOptimizer);
            StateShapes.Emit(w, "sampler_optimizer", s.SamplerOptimizer);
            StateShapes.Emit(w, s.Step, s.Key);
        }

        protected override SqlLearnerState Read(CheckpointReader r, SqlCheckpointHeader header, SqlShapes shapes)
        {
            float[] q = shapes.Floats(r, "q", shapes.Q);
            float[] targetQ = shapes.Floats(r, "target_q", shapes.Q);
            float[] sampler = shapes.Floats(r, "sampler", shapes.Sampler);
            AdamState qAdam = shapes.Adam(r, "q_optimizer", shapes.Q);
            AdamState samplerAdam = shapes.Adam(r, "sampler_optimizer", shapes.Sampler);
            var (step, key) = StateShapes.StepAndKey(r);
            return new SqlLearnerState(q, targetQ, sampler, qAdam, samplerAdam, step, key);
        }
    }

    /// <summary>The array lengths a Soft Q-Learning header implies.</summary>
    sealed class SqlShapes : StateShapes
    {
        public SqlShapes(SqlCheckpointHeader h)
            : base($"for observation size {h.ObservationSize}, action size {h.ActionSize}, hidden [{string.Join(", ", h.HiddenSizes)}], sampler hidden [{string.Join(", ", h.SamplerHiddenSizes)}]")
        {
            int obs = h.ObservationSize, act = h.ActionSize;
            if ((long)obs + act > int.MaxValue)
                throw new ArgumentException($"observation size {obs} and action size {act} are too large for a network input.");
            Q = Expected.Network("Q", [obs + act, .. h.HiddenSizes, 1]);
            Sampler = Expected.Network("sampler", [obs + act, .. h.SamplerHiddenSizes, act]);
        }

        public Expected Q { get; }

        public Expected Sampler { get; }
    }
}
