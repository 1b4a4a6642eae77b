using System;
using System.Collections.Generic;
using System.IO;
using Sac.Core.Config;
using Sac.Core.Data;
using Sac.Core.Networks;
using Sac.Core.Optim;

namespace Sac.Core.Runs;

/// <summary>
/// Saves and loads a SAC learner (and optionally its replay buffer) as a checkpoint: a safetensors-compatible
/// <see cref="TensorFile"/>, the one format every algorithm shares. Saving is atomic; loading checks everything and
/// reports any problem as a <see cref="CheckpointException"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Format, version 2.</b> The file's metadata holds <c>format</c> (<c>sac-functional-checkpoint</c>),
/// <c>format_version</c>, <c>checkpoint</c> (<c>SAC</c>), <c>header</c> (a <see cref="CheckpointHeader"/> as camelCase
/// JSON), copies of the algorithm, environment id and sizes, anything the writer added (such as
/// <see cref="ConfigMetadataKey"/>) and the CRC-32. The tensors, in order: <c>actor</c>, <c>critic</c>,
/// <c>target_critic</c>, then for V1 only <c>value</c> and <c>target_value</c>; for each optimizer
/// (<c>actor_optimizer</c>, <c>critic_optimizer</c>, <c>alpha_optimizer</c>, and for V1 <c>value_optimizer</c>)
/// <c>NAME.step</c> (int64), <c>NAME.first_moment</c> and <c>NAME.second_moment</c>; <c>log_alpha</c>; <c>step</c>
/// (int64); <c>key</c> (uint32 <c>K0</c>, <c>K1</c>); with progress, <c>episode.actions</c>; with a replay buffer,
/// <c>replay.shape</c> (int64 capacity, observation size, action size, total added) and the six <c>replay.*</c>
/// arrays of its stored slots.
/// </para>
/// <para>
/// Array lengths follow from the header: the actor is the MLP <c>[obs, hidden..., 2 * act]</c>, each Q-network
/// <c>[obs + act, hidden..., 1]</c> (the twin critic is two of them), the value network <c>[obs, hidden..., 1]</c>.
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
    public static void Save(string path, CheckpointHeader header, LearnerState state, ReplayBuffer? replay, ReadOnlyMemory<float> episodeActions, IReadOnlyDictionary<string, string>? metadata) =>
        Schema.Save(path, header, state, replay, episodeActions, metadata);

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
        var c = Schema.Load(path);
        return (c.Header, c.State, c.Replay);
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
    public static TrainingCheckpoint<CheckpointHeader, LearnerState> LoadTraining(string path) => Schema.Load(path);

    /// <summary>
    /// The algorithm a checkpoint file was written by (its header's <c>algorithm</c>, such as <c>"sac"</c>), after the
    /// same preamble and checksum checks as <see cref="Load"/>; lets a caller pick the loader before loading.
    /// </summary>
    /// <exception cref="CheckpointException">The file is missing, not a checkpoint, damaged, or its header names no algorithm.</exception>
    public static string ReadAlgorithm(string path) => CheckpointFraming.ReadChecked(path, r => CheckpointFraming.AlgorithmOf(r, r.HeaderJson));

    static readonly SacSchema Schema = new();

    /// <summary>SAC's learner to and from named tensors; the V1 variant adds the value networks.</summary>
    sealed class SacSchema : CheckpointSchema<CheckpointHeader, LearnerState, SacShapes>
    {
        protected override string Format => "SAC";

        protected override string Kind => "SAC";

        protected override IReadOnlyList<string> Algorithms { get; } = ["sac"];

        protected override int StoredActionSize(CheckpointHeader header) => header.ActionSize;

        protected override SacShapes ShapesOf(CheckpointHeader header) => new(header);

        protected override void Check(CheckpointHeader header, SacShapes shapes, LearnerState s)
        {
            shapes.Check(s.Actor, "state.Actor", shapes.Actor);
            shapes.Check(s.Critic, "state.Critic", shapes.Critic);
            shapes.Check(s.TargetCritic, "state.TargetCritic", shapes.Critic);
            shapes.Check(s.ActorOptimizer, "state.ActorOptimizer", shapes.Actor);
            shapes.Check(s.CriticOptimizer, "state.CriticOptimizer", shapes.Critic);
            shapes.Check(s.AlphaOptimizer, "state.AlphaOptimizer", SacShapes.LogAlpha);
            if (IsV1(header))
            {
                string missing = s.Value is null ? "state.Value" : s.TargetValue is null ? "state.TargetValue" : s.ValueOptimizer is null ? "state.ValueOptimizer" : "";
                if (missing.Length > 0)
                    throw new ArgumentException($"{missing} is null, but the header's variant is V1, whose checkpoint includes the value network.", "state");
                shapes.Check(s.Value, "state.Value", shapes.Value);
                shapes.Check(s.TargetValue, "state.TargetValue", shapes.Value);
                shapes.Check(s.ValueOptimizer!.Value, "state.ValueOptimizer", shapes.Value);
            }
            else if (s.Value is not null || s.TargetValue is not null || s.ValueOptimizer is not null)
            {
                throw new ArgumentException(
                    $"The state has a value network (Value, TargetValue or ValueOptimizer is set), but the header's variant is {header.Variant}, which has none; use \"V1\" or drop them.",
                    "state");
            }
            StateShapes.CheckStep(s.Step, "state.Step");
        }

        protected override void Emit(CheckpointWriter w, CheckpointHeader header, LearnerState s)
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
            StateShapes.Emit(w, "actor_optimizer", s.ActorOptimizer);
            StateShapes.Emit(w, "critic_optimizer", s.CriticOptimizer);
            StateShapes.Emit(w, "alpha_optimizer", s.AlphaOptimizer);
            if (v1) StateShapes.Emit(w, "value_optimizer", s.ValueOptimizer!.Value);
            w.Floats("log_alpha", [s.LogAlpha]);
            StateShapes.Emit(w, s.Step, s.Key);
        }

        protected override LearnerState Read(CheckpointReader r, CheckpointHeader header, SacShapes shapes)
        {
            float[] actor = shapes.Floats(r, "actor", shapes.Actor);
            float[] critic = shapes.Floats(r, "critic", shapes.Critic);
            float[] targetCritic = shapes.Floats(r, "target_critic", shapes.Critic);
            bool v1 = IsV1(header);
            float[]? value = v1 ? shapes.Floats(r, "value", shapes.Value) : null;
            float[]? targetValue = v1 ? shapes.Floats(r, "target_value", shapes.Value) : null;
            AdamState actorAdam = shapes.Adam(r, "actor_optimizer", shapes.Actor);
            AdamState criticAdam = shapes.Adam(r, "critic_optimizer", shapes.Critic);
            AdamState alphaAdam = shapes.Adam(r, "alpha_optimizer", SacShapes.LogAlpha);
            AdamState? valueAdam = v1 ? shapes.Adam(r, "value_optimizer", shapes.Value) : null;
            float logAlpha = shapes.Floats(r, "log_alpha", SacShapes.LogAlpha)[0];
            var (step, key) = StateShapes.StepAndKey(r);
            return new LearnerState(actor, critic, targetCritic, value, targetValue,
                actorAdam, criticAdam, alphaAdam, valueAdam, logAlpha, step, key);
        }

        static bool IsV1(CheckpointHeader header) => header.Variant == nameof(SacVariant.V1);
    }

    /// <summary>The array lengths a SAC header implies.</summary>
    sealed class SacShapes : StateShapes
    {
        public static readonly Expected LogAlpha = new(1, "1 (log alpha is a single number)", CheckpointFailure.Malformed);

        public SacShapes(CheckpointHeader h)
            : base($"for observation size {h.ObservationSize}, action size {h.ActionSize}, hidden [{string.Join(", ", h.HiddenSizes)}]"
                   + (h.ActorHiddenSizes is { } ah ? $", actor hidden [{string.Join(", ", ah)}]" : "")
                   + (h.CriticHiddenSizes is { } ch ? $", critic hidden [{string.Join(", ", ch)}]" : "")
                   + (h.GsdeLogStdColumns is int c ? $", gSDE log-std columns {c}" : ""))
        {
            int obs = h.ObservationSize, act = h.ActionSize;
            // Sums in long: an int overflow here would make a bogus header look consistent.
            if ((long)obs + act > int.MaxValue || 2L * act > int.MaxValue)
                throw new ArgumentException($"observation size {obs} and action size {act} are too large for a network input or output.");
            IReadOnlyList<int> actorHidden = h.ResolvedActorHiddenSizes, criticHidden = h.ResolvedCriticHiddenSizes;
            int[] qSizes = [obs + act, .. criticHidden, 1];
            if (h.GsdeLogStdColumns is int columns)
            {
                // gSDE: the MLP emits the mean alone; the latent x columns log-std matrix follows its parameters.
                if (columns != 1 && columns != act)
                    throw new ArgumentException($"gsdeLogStdColumns must be 1 or the action size {act}, got {columns}.");
                int[] sizes = [obs, .. actorHidden, act];
                long mlp = new MlpSpec(sizes).ParameterCount, logStd = (long)actorHidden[^1] * columns;
                if (mlp + logStd > Array.MaxLength)
                    throw new ArgumentException($"an actor of {mlp} + {logStd} parameters exceeds the largest array.");
                Actor = new(mlp + logStd, $"{mlp + logStd} (the actor MLP [{string.Join(", ", sizes)}] and a {actorHidden[^1]} x {columns} gSDE log-std)");
            }
            else Actor = Expected.Network("actor", [obs, .. actorHidden, 2 * act]);
            int qCount = new MlpSpec(qSizes).ParameterCount;
            if (2L * qCount > Array.MaxLength)
                throw new ArgumentException($"two Q-networks of {qCount} parameters exceed the largest array.");
            Critic = new(2L * qCount, $"2 x {qCount} = {2L * qCount} (twin Q MLPs [{string.Join(", ", qSizes)}])");
            Value = Expected.Network("value", [obs, .. criticHidden, 1]);
        }

        public Expected Actor { get; }

        public Expected Critic { get; }

        public Expected Value { get; }
    }
}
