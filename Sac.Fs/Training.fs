namespace Sac.Fs

open System
open System.Diagnostics
open Sac.Core.Config
open Sac.Core.Compute
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

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
        // The environment's episode limit ends an episode (a truncation), wrapped in TimeLimit or not, as
        // Gymnasium's make enforces it.
        let limit = if env.MaxEpisodeSteps.HasValue then env.MaxEpisodeSteps.Value else Int32.MaxValue
        let returns =
            Array.init episodes (fun k ->
                env.Reset(Nullable(seed + uint64 k), Span obs)
                let mutable total = 0.0
                let mutable fin = false
                let mutable steps = 0
                while not fin do
                    Policy.act ctx ws actor Deterministic (ReadOnlySpan obs) (Span action)
                    let r = env.Step(ReadOnlySpan action, Span obs)
                    total <- total + float r.Reward
                    steps <- steps + 1
                    fin <- r.Terminated || r.Truncated || steps >= limit
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

/// <summary>What a training callback answers after a step: go on, or stop the run with a reason.</summary>
[<RequireQualifiedAccess>]
type CallbackDecision =
    /// <summary>Keep training.</summary>
    | Continue
    /// <summary>End the run after this step; the reason is reported in the outcome.</summary>
    | Stop of reason: string

/// <summary>
/// Called after every environment step with the step count, the new training state and the step's record (when an
/// episode ended or an evaluation ran). Periodic checkpoints, reward thresholds and user callbacks are all this.
/// </summary>
type ITrainingCallback<'S> =
    /// <summary>Observes one step; the run stops after it if any callback answers Stop.</summary>
    abstract OnStep: steps: int64 * state: 'S * record: TrainingRecord option -> CallbackDecision

/// <summary>How a run ended: its final state, and why it stopped early if it did.</summary>
type RunOutcome<'S> =
    { /// <summary>The state after the last step taken.</summary>
      State: 'S
      /// <summary>The reason a callback gave for stopping, or None when the run took all its steps.</summary>
      StopReason: string option }

/// <summary>Ready-made callbacks, for F# functions and C# delegates alike.</summary>
[<RequireQualifiedAccess>]
module Callback =

    /// <summary>A callback built from a function of (steps, state, record).</summary>
    [<CompiledName("Create")>]
    let create (f: int64 -> 'S -> TrainingRecord option -> CallbackDecision) =
        { new ITrainingCallback<'S> with member _.OnStep(steps, state, record) = f steps state record }

    /// <summary>Hands every metrics record to an F# function.</summary>
    [<CompiledName("OfFunction")>]
    let ofRecord (f: TrainingRecord -> unit) : ITrainingCallback<'S> =
        create (fun _ _ record ->
            match record with
            | Some r -> f r
            | None -> ()
            CallbackDecision.Continue)

    /// <summary>Hands every metrics record to a C# delegate.</summary>
    [<CompiledName("OnRecord")>]
    let onRecord (action: Action<TrainingRecord>) : ITrainingCallback<'S> = ofRecord action.Invoke

    /// <summary>Reports every metrics record through <see cref="T:System.IProgress`1"/> (e.g. a <c>Progress&lt;T&gt;</c> that marshals to a UI thread).</summary>
    [<CompiledName("OnProgress")>]
    let onProgress (progress: IProgress<TrainingRecord>) : ITrainingCallback<'S> = ofRecord progress.Report

    /// <summary>Calls <paramref name="action"/> with (steps, state) every <paramref name="interval"/> environment steps,
    /// e.g. to write a checkpoint.</summary>
    [<CompiledName("Every")>]
    let every (interval: int64) (action: int64 -> 'S -> unit) : ITrainingCallback<'S> =
        if interval < 1L then invalidArg (nameof interval) $"interval must be at least 1, got {interval}."
        create (fun steps state _ ->
            if steps % interval = 0L then action steps state
            CallbackDecision.Continue)

    /// <summary>Stops the run at the first evaluation whose mean return reaches <paramref name="threshold"/>
    /// (SB3's StopTrainingOnRewardThreshold).</summary>
    [<CompiledName("StopAtEvalReturn")>]
    let stopAtEvalReturn (threshold: float) : ITrainingCallback<'S> =
        if Double.IsNaN threshold then invalidArg (nameof threshold) "threshold must not be NaN."
        create (fun steps _ record ->
            match record with
            | Some { EvalReturn = Some mean } when mean >= threshold ->
                CallbackDecision.Stop $"evaluation return {mean:F2} reached the threshold {threshold:F2} at step {steps}"
            | _ -> CallbackDecision.Continue)

/// <summary>The loop every trainer runs: fold its step over the environment steps, passing each step to the callbacks.</summary>
[<RequireQualifiedAccess>]
module TrainingLoop =

    /// <summary>
    /// Applies <paramref name="step"/> from <paramref name="state"/> until <paramref name="stepsOf"/> reaches
    /// <paramref name="totalSteps"/> or a callback answers Stop; every callback sees every step, in order.
    /// </summary>
    [<CompiledName("RunUntil")>]
    let runUntil (step: 'S -> struct ('S * TrainingRecord option)) (stepsOf: 'S -> int64) (state: 'S) (totalSteps: int64)
                 (callbacks: ITrainingCallback<'S> list) : RunOutcome<'S> =
        let mutable s = state
        let mutable stop = None
        while stop.IsNone && stepsOf s < totalSteps do
            let struct (next, record) = step s
            s <- next
            let steps = stepsOf s
            for c in callbacks do
                match c.OnStep(steps, s, record) with
                | CallbackDecision.Stop reason when stop.IsNone -> stop <- Some reason
                | _ -> ()
        { State = s; StopReason = stop }

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
/// <remarks>
/// Everything random in a run is a function of the seed and a counter held in <see cref="TrainingState"/> (acting and
/// warm-up noise by environment step, minibatches by draw, the learner's noise by update, environment resets by
/// episode), so <see cref="Save"/> and <see cref="Resume"/> continue a run exactly: with the replay buffer saved, the
/// resumed run's metrics and parameters are bitwise those of the uninterrupted one.
/// </remarks>
/// <para>With a backend (see <see cref="T:Sac.Cuda.Backend.ISacBackend"/>), the learner lives on it and every update
/// runs there (<see cref="DeviceSac"/>): the actor is copied back after each round of updates for acting, the whole
/// learner for checkpoints and at the end of a run. Updates on a backend check the metrics and the actor for NaN
/// and infinity; the critics are checked when they are copied back.</para>
[<Sealed>]
type Trainer(environmentId: string, config: SacConfig, gemm: IGemm, backend: Sac.Cuda.Backend.ISacBackend | null) =
    do config.ThrowIfInvalid() |> ignore
    let env = RescaleAction(EnvironmentRegistry.MakeChecked environmentId) :> IEnvironment
    let evalEnv = RescaleAction(EnvironmentRegistry.MakeChecked environmentId) :> IEnvironment
    let o, a = env.ObservationSpace.Dimension, env.ActionSpace.Dimension
    let ctx = SacContext(config, o, a, gemm)
    let root = PhiloxKey.FromSeed config.Seed
    // Distinct streams for acting, warm-up actions and replay sampling, all from the run's seed.
    let actKey = root.FoldIn 0x41435430u
    let warmupKey = root.FoldIn 0x57524d55u
    let sampleKey = root.FoldIn 0x53414d50u
    let mutable replay = ReplayBuffer(config.BufferSize, o, a)
    let batch = Batch(config.BatchSize, o, a)
    let policyWs = PolicyWorkspace(ctx.Networks)
    let obs = Array.zeroCreate<float32> o
    let nextObs = Array.zeroCreate<float32> o
    let action = Array.zeroCreate<float32> a
    let tape = EpisodeTape.For env
    let mutable checkpointEvery = 0L
    let clock = TrainingClock()
    let device = match backend with null -> None | b -> Some(new DeviceSacContext(config, o, a, b))
    let mutable deviceLearner: DeviceLearner option = None
    let onDevice (learner: Sac.Core.Data.LearnerState) =
        match device with
        | Some dctx ->
            deviceLearner |> Option.iter (fun d -> (d :> IDisposable).Dispose())
            deviceLearner <- Some(DeviceSac.upload dctx learner)
        | None -> ()
    // The host learner with everything the device holds copied back (the same learner without a backend).
    let synced (envSteps: int64) (learner: Sac.Core.Data.LearnerState) =
        match device, deviceLearner with
        | Some dctx, Some d ->
            let full = DeviceSac.download dctx d
            NumericalCheck.require "critic parameters" envSteps learner.Step (ReadOnlySpan full.Critic)
            full
        | _ -> learner
    // Updates wait for LearningStarts transitions: true of a fresh run by construction, and what makes a run resumed
    // without its replay buffer refill it before learning again.
    let enoughData () = replay.Count > 0 && replay.Count >= min config.LearningStarts replay.Capacity

    let metricsArray (m: SacMetrics) =
        [| m.CriticLoss; m.ActorLoss; m.AlphaLoss; m.ValueLoss; m.Alpha; m.Entropy; m.MeanQ |]

    let metricsOf (values: Collections.Generic.IReadOnlyList<float32>) =
        { CriticLoss = values.[0]; ActorLoss = values.[1]; AlphaLoss = values.[2]; ValueLoss = values.[3]
          Alpha = values.[4]; Entropy = values.[5]; MeanQ = values.[6] }

    /// <summary>A trainer whose updates run on the CPU.</summary>
    new(environmentId: string, config: SacConfig, gemm: IGemm) = new Trainer(environmentId, config, gemm, null)

    /// <summary>The learner's fixed parts.</summary>
    member _.Context = ctx
    /// <summary>The backend the updates run on, or null for the CPU.</summary>
    member _.Backend = backend
    /// <summary>The environment id.</summary>
    member _.EnvironmentId = environmentId
    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>The replay buffer (replaced by <see cref="Resume"/> when the checkpoint holds one).</summary>
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
        tape.Clear()
        replay <- ReplayBuffer(config.BufferSize, o, a)
        clock.Restart()
        let learner = Sac.init ctx config.Seed
        onDevice learner
        { Learner = learner; EnvSteps = 0L; Episodes = 0; EpisodeReturn = 0.0; EpisodeLength = 0
          Draws = 0UL; LastMetrics = ValueNone }

    /// <summary>
    /// One environment step: act (uniform random before LearningStarts), store the transition, reset at episode end,
    /// then GradientSteps updates every TrainFrequency steps once learning has started (each checked for NaN and
    /// infinity, see <see cref="NumericalCheck"/>), then evaluation every EvalInterval steps. Returns the next state
    /// and the record of this step, if an episode ended or an evaluation ran.
    /// </summary>
    /// <exception cref="T:Sac.Core.Runs.NumericalFaultException">An update produced a NaN or infinite loss, gradient or parameter.</exception>
    member _.Step(state: TrainingState) : struct (TrainingState * TrainingRecord option) =
        let t = state.EnvSteps
        if t < int64 config.LearningStarts then
            for j in 0 .. a - 1 do
                action.[j] <- 2.0f * Philox.Uniform(warmupKey, uint64 t * uint64 a + uint64 j) - 1.0f
        else
            Policy.act ctx policyWs state.Learner.Actor (Stochastic(actKey, uint64 t)) (ReadOnlySpan obs) (Span action)
        let r = env.Step(ReadOnlySpan action, Span nextObs)
        tape.Record(ReadOnlySpan action)
        // The true next observation is stored even on truncation: the target bootstraps from it.
        replay.Add(ReadOnlySpan obs, ReadOnlySpan action, r.Reward, ReadOnlySpan nextObs, r.Terminated, r.Truncated)
        let episodeReturn = state.EpisodeReturn + float r.Reward
        let episodeLength = state.EpisodeLength + 1
        let ended = r.Terminated || r.Truncated
        if ended then
            env.Reset(Nullable(), Span obs)
            tape.Clear()
        else Array.blit nextObs 0 obs 0 o
        let steps = t + 1L
        let mutable learner = state.Learner
        let mutable draws = state.Draws
        let mutable last = state.LastMetrics
        if steps > int64 config.LearningStarts && steps % int64 config.TrainFrequency = 0L && enoughData () then
            let t0 = Stopwatch.GetTimestamp()
            match device, deviceLearner with
            | Some dctx, Some d ->
                for _ in 1 .. config.GradientSteps do
                    replay.Sample(sampleKey, draws, batch)
                    draws <- draws + 1UL
                    let m = DeviceSac.update dctx batch d
                    NumericalCheck.sacMetrics steps d.Step m
                    last <- ValueSome m
                // The host keeps the actor current for acting; the rest is copied back on demand.
                DeviceSac.downloadActor dctx d learner.Actor
                NumericalCheck.require "actor parameters" steps d.Step (ReadOnlySpan learner.Actor)
                learner <- Sac.Core.Data.LearnerState(learner.Actor, learner.Critic, learner.TargetCritic, learner.Value, learner.TargetValue,
                                                      learner.ActorOptimizer, learner.CriticOptimizer, learner.AlphaOptimizer, learner.ValueOptimizer,
                                                      d.LogAlpha, d.Step, learner.Key)
            | _ ->
                for _ in 1 .. config.GradientSteps do
                    replay.Sample(sampleKey, draws, batch)
                    draws <- draws + 1UL
                    let struct (next, m) = Sac.update ctx batch learner
                    NumericalCheck.sacUpdate ctx steps next m
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

    /// <summary>
    /// Writes a training checkpoint: the learner, the loop's progress toward <paramref name="totalSteps"/>, the
    /// running episode's actions and, with <paramref name="includeReplay"/>, the replay buffer (needed for an exact
    /// resume). Atomic: a crash while saving leaves the previous file at <paramref name="path"/> intact.
    /// </summary>
    member _.Save(path: string, state: TrainingState, totalSteps: int64, includeReplay: bool) =
        let progress =
            Resuming.progress totalSteps state.Episodes state.EpisodeReturn state.EpisodeLength state.Draws
                (ValueOption.map metricsArray state.LastMetrics) checkpointEvery
        let header =
            CheckpointHeader("sac", environmentId, o, a, config.HiddenSizes, config.Variant.ToString(), state.EnvSteps, Progress = progress)
        let metadata = dict [ Checkpoint.ConfigMetadataKey, ConfigJson.Serialize config ]
        Checkpoint.Save(path, header, synced state.EnvSteps state.Learner, (if includeReplay then (replay: ReplayBuffer | null) else null), tape.Actions,
                        Collections.Generic.Dictionary(metadata))

    /// <summary>
    /// The state a training checkpoint describes, with this trainer's environment and replay buffer brought to the
    /// same point: the environment is reset as often as the saved run reset it and the running episode's actions are
    /// replayed, so the next step continues exactly where the saved run was. Without a saved replay buffer the
    /// buffer starts empty and updates wait until it holds LearningStarts transitions again.
    /// </summary>
    /// <exception cref="T:System.ArgumentException">The checkpoint is not a SAC training checkpoint of this environment
    /// and configuration (the message names what differs), or replaying its episode does not reproduce its return.</exception>
    member _.Resume(checkpoint: TrainingCheckpoint) : TrainingState =
        let h = checkpoint.Header
        if h.Algorithm <> "sac" then Resuming.fail $"it was written by '{h.Algorithm}', not sac"
        Resuming.requireEnvironment environmentId h.EnvironmentId
        if h.ObservationSize <> o || h.ActionSize <> a then
            Resuming.fail $"its sizes (observation {h.ObservationSize}, action {h.ActionSize}) differ from {environmentId}'s ({o}, {a})"
        Resuming.requireSizes "hidden sizes" config.HiddenSizes h.HiddenSizes
        if h.Variant <> config.Variant.ToString() then Resuming.fail $"it is SAC {h.Variant}, the configuration asks for {config.Variant}"
        let progress = Resuming.requireProgress h.Progress
        let lastMetrics = Resuming.lastMetrics "SAC" 7 metricsOf progress
        replay <- Resuming.replay config.BufferSize (fun () -> ReplayBuffer(config.BufferSize, o, a)) checkpoint.Replay
        tape.Rebuild(env, config.Seed, progress.Episodes, checkpoint.EpisodeActions, progress.EpisodeReturn, obs)
        clock.Restart()
        onDevice checkpoint.State
        { Learner = checkpoint.State; EnvSteps = h.EnvironmentSteps; Episodes = progress.Episodes
          EpisodeReturn = progress.EpisodeReturn; EpisodeLength = progress.EpisodeLength; Draws = progress.Draws
          LastMetrics = lastMetrics }

    /// <summary>Runs <paramref name="steps"/> environment steps from <paramref name="state"/>, passing every record to
    /// <paramref name="onRecord"/>; returns the final state.</summary>
    member this.Run(state: TrainingState, steps: int64, onRecord: Action<TrainingRecord>) : TrainingState =
        TrainingLoop.run this.Step state steps onRecord

    /// <summary>Steps from <paramref name="state"/> until <paramref name="totalSteps"/> environment steps have been
    /// taken or a callback stops the run.</summary>
    member this.RunTo(state: TrainingState, totalSteps: int64, callbacks: seq<ITrainingCallback<TrainingState>>) : RunOutcome<TrainingState> =
        let outcome = TrainingLoop.runUntil this.Step (fun s -> s.EnvSteps) state totalSteps (List.ofSeq callbacks)
        { outcome with State = { outcome.State with Learner = synced outcome.State.EnvSteps outcome.State.Learner } }

    /// <summary>A callback that writes a training checkpoint to <paramref name="path"/> every
    /// <paramref name="interval"/> environment steps (atomically replacing the previous one).</summary>
    member this.CheckpointEvery(interval: int64, path: string, totalSteps: int64, includeReplay: bool) : ITrainingCallback<TrainingState> =
        let callback = Callback.every interval (fun _ s -> this.Save(path, s, totalSteps, includeReplay))
        checkpointEvery <- interval
        callback

    /// <summary>Deterministic evaluation of the current actor over <paramref name="episodes"/> episodes.</summary>
    member _.Evaluate(state: TrainingState, episodes: int, seed: uint64) =
        Evaluation.run ctx policyWs state.Learner.Actor evalEnv episodes seed

    /// <summary>Releases the learner's backend memory (nothing without a backend).</summary>
    member _.Dispose() =
        deviceLearner |> Option.iter (fun d -> (d :> IDisposable).Dispose())
        deviceLearner <- None
        device |> Option.iter (fun d -> (d :> IDisposable).Dispose())

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>Training entry points for scripts: one call from a configuration to a trained learner.</summary>
[<RequireQualifiedAccess>]
module Training =

    /// <summary>Trains SAC on <paramref name="environmentId"/> for <paramref name="steps"/> environment steps.</summary>
    [<CompiledName("Train")>]
    let train (gemm: IGemm) (environmentId: string) (config: SacConfig) (steps: int64) (onRecord: TrainingRecord -> unit) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        let trainer = new Trainer(environmentId, config, gemm)
        let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
        trainer, final
