namespace Sac.Fs

open System
open System.Runtime.InteropServices
open Sac.Core.Compute
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>What every agent offers, whatever its algorithm (for code that takes any agent, e.g. the one
/// <see cref="M:Sac.Fs.Agents.Load(System.String)"/> returns).</summary>
type IAgent =
    inherit IDisposable
    /// <summary>The algorithm's name ("sac", "sql", "dqn", "double-dqn", "soft-dqn").</summary>
    abstract Algorithm: string
    /// <summary>The environment id.</summary>
    abstract EnvironmentId: string
    /// <summary>Environment steps taken so far.</summary>
    abstract Steps: int64
    /// <summary>Trains for <paramref name="steps"/> more environment steps.</summary>
    abstract LearnSteps: steps: int64 -> unit
    /// <summary>Writes the agent to <paramref name="path"/>, atomically.</summary>
    abstract Save: path: string -> unit
    /// <summary>The action for one observation, in the environment's own bounds (an index for discrete actions).</summary>
    abstract PredictOne: observation: float32[] * deterministic: bool * seed: uint64 -> float32[]
    /// <summary>Evaluation on the agent's evaluation environment; episode k is seeded seed + k.</summary>
    abstract EvaluateEpisodes: episodes: int * seed: uint64 -> EvaluationResult

/// <summary>
/// An agent in the shape Stable-Baselines3 users know, for any algorithm of the engine: <c>Learn</c>, <c>Save</c>,
/// <c>Predict</c> (one observation or a batch, deterministic or drawn with a seed) and <c>Evaluate</c> (on its own
/// evaluation environment or on one you give). <see cref="T:Sac.Fs.SacAgent"/>, <see cref="T:Sac.Fs.SqlAgent"/> and
/// <see cref="T:Sac.Fs.DqnAgent"/> add <c>Create</c> and <c>Load</c>.
/// </summary>
/// <remarks>Continuous actions from <c>Predict</c> are in the environment's own bounds (the policy acts in [-1, 1] and
/// is rescaled, as SB3 does); a discrete action is its index. The agent owns its trainer and GEMM provider: dispose it
/// when done.</remarks>
/// <param name="trainer">The trainer.</param>
/// <param name="gemm">The GEMM provider the agent made (disposed with it).</param>
/// <param name="initial">The state to start from (fresh or loaded).</param>
type Agent<'L, 'M>(trainer: OffPolicyTrainer<'L, 'M>, gemm: IGemm, initial: OffPolicyState<'L, 'M>) =
    let mutable state = initial
    let mutable target = initial.EnvSteps
    let algorithm = trainer.Algorithm
    // The policy acts in the algorithm's coordinates; a RescaleAction around the environment maps them to its bounds.
    let rescale = match trainer.Environment with :? RescaleAction as r -> Some r | _ -> None
    let raw = Array.zeroCreate<float32> trainer.Environment.ActionSpace.Dimension
    let observationSize = trainer.Environment.ObservationSpace.Dimension
    let normalized = Array.zeroCreate<float32> observationSize

    /// <summary>The trainer.</summary>
    member _.Trainer = trainer
    /// <summary>The environment id.</summary>
    member _.EnvironmentId = trainer.EnvironmentId
    /// <summary>The training state: learner, counters and latest metrics.</summary>
    member _.State = state
    /// <summary>Environment steps taken so far.</summary>
    member _.Steps = state.EnvSteps

    /// <summary>Trains for <paramref name="steps"/> more environment steps (SB3's <c>learn</c>), calling
    /// <paramref name="callbacks"/> after every step; a callback may stop early.</summary>
    /// <param name="steps">Environment steps, at least 1.</param>
    /// <param name="callbacks">Called after every step.</param>
    /// <returns>This agent.</returns>
    member this.Learn(steps: int64, callbacks: seq<ITrainingCallback<OffPolicyState<'L, 'M>>>) : Agent<'L, 'M> =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        target <- state.EnvSteps + steps
        state <- trainer.RunTo(state, target, callbacks).State
        this

    /// <summary>Trains for <paramref name="steps"/> more environment steps (SB3's <c>learn</c>).</summary>
    /// <param name="steps">Environment steps, at least 1.</param>
    /// <returns>This agent.</returns>
    member this.Learn(steps: int64) : Agent<'L, 'M> = this.Learn(steps, Seq.empty)

    /// <summary>Writes the agent (learner, configuration, progress; no replay buffer) to <paramref name="path"/>, atomically.</summary>
    /// <param name="path">The checkpoint file.</param>
    member _.Save(path: string) = trainer.Save(path, state, max target state.EnvSteps, false)

    /// <summary>Writes the action for one raw observation, in the environment's bounds (a normalising run's policy sees it
    /// normalised by the training statistics, frozen). Allocates nothing.</summary>
    /// <param name="observation">The observation.</param>
    /// <param name="action">Receives the action.</param>
    /// <param name="deterministic">True (the default): the policy's deterministic action; false: a draw.</param>
    /// <param name="seed">With <paramref name="deterministic"/> false: the draw's seed (the same seed, the same draw).</param>
    member _.Predict(observation: ReadOnlySpan<float32>, action: Span<float32>,
                     [<Optional; DefaultParameterValue(true)>] deterministic: bool,
                     [<Optional; DefaultParameterValue(0UL)>] seed: uint64) =
        if action.Length <> raw.Length then invalidArg (nameof action) $"The action span has {action.Length} values; the policy emits {raw.Length}."
        let mode = if deterministic then Deterministic else Stochastic(PhiloxKey.FromSeed seed, 0UL)
        match trainer.Normalization with
        | null -> algorithm.Policy(state.Learner, mode, observation, Span raw)
        | n ->
            // A normalising run's policy reads observations normalised by the training statistics, frozen.
            if observation.Length <> observationSize then
                invalidArg (nameof observation) $"The observation has {observation.Length} values; {trainer.EnvironmentId}'s have {observationSize}."
            n.NormalizeObservations(observation, Span normalized)
            algorithm.Policy(state.Learner, mode, ReadOnlySpan normalized, Span raw)
        match rescale with
        | Some r -> r.ToNative(ReadOnlySpan raw, action)
        | None -> ReadOnlySpan(raw).CopyTo action

    /// <summary>The action for one observation, in the environment's bounds.</summary>
    /// <param name="observation">The observation.</param>
    /// <param name="deterministic">True (the default) for the deterministic action.</param>
    /// <param name="seed">The draw's seed when not deterministic.</param>
    /// <returns>A new array.</returns>
    member this.Predict(observation: float32[], [<Optional; DefaultParameterValue(true)>] deterministic: bool,
                        [<Optional; DefaultParameterValue(0UL)>] seed: uint64) : float32[] =
        let action = Array.zeroCreate<float32> raw.Length
        this.Predict(ReadOnlySpan observation, Span action, deterministic, seed)
        action

    /// <summary>Actions for a batch of observations, row by row (row i of a stochastic batch uses seed + i).</summary>
    /// <param name="observations">Rows x observation size, row-major.</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="deterministic">True (the default) for deterministic actions.</param>
    /// <param name="seed">The first row's seed when not deterministic.</param>
    /// <returns>Rows x action size, row-major.</returns>
    member this.PredictBatch(observations: float32[], rows: int, [<Optional; DefaultParameterValue(true)>] deterministic: bool,
                             [<Optional; DefaultParameterValue(0UL)>] seed: uint64) : float32[] =
        let o, a = observationSize, raw.Length
        if rows < 0 || observations.Length <> rows * o then
            invalidArg (nameof observations) $"Expected {rows} rows of {o} values ({rows * o}), got {observations.Length}."
        let actions = Array.zeroCreate<float32> (rows * a)
        for i in 0 .. rows - 1 do
            this.Predict(ReadOnlySpan(observations, i * o, o), Span(actions, i * a, a), deterministic, seed + uint64 i)
        actions

    /// <summary>Evaluation with the algorithm's evaluation policy on the agent's own evaluation environment; episode k
    /// is seeded seed + k.</summary>
    /// <param name="episodes">Episodes, at least 1.</param>
    /// <param name="seed">The first episode's seed.</param>
    member _.Evaluate(episodes: int, seed: uint64) = trainer.Evaluate(state, episodes, seed)

    /// <summary>Evaluation on <paramref name="environment"/> (actions in its own bounds).</summary>
    /// <param name="environment">An environment with the agent's spaces, e.g. one of your own.</param>
    /// <param name="episodes">Episodes, at least 1.</param>
    /// <param name="seed">The first episode's seed.</param>
    member _.Evaluate(environment: IEnvironment, episodes: int, seed: uint64) =
        let rescaled = if rescale.IsSome then RescaleAction(environment) :> IEnvironment else environment
        let env = NormalizeObservation.Around(rescaled, trainer.Normalization)
        if env.ObservationSpace.Dimension <> observationSize || env.ActionSpace.Dimension <> raw.Length then
            invalidArg (nameof environment) $"{environment.Id} has other spaces than {trainer.EnvironmentId}."
        algorithm.Evaluate(state.Learner, env, episodes, seed)

    /// <summary>Releases the trainer and the GEMM provider the agent made.</summary>
    member _.Dispose() =
        trainer.Dispose()
        match gemm with
        | :? IDisposable as d -> d.Dispose()
        | _ -> ()

    interface IAgent with
        member _.Algorithm = algorithm.Name
        member _.EnvironmentId = trainer.EnvironmentId
        member _.Steps = state.EnvSteps
        member this.LearnSteps steps = this.Learn(steps) |> ignore
        member this.Save path = this.Save path
        member this.PredictOne(observation, deterministic, seed) = this.Predict(observation, deterministic, seed)
        member this.EvaluateEpisodes(episodes, seed) = this.Evaluate(episodes, seed)

    interface IDisposable with
        member this.Dispose() = this.Dispose()
