namespace Sac.Fs

open System
open System.Diagnostics
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>The explicit state an off-policy run folds over (the replay buffer and environments are the preallocated,
/// mutable workspace held by <see cref="T:Sac.Fs.OffPolicyTrainer`2"/>).</summary>
[<Struct>]
type OffPolicyState<'L, 'M> =
    { /// <summary>The learner.</summary>
      Learner: 'L
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
      LastMetrics: 'M voption }

/// <summary>
/// The one off-policy training engine: stepping, storing, update scheduling, evaluation, callbacks, checkpoints and
/// exact resume, for any <see cref="T:Sac.Fs.IOffPolicyAlgorithm`2"/> on any environment.
/// </summary>
/// <remarks>
/// Everything random in a run is a function of the seed and a counter held in the state (acting and warm-up noise by
/// environment step, minibatches by draw, the learner's noise by update, environment resets by episode), so
/// <see cref="Save"/> and <see cref="Resume"/> continue a run exactly: with the replay buffer saved, the resumed run's
/// records and parameters are bitwise those of the uninterrupted one.
/// </remarks>
/// <param name="environmentId">The id checkpoints record and resumes require.</param>
/// <param name="env">The training environment, in the algorithm's action coordinates.</param>
/// <param name="evalEnv">A second instance for evaluations.</param>
/// <param name="algorithm">The algorithm; the trainer disposes it.</param>
type OffPolicyTrainer<'L, 'M>(environmentId: string, env: IEnvironment, evalEnv: IEnvironment, algorithm: IOffPolicyAlgorithm<'L, 'M>) =
    let schedule = algorithm.Schedule
    let o = env.ObservationSpace.Dimension
    let a = algorithm.ReplayActionSize
    let sampleKey = PhiloxKey.FromSeed(schedule.Seed).FoldIn 0x53414d50u
    let mutable replay = ReplayBuffer(schedule.BufferSize, o, a)
    let batch = Batch(schedule.BatchSize, o, a)
    let obs = Array.zeroCreate<float32> o
    let nextObs = Array.zeroCreate<float32> o
    let action = Array.zeroCreate<float32> a
    let tape = EpisodeTape.For env
    let mutable checkpointEvery = 0L
    // The run's length, for the learning-rate schedule: set by Run and RunTo (0: unknown, the configured rates).
    let mutable runLength = 0L
    let clock = TrainingClock()
    let timings = TrainingTimings()
    let learningStarts = int64 schedule.LearningStarts
    let names = algorithm.MetricNames
    // Updates wait for LearningStarts transitions: true of a fresh run by construction, and what makes a run resumed
    // without its replay buffer refill it before learning again.
    let enoughData () = replay.Count > 0 && replay.Count >= min schedule.LearningStarts replay.Capacity

    /// <summary>The algorithm.</summary>
    member _.Algorithm = algorithm
    /// <summary>The environment id.</summary>
    member _.EnvironmentId = environmentId
    /// <summary>The replay buffer (a fresh one at <see cref="Start"/>; replaced by <see cref="Resume"/>).</summary>
    member _.Replay = replay
    /// <summary>The training environment.</summary>
    member _.Environment = env
    /// <summary>The evaluation environment.</summary>
    member _.EvaluationEnvironment = evalEnv
    /// <summary>Seed of the periodic evaluations: far from training's, fixed per run.</summary>
    member _.EvaluationSeed = schedule.Seed + 1_000_000UL
    /// <summary>Where the wall time of the steps since <see cref="Start"/> or <see cref="Resume"/> went, by phase.</summary>
    member _.Timings = timings
    /// <summary>The run's length in environment steps, which a linear learning-rate schedule reaches zero at:
    /// <see cref="Run"/> and <see cref="RunTo"/> set it; set it before calling <see cref="Step"/> directly (0, the
    /// default, means unknown: the configured rates).</summary>
    member _.RunLength with get () = runLength and set (v: int64) = runLength <- max 0L v

    /// <summary>A fresh learner, an empty replay buffer and the first observation (the environment reset with the run's seed).</summary>
    member _.Start() : OffPolicyState<'L, 'M> =
        env.Reset(Nullable schedule.Seed, Span obs)
        tape.Clear()
        if replay.TotalAdded > 0L then replay <- ReplayBuffer(schedule.BufferSize, o, a)
        clock.Restart()
        timings.Reset()
        let learner = algorithm.Init()
        algorithm.Attach learner
        { Learner = learner; EnvSteps = 0L; Episodes = 0; EpisodeReturn = 0.0; EpisodeLength = 0; Draws = 0UL; LastMetrics = ValueNone }

    /// <summary>
    /// One environment step: act, store the transition (the true next observation, even on truncation: the target
    /// bootstraps from it), reset at episode end, then GradientSteps checked updates every TrainFrequency steps once
    /// learning has started and the buffer holds LearningStarts transitions, then an evaluation every EvalInterval
    /// steps. Returns the next state and this step's record, if an episode ended or an evaluation ran.
    /// </summary>
    /// <param name="state">The state before the step.</param>
    /// <exception cref="T:Sac.Core.Runs.NumericalFaultException">An update produced a NaN or infinite value.</exception>
    member _.Step(state: OffPolicyState<'L, 'M>) : struct (OffPolicyState<'L, 'M> * TrainingRecord option) =
        let t = state.EnvSteps
        let mutable mark = Stopwatch.GetTimestamp()
        algorithm.Act(state.Learner, t, ReadOnlySpan obs, Span action)
        mark <- timings.Add(TrainingPhase.Acting, mark)
        let r = env.Step(ReadOnlySpan action, Span nextObs)
        mark <- timings.Add(TrainingPhase.Environment, mark)
        tape.Record(ReadOnlySpan action)
        replay.Add(ReadOnlySpan obs, ReadOnlySpan action, r.Reward, ReadOnlySpan nextObs, r.Terminated, r.Truncated)
        let episodeReturn = state.EpisodeReturn + float r.Reward
        let episodeLength = state.EpisodeLength + 1
        let ended = r.Terminated || r.Truncated
        if ended then
            mark <- timings.Add(TrainingPhase.Storing, mark)
            env.Reset(Nullable(), Span obs)
            tape.Clear()
            mark <- timings.Add(TrainingPhase.Environment, mark)
        else
            Array.blit nextObs 0 obs 0 o
            mark <- timings.Add(TrainingPhase.Storing, mark)
        let steps = t + 1L
        algorithm.AfterEnvironmentStep(steps, state.Learner)
        let mutable learner = state.Learner
        let mutable draws = state.Draws
        let mutable last = state.LastMetrics
        if steps > learningStarts && steps % int64 schedule.TrainFrequency = 0L && enoughData () then
            let t0 = mark
            let rateFactor = LearningRateSchedules.Factor(schedule.LearningRateSchedule, steps, runLength)
            for _ in 1 .. schedule.GradientSteps do
                mark <- timings.Add(TrainingPhase.Updating, mark)
                replay.Sample(sampleKey, draws, batch)
                draws <- draws + 1UL
                mark <- timings.Add(TrainingPhase.Sampling, mark)
                let struct (next, m) = algorithm.Update(steps, rateFactor, batch, learner)
                learner <- next
                last <- ValueSome m
            learner <- algorithm.AfterUpdates(steps, learner)
            clock.AddUpdates(schedule.GradientSteps, t0)
        mark <- timings.Add(TrainingPhase.Updating, mark)
        let evaluation =
            if schedule.EvalInterval > 0 && steps % int64 schedule.EvalInterval = 0L then
                let e = algorithm.Evaluate(learner, evalEnv, schedule.EvalEpisodes, schedule.Seed + 1_000_000UL)
                timings.Add(TrainingPhase.Evaluating, mark) |> ignore
                Some(e.Mean, e.Std)
            else None
        let next =
            { Learner = learner; EnvSteps = steps; Episodes = (if ended then state.Episodes + 1 else state.Episodes)
              EpisodeReturn = (if ended then 0.0 else episodeReturn); EpisodeLength = (if ended then 0 else episodeLength)
              Draws = draws; LastMetrics = last }
        let record =
            if ended || evaluation.IsSome then
                let metrics = match last with ValueSome m -> ValueSome { Names = names; Values = algorithm.Report(steps, m) } | ValueNone -> ValueNone
                clock.Record(steps, next.Episodes, ended, episodeReturn, episodeLength, evaluation, metrics)
            else None
        struct (next, record)

    /// <summary>Runs <paramref name="steps"/> environment steps from <paramref name="state"/>, passing every record to
    /// <paramref name="onRecord"/>; returns the final state (its learner as acting left it; see <see cref="RunTo"/>).</summary>
    /// <param name="state">The starting state.</param>
    /// <param name="steps">Environment steps to take.</param>
    /// <param name="onRecord">Receives each record.</param>
    member this.Run(state: OffPolicyState<'L, 'M>, steps: int64, onRecord: Action<TrainingRecord>) : OffPolicyState<'L, 'M> =
        runLength <- state.EnvSteps + steps
        let final = TrainingLoop.run this.Step state steps onRecord
        { final with Learner = algorithm.Synced(final.EnvSteps, final.Learner) }

    /// <summary>Steps from <paramref name="state"/> until <paramref name="totalSteps"/> environment steps have been
    /// taken or a callback stops the run; the outcome's learner is whole on the host.</summary>
    /// <param name="state">The starting state.</param>
    /// <param name="totalSteps">The environment step count to stop at.</param>
    /// <param name="callbacks">Called after every step, in order.</param>
    member this.RunTo(state: OffPolicyState<'L, 'M>, totalSteps: int64, callbacks: seq<ITrainingCallback<OffPolicyState<'L, 'M>>>) =
        runLength <- totalSteps
        // The callbacks' time (metrics rows, checkpoints, progress) is counted as their own phase.
        let timed =
            [ for c in callbacks ->
                Callback.create (fun steps s record ->
                    let start = Stopwatch.GetTimestamp()
                    let decision = c.OnStep(steps, s, record)
                    timings.Add(TrainingPhase.Callbacks, start) |> ignore
                    decision) ]
        let outcome = TrainingLoop.runUntil this.Step (fun s -> s.EnvSteps) state totalSteps timed
        { outcome with State = { outcome.State with Learner = algorithm.Synced(outcome.State.EnvSteps, outcome.State.Learner) } }

    /// <summary>
    /// Writes a training checkpoint: the learner, the loop's progress toward <paramref name="totalSteps"/>, the
    /// running episode's actions and, with <paramref name="includeReplay"/>, the replay buffer (needed for an exact
    /// resume). Atomic: a crash while saving leaves the previous file at <paramref name="path"/> intact.
    /// </summary>
    /// <param name="path">The checkpoint file to create or replace.</param>
    /// <param name="state">The state to save (its arrays are only read).</param>
    /// <param name="totalSteps">The environment steps the run was asked for.</param>
    /// <param name="includeReplay">Whether to save the replay buffer too.</param>
    member _.Save(path: string, state: OffPolicyState<'L, 'M>, totalSteps: int64, includeReplay: bool) =
        let metrics = match state.LastMetrics with ValueSome m -> ValueSome(algorithm.MetricValues m) | ValueNone -> ValueNone
        let progress =
            Resuming.progress totalSteps state.Episodes state.EpisodeReturn state.EpisodeLength state.Draws metrics checkpointEvery
        algorithm.Save(path, algorithm.Synced(state.EnvSteps, state.Learner), environmentId, state.EnvSteps, progress,
                       (if includeReplay then (replay: ReplayBuffer | null) else null), tape.Actions)

    /// <summary>Reads a training checkpoint for <see cref="Resume"/> (a damaged file raises <see cref="T:Sac.Core.Runs.CheckpointException"/>).</summary>
    /// <param name="path">The checkpoint file.</param>
    member _.Load(path: string) : ResumePoint<'L> = algorithm.Load path

    /// <summary>
    /// The state a training checkpoint describes, with this trainer's environment and replay buffer brought to the
    /// same point: the environment is reset as often as the saved run reset it and the running episode's actions are
    /// replayed, so the next step continues exactly where the saved run was. Without a saved replay buffer the
    /// buffer starts empty and updates wait until it holds LearningStarts transitions again.
    /// </summary>
    /// <param name="point">What <see cref="Load"/> read.</param>
    /// <exception cref="T:System.ArgumentException">The checkpoint is not a training checkpoint of this algorithm,
    /// environment and configuration (the message names what differs), or replaying its episode does not reproduce
    /// its return.</exception>
    member _.Resume(point: ResumePoint<'L>) : OffPolicyState<'L, 'M> =
        point.Mismatch |> Option.iter Resuming.fail
        Resuming.requireEnvironment environmentId point.EnvironmentId
        let struct (actionName, actions) = algorithm.Actions
        if point.ObservationSize <> o || point.ActionSize <> actions then
            Resuming.fail $"its sizes (observation {point.ObservationSize}, {actionName} {point.ActionSize}) differ from {environmentId}'s ({o}, {actions})"
        let progress = Resuming.requireProgress point.Progress
        let lastMetrics = Resuming.lastMetrics algorithm.Name algorithm.MetricCount algorithm.MetricsOf progress
        replay <- Resuming.replay schedule.BufferSize (fun () -> ReplayBuffer(schedule.BufferSize, o, a)) point.Replay
        tape.Rebuild(env, schedule.Seed, progress.Episodes, point.EpisodeActions, progress.EpisodeReturn, obs)
        clock.Restart()
        timings.Reset()
        algorithm.Attach point.Learner
        { Learner = point.Learner; EnvSteps = point.EnvironmentSteps; Episodes = progress.Episodes
          EpisodeReturn = progress.EpisodeReturn; EpisodeLength = progress.EpisodeLength; Draws = progress.Draws
          LastMetrics = lastMetrics }

    /// <summary>A callback that writes a training checkpoint to <paramref name="path"/> every
    /// <paramref name="interval"/> environment steps (atomically replacing the previous one); the interval is stored
    /// in the checkpoints' progress so a resumed run can keep it.</summary>
    /// <param name="interval">Environment steps between checkpoints, at least 1.</param>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="totalSteps">The environment steps the run was asked for.</param>
    /// <param name="includeReplay">Whether each checkpoint saves the replay buffer.</param>
    member this.CheckpointEvery(interval: int64, path: string, totalSteps: int64, includeReplay: bool) : ITrainingCallback<OffPolicyState<'L, 'M>> =
        let callback = Callback.every interval (fun _ s -> this.Save(path, s, totalSteps, includeReplay))
        checkpointEvery <- interval
        callback

    /// <summary>Evaluates the learner of <paramref name="state"/> over <paramref name="episodes"/> episodes with the
    /// algorithm's evaluation policy (episode k seeded <c>seed + k</c>).</summary>
    /// <param name="state">The state whose learner acts.</param>
    /// <param name="episodes">At least 1.</param>
    /// <param name="seed">The evaluation seed.</param>
    member _.Evaluate(state: OffPolicyState<'L, 'M>, episodes: int, seed: uint64) =
        algorithm.Evaluate(state.Learner, evalEnv, episodes, seed)

    /// <summary>Releases what the algorithm holds (device memory for a CUDA learner; nothing on the CPU). A trainer
    /// whose algorithm holds such memory implements <see cref="T:System.IDisposable"/> with this.</summary>
    member _.Dispose() = algorithm.Dispose()
