namespace Sac.Fs

open System
open System.Collections.Generic
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>The schedule every off-policy run shares, read from an algorithm's validated configuration.</summary>
[<Struct>]
type OffPolicySchedule =
    { /// <summary>The run's seed: environment resets, replay draws and the algorithm's noise derive from it.</summary>
      Seed: uint64
      /// <summary>Replay buffer capacity, in transitions.</summary>
      BufferSize: int
      /// <summary>Transitions per gradient step.</summary>
      BatchSize: int
      /// <summary>Environment steps of warm-up acting before the first update.</summary>
      LearningStarts: int
      /// <summary>Environment steps between rounds of updates; with several environments, vectorised steps (one
      /// step of every environment), as Stable-Baselines3 counts train_freq.</summary>
      TrainFrequency: int
      /// <summary>Gradient steps per round.</summary>
      GradientSteps: int
      /// <summary>Environment steps between evaluations (0: none).</summary>
      EvalInterval: int
      /// <summary>Episodes per evaluation.</summary>
      EvalEpisodes: int
      /// <summary>How every optimizer's learning rate changes over the run.</summary>
      LearningRateSchedule: Sac.Core.Config.LearningRateSchedule
      /// <summary>Copies of the environment a trainer steps together from the start (SB3's n_envs).</summary>
      Environments: int
      /// <summary>Observation and reward normalisation (SB3's VecNormalize), or null for none.</summary>
      Normalize: Sac.Core.Config.NormalizeSettings | null
      /// <summary>The discount, which the normalised rewards' returns use.</summary>
      Gamma: float32 }

    /// <summary>The schedule a configuration sets.</summary>
    /// <param name="config">A SAC, Soft Q-Learning or DQN-family configuration.</param>
    static member Of(config: Sac.Core.Config.IOffPolicyConfig) =
        { Seed = config.Seed; BufferSize = config.BufferSize; BatchSize = config.BatchSize; LearningStarts = config.LearningStarts
          TrainFrequency = config.TrainFrequency; GradientSteps = config.GradientSteps
          EvalInterval = config.EvalInterval; EvalEpisodes = config.EvalEpisodes
          LearningRateSchedule = config.LearningRateSchedule; Environments = config.NEnvs; Normalize = config.Normalize
          Gamma = config.Gamma }

/// <summary>The noise streams an algorithm acts with, derived from the run's seed (the trainer's replay draws use a
/// third): the behaviour policy's and the warm-up actions'.</summary>
[<Struct>]
type ActingKeys =
    { /// <summary>The behaviour policy's noise, keyed by environment step.</summary>
      Act: PhiloxKey
      /// <summary>The warm-up actions, keyed by environment step.</summary>
      Warmup: PhiloxKey }

    /// <summary>The streams of a run with <paramref name="seed"/>.</summary>
    /// <param name="seed">The run's seed.</param>
    static member Of(seed: uint64) =
        let root = PhiloxKey.FromSeed seed
        { Act = root.FoldIn 0x41435430u; Warmup = root.FoldIn 0x57524d55u }

    /// <summary>The warm-up action of environment step <paramref name="step"/>: uniform on <c>[-1, 1]^n</c>.</summary>
    /// <param name="step">The environment step.</param>
    /// <param name="action">Receives the n values.</param>
    member keys.UniformAction(step: int64, action: Span<float32>) =
        let n = action.Length
        for j in 0 .. n - 1 do
            action.[j] <- 2.0f * Philox.Uniform(keys.Warmup, uint64 step * uint64 n + uint64 j) - 1.0f

/// <summary>Where a training checkpoint puts a run, as its algorithm read and checked it.</summary>
type ResumePoint<'L> =
    { /// <summary>The learner.</summary>
      Learner: 'L
      /// <summary>The environment the run trained on.</summary>
      EnvironmentId: string
      /// <summary>Observation size.</summary>
      ObservationSize: int
      /// <summary>The action size the checkpoint records (see <see cref="P:Sac.Fs.IOffPolicyAlgorithm`2.Actions"/>).</summary>
      ActionSize: int
      /// <summary>Environment steps taken.</summary>
      EnvironmentSteps: int64
      /// <summary>The loop's progress, or null for a checkpoint of a learner alone.</summary>
      Progress: TrainingProgress | null
      /// <summary>The replay buffer, when it was saved.</summary>
      Replay: ReplayBuffer | null
      /// <summary>The running episode's actions.</summary>
      EpisodeActions: float32[]
      /// <summary>The checkpoint's string metadata (its configuration, and a normalising run's statistics).</summary>
      Metadata: IReadOnlyDictionary<string, string>
      /// <summary>Why this algorithm and configuration cannot continue the checkpoint (another algorithm or variant,
      /// other network sizes), or None when they can.</summary>
      Mismatch: string option }

/// <summary>The threads a minibatch's copying may share.</summary>
[<RequireQualifiedAccess>]
module SamplingTeam =
    /// <summary>The team of a managed GEMM of two or more threads (idle while the trainer samples), otherwise null.</summary>
    /// <param name="gemm">An algorithm's GEMM provider.</param>
    [<CompiledName("Of")>]
    let ofGemm (gemm: Sac.Core.Compute.IGemm) : Sac.Core.Compute.WorkerTeam | null =
        match gemm with
        | :? Sac.Core.Compute.ManagedGemm as m when m.Threads >= 2 -> m.Team
        | _ -> null

    /// <summary>Draw <paramref name="draw"/> of <paramref name="replay"/> into <paramref name="batch"/>, its rows
    /// shared among <paramref name="team"/>'s threads, or copied on the calling thread where the team is null.</summary>
    /// <param name="team">A team, or null.</param>
    /// <param name="replay">The replay buffer.</param>
    /// <param name="key">The replay sampling key.</param>
    /// <param name="draw">The draw number.</param>
    /// <param name="batch">Overwritten with the draw.</param>
    [<CompiledName("Sample")>]
    let sample (team: Sac.Core.Compute.WorkerTeam | null) (replay: ReplayBuffer) (key: PhiloxKey) (draw: uint64) (batch: Batch) =
        match team with
        | null -> replay.Sample(key, draw, batch)
        | t -> replay.Sample(key, draw, batch, t)

/// <summary>
/// One off-policy algorithm as <see cref="T:Sac.Fs.OffPolicyTrainer`2"/> drives it: a learner state <c>'L</c> it
/// acts and updates with, metrics <c>'M</c> per update, and the learner's checkpoint. SAC (v1 and v2, CPU or CUDA),
/// Soft Q-Learning and the DQN family are each one of these; the trainer owns everything else.
/// </summary>
type IOffPolicyAlgorithm<'L, 'M> =
    inherit IDisposable
    /// <summary>The name checkpoints and metrics carry ("sac", "sql", "dqn", "double-dqn", "soft-dqn").</summary>
    abstract Name: string
    /// <summary>The run's schedule.</summary>
    abstract Schedule: OffPolicySchedule
    /// <summary>The action width the replay buffer stores.</summary>
    abstract ReplayActionSize: int
    /// <summary>Threads that share the copying of each minibatch out of the replay buffer (the managed GEMM's team,
    /// idle between updates), or null to copy on the calling thread alone; the minibatch is the same either way.</summary>
    abstract SamplingTeam: Sac.Core.Compute.WorkerTeam | null
    /// <summary>The action size a checkpoint records and how messages name it: ("action", dimension) for continuous
    /// actions, ("actions", count) for discrete ones.</summary>
    abstract Actions: struct (string * int)
    /// <summary>A fresh learner.</summary>
    abstract Init: unit -> 'L
    /// <summary>Called when a run starts or resumes from <paramref name="learner"/> (e.g. to upload it to a device).</summary>
    abstract Attach: learner: 'L -> unit
    /// <summary>The behaviour action before environment step <paramref name="step"/> (warm-up actions included).</summary>
    abstract Act: learner: 'L * step: int64 * observation: ReadOnlySpan<float32> * action: Span<float32> -> unit
    /// <summary>The learned policy's action, in the algorithm's action coordinates: its deterministic action (SAC's mean
    /// action, SQL's sampler at zero noise, DQN's greedy one) or a draw keyed by the mode's key and index.</summary>
    abstract Policy: learner: 'L * mode: ActionMode * observation: ReadOnlySpan<float32> * action: Span<float32> -> unit
    /// <summary>The behaviour actions of <paramref name="count"/> environments stepped together, before the
    /// vectorised step that starts at environment step <paramref name="steps"/>: observations and actions are
    /// <c>count</c> rows; all rows are warm-up actions while <c>steps</c> is below LearningStarts, and row i's noise
    /// is keyed by environment step <c>steps + i</c>. Allocates nothing.</summary>
    abstract ActBatch: learner: 'L * steps: int64 * count: int * observations: ReadOnlySpan<float32> * actions: Span<float32> -> unit
    /// <summary>Called after every step of the <paramref name="environments"/> environments together (every
    /// environment step when there is one), with the environment steps taken so far, before that step's updates
    /// (DQN's target copy).</summary>
    abstract AfterEnvironmentStep: steps: int64 * environments: int * learner: 'L -> unit
    /// <summary>One checked gradient step (a NaN or infinity raises <see cref="T:Sac.Core.Runs.NumericalFaultException"/>),
    /// every optimizer at its configured learning rate times <c>learningRateFactor</c> (the schedule's, in [0, 1]).</summary>
    abstract Update: steps: int64 * learningRateFactor: float32 * batch: Batch * learner: 'L -> struct ('L * 'M)
    /// <summary>The learner after a round of updates, as acting needs it (a device learner copies its policy back).</summary>
    abstract AfterUpdates: steps: int64 * learner: 'L -> 'L
    /// <summary>The whole learner on the host, for checkpoints and the end of a run.</summary>
    abstract Synced: steps: int64 * learner: 'L -> 'L
    /// <summary>The names of the metrics <see cref="Report"/> gives, in its order (metrics.csv's columns).</summary>
    abstract MetricNames: string[]
    /// <summary>The metrics of a record at environment step <paramref name="steps"/>, in the order of <see cref="MetricNames"/>.</summary>
    abstract Report: steps: int64 * metrics: 'M -> float32[]
    /// <summary>The metrics saved with a checkpoint, in a fixed order.</summary>
    abstract MetricValues: metrics: 'M -> float32[]
    /// <summary>The metrics saved by <see cref="MetricValues"/>, read back (the count is checked first).</summary>
    abstract MetricsOf: values: IReadOnlyList<float32> -> 'M
    /// <summary>How many values <see cref="MetricValues"/> writes.</summary>
    abstract MetricCount: int
    /// <summary>The algorithm's evaluation policy over <paramref name="episodes"/> episodes (see <see cref="Rollout.run"/>).</summary>
    abstract Evaluate: learner: 'L * env: IEnvironment * episodes: int * seed: uint64 -> EvaluationResult
    /// <summary>Writes a training checkpoint atomically, with the trainer's own string <c>metadata</c> (a normalising
    /// run's statistics) beside the algorithm's configuration.</summary>
    abstract Save: path: string * learner: 'L * environmentId: string * environmentSteps: int64 * progress: TrainingProgress
                   * replay: ReplayBuffer | null * episodeActions: ReadOnlyMemory<float32>
                   * metadata: IReadOnlyDictionary<string, string> -> unit
    /// <summary>Reads a training checkpoint (a damaged file raises <see cref="T:Sac.Core.Runs.CheckpointException"/>),
    /// noting in <c>Mismatch</c> whether this algorithm and configuration can continue it.</summary>
    abstract Load: path: string -> ResumePoint<'L>
