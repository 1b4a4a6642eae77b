namespace Sac.Fs

open System
open System.Runtime.InteropServices
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>
/// A SAC agent in the shape Stable-Baselines3 users know: create it for an environment and a configuration,
/// <see cref="M:Sac.Fs.SacAgent.Learn(System.Int64,System.Collections.Generic.IEnumerable{Sac.Fs.ITrainingCallback{Sac.Fs.TrainingState}})"/>,
/// <see cref="M:Sac.Fs.SacAgent.Save(System.String)"/>, <see cref="M:Sac.Fs.SacAgent.Load(System.String)"/> (the
/// checkpoint alone is enough: it holds the configuration, the environment id and the sizes),
/// <c>Predict</c> and <c>Evaluate</c>.
/// </summary>
/// <remarks>
/// Actions from <c>Predict</c> are in the environment's own bounds (the policy acts in [-1, 1] and is rescaled, as
/// SB3 does). The agent owns a <see cref="T:Sac.Fs.Trainer"/> (one thread of the managed GEMM unless given another
/// provider); dispose it when done.
/// </remarks>
[<Sealed>]
type SacAgent private (trainer: Trainer, gemm: IGemm, ownsGemm: bool, initial: TrainingState) =
    let mutable state = initial
    let mutable target = initial.EnvSteps
    // The trainer acts through RescaleAction; its map to native bounds is the one Predict applies.
    let rescale = trainer.Environment :?> RescaleAction
    let unit = Array.zeroCreate<float32> rescale.ActionSpace.Dimension

    static let managed () = new ManagedGemm(1) :> IGemm

    /// <summary>A fresh agent for a registered environment id (built-in or <see cref="M:Sac.Core.Environments.EnvironmentRegistry.Register(System.String,System.Func{Sac.Core.Environments.IEnvironment},System.Nullable{System.Int32})"/>).</summary>
    /// <param name="environmentId">The environment's id.</param>
    /// <param name="config">The configuration (validated here); its seed seeds everything.</param>
    static member Create(environmentId: string, config: SacConfig) : SacAgent =
        let gemm = managed ()
        let trainer = new Trainer(environmentId, config, gemm)
        new SacAgent(trainer, gemm, true, trainer.Start())

    /// <summary>
    /// A fresh agent for environments made by <paramref name="factory"/> (a C# class or an F# object): registered under
    /// their <see cref="P:Sac.Core.Environments.IEnvironment.Id"/> when that id is not known yet.
    /// </summary>
    /// <param name="factory">Makes a fresh environment per call (training and evaluation each get one).</param>
    /// <param name="config">The configuration.</param>
    static member Create(factory: Func<IEnvironment>, config: SacConfig) : SacAgent =
        let id = factory.Invoke().Id
        if not (Seq.contains id EnvironmentRegistry.Ids) then EnvironmentRegistry.Register(id, factory)
        SacAgent.Create(id, config)

    /// <summary>
    /// The agent a checkpoint of <c>Save</c> or <c>sac train</c> holds, ready to predict, evaluate or go on learning
    /// exactly where it stopped. The environment id must be registered in this process.
    /// </summary>
    /// <param name="path">A SAC checkpoint (format version 2, written with its configuration).</param>
    /// <exception cref="T:Sac.Core.Runs.CheckpointException">The file is missing, damaged, not SAC, or holds no configuration.</exception>
    static member Load(path: string) : SacAgent =
        let metadata = Checkpoint.ReadMetadata path
        let fail detail = raise (CheckpointException(path, CheckpointFailure.Malformed, detail))
        let configJson =
            match metadata.TryGetValue Checkpoint.ConfigMetadataKey with
            | true, json -> json
            | _ -> fail "the checkpoint holds no configuration (it was not written by a trainer of this version)"
        let config = ConfigJson.Deserialize(configJson, path)
        let checkpoint = Checkpoint.LoadTraining path
        if checkpoint.Header.Algorithm <> "sac" then fail $"it is a checkpoint of '{checkpoint.Header.Algorithm}', not sac"
        let gemm = managed ()
        let trainer = new Trainer(checkpoint.Header.EnvironmentId, config, gemm)
        new SacAgent(trainer, gemm, true, trainer.Resume checkpoint)

    /// <summary>The environment id.</summary>
    member _.EnvironmentId = trainer.EnvironmentId

    /// <summary>The configuration.</summary>
    member _.Config = trainer.Config

    /// <summary>The training state: learner, environment steps, episodes.</summary>
    member _.State = state

    /// <summary>Environment steps taken so far.</summary>
    member _.Steps = state.EnvSteps

    /// <summary>
    /// Trains for <paramref name="steps"/> more environment steps (SB3's <c>learn(total_timesteps)</c>), or until a
    /// callback stops; returns the agent.
    /// </summary>
    /// <param name="steps">Environment steps to add, at least 1.</param>
    /// <param name="callbacks">Callbacks (see <see cref="T:Sac.Fs.Callback"/>); none by default.</param>
    member this.Learn(steps: int64, [<Optional; DefaultParameterValue(null: seq<ITrainingCallback<TrainingState>> | null)>] callbacks: seq<ITrainingCallback<TrainingState>> | null) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        target <- state.EnvSteps + steps
        let outcome = trainer.RunTo(state, target, (match callbacks with null -> Seq.empty | c -> c))
        state <- outcome.State
        this

    /// <summary>Writes the agent (learner, configuration, progress; no replay buffer) to <paramref name="path"/>, atomically.</summary>
    /// <param name="path">The checkpoint file.</param>
    member _.Save(path: string) = trainer.Save(path, state, max target state.EnvSteps, false)

    /// <summary>Writes the action for one observation, in the environment's bounds. Allocates nothing.</summary>
    /// <param name="observation">The observation.</param>
    /// <param name="action">Receives the action.</param>
    /// <param name="deterministic">True (the default): the mean action tanh(mu); false: a draw from the policy.</param>
    /// <param name="seed">With <paramref name="deterministic"/> false: the draw's seed (the same seed, the same draw).</param>
    member _.Predict(observation: ReadOnlySpan<float32>, action: Span<float32>,
                     [<Optional; DefaultParameterValue(true)>] deterministic: bool,
                     [<Optional; DefaultParameterValue(0UL)>] seed: uint64) =
        let mode = if deterministic then Deterministic else Stochastic(PhiloxKey.FromSeed seed, 0UL)
        Policy.act trainer.Context trainer.PolicyWorkspace state.Learner.Actor mode observation (Span unit)
        if action.Length <> unit.Length then invalidArg (nameof action) $"The action span has {action.Length} values; the policy emits {unit.Length}."
        rescale.ToNative(ReadOnlySpan unit, action)

    /// <summary>The action for one observation, in the environment's bounds.</summary>
    /// <param name="observation">The observation.</param>
    /// <param name="deterministic">True (the default) for the mean action.</param>
    /// <param name="seed">The draw's seed when not deterministic.</param>
    /// <returns>A new array.</returns>
    member this.Predict(observation: float32[], [<Optional; DefaultParameterValue(true)>] deterministic: bool,
                        [<Optional; DefaultParameterValue(0UL)>] seed: uint64) : float32[] =
        let action = Array.zeroCreate<float32> unit.Length
        this.Predict(ReadOnlySpan observation, Span action, deterministic, seed)
        action

    /// <summary>Actions for a batch of observations, row by row (row i of a stochastic batch uses seed + i).</summary>
    /// <param name="observations">Rows x observation size, row-major.</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="deterministic">True (the default) for mean actions.</param>
    /// <param name="seed">The first row's seed when not deterministic.</param>
    /// <returns>Rows x action size, row-major.</returns>
    member this.PredictBatch(observations: float32[], rows: int, [<Optional; DefaultParameterValue(true)>] deterministic: bool,
                             [<Optional; DefaultParameterValue(0UL)>] seed: uint64) : float32[] =
        let o = trainer.Environment.ObservationSpace.Dimension
        if rows < 0 || observations.Length <> rows * o then
            invalidArg (nameof observations) $"Expected {rows} rows of {o} values ({rows * o}), got {observations.Length}."
        let a = unit.Length
        let actions = Array.zeroCreate<float32> (rows * a)
        for i in 0 .. rows - 1 do
            this.Predict(ReadOnlySpan(observations, i * o, o), Span(actions, i * a, a), deterministic, seed + uint64 i)
        actions

    /// <summary>Deterministic evaluation on the agent's own evaluation environment; episode k is seeded seed + k.</summary>
    /// <param name="episodes">Episodes, at least 1.</param>
    /// <param name="seed">The first episode's seed.</param>
    member _.Evaluate(episodes: int, seed: uint64) = trainer.Evaluate(state, episodes, seed)

    /// <summary>Deterministic evaluation on <paramref name="environment"/> (actions in its own bounds).</summary>
    /// <param name="environment">An environment with the agent's spaces, e.g. one of your own.</param>
    /// <param name="episodes">Episodes, at least 1.</param>
    /// <param name="seed">The first episode's seed.</param>
    member _.Evaluate(environment: IEnvironment, episodes: int, seed: uint64) =
        let env = RescaleAction(environment) :> IEnvironment
        if env.ObservationSpace.Dimension <> trainer.Environment.ObservationSpace.Dimension || env.ActionSpace.Dimension <> unit.Length then
            invalidArg (nameof environment) $"{environment.Id} has other spaces than {trainer.EnvironmentId}."
        Evaluation.run trainer.Context trainer.PolicyWorkspace state.Learner.Actor env episodes seed

    /// <summary>Releases the trainer (and the GEMM provider the agent made).</summary>
    member _.Dispose() =
        trainer.Dispose()
        if ownsGemm then
            match gemm with
            | :? IDisposable as d -> d.Dispose()
            | _ -> ()

    interface IDisposable with
        member this.Dispose() = this.Dispose()
