/// `sac train` and `sac eval`: runs on disk (config.json, metrics.csv, final.ckpt, curve.svg; DESIGN.md, Contracts).
module Sac.Cli.Run

open System
open System.IO
open System.Text.Json.Nodes
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Core.Runs
open Sac.Fs

/// A user error: printed as one line, exit code 2, no stack trace.
exception UsageError of string

/// Checks that an environment id is registered, naming the known ones otherwise.
let checkEnvironment (flag: string) (env: string) =
    if not (Seq.contains env EnvironmentRegistry.Ids) then
        let known = String.Join(", ", EnvironmentRegistry.Ids)
        raise (UsageError $"{flag} {env}: unknown environment (known: {known})")

/// Whether an algorithm name is one of the discrete-action Q-learning family.
let isDqn (algo: string) = DqnCheckpoint.IsDqnAlgorithm algo

/// What `sac train` was asked to do.
type TrainRequest =
    { Env: string
      Steps: int64 option
      Seed: uint64
      Out: string option
      Algo: string
      Device: string
      ConfigFile: string option
      Threads: int
      Quiet: bool }

/// Default run length per environment (RL Zoo's budgets where it has one).
let defaultSteps env =
    match env with
    | "Pendulum-v1" -> 20_000L
    | "MountainCarContinuous-v0" -> 50_000L
    | "PointGoal-v0" -> 10_000L
    | "CartPole-v1" -> 50_000L
    | "MultiGoal-v0" -> 20_000L
    | _ -> 100_000L

/// Applies the keys of `overlay` onto `basis` (both JSON objects), key by key.
let private overlayJson (basis: JsonObject) (overlay: JsonObject) =
    for KeyValue (k, v) in Seq.toArray overlay do
        basis[k] <- (match v with null -> null | v -> v.DeepClone())
    basis

let private asObject (json: string) (source: string) =
    match (try JsonNode.Parse json with e -> raise (UsageError $"{source}: not valid JSON ({e.Message})")) with
    | :? JsonObject as o -> o
    | _ -> raise (UsageError $"{source}: expected a JSON object of configuration keys")

/// Layers JSON objects of configuration keys: a base (the preset), the user's file, then the command line's keys;
/// the result is read back through the record's own validation, so every layer is checked the same way.
let private resolve<'T when 'T: not struct and 'T: not null and 'T :> IConfig> (basis: string) (req: TrainRequest) (cli: (string * (JsonNode | null)) list) : 'T =
    let basis = asObject basis "preset"
    let withFile =
        match req.ConfigFile with
        | None -> basis
        | Some path ->
            if not (File.Exists path) then raise (UsageError $"--config {path}: no such file")
            overlayJson basis (asObject (File.ReadAllText path) path)
    let top = JsonObject()
    for k, v in cli do top[k] <- v
    let json = (overlayJson withFile top).ToJsonString()
    try ConfigJson.Deserialize<'T>(json, defaultArg req.ConfigFile "configuration")
    with :? ArgumentException | :? FormatException as e -> raise (UsageError e.Message)

/// The resolved SAC configuration: the environment's preset, then the user's file, then the command line.
let resolveConfig (req: TrainRequest) : SacConfig =
    let cli: (string * (JsonNode | null)) list =
        [ "seed", JsonValue.Create req.Seed; "variant", JsonValue.Create(if req.Algo = "sac-v1" then "V1" else "V2") ]
    resolve (ConfigJson.Serialize(Presets.forEnvironment req.Env)) req cli

/// The resolved Soft Q-Learning configuration: the reference's MultiGoal defaults, the user's file, then the command line.
let resolveSqlConfig (req: TrainRequest) : SqlConfig =
    let cli: (string * (JsonNode | null)) list = [ "seed", JsonValue.Create req.Seed ]
    resolve (ConfigJson.Serialize(SqlConfig())) req cli

/// The resolved DQN-family configuration: RL Zoo's CartPole-v1 defaults, the user's file, then the command line.
let resolveDqnConfig (req: TrainRequest) (steps: int64) : DqnConfig =
    let variant = match req.Algo with "double-dqn" -> "DoubleDqn" | "soft-dqn" -> "SoftDqn" | _ -> "Dqn"
    let cli: (string * (JsonNode | null)) list =
        [ "seed", JsonValue.Create req.Seed; "variant", JsonValue.Create variant; "totalTimesteps", JsonValue.Create steps ]
    resolve (ConfigJson.Serialize(DqnConfig())) req cli

/// Checks everything about a request before any work starts.
let validate (req: TrainRequest) =
    let problems =
        [ match (try checkEnvironment "--env" req.Env; None with UsageError m -> Some m) with
          | Some m -> m
          | None -> ()
          match req.Steps with
          | Some s when s < 1L -> $"--steps must be at least 1, got {s}"
          | _ -> ()
          if req.Threads < 1 then $"--threads must be at least 1, got {req.Threads}"
          match req.Algo with
          | "sac" | "sac-v1" | "sql" | "dqn" | "double-dqn" | "soft-dqn" ->
              match (if Seq.contains req.Env EnvironmentRegistry.Ids then Some(EnvironmentRegistry.Make req.Env) else None) with
              | Some env ->
                  let discrete = (DiscreteActions.TryGetActionCount env).HasValue
                  if discrete && not (isDqn req.Algo) then
                      $"--algo {req.Algo} needs continuous actions, but {req.Env} has discrete ones (use dqn, double-dqn or soft-dqn)"
                  elif not discrete && isDqn req.Algo then
                      $"--algo {req.Algo} needs discrete actions, but {req.Env} has continuous ones (use sac, sac-v1 or sql)"
              | None -> ()
          | a -> $"--algo {a}: unknown algorithm (expected sac, sac-v1, sql, dqn, double-dqn or soft-dqn)"
          match req.Device with
          | "cpu" | "auto" -> ()
          | "cuda" -> "--device cuda: this build has no CUDA backend; use --device cpu or auto"
          | d -> $"--device {d}: expected cpu, cuda or auto" ]
    if not problems.IsEmpty then raise (UsageError(String.Join("; ", problems)))

let private opt (x: 'a option) (f: 'a -> double) = match x with Some v -> f v | None -> nan

/// The CSV row of one record, in MetricsCsv.TrainingColumns order.
let private row (r: TrainingRecord) =
    let losses f = opt r.Losses (fun m -> double (f m))
    let values = Collections.Generic.Dictionary<string, double>()
    for (k, v) in
        [ "step", double r.Step
          "episode", double r.Episode
          "episode_return", opt r.EpisodeReturn id
          "episode_length", opt r.EpisodeLength double
          "eval_return", opt r.EvalReturn id
          "eval_std", opt r.EvalStd id
          "critic_loss", losses (fun m -> m.CriticLoss)
          "actor_loss", losses (fun m -> m.ActorLoss)
          "alpha", losses (fun m -> m.Alpha)
          "entropy", losses (fun m -> m.Entropy)
          "updates_per_sec", opt r.UpdatesPerSec id
          "wall_seconds", r.WallSeconds ] do
        if not (Double.IsNaN v) then values[k] <- v
    values

/// Renders curve.svg from the run's records: episode returns and evaluation means with a +-std band.
let private writeCurve (path: string) (env: string) (algo: string) (records: TrainingRecord list) =
    let episodes = [| for r in records do match r.EpisodeReturn with Some v -> struct (double r.Step, v) | None -> () |]
    let evals = [ for r in records do match r.EvalReturn, r.EvalStd with Some m, Some s -> (double r.Step, m, s) | _ -> () ]
    let series =
        [| Series("episode return", episodes)
           Series("evaluation mean (±std)", [| for (x, m, _) in evals -> struct (x, m) |], [| for (x, m, s) in evals -> struct (x, m - s, m + s) |]) |]
    SvgCurve.Write(path, SvgCurveOptions(Title = $"{algo} on {env}"), series)

let private formatEta (seconds: float) =
    if Double.IsNaN seconds || Double.IsInfinity seconds then "?"
    else TimeSpan.FromSeconds(Math.Round seconds).ToString()

/// Runs one training job in a run directory: config.json first, then metrics.csv row by row with progress, then the
/// checkpoint and curve.svg. `train` runs the trainer with a record handler and returns the checkpoint writer.
let private runInDirectory (req: TrainRequest) (out: string) (steps: int64) (configJson: string) (train: Action<TrainingRecord> -> (string -> unit)) =
    AtomicFile.WriteText(Path.Combine(out, "config.json"), configJson)
    let records = Collections.Generic.List<TrainingRecord>()
    use csv = new MetricsCsv(Path.Combine(out, MetricsCsv.FileName), MetricsCsv.TrainingColumns)
    let mutable lastEpisode = nan
    let mutable lastEval = nan
    let mutable lastUps = nan
    let onRecord (r: TrainingRecord) =
        records.Add r
        csv.Append(row r)
        r.EpisodeReturn |> Option.iter (fun v -> lastEpisode <- v)
        r.EvalReturn |> Option.iter (fun v -> lastEval <- v)
        r.UpdatesPerSec |> Option.iter (fun v -> lastUps <- v)
        if not req.Quiet && (r.EvalReturn.IsSome || r.Episode % 10 = 0) then
            let eta = r.WallSeconds / float r.Step * float (steps - r.Step)
            eprintfn "step %d/%d  episodes %d  return %.1f  eval %.1f  updates/s %.0f  eta %s"
                r.Step steps r.Episode lastEpisode lastEval lastUps (formatEta eta)
    let save = train (Action<TrainingRecord> onRecord)
    save (Path.Combine(out, "final.ckpt"))
    writeCurve (Path.Combine(out, "curve.svg")) req.Env req.Algo (List.ofSeq records)
    if not req.Quiet then eprintfn "sac: wrote %s (config.json, metrics.csv, final.ckpt, curve.svg)" out

/// The run description written to config.json by the DQN family (the same keys as SAC's RunInfo).
let private runJson (req: TrainRequest) (steps: int64) (device: string) (configJson: string) =
    let o = JsonObject()
    o["algorithm"] <- JsonValue.Create req.Algo
    o["environmentId"] <- JsonValue.Create req.Env
    o["steps"] <- JsonValue.Create steps
    o["seed"] <- JsonValue.Create req.Seed
    o["device"] <- JsonValue.Create device
    o["config"] <- JsonNode.Parse configJson
    o.ToJsonString(Text.Json.JsonSerializerOptions(WriteIndented = true))

/// `sac train`: trains, writing config.json, metrics.csv, final.ckpt and curve.svg into the run directory.
let train (req: TrainRequest) =
    validate req
    let steps = defaultArg req.Steps (defaultSteps req.Env)
    let out = defaultArg req.Out (Path.Combine("runs", $"{req.Env}_{req.Algo}_s{req.Seed}"))
    let device = "cpu"
    if req.Algo = "sql" then
        let config = resolveSqlConfig req
        Directory.CreateDirectory out |> ignore
        if req.Device = "auto" && not req.Quiet then eprintfn "sac: --device auto: no CUDA backend in this build, training on the CPU"
        let trainer = SqlTrainer(req.Env, config, GemmProvider.Create req.Threads)
        runInDirectory req out steps (runJson req steps device (ConfigJson.Serialize config)) (fun onRecord ->
            let final = trainer.Run(trainer.Start(), steps, onRecord)
            fun path ->
                let n = trainer.Context.Networks
                SqlCheckpoint.Save(path, SqlCheckpointHeader.For(req.Env, n.ObservationSize, n.ActionSize, config, final.EnvSteps), final.Learner))
    elif isDqn req.Algo then
        let config = resolveDqnConfig req steps
        Directory.CreateDirectory out |> ignore
        if req.Device = "auto" && not req.Quiet then eprintfn "sac: --device auto: no CUDA backend in this build, training on the CPU"
        let trainer = DqnTrainer(req.Env, config, GemmProvider.Create req.Threads)
        runInDirectory req out steps (runJson req steps device (ConfigJson.Serialize config)) (fun onRecord ->
            let final = trainer.Run(trainer.Start(), steps, onRecord)
            fun path ->
                let header = DqnCheckpointHeader(req.Algo, req.Env, trainer.Context.ObservationSize, trainer.Context.ActionCount, config.HiddenSizes, final.EnvSteps)
                DqnCheckpoint.Save(path, header, final.Learner))
    else
        let config = resolveConfig req
        Directory.CreateDirectory out |> ignore
        if req.Device = "auto" && not req.Quiet then eprintfn "sac: --device auto: no CUDA backend in this build, training on the CPU"
        // One GEMM for the process; its worker threads are background threads and end with it.
        let trainer = Trainer(req.Env, config, GemmProvider.Create req.Threads)
        runInDirectory req out steps (ConfigJson.SerializeRun(RunInfo(req.Algo, req.Env, steps, req.Seed, device, config))) (fun onRecord ->
            let final = trainer.Run(trainer.Start(), steps, onRecord)
            fun path ->
                let header =
                    CheckpointHeader("sac", req.Env, trainer.Context.Networks.ObservationSize, trainer.Context.Networks.ActionSize,
                                     config.HiddenSizes, config.Variant.ToString(), final.EnvSteps)
                Checkpoint.Save(path, header, final.Learner))
    0

/// Prints the eval line; on MultiGoal it adds how many episodes reached each goal.
let private printEvaluation (mean: float) (std: float) (goals: int[]) episodes =
    let f (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
    if goals.Length = 0 then printfn """{"mean":%s,"std":%s,"episodes":%d}""" (f mean) (f std) episodes
    else printfn """{"mean":%s,"std":%s,"episodes":%d,"goals":[%s]}""" (f mean) (f std) episodes (String.Join(",", goals))

let private misfit (checkpoint: string) (trainedOn: string) (obs: int) (act: int) (env: string) (envObs: int) (envAct: int) =
    UsageError $"{checkpoint}: trained on {trainedOn} (observation {obs}, actions {act}), which does not fit {env} (observation {envObs}, actions {envAct})"

let private evalSac (checkpoint: string) (env: string) (episodes: int) (seed: uint64) =
    let struct (header, state, _) =
        try Checkpoint.Load checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let envInstance = RescaleAction(EnvironmentRegistry.Make env) :> IEnvironment
    if envInstance.ObservationSpace.Dimension <> header.ObservationSize || envInstance.ActionSpace.Dimension <> header.ActionSize then
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize header.ActionSize env envInstance.ObservationSpace.Dimension envInstance.ActionSpace.Dimension)
    let config = SacConfig(HiddenSizes = Seq.toArray header.HiddenSizes, BatchSize = 1, BufferSize = 1)
    let ctx = SacContext(config, header.ObservationSize, header.ActionSize, new ManagedGemm(1))
    // The deterministic evaluation policy, the mean action; MultiGoal also counts the goals reached.
    let r = GoalEvaluation.sac ctx state.Actor false envInstance episodes seed
    r.Mean, r.Std, r.Goals

let private evalSql (checkpoint: string) (env: string) (episodes: int) (seed: uint64) =
    let struct (header, state, _) =
        try SqlCheckpoint.Load checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let envInstance = RescaleAction(EnvironmentRegistry.Make env) :> IEnvironment
    if envInstance.ObservationSpace.Dimension <> header.ObservationSize || envInstance.ActionSpace.Dimension <> header.ActionSize then
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize header.ActionSize env envInstance.ObservationSpace.Dimension envInstance.ActionSpace.Dimension)
    let config = SqlConfig(HiddenSizes = Seq.toArray header.HiddenSizes, SamplerHiddenSizes = Seq.toArray header.SamplerHiddenSizes)
    let ctx = SqlContext(config, header.ObservationSize, header.ActionSize, new ManagedGemm(1))
    // The SQL policy is its sampler: rollouts are stochastic, a = f(xi; s).
    let r = GoalEvaluation.sql ctx state.Sampler envInstance episodes seed
    r.Mean, r.Std, r.Goals

let private evalDqn (checkpoint: string) (env: string) (episodes: int) (seed: uint64) =
    let struct (header, state) =
        try DqnCheckpoint.Load checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let envInstance = EnvironmentRegistry.Make env
    let actions = DiscreteActions.TryGetActionCount envInstance
    if not actions.HasValue then
        raise (UsageError $"{checkpoint}: a {header.Algorithm} checkpoint needs discrete actions, but {env} has continuous ones")
    if envInstance.ObservationSpace.Dimension <> header.ObservationSize || actions.Value <> header.ActionCount then
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize header.ActionCount env envInstance.ObservationSpace.Dimension actions.Value)
    let config = DqnConfig(HiddenSizes = Seq.toArray header.HiddenSizes, BatchSize = 1, BufferSize = 1, LearningStarts = 0)
    let ctx = DqnContext(config, header.ObservationSize, header.ActionCount, new ManagedGemm(1))
    let r = Dqn.evaluate ctx (Sac.Core.Networks.MlpWorkspace(ctx.Spec, 1)) state.QNetwork envInstance episodes seed
    r.Mean, r.Std, Array.empty<int>

/// `sac eval`: loads a checkpoint (of any algorithm this build trains) and prints {"mean":…,"std":…,"episodes":K}
/// over K episodes, episode k seeded seed + k (SAC: mean action; DQN family: greedy; SQL: its sampler), adding
/// "goals":[n1,n2,n3,n4] on MultiGoal.
let eval (checkpoint: string) (env: string) (episodes: int) (seed: uint64) =
    if episodes < 1 then raise (UsageError $"--episodes must be at least 1, got {episodes}")
    checkEnvironment "--env" env
    let algorithm =
        try Checkpoint.ReadAlgorithm checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let mean, std, goals =
        match algorithm with
        | "sac" -> evalSac checkpoint env episodes seed
        | "sql" -> evalSql checkpoint env episodes seed
        | a when isDqn a -> evalDqn checkpoint env episodes seed
        | a -> raise (UsageError $"{checkpoint}: written by algorithm '{a}', which this build cannot evaluate")
    printEvaluation mean std goals episodes
    0
