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

/// The resolved configuration: the environment's preset, then the user's file, then the command line.
let resolveConfig (req: TrainRequest) =
    let basis = asObject (ConfigJson.Serialize(Presets.forEnvironment req.Env)) "preset"
    let withFile =
        match req.ConfigFile with
        | None -> basis
        | Some path ->
            if not (File.Exists path) then raise (UsageError $"--config {path}: no such file")
            overlayJson basis (asObject (File.ReadAllText path) path)
    let cli = JsonObject()
    cli["seed"] <- JsonValue.Create req.Seed
    cli["variant"] <- JsonValue.Create(if req.Algo = "sac-v1" then "V1" else "V2")
    let json = (overlayJson withFile cli).ToJsonString()
    let config =
        try ConfigJson.Deserialize(json, defaultArg req.ConfigFile "configuration")
        with :? ArgumentException | :? FormatException as e -> raise (UsageError e.Message)
    match config.Validate() with
    | problems when problems.Count > 0 -> raise (UsageError(String.Join("; ", problems)))
    | _ -> config

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
          | "sac" | "sac-v1" -> ()
          | "sql" | "dqn" | "double-dqn" | "soft-dqn" -> $"--algo {req.Algo}: not available in this version (available: sac, sac-v1)"
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
let private writeCurve (path: string) (env: string) (records: TrainingRecord list) =
    let episodes = [| for r in records do match r.EpisodeReturn with Some v -> struct (double r.Step, v) | None -> () |]
    let evals = [ for r in records do match r.EvalReturn, r.EvalStd with Some m, Some s -> (double r.Step, m, s) | _ -> () ]
    let series =
        [| Series("episode return", episodes)
           Series("evaluation mean (±std)", [| for (x, m, _) in evals -> struct (x, m) |], [| for (x, m, s) in evals -> struct (x, m - s, m + s) |]) |]
    SvgCurve.Write(path, SvgCurveOptions(Title = $"SAC on {env}"), series)

let private formatEta (seconds: float) =
    if Double.IsNaN seconds || Double.IsInfinity seconds then "?"
    else TimeSpan.FromSeconds(Math.Round seconds).ToString()

/// `sac train`: trains, writing config.json, metrics.csv, final.ckpt and curve.svg into the run directory.
let train (req: TrainRequest) =
    validate req
    let config = resolveConfig req
    let steps = defaultArg req.Steps (defaultSteps req.Env)
    let out = defaultArg req.Out (Path.Combine("runs", $"{req.Env}_{req.Algo}_s{req.Seed}"))
    Directory.CreateDirectory out |> ignore
    let device = "cpu"
    if req.Device = "auto" && not req.Quiet then eprintfn "sac: --device auto: no CUDA backend in this build, training on the CPU"
    AtomicFile.WriteText(Path.Combine(out, "config.json"), ConfigJson.SerializeRun(RunInfo(req.Algo, req.Env, steps, req.Seed, device, config)))
    // One GEMM for the process; its worker threads are background threads and end with it.
    let gemm = GemmProvider.Create(req.Threads)
    let records = Collections.Generic.List<TrainingRecord>()
    use csv = new MetricsCsv(Path.Combine(out, MetricsCsv.FileName), MetricsCsv.TrainingColumns)
    let trainer = Trainer(req.Env, config, gemm)
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
    let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
    let header =
        CheckpointHeader("sac", req.Env, trainer.Context.Networks.ObservationSize, trainer.Context.Networks.ActionSize,
                         config.HiddenSizes, config.Variant.ToString(), final.EnvSteps)
    Checkpoint.Save(Path.Combine(out, "final.ckpt"), header, final.Learner)
    writeCurve (Path.Combine(out, "curve.svg")) req.Env (List.ofSeq records)
    if not req.Quiet then eprintfn "sac: wrote %s (config.json, metrics.csv, final.ckpt, curve.svg)" out
    0

/// `sac eval`: loads a checkpoint and prints {"mean":…,"std":…,"episodes":K} for K deterministic episodes.
let eval (checkpoint: string) (env: string) (episodes: int) (seed: uint64) =
    if episodes < 1 then raise (UsageError $"--episodes must be at least 1, got {episodes}")
    checkEnvironment "--env" env
    let struct (header, state, _) =
        try Checkpoint.Load checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let envInstance = RescaleAction(EnvironmentRegistry.Make env) :> IEnvironment
    if envInstance.ObservationSpace.Dimension <> header.ObservationSize || envInstance.ActionSpace.Dimension <> header.ActionSize then
        raise (UsageError $"{checkpoint}: trained on {header.EnvironmentId} (observation {header.ObservationSize}, action {header.ActionSize}), which does not fit {env} (observation {envInstance.ObservationSpace.Dimension}, action {envInstance.ActionSpace.Dimension})")
    let config = SacConfig(HiddenSizes = Seq.toArray header.HiddenSizes, BatchSize = 1, BufferSize = 1)
    let ctx = SacContext(config, header.ObservationSize, header.ActionSize, new ManagedGemm(1))
    let result = Evaluation.run ctx (PolicyWorkspace ctx.Networks) state.Actor envInstance episodes seed
    let f (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
    printfn """{"mean":%s,"std":%s,"episodes":%d}""" (f result.Mean) (f result.Std) episodes
    0
