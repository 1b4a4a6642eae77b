namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Runs

/// What loading an agent shares across algorithms: the checkpoint's algorithm, environment and configuration.
module internal AgentFile =

    /// A fresh GEMM provider for an agent (one thread of the managed GEMM).
    let gemm () = new ManagedGemm(1) :> IGemm

    /// The environment id and configuration of a checkpoint written by an agent or `sac train`, after checking that
    /// one of the algorithms accepted wrote it.
    let read<'T when 'T: not struct and 'T: not null and 'T :> IConfig> (path: string) (what: string) (accepts: string -> bool) : string * 'T =
        let metadata = Checkpoint.ReadMetadata path
        let fail detail = raise (CheckpointException(path, CheckpointFailure.Malformed, detail))
        let get (key: string) (missing: string) =
            match metadata.TryGetValue key with
            | true, value -> value
            | _ -> fail missing
        let algorithm = get "algorithm" "the checkpoint names no algorithm"
        if not (accepts algorithm) then fail $"it is a checkpoint of '{algorithm}', not {what}"
        let json = get Checkpoint.ConfigMetadataKey "the checkpoint holds no configuration (it was not written by a trainer of this version)"
        get "environment_id" "the checkpoint names no environment", ConfigJson.Deserialize<'T>(json, path)

    /// Registers the environments of <paramref name="factory"/> under their id when that id is not known yet.
    let register (factory: Func<IEnvironment>) =
        let id = factory.Invoke().Id
        if not (Seq.contains id EnvironmentRegistry.Ids) then EnvironmentRegistry.Register(id, factory)
        id

/// <summary>A SAC agent (see <see cref="T:Sac.Fs.Agent`2"/>): create it for an environment and a configuration, or load
/// it from a checkpoint alone (it holds the configuration, the environment id and the sizes).</summary>
[<Sealed>]
type SacAgent private (trainer: Trainer, gemm: IGemm, initial: TrainingState) =
    inherit Agent<LearnerState, SacMetrics>(trainer, gemm, initial)

    /// <summary>A fresh agent for a registered environment id (built-in or <see cref="M:Sac.Core.Environments.EnvironmentRegistry.Register(System.String,System.Func{Sac.Core.Environments.IEnvironment},System.Nullable{System.Int32})"/>).</summary>
    /// <param name="environmentId">The environment's id.</param>
    /// <param name="config">The configuration (validated here); its seed seeds everything.</param>
    static member Create(environmentId: string, config: SacConfig) : SacAgent =
        let gemm = AgentFile.gemm ()
        let trainer = new Trainer(environmentId, config, gemm)
        new SacAgent(trainer, gemm, trainer.Start())

    /// <summary>A fresh agent for environments made by <paramref name="factory"/> (a C# class or an F# object),
    /// registered under their <see cref="P:Sac.Core.Environments.IEnvironment.Id"/> when that id is not known yet.</summary>
    /// <param name="factory">Makes a fresh environment per call (training and evaluation each get one).</param>
    /// <param name="config">The configuration.</param>
    static member Create(factory: Func<IEnvironment>, config: SacConfig) : SacAgent = SacAgent.Create(AgentFile.register factory, config)

    /// <summary>The agent a checkpoint of <c>Save</c> or <c>sac train</c> holds, ready to predict, evaluate or go on
    /// learning exactly where it stopped. The environment id must be registered in this process.</summary>
    /// <param name="path">A SAC checkpoint (format version 2, written with its configuration).</param>
    /// <exception cref="T:Sac.Core.Runs.CheckpointException">The file is missing, damaged, not SAC, or holds no configuration.</exception>
    static member Load(path: string) : SacAgent =
        let environmentId, config = AgentFile.read<SacConfig> path "sac" (fun a -> a = "sac")
        let gemm = AgentFile.gemm ()
        let trainer = new Trainer(environmentId, config, gemm)
        new SacAgent(trainer, gemm, trainer.Resume(trainer.Load path))

    /// <summary>The configuration.</summary>
    member _.Config = trainer.Config

/// <summary>A Soft Q-Learning agent (see <see cref="T:Sac.Fs.Agent`2"/>); stochastic predictions draw from the sampler,
/// deterministic ones use it at zero noise.</summary>
[<Sealed>]
type SqlAgent private (trainer: SqlTrainer, gemm: IGemm, initial: SqlTrainingState) =
    inherit Agent<SqlLearnerState, SqlMetrics>(trainer, gemm, initial)

    /// <summary>A fresh agent for a registered environment id.</summary>
    /// <param name="environmentId">The environment's id.</param>
    /// <param name="config">The configuration (validated here).</param>
    static member Create(environmentId: string, config: SqlConfig) : SqlAgent =
        let gemm = AgentFile.gemm ()
        let trainer = SqlTrainer(environmentId, config, gemm)
        new SqlAgent(trainer, gemm, trainer.Start())

    /// <summary>A fresh agent for environments made by <paramref name="factory"/>.</summary>
    /// <param name="factory">Makes a fresh environment per call.</param>
    /// <param name="config">The configuration.</param>
    static member Create(factory: Func<IEnvironment>, config: SqlConfig) : SqlAgent = SqlAgent.Create(AgentFile.register factory, config)

    /// <summary>The agent a Soft Q-Learning checkpoint holds.</summary>
    /// <param name="path">The checkpoint.</param>
    /// <exception cref="T:Sac.Core.Runs.CheckpointException">The file is missing, damaged, not SQL, or holds no configuration.</exception>
    static member Load(path: string) : SqlAgent =
        let environmentId, config = AgentFile.read<SqlConfig> path "sql" (fun a -> a = SqlCheckpoint.AlgorithmName)
        let gemm = AgentFile.gemm ()
        let trainer = SqlTrainer(environmentId, config, gemm)
        new SqlAgent(trainer, gemm, trainer.Resume(trainer.Load path))

    /// <summary>The configuration.</summary>
    member _.Config = trainer.Config

/// <summary>A DQN-family agent (DQN, Double DQN or soft DQN, by the configuration's variant; see
/// <see cref="T:Sac.Fs.Agent`2"/>). Predictions are action indices: greedy when deterministic, otherwise drawn from
/// the behaviour policy at the end of exploration (Boltzmann for soft DQN).</summary>
[<Sealed>]
type DqnAgent private (trainer: DqnTrainer, gemm: IGemm, initial: DqnTrainingState) =
    inherit Agent<DqnLearnerState, DqnMetrics>(trainer, gemm, initial)

    /// <summary>A fresh agent for a registered discrete-action environment id.</summary>
    /// <param name="environmentId">The environment's id.</param>
    /// <param name="config">The configuration (validated here).</param>
    static member Create(environmentId: string, config: DqnConfig) : DqnAgent =
        let gemm = AgentFile.gemm ()
        let trainer = DqnTrainer(environmentId, config, gemm)
        new DqnAgent(trainer, gemm, trainer.Start())

    /// <summary>A fresh agent for discrete-action environments made by <paramref name="factory"/>.</summary>
    /// <param name="factory">Makes a fresh environment per call.</param>
    /// <param name="config">The configuration.</param>
    static member Create(factory: Func<IEnvironment>, config: DqnConfig) : DqnAgent = DqnAgent.Create(AgentFile.register factory, config)

    /// <summary>The agent a DQN-family checkpoint holds.</summary>
    /// <param name="path">The checkpoint.</param>
    /// <exception cref="T:Sac.Core.Runs.CheckpointException">The file is missing, damaged, not of the DQN family, or holds no configuration.</exception>
    static member Load(path: string) : DqnAgent =
        let environmentId, config = AgentFile.read<DqnConfig> path "a DQN-family algorithm" DqnCheckpoint.IsDqnAlgorithm
        let gemm = AgentFile.gemm ()
        let trainer = DqnTrainer(environmentId, config, gemm)
        new DqnAgent(trainer, gemm, trainer.Resume(trainer.Load path))

    /// <summary>The configuration.</summary>
    member _.Config = trainer.Config

/// <summary>Loading an agent without knowing its algorithm.</summary>
[<AbstractClass; Sealed>]
type Agents =
    /// <summary>The agent a checkpoint holds, whatever its algorithm (SAC, Soft Q-Learning or the DQN family).</summary>
    /// <param name="path">The checkpoint.</param>
    /// <exception cref="T:Sac.Core.Runs.CheckpointException">The file is missing, damaged, or not an agent of this version.</exception>
    static member Load(path: string) : IAgent =
        match Checkpoint.ReadAlgorithm path with
        | "sac" -> SacAgent.Load path :> IAgent
        | "sql" -> SqlAgent.Load path :> IAgent
        | a when DqnCheckpoint.IsDqnAlgorithm a -> DqnAgent.Load path :> IAgent
        | a -> raise (CheckpointException(path, CheckpointFailure.Malformed, $"it is a checkpoint of '{a}', which this build has no agent for"))
