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
/// <param name="env">The training environment, in the algorithm's action coordinates (the first, with several).</param>
/// <param name="evalEnv">A second instance for evaluations.</param>
/// <param name="algorithm">The algorithm; the trainer disposes it.</param>
/// <param name="makeEnvironment">Makes more instances like <paramref name="env"/>, for
/// <see cref="UseEnvironments"/>; null when the trainer steps only <paramref name="env"/>.</param>
type OffPolicyTrainer<'L, 'M>(environmentId: string, env: IEnvironment, evalEnv: IEnvironment, algorithm: IOffPolicyAlgorithm<'L, 'M>,
                              makeEnvironment: Func<IEnvironment> | null) =
    let schedule = algorithm.Schedule
    let o = env.ObservationSpace.Dimension
    let a = algorithm.ReplayActionSize
    let sampleKey = PhiloxKey.FromSeed(schedule.Seed).FoldIn 0x53414d50u
    let mutable replay = ReplayBuffer(schedule.BufferSize, o, a)
    let batch = Batch(schedule.BatchSize, o, a)
    let samplingTeam = algorithm.SamplingTeam
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
    // Several environments stepped together (Stable-Baselines3's VecEnv with n_envs): env i is reset with seed + i,
    // acts from row i of one batched forward pass, and its transitions enter the replay buffer in environment order.
    // The per-environment episode counters live here beside the environments they describe (state keeps their
    // total and environment 0's running episode); with one environment none of this is used.
    let mutable envs = [| env |]
    let mutable observations = Array.empty<float32>
    let mutable nextObservations = Array.empty<float32>
    let mutable actions = Array.empty<float32>
    let mutable tapes = [| tape |]
    let mutable laneEpisodes = Array.empty<int>
    let mutable laneReturn = Array.empty<float>
    let mutable laneLength = Array.empty<int>
    let mutable endedReturn = Array.empty<float>
    let mutable endedLength = Array.empty<int>
    let mutable endedEpisode = Array.empty<int>
    let records = Collections.Generic.List<TrainingRecord>()
    // SB3's VecNormalize (the configuration's Normalize): running statistics of the training environments'
    // observations and discounted returns, fresh at Start and restored by Resume. The replay buffer keeps raw
    // transitions; acting, minibatches and evaluation see normalised ones.
    let mutable normalizer : VecNormalize | null = null
    let mutable evaluationEnv = evalEnv
    let actingObs = Array.zeroCreate<float32> o
    let mutable actingObservations = Array.empty<float32>
    let mutable stepRewards = Array.zeroCreate<float32> 1
    let mutable stepEnded = Array.zeroCreate<bool> 1
    let freshNormalizer () =
        normalizer <-
            match schedule.Normalize with
            | null -> null
            | settings -> VecNormalize(settings, o, envs.Length, float schedule.Gamma)
        evaluationEnv <- NormalizeObservation.Around(evalEnv, normalizer)
    // What the policy acts on: the raw observations, or their normalisation written into `into`.
    let acting (raw: float32[]) (into: float32[]) : ReadOnlySpan<float32> =
        match normalizer with
        | null -> ReadOnlySpan raw
        | n ->
            n.NormalizeObservations(ReadOnlySpan raw, Span into)
            ReadOnlySpan into
    // After a (vectorised) step: the statistics take the rewards and what the environments now show.
    let observeStep (shown: float32[]) =
        match normalizer with
        | null -> ()
        | n -> n.ObserveStep(ReadOnlySpan shown, ReadOnlySpan stepRewards, ReadOnlySpan stepEnded)
    let useEnvironments (count: int) =
        if count < 1 then invalidArg (nameof count) $"the number of environments must be at least 1, got {count}."
        if count > 1 && isNull makeEnvironment then
            invalidArg (nameof count) $"this trainer was given one environment and no way to make more; it cannot step {count}."
        if count <> envs.Length then
            envs <- Array.init count (fun i -> if i < envs.Length then envs.[i] else (nonNull makeEnvironment).Invoke())
            tapes <- Array.init count (fun i -> if i = 0 then tape else EpisodeTape.For envs.[i])
            observations <- Array.zeroCreate (count * o)
            nextObservations <- Array.zeroCreate (count * o)
            actions <- Array.zeroCreate (count * a)
            laneEpisodes <- Array.zeroCreate count
            laneReturn <- Array.zeroCreate count
            laneLength <- Array.zeroCreate count
            endedReturn <- Array.zeroCreate count
            endedLength <- Array.zeroCreate count
            endedEpisode <- Array.zeroCreate count
            actingObservations <- Array.zeroCreate (count * o)
            stepRewards <- Array.zeroCreate count
            stepEnded <- Array.zeroCreate count
    // The configuration's nEnvs (SB3's n_envs) is the count a run starts with; UseEnvironments may change it.
    do useEnvironments schedule.Environments

    /// <summary>A trainer that steps <paramref name="env"/> alone.</summary>
    /// <param name="environmentId">The id checkpoints record and resumes require.</param>
    /// <param name="env">The training environment, in the algorithm's action coordinates.</param>
    /// <param name="evalEnv">A second instance for evaluations.</param>
    /// <param name="algorithm">The algorithm; the trainer disposes it.</param>
    new(environmentId: string, env: IEnvironment, evalEnv: IEnvironment, algorithm: IOffPolicyAlgorithm<'L, 'M>) =
        OffPolicyTrainer(environmentId, env, evalEnv, algorithm, null)

    /// <summary>How many copies of the environment each step steps together (1 unless <see cref="UseEnvironments"/>
    /// set more).</summary>
    member _.EnvironmentCount = envs.Length

    /// <summary>The training environments, the first being <see cref="Environment"/>.</summary>
    member _.Environments : IEnvironment[] = Array.copy envs

    /// <summary>
    /// Steps <paramref name="count"/> copies of the environment together from the next <see cref="Start"/> or
    /// <see cref="Resume"/> on (a trainer starts with its configuration's nEnvs), as Stable-Baselines3 does with n_envs: every step steps all of them (the environment
    /// step count grows by <paramref name="count"/>), acting for all in one batched pass; TrainFrequency counts these
    /// vectorised steps, each round of GradientSteps updates as configured; copy i is reset with seed + i and resets
    /// on its own when its episode ends; evaluation stays on one environment. A run asked for a step count that is
    /// not a multiple of <paramref name="count"/> stops at the first vectorised step that reaches it.
    /// </summary>
    /// <param name="count">At least 1.</param>
    /// <exception cref="T:System.ArgumentException"><paramref name="count"/> is below 1, or above 1 for a trainer
    /// made without a way to make more environments.</exception>
    member _.UseEnvironments(count: int) = useEnvironments count

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
    /// <summary>The observation and return statistics of a run that normalises (the configuration's
    /// <c>Normalize</c>), as training left them; null without normalisation or before <see cref="Start"/>.</summary>
    member _.Normalization : VecNormalize | null = normalizer
    /// <summary>The run's length in environment steps, which a linear learning-rate schedule reaches zero at:
    /// <see cref="Run"/> and <see cref="RunTo"/> set it; set it before calling <see cref="Step"/> directly (0, the
    /// default, means unknown: the configured rates).</summary>
    member _.RunLength with get () = runLength and set (v: int64) = runLength <- max 0L v

    /// <summary>A fresh learner, an empty replay buffer and the first observation (the environment reset with the run's seed).</summary>
    member _.Start() : OffPolicyState<'L, 'M> =
        env.Reset(Nullable schedule.Seed, Span obs)
        tape.Clear()
        if envs.Length > 1 then
            // SB3 seeds env i of a VecEnv with seed + i.
            for i in 0 .. envs.Length - 1 do
                envs.[i].Reset(Nullable(schedule.Seed + uint64 i), Span(observations, i * o, o))
                tapes.[i].Clear()
            Array.Clear laneEpisodes
            Array.Clear laneReturn
            Array.Clear laneLength
        if replay.TotalAdded > 0L then replay <- ReplayBuffer(schedule.BufferSize, o, a)
        freshNormalizer ()
        match normalizer with
        | null -> ()
        | n -> n.ObserveReset(if envs.Length = 1 then ReadOnlySpan obs else ReadOnlySpan observations)
        clock.Restart()
        timings.Reset()
        let learner = algorithm.Init()
        algorithm.Attach learner
        { Learner = learner; EnvSteps = 0L; Episodes = 0; EpisodeReturn = 0.0; EpisodeLength = 0; Draws = 0UL; LastMetrics = ValueNone }

    /// <summary>
    /// One environment step: act, store the transition (the true next observation, even on truncation: the target
    /// bootstraps from it), reset at episode end, then GradientSteps checked updates every TrainFrequency steps once
    /// learning has started and the buffer holds LearningStarts transitions, then an evaluation every EvalInterval
    /// steps. Returns the next state and this step's record, if an episode ended or an evaluation ran. With several
    /// environments (<see cref="UseEnvironments"/>) it is one vectorised step (<see cref="StepAll"/>) and returns
    /// only its last record; <see cref="StepAll"/>, <see cref="Run"/> and <see cref="RunTo"/> pass on every one.
    /// </summary>
    /// <param name="state">The state before the step.</param>
    /// <exception cref="T:Sac.Core.Runs.NumericalFaultException">An update produced a NaN or infinite value.</exception>
    member this.Step(state: OffPolicyState<'L, 'M>) : struct (OffPolicyState<'L, 'M> * TrainingRecord option) =
        if envs.Length = 1 then this.StepOne state
        else
            records.Clear()
            let next = this.StepAll(state, records)
            struct (next, (if records.Count = 0 then None else Some records.[records.Count - 1]))

    /// <summary>
    /// One vectorised step of all <see cref="EnvironmentCount"/> environments (<see cref="Step"/> with one), adding
    /// every record it emits to <paramref name="emitted"/>: one per episode that ended, in environment order (the
    /// environment step count after the step, and the episode count after that episode), the evaluation, if one ran,
    /// on the last (or alone). Returns the next state.
    /// </summary>
    /// <param name="state">The state before the step.</param>
    /// <param name="emitted">Receives the step's records.</param>
    /// <exception cref="T:Sac.Core.Runs.NumericalFaultException">An update produced a NaN or infinite value.</exception>
    member this.StepAll(state: OffPolicyState<'L, 'M>, emitted: Collections.Generic.ICollection<TrainingRecord>) : OffPolicyState<'L, 'M> =
        if envs.Length = 1 then
            let struct (next, record) = this.StepOne state
            record |> Option.iter emitted.Add
            next
        else
            let n = envs.Length
            let t = state.EnvSteps
            let mutable mark = Stopwatch.GetTimestamp()
            algorithm.ActBatch(state.Learner, t, n, acting observations actingObservations, Span actions)
            mark <- timings.Add(TrainingPhase.Acting, mark)
            let mutable episodes = state.Episodes
            let mutable ended = 0
            for i in 0 .. n - 1 do
                let action = ReadOnlySpan(actions, i * a, a)
                let r = envs.[i].Step(action, Span(nextObservations, i * o, o))
                mark <- timings.Add(TrainingPhase.Environment, mark)
                tapes.[i].Record action
                replay.Add(ReadOnlySpan(observations, i * o, o), action, r.Reward, ReadOnlySpan(nextObservations, i * o, o), r.Terminated, r.Truncated)
                stepRewards.[i] <- r.Reward
                stepEnded.[i] <- r.Terminated || r.Truncated
                laneReturn.[i] <- laneReturn.[i] + float r.Reward
                laneLength.[i] <- laneLength.[i] + 1
                if r.Terminated || r.Truncated then
                    episodes <- episodes + 1
                    laneEpisodes.[i] <- laneEpisodes.[i] + 1
                    endedReturn.[ended] <- laneReturn.[i]
                    endedLength.[ended] <- laneLength.[i]
                    endedEpisode.[ended] <- episodes
                    ended <- ended + 1
                    laneReturn.[i] <- 0.0
                    laneLength.[i] <- 0
                    mark <- timings.Add(TrainingPhase.Storing, mark)
                    // VecEnv's auto-reset: this copy alone starts its next episode.
                    envs.[i].Reset(Nullable(), Span(observations, i * o, o))
                    tapes.[i].Clear()
                    mark <- timings.Add(TrainingPhase.Environment, mark)
                else
                    Array.blit nextObservations (i * o) observations (i * o) o
                    mark <- timings.Add(TrainingPhase.Storing, mark)
            observeStep observations
            let steps = t + int64 n
            algorithm.AfterEnvironmentStep(steps, n, state.Learner)
            let struct (learner, draws, last, trained) = this.TrainIfDue(state, steps, n, mark)
            mark <- timings.Add(TrainingPhase.Updating, trained)
            // Every EvalInterval environment steps: at the vectorised step that reaches a multiple of it.
            let evaluation =
                if schedule.EvalInterval > 0 && steps / int64 schedule.EvalInterval > t / int64 schedule.EvalInterval then
                    let e = algorithm.Evaluate(learner, evaluationEnv, schedule.EvalEpisodes, schedule.Seed + 1_000_000UL)
                    timings.Add(TrainingPhase.Evaluating, mark) |> ignore
                    Some(e.Mean, e.Std)
                else None
            let metrics () = match last with ValueSome m -> ValueSome { Names = names; Values = algorithm.Report(steps, m) } | ValueNone -> ValueNone
            for k in 0 .. ended - 1 do
                let eval = if k = ended - 1 then evaluation else None
                clock.Record(steps, endedEpisode.[k], true, endedReturn.[k], endedLength.[k], eval, metrics ()) |> Option.iter emitted.Add
            if ended = 0 && evaluation.IsSome then
                clock.Record(steps, episodes, false, 0.0, 0, evaluation, metrics ()) |> Option.iter emitted.Add
            { Learner = learner; EnvSteps = steps; Episodes = episodes; EpisodeReturn = laneReturn.[0]; EpisodeLength = laneLength.[0]
              Draws = draws; LastMetrics = last }

    // After the vectorised step that brought the run to `steps` with n environments: when a round is due (SB3 with
    // n_envs: train_freq counts vectorised steps, training waits for num_timesteps > learning_starts), one round of
    // GradientSteps updates (-1: TrainFrequency times n), each on a fresh minibatch, timed by phase. Returns the
    // learner, the draw counter, the last metrics and the time mark after it.
    member private _.TrainIfDue(state: OffPolicyState<'L, 'M>, steps: int64, n: int, mark: int64) =
        let mutable learner = state.Learner
        let mutable draws = state.Draws
        let mutable last = state.LastMetrics
        let mutable mark = mark
        if steps > learningStarts && (steps / int64 n) % int64 schedule.TrainFrequency = 0L && enoughData () then
            let t0 = mark
            let rateFactor = LearningRateSchedules.Factor(schedule.LearningRateSchedule, steps, runLength)
            // SB3's gradient_steps = -1: as many updates as the phase collected environment steps.
            let rounds = if schedule.GradientSteps = -1 then schedule.TrainFrequency * n else schedule.GradientSteps
            for _ in 1 .. rounds do
                mark <- timings.Add(TrainingPhase.Updating, mark)
                SamplingTeam.sample samplingTeam replay sampleKey draws batch
                match normalizer with
                | null -> ()
                | normalization -> normalization.NormalizeBatch batch
                draws <- draws + 1UL
                mark <- timings.Add(TrainingPhase.Sampling, mark)
                let struct (next, m) = algorithm.Update(steps, rateFactor, batch, learner)
                learner <- next
                last <- ValueSome m
            learner <- algorithm.AfterUpdates(steps, learner)
            clock.AddUpdates(rounds, t0)
        struct (learner, draws, last, mark)

    member private this.StepOne(state: OffPolicyState<'L, 'M>) : struct (OffPolicyState<'L, 'M> * TrainingRecord option) =
        let t = state.EnvSteps
        let mutable mark = Stopwatch.GetTimestamp()
        algorithm.Act(state.Learner, t, acting obs actingObs, Span action)
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
        stepRewards.[0] <- r.Reward
        stepEnded.[0] <- ended
        observeStep obs
        let steps = t + 1L
        algorithm.AfterEnvironmentStep(steps, 1, state.Learner)
        let struct (learner, draws, last, trained) = this.TrainIfDue(state, steps, 1, mark)
        mark <- timings.Add(TrainingPhase.Updating, trained)
        let evaluation =
            if schedule.EvalInterval > 0 && steps % int64 schedule.EvalInterval = 0L then
                let e = algorithm.Evaluate(learner, evaluationEnv, schedule.EvalEpisodes, schedule.Seed + 1_000_000UL)
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
        let final =
            if envs.Length = 1 then TrainingLoop.run this.Step state steps onRecord
            else
                let mutable s = state
                while s.EnvSteps < runLength do
                    records.Clear()
                    s <- this.StepAll(s, records)
                    for r in records do onRecord.Invoke r
                s
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
        let outcome =
            if envs.Length = 1 then TrainingLoop.runUntil this.Step (fun s -> s.EnvSteps) state totalSteps timed
            else
                // Every callback sees every record of a vectorised step (several episodes may end in one), in order.
                let mutable s = state
                let mutable stop = None
                while stop.IsNone && s.EnvSteps < totalSteps do
                    records.Clear()
                    s <- this.StepAll(s, records)
                    let decide (c: ITrainingCallback<OffPolicyState<'L, 'M>>) record =
                        match c.OnStep(s.EnvSteps, s, record) with
                        | CallbackDecision.Stop reason when stop.IsNone -> stop <- Some reason
                        | _ -> ()
                    if records.Count = 0 then for c in timed do decide c None
                    else for r in records do for c in timed do decide c (Some r)
                { State = s; StopReason = stop }
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
        let progress, episodeActions =
            if envs.Length = 1 then
                Resuming.progress totalSteps state.Episodes state.EpisodeReturn state.EpisodeLength state.Draws metrics checkpointEvery, tape.Actions
            else
                // Each copy's running episode, and their actions one after another in environment order.
                let lanes = Array.init envs.Length (fun i -> EnvironmentProgress(laneEpisodes.[i], laneReturn.[i], laneLength.[i]))
                let all = Array.concat [ for t in tapes -> t.Actions.ToArray() ]
                Resuming.progressOfEnvironments totalSteps state.Episodes lanes state.Draws metrics checkpointEvery, ReadOnlyMemory all
        let metadata = Collections.Generic.Dictionary<string, string>()
        match normalizer with
        | null -> ()
        | n -> metadata.[VecNormalize.MetadataKey] <- n.ToJson()
        algorithm.Save(path, algorithm.Synced(state.EnvSteps, state.Learner), environmentId, state.EnvSteps, progress,
                       (if includeReplay then (replay: ReplayBuffer | null) else null), episodeActions, metadata)

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
        if progress.EnvironmentCount <> envs.Length then
            Resuming.fail $"it ran {progress.EnvironmentCount} environment(s) together, this trainer steps {envs.Length} (resume with the same number of environments)"
        replay <- Resuming.replay schedule.BufferSize (fun () -> ReplayBuffer(schedule.BufferSize, o, a)) point.Replay
        if envs.Length = 1 then
            tape.Rebuild(env, schedule.Seed, progress.Episodes, point.EpisodeActions, progress.EpisodeReturn, obs)
        else
            let lanes = nonNull progress.Environments
            let total = lanes |> Seq.sumBy (fun l -> l.Episodes)
            if total <> progress.Episodes then Resuming.fail $"its environments finished {total} episodes in all, its progress says {progress.Episodes}"
            if point.EpisodeActions.Length <> int progress.StoredEpisodeSteps * a then
                Resuming.fail $"it stores {point.EpisodeActions.Length} action values, its environments' running episodes take {progress.StoredEpisodeSteps * int64 a}"
            let observation = Array.zeroCreate<float32> o
            let mutable offset = 0
            for i in 0 .. envs.Length - 1 do
                let lane = lanes.[i]
                let actionsOfLane = Array.sub point.EpisodeActions offset (lane.EpisodeLength * a)
                offset <- offset + lane.EpisodeLength * a
                tapes.[i].Rebuild(envs.[i], schedule.Seed + uint64 i, lane.Episodes, actionsOfLane, lane.EpisodeReturn, observation)
                Array.blit observation 0 observations (i * o) o
                laneEpisodes.[i] <- lane.Episodes
                laneReturn.[i] <- lane.EpisodeReturn
                laneLength.[i] <- lane.EpisodeLength
        freshNormalizer ()
        match normalizer, point.Metadata.TryGetValue VecNormalize.MetadataKey with
        | null, (true, _) -> Resuming.fail "it holds normalisation statistics (Normalize), the configuration normalises nothing"
        | null, _ -> ()
        | _, (false, _) -> Resuming.fail "the configuration normalises (Normalize), but the checkpoint holds no normalisation statistics"
        | n, (true, json) ->
            try n.Restore json
            with :? FormatException as e -> Resuming.fail e.Message
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
    /// algorithm's evaluation policy (episode k seeded <c>seed + k</c>); a normalising run's policy sees observations
    /// normalised by its statistics, frozen, and the returns are the environment's raw ones.</summary>
    /// <param name="state">The state whose learner acts.</param>
    /// <param name="episodes">At least 1.</param>
    /// <param name="seed">The evaluation seed.</param>
    member _.Evaluate(state: OffPolicyState<'L, 'M>, episodes: int, seed: uint64) =
        algorithm.Evaluate(state.Learner, evaluationEnv, episodes, seed)

    /// <summary>Releases what the algorithm holds (device memory for a CUDA learner; nothing on the CPU). A trainer
    /// whose algorithm holds such memory implements <see cref="T:System.IDisposable"/> with this.</summary>
    member _.Dispose() = algorithm.Dispose()
