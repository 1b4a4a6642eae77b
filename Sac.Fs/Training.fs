namespace Sac.Fs

open System
open System.Diagnostics
open Sac.Core.Config
open Sac.Core.Compute
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random

/// <summary>One row of training metrics, emitted when an episode ends or an evaluation runs (metrics.csv).</summary>
type TrainingRecord =
    { /// <summary>Environment steps taken so far.</summary>
      Step: int64
      /// <summary>Episodes finished so far.</summary>
      Episode: int
      /// <summary>Return of the episode that just ended.</summary>
      EpisodeReturn: float option
      /// <summary>Length of the episode that just ended.</summary>
      EpisodeLength: int option
      /// <summary>Mean return of the deterministic evaluation run at this step.</summary>
      EvalReturn: float option
      /// <summary>Standard deviation of the evaluation returns.</summary>
      EvalStd: float option
      /// <summary>Metrics of the latest gradient step, once learning has started.</summary>
      Losses: SacMetrics option
      /// <summary>Gradient steps per second of update time since the previous record.</summary>
      UpdatesPerSec: float option
      /// <summary>Seconds since training started.</summary>
      WallSeconds: float }

/// <summary>The explicit state the training loop folds over (the replay buffer and environments are its preallocated,
/// mutable workspace, held by <see cref="Trainer"/>).</summary>
[<Struct>]
type TrainingState =
    { /// <summary>The learner.</summary>
      Learner: LearnerState
      /// <summary>Environment steps taken.</summary>
      EnvSteps: int64
      /// <summary>Episodes finished.</summary>
      Episodes: int
      /// <summary>Return accumulated in the running episode.</summary>
      EpisodeReturn: float
      /// <summary>Steps in the running episode.</summary>
      EpisodeLength: int
      /// <summary>Replay draws made (each draw fills one batch).</summary>
      Draws: uint64
      /// <summary>Latest update's metrics.</summary>
      LastMetrics: SacMetrics voption }

/// <summary>Summary statistics of evaluation returns.</summary>
type EvaluationResult =
    { /// <summary>Each episode's return.</summary>
      Returns: float[]
      /// <summary>Mean return.</summary>
      Mean: float
      /// <summary>Population standard deviation of the returns.</summary>
      Std: float }

/// <summary>Deterministic evaluation of a SAC actor.</summary>
[<RequireQualifiedAccess>]
module Evaluation =

    /// <summary>Mean and standard deviation of a sample (population form; 0 for one value).</summary>
    [<CompiledName("OfReturns")>]
    let ofReturns (returns: float[]) =
        let mean = Array.average returns
        let var = returns |> Array.averageBy (fun r -> (r - mean) * (r - mean))
        { Returns = returns; Mean = mean; Std = sqrt var }

    /// <summary>
    /// Runs <paramref name="episodes"/> episodes with the mean action tanh(mu); episode k is reset with seed
    /// <c>seed + k</c>, so evaluations are reproducible and comparable across checkpoints.
    /// </summary>
    [<CompiledName("Run")>]
    let run (ctx: SacContext) (ws: PolicyWorkspace) (actor: float32[]) (env: IEnvironment) (episodes: int) (seed: uint64) =
        if episodes < 1 then invalidArg (nameof episodes) $"episodes must be at least 1, got {episodes}."
        let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
        let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
        let returns =
            Array.init episodes (fun k ->
                env.Reset(Nullable(seed + uint64 k), Span obs)
                let mutable total = 0.0
                let mutable fin = false
                while not fin do
                    Policy.act ctx ws actor Deterministic (ReadOnlySpan obs) (Span action)
                    let r = env.Step(ReadOnlySpan action, Span obs)
                    total <- total + float r.Reward
                    fin <- r.Terminated || r.Truncated
                total)
        ofReturns returns

/// <summary>
/// The bookkeeping every trainer shares: the run's wall clock, how long gradient steps took since the last record,
/// and the record a step emits when an episode ended or an evaluation ran.
/// </summary>
[<Sealed>]
type TrainingClock() =
    let clock = Stopwatch()
    let mutable updateTicks = 0L
    let mutable updates = 0L

    /// <summary>Starts the wall clock from zero and forgets any update timing.</summary>
    member _.Restart() =
        clock.Restart()
        updateTicks <- 0L
        updates <- 0L

    /// <summary>Counts <paramref name="count"/> gradient steps that began at <paramref name="startTimestamp"/> (a <c>Stopwatch.GetTimestamp()</c>) and have just ended.</summary>
    member _.AddUpdates(count: int, startTimestamp: int64) =
        updateTicks <- updateTicks + (Stopwatch.GetTimestamp() - startTimestamp)
        updates <- updates + int64 count

    /// <summary>
    /// The record of a step, when an episode ended or an evaluation ran (None otherwise); updates per second cover the
    /// gradient steps since the previous record.
    /// </summary>
    member _.Record(steps: int64, episodes: int, ended: bool, episodeReturn: float, episodeLength: int,
                    evaluation: (float * float) option, losses: SacMetrics voption) : TrainingRecord option =
        if ended || evaluation.IsSome then
            let ups =
                if updates > 0L && updateTicks > 0L then Some(float updates / (float updateTicks / float Stopwatch.Frequency))
                else None
            updates <- 0L
            updateTicks <- 0L
            Some
                { Step = steps; Episode = episodes
                  EpisodeReturn = (if ended then Some episodeReturn else None)
                  EpisodeLength = (if ended then Some episodeLength else None)
                  EvalReturn = evaluation |> Option.map fst
                  EvalStd = evaluation |> Option.map snd
                  Losses = (match losses with ValueSome m -> Some m | ValueNone -> None)
                  UpdatesPerSec = ups; WallSeconds = clock.Elapsed.TotalSeconds }
        else None

/// <summary>The loop every trainer runs: fold its step over the environment steps, passing each record on.</summary>
[<RequireQualifiedAccess>]
module TrainingLoop =

    /// <summary>Applies <paramref name="step"/> <paramref name="steps"/> times from <paramref name="state"/>, handing every record to <paramref name="onRecord"/>.</summary>
    [<CompiledName("Run")>]
    let run (step: 'S -> struct ('S * TrainingRecord option)) (state: 'S) (steps: int64) (onRecord: Action<TrainingRecord>) : 'S =
        let mutable s = state
        for _ in 1L .. steps do
            let struct (next, record) = step s
            s <- next
            match record with
            | Some r -> onRecord.Invoke r
            | None -> ()
        s

/// <summary>
/// The mutable workspace of a training run: environments (training and evaluation, both in [-1, 1] action
/// coordinates), replay buffer, a minibatch, policy buffers and the RNG keys, built from a validated configuration.
/// </summary>
[<Sealed>]
type Trainer(environmentId: string, config: SacConfig, gemm: IGemm) =
    do config.ThrowIfInvalid() |> ignore
    let env = RescaleAction(EnvironmentRegistry.Make environmentId) :> IEnvironment
    let evalEnv = RescaleAction(EnvironmentRegistry.Make environmentId) :> IEnvironment
    let o, a = env.ObservationSpace.Dimension, env.ActionSpace.Dimension
    let ctx = SacContext(config, o, a, gemm)
    let root = PhiloxKey.FromSeed config.Seed
    // Distinct streams for acting, warm-up actions and replay sampling, all from the run's seed.
    let actKey = root.FoldIn 0x41435430u
    let warmupKey = root.FoldIn 0x57524d55u
    let sampleKey = root.FoldIn 0x53414d50u
    let replay = ReplayBuffer(config.BufferSize, o, a)
    let batch = Batch(config.BatchSize, o, a)
    let policyWs = PolicyWorkspace(ctx.Networks)
    let obs = Array.zeroCreate<float32> o
    let nextObs = Array.zeroCreate<float32> o
    let action = Array.zeroCreate<float32> a
    let clock = TrainingClock()

    /// <summary>The learner's fixed parts.</summary>
    member _.Context = ctx
    /// <summary>The environment id.</summary>
    member _.EnvironmentId = environmentId
    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>The replay buffer.</summary>
    member _.Replay = replay
    /// <summary>The training environment.</summary>
    member _.Environment = env
    /// <summary>The evaluation environment.</summary>
    member _.EvaluationEnvironment = evalEnv
    /// <summary>Acting buffers.</summary>
    member _.PolicyWorkspace = policyWs
    /// <summary>Seed of evaluation episodes: far from training's, fixed per run.</summary>
    member _.EvaluationSeed = config.Seed + 1_000_000UL

    /// <summary>A fresh learner and the first observation (the environment reset with the run's seed).</summary>
    member _.Start() : TrainingState =
        env.Reset(Nullable config.Seed, Span obs)
        clock.Restart()
        { Learner = Sac.init ctx config.Seed; EnvSteps = 0L; Episodes = 0; EpisodeReturn = 0.0; EpisodeLength = 0
          Draws = 0UL; LastMetrics = ValueNone }

    /// <summary>
    /// One environment step: act (uniform random before LearningStarts), store the transition, reset at episode end,
    /// then GradientSteps updates every TrainFrequency steps once learning has started, then evaluation every
    /// EvalInterval steps. Returns the next state and the record of this step, if an episode ended or an evaluation ran.
    /// </summary>
    member _.Step(state: TrainingState) : struct (TrainingState * TrainingRecord option) =
        let t = state.EnvSteps
        if t < int64 config.LearningStarts then
            for j in 0 .. a - 1 do
                action.[j] <- 2.0f * Philox.Uniform(warmupKey, uint64 t * uint64 a + uint64 j) - 1.0f
        else
            Policy.act ctx policyWs state.Learner.Actor (Stochastic(actKey, uint64 t)) (ReadOnlySpan obs) (Span action)
        let r = env.Step(ReadOnlySpan action, Span nextObs)
        // The true next observation is stored even on truncation: the target bootstraps from it.
        replay.Add(ReadOnlySpan obs, ReadOnlySpan action, r.Reward, ReadOnlySpan nextObs, r.Terminated, r.Truncated)
        let episodeReturn = state.EpisodeReturn + float r.Reward
        let episodeLength = state.EpisodeLength + 1
        let ended = r.Terminated || r.Truncated
        if ended then env.Reset(Nullable(), Span obs) else Array.blit nextObs 0 obs 0 o
        let steps = t + 1L
        let mutable learner = state.Learner
        let mutable draws = state.Draws
        let mutable last = state.LastMetrics
        if steps > int64 config.LearningStarts && steps % int64 config.TrainFrequency = 0L then
            let t0 = Stopwatch.GetTimestamp()
            for _ in 1 .. config.GradientSteps do
                replay.Sample(sampleKey, draws, batch)
                draws <- draws + 1UL
                let struct (next, m) = Sac.update ctx batch learner
                learner <- next
                last <- ValueSome m
            clock.AddUpdates(config.GradientSteps, t0)
        let evaluation =
            if config.EvalInterval > 0 && steps % int64 config.EvalInterval = 0L then
                Some(Evaluation.run ctx policyWs learner.Actor evalEnv config.EvalEpisodes (config.Seed + 1_000_000UL))
            else None
        let next =
            { Learner = learner; EnvSteps = steps; Episodes = (if ended then state.Episodes + 1 else state.Episodes)
              EpisodeReturn = (if ended then 0.0 else episodeReturn); EpisodeLength = (if ended then 0 else episodeLength)
              Draws = draws; LastMetrics = last }
        let record =
            clock.Record(steps, next.Episodes, ended, episodeReturn, episodeLength,
                         evaluation |> Option.map (fun e -> e.Mean, e.Std), last)
        struct (next, record)

    /// <summary>Runs <paramref name="steps"/> environment steps from <paramref name="state"/>, passing every record to
    /// <paramref name="onRecord"/>; returns the final state.</summary>
    member this.Run(state: TrainingState, steps: int64, onRecord: Action<TrainingRecord>) : TrainingState =
        TrainingLoop.run this.Step state steps onRecord

    /// <summary>Deterministic evaluation of the current actor over <paramref name="episodes"/> episodes.</summary>
    member _.Evaluate(state: TrainingState, episodes: int, seed: uint64) =
        Evaluation.run ctx policyWs state.Learner.Actor evalEnv episodes seed

/// <summary>Training entry points for scripts: one call from a configuration to a trained learner.</summary>
[<RequireQualifiedAccess>]
module Training =

    /// <summary>Trains SAC on <paramref name="environmentId"/> for <paramref name="steps"/> environment steps.</summary>
    [<CompiledName("Train")>]
    let train (gemm: IGemm) (environmentId: string) (config: SacConfig) (steps: int64) (onRecord: TrainingRecord -> unit) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        let trainer = Trainer(environmentId, config, gemm)
        let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
        trainer, final
