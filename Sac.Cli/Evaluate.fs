/// `sac eval`: a checkpoint evaluated on its own environment (or another with --force-env).
module Sac.Cli.Evaluate

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Core.Runs
open Sac.Fs
open Sac.Cli.Options

/// Prints the eval line; on MultiGoal it adds how many episodes reached each goal.
let private printEvaluation (mean: float) (std: float) (goals: int[]) episodes =
    let f (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
    if goals.Length = 0 then printfn """{"mean":%s,"std":%s,"episodes":%d}""" (f mean) (f std) episodes
    else printfn """{"mean":%s,"std":%s,"episodes":%d,"goals":[%s]}""" (f mean) (f std) episodes (String.Join(",", goals))

let private misfit (checkpoint: string) (trainedOn: string) (obs: int) (act: string) (env: string) (envObs: int) (envAct: string) =
    UsageError $"{checkpoint}: trained on {trainedOn} (observation {obs}, actions {act}), which does not fit {env} (observation {envObs}, actions {envAct})"

/// Loads a checkpoint, a damaged or foreign file being a usage error naming what was wrong.
let private load (read: string -> 'T) (checkpoint: string) : 'T =
    try read checkpoint
    with :? CheckpointException as e -> raise (UsageError e.Message)

/// The environment to evaluate a continuous-action checkpoint on, in [-1, 1] action coordinates, once its spaces are
/// known to fit the checkpoint's.
let private continuousEnvironment (checkpoint: string) (trainedOn: string) (obs: int) (act: int) (env: string) =
    let e = RescaleAction(EnvironmentRegistry.Make env) :> IEnvironment
    if e.ObservationSpace.Dimension <> obs || e.ActionSpace.Dimension <> act then
        raise (misfit checkpoint trainedOn obs (string act) env e.ObservationSpace.Dimension (string e.ActionSpace.Dimension))
    e

let private evalSac (checkpoint: string) (env: string) (wrap: IEnvironment -> IEnvironment) (episodes: int) (seed: uint64) =
    let struct (header, state, _) = load Checkpoint.Load checkpoint
    let envInstance = wrap (continuousEnvironment checkpoint header.EnvironmentId header.ObservationSize header.ActionSize env)
    let config = SacConfig(HiddenSizes = Seq.toArray header.HiddenSizes, ActorHiddenSizes = header.ActorHiddenSizes,
                           CriticHiddenSizes = header.CriticHiddenSizes, Activation = header.ResolvedActivation, BatchSize = 1, BufferSize = 1,
                           // A gSDE actor: the mean head alone, then its log-std matrix (1 or |A| columns).
                           UseSde = header.GsdeLogStdColumns.HasValue,
                           FullStd = (not header.GsdeLogStdColumns.HasValue || header.GsdeLogStdColumns.Value = header.ActionSize))
    let ctx = SacContext(config, header.ObservationSize, header.ActionSize, new ManagedGemm(1))
    // The deterministic evaluation policy, the mean action; MultiGoal also counts the goals reached.
    let r = GoalEvaluation.sac ctx state.Actor false envInstance episodes seed
    r.Mean, r.Std, r.Goals

let private evalSql (checkpoint: string) (env: string) (wrap: IEnvironment -> IEnvironment) (episodes: int) (seed: uint64) =
    let struct (header, state, _) = load SqlCheckpoint.Load checkpoint
    let envInstance = wrap (continuousEnvironment checkpoint header.EnvironmentId header.ObservationSize header.ActionSize env)
    let config = SqlConfig(HiddenSizes = Seq.toArray header.HiddenSizes, SamplerHiddenSizes = Seq.toArray header.SamplerHiddenSizes,
                           Activation = header.ResolvedActivation)
    let ctx = SqlContext(config, header.ObservationSize, header.ActionSize, new ManagedGemm(1))
    // The SQL policy is its sampler: rollouts are stochastic, a = f(xi; s).
    let r = GoalEvaluation.sql ctx state.Sampler envInstance episodes seed
    r.Mean, r.Std, r.Goals

let private evalDqn (checkpoint: string) (env: string) (wrap: IEnvironment -> IEnvironment) (episodes: int) (seed: uint64) =
    let struct (header, state) = load DqnCheckpoint.Load checkpoint
    let envInstance = EnvironmentRegistry.Make env
    let actions = DiscreteActions.TryGetActionCount envInstance
    if not actions.HasValue then
        raise (UsageError $"{checkpoint}: a {header.Algorithm} checkpoint needs discrete actions, but {env} has continuous ones")
    if envInstance.ObservationSpace.Dimension <> header.ObservationSize || actions.Value <> header.ActionCount then
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize $"Discrete({header.ActionCount})" env envInstance.ObservationSpace.Dimension $"Discrete({actions.Value})")
    let config = DqnConfig(HiddenSizes = Seq.toArray header.HiddenSizes, Activation = header.ResolvedActivation, BatchSize = 1, BufferSize = 1, LearningStarts = 0)
    let ctx = DqnContext(config, header.ObservationSize, header.ActionCount, new ManagedGemm(1))
    let r = Dqn.evaluate ctx (Sac.Core.Networks.MlpWorkspace(ctx.Spec, 1)) state.QNetwork (wrap envInstance) episodes seed
    r.Mean, r.Std, Array.empty<int>

/// The evaluation `sac eval` prints, as numbers: mean, std and (MultiGoal) the episodes that reached each goal; `env`
/// empty for the checkpoint's own environment, and no other one without `forceEnv`.
let measure (checkpoint: string) (env: string) (forceEnv: bool) (episodes: int) (seed: uint64) =
    if episodes < 1 then raise (UsageError $"--episodes must be at least 1, got {episodes}")
    let metadata = load Checkpoint.ReadMetadata checkpoint
    let trainedOn = match metadata.TryGetValue "environment_id" with | true, id -> id | _ -> ""
    let env = if String.IsNullOrEmpty env then trainedOn else env
    if String.IsNullOrEmpty env then raise (UsageError $"{checkpoint}: the checkpoint names no environment; pass --env")
    if env <> trainedOn && not forceEnv then
        raise (UsageError $"{checkpoint}: trained on {trainedOn}, not {env}; leave out --env to evaluate on {trainedOn}, or add --force-env to evaluate on {env} anyway")
    checkEnvironment "--env" env
    let algorithm = load Checkpoint.ReadAlgorithm checkpoint
    // A normalising run's policy reads observations normalised by its saved statistics, frozen.
    let statistics : Sac.Core.Data.VecNormalize | null =
        match metadata.TryGetValue Sac.Core.Data.VecNormalize.MetadataKey with
        | true, json -> try Sac.Core.Data.VecNormalize.FromJson json with :? FormatException as e -> raise (UsageError $"{checkpoint}: {e.Message}")
        | _ -> null
    let wrap (e: IEnvironment) = NormalizeObservation.Around(e, statistics)
    let mean, std, goals =
        match algorithm with
        | "sac" -> evalSac checkpoint env wrap episodes seed
        | "sql" -> evalSql checkpoint env wrap episodes seed
        | a when isDqn a -> evalDqn checkpoint env wrap episodes seed
        | a -> raise (UsageError $"{checkpoint}: written by algorithm '{a}', which this build cannot evaluate")
    mean, std, goals

/// `sac eval`: loads a checkpoint (of any algorithm this build trains) and prints {"mean":…,"std":…,"episodes":K}
/// over K episodes, episode k seeded seed + k (SAC: mean action; DQN family: greedy; SQL: its sampler), adding
/// "goals":[n1,n2,n3,n4] on MultiGoal.
/// Without --env the checkpoint's own environment; with another one, only under --force-env (the spaces must still fit).
let evaluate (checkpoint: string) (env: string) (forceEnv: bool) (episodes: int) (seed: uint64) =
    let mean, std, goals = measure checkpoint env forceEnv episodes seed
    printEvaluation mean std goals episodes
    0

/// `sac eval` as a function: `env` empty for the checkpoint's own environment, and no other one without --force-env.
let eval (checkpoint: string) (env: string) (episodes: int) (seed: uint64) = evaluate checkpoint env false episodes seed
