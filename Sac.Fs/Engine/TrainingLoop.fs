namespace Sac.Fs

open System
open System.Diagnostics
open Sac.Core.Config
open Sac.Core.Compute
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>The metrics of one gradient step by name, in the order the algorithm reports them (SAC: critic_loss,
/// actor_loss, alpha_loss, alpha, entropy, mean_q; Soft Q-Learning: q_loss, svgd_loss, mean_q, alpha; the DQN family:
/// td_loss, mean_q, entropy; see <see cref="P:Sac.Fs.IOffPolicyAlgorithm`2.MetricNames"/>).</summary>
type UpdateMetrics =
    { /// <summary>The metric names, as metrics.csv's columns.</summary>
      Names: string[]
      /// <summary>The values, one per name.</summary>
      Values: float32[] }

    /// <summary>The value of the metric <paramref name="name"/>.</summary>
    /// <param name="name">A metric name, e.g. <c>"critic_loss"</c>.</param>
    /// <exception cref="T:System.Collections.Generic.KeyNotFoundException">The algorithm reports no such metric (the
    /// message lists those it reports).</exception>
    member this.Item
        with get (name: string) =
            match Array.IndexOf(this.Names, name) with
            | -1 -> raise (Collections.Generic.KeyNotFoundException($"""no metric '{name}'; this algorithm reports {String.Join(", ", this.Names)}"""))
            | i -> this.Values.[i]

    /// <summary>The value of the metric <paramref name="name"/>, or None when the algorithm does not report it.</summary>
    /// <param name="name">A metric name.</param>
    member this.TryFind(name: string) =
        match Array.IndexOf(this.Names, name) with
        | -1 -> None
        | i -> Some this.Values.[i]

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
      /// <summary>Metrics of the latest gradient step by name, once learning has started.</summary>
      Metrics: UpdateMetrics option
      /// <summary>Gradient steps per second of update time since the previous record.</summary>
      UpdatesPerSec: float option
      /// <summary>Seconds since training started.</summary>
      WallSeconds: float }

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
                    evaluation: (float * float) option, metrics: UpdateMetrics voption) : TrainingRecord option =
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
                  Metrics = (match metrics with ValueSome m -> Some m | ValueNone -> None)
                  UpdatesPerSec = ups; WallSeconds = clock.Elapsed.TotalSeconds }
        else None

/// <summary>The phases of a training step that <see cref="TrainingTimings"/> tells apart.</summary>
type TrainingPhase =
    /// <summary>Choosing the action (the policy, or warm-up draws).</summary>
    | Acting = 0
    /// <summary>Stepping and resetting the environment.</summary>
    | Environment = 1
    /// <summary>Storing the transition (replay buffer, episode tape).</summary>
    | Storing = 2
    /// <summary>Drawing minibatches from the replay buffer.</summary>
    | Sampling = 3
    /// <summary>Gradient steps (and the per-step target copy of the DQN family).</summary>
    | Updating = 4
    /// <summary>Periodic evaluations.</summary>
    | Evaluating = 5
    /// <summary>The callbacks: metrics rows, checkpoints, progress.</summary>
    | Callbacks = 6

/// <summary>Where a run's wall time goes: seconds per <see cref="TrainingPhase"/> since the run started or resumed.</summary>
/// <remarks>Two timestamps per phase per step, a few tens of nanoseconds against milliseconds of updates.</remarks>
[<Sealed>]
type TrainingTimings() =
    let ticks = Array.zeroCreate<int64> 7

    /// <summary>Forgets everything measured.</summary>
    member _.Reset() = Array.Clear ticks

    /// <summary>Adds the time since <paramref name="since"/> (a <c>Stopwatch.GetTimestamp()</c>) to
    /// <paramref name="phase"/> and returns the timestamp it ended at, to start the next phase from.</summary>
    /// <param name="phase">The phase that just ran.</param>
    /// <param name="since">When it started.</param>
    member _.Add(phase: TrainingPhase, since: int64) : int64 =
        let now = Stopwatch.GetTimestamp()
        ticks.[int phase] <- ticks.[int phase] + (now - since)
        now

    /// <summary>Seconds spent in <paramref name="phase"/>.</summary>
    /// <param name="phase">The phase.</param>
    member _.Seconds(phase: TrainingPhase) = float ticks.[int phase] / float Stopwatch.Frequency

    /// <summary>Seconds in all phases together.</summary>
    member _.TotalSeconds = float (Array.sum ticks) / float Stopwatch.Frequency

    /// <summary>Each phase's share of the measured time, by its lower-case name, in phase order.</summary>
    member this.Shares : (string * float) list =
        let total = max this.TotalSeconds 1e-12
        [ for phase in Enum.GetValues<TrainingPhase>() -> phase.ToString().ToLowerInvariant(), this.Seconds phase / total ]

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
    /// e.g. to write a checkpoint: at the step that reaches a multiple of it (with several environments stepped
    /// together the step count grows by more than one), once per step however many records it emitted.</summary>
    [<CompiledName("Every")>]
    let every (interval: int64) (action: int64 -> 'S -> unit) : ITrainingCallback<'S> =
        if interval < 1L then invalidArg (nameof interval) $"interval must be at least 1, got {interval}."
        // The step count of the previous call (-1: none yet); a smaller count means a new run.
        let mutable previous = -1L
        create (fun steps state _ ->
            let reached =
                if previous < 0L || steps < previous then steps % interval = 0L
                else steps / interval > previous / interval
            previous <- steps
            if reached then action steps state
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

