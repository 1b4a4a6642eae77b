/// `sac train` and `sac eval`: runs on disk (config.json, metrics.csv, final.ckpt, curve.svg; DESIGN.md, Contracts).
module Sac.Cli.Run

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.Json
open System.Text.Json.Nodes
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Core.Runs
open Sac.Fs

/// A user error: printed as one line, exit code 2, no stack trace.
exception UsageError of string

/// Training stopped on a numerical fault: printed as one line, exit code 3; the run directory keeps its last good checkpoint.
exception TrainingFault of string

/// Training stopped by SIGINT or SIGTERM after writing a checkpoint: printed as one line, exit code 128 + the signal
/// (130, 143).
exception Interrupted of message: string * exitCode: int

/// Registers the environments of each plugin assembly (`--plugin`), reporting a bad one as a usage error.
let loadPlugins (paths: string list) =
    for path in paths do
        try EnvironmentRegistry.LoadPlugin path |> ignore
        with
        | :? EnvironmentPluginException as e -> raise (UsageError $"--plugin {e.Message}")
        | :? ArgumentException as e -> raise (UsageError $"--plugin {path}: {e.Message}")

/// Checks that an environment id is registered, naming the known ones otherwise.
let checkEnvironment (flag: string) (env: string) =
    if not (Seq.contains env EnvironmentRegistry.Ids) then
        let known = String.Join(", ", EnvironmentRegistry.Ids)
        raise (UsageError $"{flag} {env}: unknown environment (known: {known}; an environment of your own? pass --plugin ASSEMBLY.dll)")
    match EnvironmentRegistry.IsAvailable env with
    | true, _ -> ()
    | false, reason -> raise (UsageError reason)

/// Whether an algorithm name is one of the discrete-action Q-learning family.
let isDqn (algo: string) = DqnCheckpoint.IsDqnAlgorithm algo

/// What `sac train` was asked to do.
type TrainRequest =
    { /// The environment id (empty when resuming: the run directory's config.json names it).
      Env: string
      Steps: int64 option
      Seed: uint64
      Out: string option
      Algo: string
      Device: string
      ConfigFile: string option
      Threads: int
      Progress: Progress.Mode
      /// A run directory to continue from its newest checkpoint.
      Resume: string option
      /// Keep the replay buffer in checkpoints (needed for an exact resume).
      SaveReplay: bool
      /// Environment steps between periodic checkpoints (0: none; default a tenth of the run, between 1000 and 10000).
      CheckpointEvery: int64 option
      /// Stop at the first evaluation whose mean return reaches this.
      StopAtReward: float option
      /// Whether Seed was given (on the command line): only then does it override a --config file's seed.
      SeedGiven: bool
      /// Whether Algo was given: only then does it override a --config file's variant.
      AlgoGiven: bool
      /// Whether --quiet was given (refused together with --json).
      QuietGiven: bool }

/// The request of `sac train --env ENV` with every option at its default.
let defaultRequest env =
    { Env = env; Steps = None; Seed = 0UL; Out = None; Algo = "sac"; Device = "cpu"; ConfigFile = None; Threads = 1
      Progress = Progress.Quiet; Resume = None; SaveReplay = false; CheckpointEvery = None; StopAtReward = None
      // Without an environment the request resumes a run, which brings its own seed and algorithm.
      SeedGiven = not (String.IsNullOrEmpty env); AlgoGiven = not (String.IsNullOrEmpty env); QuietGiven = false }

/// Default run length per environment (RL Zoo's budgets where it has one).
let defaultSteps env =
    match env with
    | "Pendulum-v1" -> 20_000L
    | "MountainCarContinuous-v0" -> 50_000L
    | "PointGoal-v0" -> 10_000L
    | "CartPole-v1" -> 50_000L
    | "MultiGoal-v0" -> 20_000L
    // RL Zoo: 1M steps for the MuJoCo locomotion tasks, 2M for Humanoid.
    | "Humanoid-v4" -> 2_000_000L
    | id when EnvironmentRegistry.RequiresMuJoCo id -> 1_000_000L
    | _ -> 100_000L

/// An exception's message without the " (Parameter 'x')" that ArgumentException appends: the key is already named.
let plainMessage (e: exn) =
    match e with
    | :? ArgumentException as a when not (isNull a.ParamName) ->
        let suffix = $" (Parameter '{a.ParamName}')"
        if a.Message.EndsWith(suffix, StringComparison.Ordinal) then a.Message.[.. a.Message.Length - suffix.Length - 1] else a.Message
    | e -> e.Message

/// Applies the keys of `overlay` onto `basis` (both JSON objects), key by key.
let private overlayJson (basis: JsonObject) (overlay: JsonObject) =
    for KeyValue (k, v) in Seq.toArray overlay do
        basis[k] <- (match v with null -> null | v -> v.DeepClone())
    basis

let private asObject (json: string) (source: string) =
    match (try JsonNode.Parse json with e -> raise (UsageError $"{source}: not valid JSON ({e.Message})")) with
    | :? JsonObject as o ->
        // JsonObject meets a repeated key only when it first reads its members.
        let seen = Collections.Generic.HashSet<string>()
        use doc = JsonDocument.Parse json
        for p in doc.RootElement.EnumerateObject() do
            if not (seen.Add p.Name) then raise (UsageError $"{source}: the key '{p.Name}' appears more than once")
        o
    | _ -> raise (UsageError $"{source}: expected a JSON object of configuration keys")

/// Layers JSON objects of configuration keys: a base (the preset), the user's file, then the command line's keys;
/// the result is read back through the record's own validation, so every layer is checked the same way.
let private resolve<'T when 'T: not struct and 'T: not null and 'T :> IConfig> (basis: string) (req: TrainRequest) (cli: (string * (JsonNode | null)) list) : 'T =
    let basis = asObject basis "preset"
    let withFile =
        match req.ConfigFile with
        | None -> basis
        | Some path ->
            if Directory.Exists path then raise (UsageError $"--config {path}: is a directory, not a configuration file")
            if not (File.Exists path) then raise (UsageError $"--config {path}: no such file")
            overlayJson basis (asObject (File.ReadAllText path) path)
    let top = JsonObject()
    for k, v in cli do top[k] <- v
    let json = (overlayJson withFile top).ToJsonString()
    try ConfigJson.Deserialize<'T>(json, defaultArg req.ConfigFile "configuration")
    with :? ArgumentException | :? FormatException as e -> raise (UsageError(plainMessage e))

/// The command line's seed key, only when --seed was given (otherwise a --config file's seed stands).
let private seedKey (req: TrainRequest) : (string * (JsonNode | null)) list =
    if req.SeedGiven then [ "seed", JsonValue.Create req.Seed ] else []

/// The resolved SAC configuration: the environment's preset, then the user's file, then the command line.
let resolveConfig (req: TrainRequest) : SacConfig =
    let cli: (string * (JsonNode | null)) list =
        seedKey req @ (if req.AlgoGiven then [ "variant", JsonValue.Create(if req.Algo = "sac-v1" then "V1" else "V2") ] else [])
    resolve (ConfigJson.Serialize(Presets.forEnvironment req.Env)) req cli

/// The resolved Soft Q-Learning configuration: the reference's MultiGoal defaults, the user's file, then the command line.
let resolveSqlConfig (req: TrainRequest) : SqlConfig =
    resolve (ConfigJson.Serialize(SqlConfig())) req (seedKey req)

/// The resolved DQN-family configuration: RL Zoo's CartPole-v1 defaults, the user's file, then the command line (the
/// variant from --algo; the run length from --steps when given).
let resolveDqnConfig (req: TrainRequest) : DqnConfig =
    let variant = match req.Algo with "double-dqn" -> "DoubleDqn" | "soft-dqn" -> "SoftDqn" | _ -> "Dqn"
    let cli: (string * (JsonNode | null)) list =
        seedKey req @ [ "variant", JsonValue.Create variant ]
        @ (match req.Steps with Some s -> [ "totalTimesteps", JsonValue.Create (max s 1L) ] | None -> [])
    resolve (ConfigJson.Serialize(DqnConfig())) req cli

/// Whether a run directory can be made at `out`: not empty, not an existing file, under a writable directory.
let private outProblem (out: string) =
    if String.IsNullOrWhiteSpace out then Some "--out: the run directory must not be empty"
    elif File.Exists out then Some $"--out {out}: is a file, not a directory"
    else
        // The nearest existing ancestor must be a directory this process can write in (probed, then removed).
        let rec existing (dir: string) =
            match Path.GetDirectoryName dir with
            | null -> dir
            | _ when Directory.Exists dir -> dir
            | parent when parent = "" -> Directory.GetCurrentDirectory()
            | parent -> if File.Exists parent then parent else existing parent
        let full = Path.GetFullPath out
        let anchor = existing full
        if File.Exists anchor then Some $"--out {out}: {anchor} is a file"
        else
            let probe = Path.Combine(anchor, $".sac-probe-{Guid.NewGuid():N}")
            try
                File.WriteAllText(probe, "")
                File.Delete probe
                None
            with
            | :? UnauthorizedAccessException
            | :? IOException -> Some $"--out {out}: cannot write in {anchor}"

/// Problems with the options that do not depend on the environment.
let private optionProblems (req: TrainRequest) =
    [ match req.Out with
      | Some out -> match outProblem out with Some p -> p | None -> ()
      | None -> ()
      if req.Progress = Progress.JsonLines && req.QuietGiven then "--json and --quiet cannot be combined: --json prints the records, --quiet prints nothing"
      match req.Steps with
      | Some s when s < 1L -> $"--steps must be at least 1, got {s}"
      | _ -> ()
      if req.Threads < 1 then $"--threads must be at least 1, got {req.Threads}"
      match req.CheckpointEvery with
      | Some n when n < 0L -> $"--checkpoint-every must be 0 (none) or more, got {n}"
      | _ -> ()
      match req.StopAtReward with
      | Some r when Double.IsNaN r -> "--stop-at-reward must be a number, got NaN"
      | _ -> ()
      match req.Device with
      | "cpu" | "auto" -> ()
      | "cuda" when req.Resume.IsNone && req.Algo <> "sac" ->
          $"--device cuda: the CUDA backend runs SAC v2 (--algo sac) only, not {req.Algo}; use --device cpu or auto"
      | "cuda" -> ()
      | d -> $"--device {d}: expected cpu, cuda or auto" ]

/// Whether a SAC run of this configuration can be built here: networks a flat parameter array can hold, and the
/// preallocated replay buffer and learner within the memory this process may use.
let private sacSizeProblems (config: SacConfig) (obs: int) (act: int) =
    [ let hidden = Seq.toList config.HiddenSizes
      let hiddenText = "[" + String.Join(", ", hidden) + "]"
      let specs = [ "actor", [ obs ] @ hidden @ [ 2 * act ]; "critic", [ obs + act ] @ hidden @ [ 1 ] ]
      let parameters =
          [ for name, sizes in specs ->
              try Ok(int64 (Sac.Core.Networks.MlpSpec(Array.ofList sizes)).ParameterCount)
              with :? ArgumentException as e -> Error $"hiddenSizes {hiddenText}: the {name} network cannot be built ({plainMessage e})" ]
      match parameters |> List.tryPick (function Error m -> Some m | Ok _ -> None) with
      | Some problem -> problem
      | None ->
          let counts = parameters |> List.map (function Ok n -> n | Error _ -> 0L)
          // Actor with Adam's two moments (x3); two critics and their targets with moments (x8); replay rows.
          let learnerBytes = 4L * (3L * counts.[0] + 8L * counts.[1])
          let replayBytes = 4L * int64 config.BufferSize * int64 (2 * obs + act + 3)
          let available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes
          let gb (b: int64) = (float b / 1e9).ToString("0.##", Globalization.CultureInfo.InvariantCulture)
          if learnerBytes + replayBytes > available then
              $"hiddenSizes {hiddenText} and bufferSize {config.BufferSize} need about {gb (learnerBytes + replayBytes)} GB (networks {gb learnerBytes} GB, replay buffer {gb replayBytes} GB), more than the {gb available} GB this process may use" ]

/// Problems with the environment and algorithm and the options only some algorithms take.
let private algorithmProblems (req: TrainRequest) =
    [ match (try checkEnvironment "--env" req.Env; None with UsageError m -> Some m) with
      | Some m -> m
      | None -> ()
      match req.Algo with
      | "sac" | "sac-v1" | "sql" | "dqn" | "double-dqn" | "soft-dqn" ->
          match (if fst (EnvironmentRegistry.IsAvailable req.Env) then Some(EnvironmentRegistry.Make req.Env) else None) with
          | Some env ->
              let discrete = (DiscreteActions.TryGetActionCount env).HasValue
              if discrete && not (isDqn req.Algo) then
                  $"--algo {req.Algo} needs continuous actions, but {req.Env} has discrete ones (use dqn, double-dqn or soft-dqn)"
              elif not discrete && isDqn req.Algo then
                  $"--algo {req.Algo} needs discrete actions, but {req.Env} has continuous ones (use sac, sac-v1 or sql)"
              elif not (isDqn req.Algo) && req.Algo <> "sql" then
                  match (try Some(resolveConfig req) with UsageError _ -> None) with
                  | Some config -> yield! sacSizeProblems config env.ObservationSpace.Dimension env.ActionSpace.Dimension
                  | None -> ()
          | None -> ()
      | a -> $"--algo {a}: unknown algorithm (expected sac, sac-v1, sql, dqn, double-dqn or soft-dqn)"
      ]

let private report problems =
    if not (List.isEmpty problems) then raise (UsageError(String.Join("; ", problems)))

/// Checks everything about a request before any work starts, reporting every problem at once.
let validate (req: TrainRequest) = report (optionProblems req @ algorithmProblems req)

let private opt (x: 'a option) (f: 'a -> double) = match x with Some v -> f v | None -> nan

/// The CSV row of one record, by the names of Metrics.columns.
let private row (wallOffset: float) (r: TrainingRecord) =
    let values = Collections.Generic.Dictionary<string, double>()
    for (k, v) in
        [ yield "step", double r.Step
          yield "episode", double r.Episode
          yield "episode_return", opt r.EpisodeReturn id
          yield "episode_length", opt r.EpisodeLength double
          yield "eval_return", opt r.EvalReturn id
          yield "eval_std", opt r.EvalStd id
          match r.Metrics with
          | Some m -> for name, value in Array.zip m.Names m.Values do yield name, double value
          | None -> ()
          yield "updates_per_sec", opt r.UpdatesPerSec id
          yield "wall_seconds", r.WallSeconds + wallOffset ] do
        if not (Double.IsNaN v) then values[k] <- v
    values

/// Renders curve.svg from a run's metrics.csv (the whole run, resumed parts included): episode returns and
/// evaluation means with a ±std band.
let writeCurve (out: string) (env: string) (algo: string) =
    let struct (columns, rows) = MetricsCsv.Read(Path.Combine(out, MetricsCsv.FileName))
    let at name = Array.IndexOf(columns, name)
    let step, ret, ev, sd = at "step", at "episode_return", at "eval_return", at "eval_std"
    let value (row: Nullable<double>[]) i = if i >= 0 && row.[i].HasValue then Some row.[i].Value else None
    let episodes = [| for r in rows do match value r step, value r ret with Some x, Some y -> struct (x, y) | _ -> () |]
    let evals = [ for r in rows do match value r step, value r ev with Some x, Some m -> (x, m, defaultArg (value r sd) 0.0) | _ -> () ]
    let series =
        [| Series("episode return", episodes)
           Series("evaluation mean (±std)", [| for (x, m, _) in evals -> struct (x, m) |], [| for (x, m, s) in evals -> struct (x, m - s, m + s) |]) |]
    SvgCurve.Write(Path.Combine(out, "curve.svg"), SvgCurveOptions(Title = $"{algo} on {env}"), series)

/// The wall_seconds of the last metrics row at or before `step` (0 when there is none or the file cannot be read).
let private lastWallSeconds (file: string) (step: int64) =
    try
        let struct (columns, rows) = MetricsCsv.Read file
        let stepAt, wallAt = Array.IndexOf(columns, "step"), Array.IndexOf(columns, "wall_seconds")
        if stepAt < 0 || wallAt < 0 then 0.0
        else
            rows
            |> Seq.filter (fun r -> r.[stepAt].HasValue && r.[stepAt].Value <= float step && r.[wallAt].HasValue)
            |> Seq.map (fun r -> r.[wallAt].Value)
            |> Seq.fold (fun _ w -> w) 0.0
    with :? FormatException | :? IOException -> 0.0

/// Writes each record to metrics.csv and the progress display, runs the job, then draws curve.svg.
let private runInDirectory (req: TrainRequest) (out: string) (job: Progress.Job) (csv: MetricsCsv) (wallOffset: float) (train: (TrainingRecord -> unit) -> 'T) : 'T =
    let result =
        Progress.run req.Progress job (fun report ->
            train (fun r ->
                csv.Append(row wallOffset r)
                report r))
    csv.Dispose()
    writeCurve out req.Env req.Algo
    result

/// The run description written to config.json by the DQN family (the same keys as SAC's RunInfo).
let private runJson (req: TrainRequest) (steps: int64) (extendedTo: int64 option) (device: string) (configJson: string) =
    let o = JsonObject()
    o["algorithm"] <- JsonValue.Create req.Algo
    o["environmentId"] <- JsonValue.Create req.Env
    o["steps"] <- JsonValue.Create steps
    match extendedTo with
    | Some total -> o["extendedTo"] <- JsonValue.Create total
    | None -> ()
    o["seed"] <- JsonValue.Create req.Seed
    o["device"] <- JsonValue.Create device
    o["config"] <- JsonNode.Parse configJson
    o.ToJsonString(Text.Json.JsonSerializerOptions(WriteIndented = true))


let private say (req: TrainRequest) (message: string) =
    if req.Progress <> Progress.Quiet then eprintfn "sac: %s" message

/// Where periodic checkpoints go, atomically replaced each time.
[<Literal>]
let CheckpointFileName = "checkpoint.ckpt"

/// Steps between periodic checkpoints when --checkpoint-every is not given: a tenth of the run, at least 1000 and at
/// most 10000, so a long run never goes long without one.
let defaultCheckpointInterval (total: int64) = min 10_000L (max 1000L (total / 10L))

/// A run directory must not already hold a run: starting afresh there would overwrite what was saved.
let private freshDirectory (out: string) =
    if File.Exists(Path.Combine(out, "config.json")) then
        if File.Exists(Path.Combine(out, CheckpointFileName)) || File.Exists(Path.Combine(out, Checkpoint.FinalFileName)) then
            raise (UsageError $"{out} already holds a run (config.json); continue it with --resume {out}, or choose another --out")
        // A run that stopped before its first checkpoint left nothing to resume: it may start again in the same place.
        for f in [ "config.json"; MetricsCsv.FileName; "curve.svg" ] do File.Delete(Path.Combine(out, f))
    Directory.CreateDirectory out |> ignore

/// What a resumed run may change: anything but the keys that fix its shapes and random streams (`fixedKeys`: each
/// key's name and whether the merged configuration keeps it).
let private resumedConfig<'T when 'T: not struct and 'T: not null and 'T :> IConfig> (req: TrainRequest) (stored: 'T) (seed: uint64) (fixedKeys: 'T -> 'T -> (string * bool) list) : 'T =
    match req.ConfigFile with
    | None -> stored
    | Some path ->
        let merged: 'T = resolve (ConfigJson.Serialize stored) { req with Seed = seed } [ "seed", JsonValue.Create seed ]
        match [ for k, same in fixedKeys stored merged do if not same then k ] with
        | [] -> merged
        | changed -> raise (UsageError $"""--config {path}: a resumed run cannot change {String.Join(", ", changed)}""")

let private sameSizes (a: Collections.Generic.IReadOnlyList<int>) (b: Collections.Generic.IReadOnlyList<int>) = Seq.toArray a = Seq.toArray b

/// The backend --device asks for, opened before any work: cuda without a usable GPU, or for anything but SAC v2, is a
/// usage error; auto falls back to the CPU with one line saying why. None means the CPU.
let private openDevice (req: TrainRequest) (algorithm: string) (sacV2: bool) : Sac.Cuda.Backend.CudaBackend option =
    let tryOpen () =
        match Sac.Cuda.Backend.CudaBackend.TryCreate 0 with
        | true, b, _ -> Ok(nonNull b)
        | false, _, reason -> Error reason
    match req.Device with
    | "cuda" when not sacV2 ->
        raise (UsageError $"--device cuda: the CUDA backend runs SAC v2 (--algo sac) only, not {algorithm}; use --device cpu or auto")
    | "cuda" ->
        match tryOpen () with
        | Ok b -> Some b
        | Error reason -> raise (UsageError $"--device cuda: {reason}")
    | "auto" when not sacV2 ->
        say req $"--device auto: {algorithm} runs on the CPU (the CUDA backend runs SAC v2 only)"
        None
    | "auto" ->
        match tryOpen () with
        | Ok b ->
            say req $"--device auto: training on {b}"
            Some b
        | Error reason ->
            say req $"--device auto: {reason}; training on the CPU"
            None
    | _ -> None

/// The checkpoint a run resumes from: the newest loadable training checkpoint of the directory (periodic or final).
let private newestCheckpoint (req: TrainRequest) (dir: string) (r: OffPolicyTrainer<'L, 'M>) =
    let candidates =
        [ for name in [ CheckpointFileName; Checkpoint.FinalFileName ] do
            let path = Path.Combine(dir, name)
            if File.Exists path then
                match (try Ok(r.Load path) with :? CheckpointException as e -> Error e.Message) with
                | Ok c ->
                    match c.Progress with
                    | null -> say req $"{path}: holds no training progress, skipped"
                    | progress -> yield path, c, c.EnvironmentSteps, progress
                | Error m -> say req $"skipping {m}" ]
    match candidates with
    | [] -> raise (UsageError $"--resume {dir}: no loadable checkpoint there ({CheckpointFileName} or {Checkpoint.FinalFileName})")
    | cs -> cs |> List.maxBy (fun (_, _, steps, _) -> steps)

/// A run in its directory, fresh or resumed: config.json, metrics.csv (continued on resume), periodic checkpoints,
/// the reward threshold, numerical-fault reporting, then final.ckpt and curve.svg.
let private trainRun (req: TrainRequest) (out: string) (envId: string) (total: int64) (configJson: string) (resume: bool) (r: OffPolicyTrainer<'L, 'M>) =
    let mutable saveReplay = req.SaveReplay
    let mutable every = defaultArg req.CheckpointEvery (defaultCheckpointInterval total)
    // A resumed run's wall clock goes on from the last row the checkpoint covers.
    let mutable wallOffset = 0.0
    let state, csv =
        if resume then
            let path, ckpt, _, progress = newestCheckpoint req out r
            // A resumed run keeps the options of the run it continues unless told otherwise.
            saveReplay <- saveReplay || not (isNull ckpt.Replay)
            if req.CheckpointEvery.IsNone && progress.CheckpointEvery > 0L then every <- progress.CheckpointEvery
            let state = try r.Resume ckpt with :? ArgumentException as e -> raise (UsageError $"{path}: {plainMessage e}")
            if total < state.EnvSteps then
                raise (UsageError $"--steps {total} is below the {state.EnvSteps} steps {out} has already taken; give a larger --steps to extend the run")
            let note = if not (isNull ckpt.Replay) then "" else " (no replay buffer saved: refilling it before updating)"
            say req $"resuming {out} from {Path.GetFileName path} at step {state.EnvSteps} of {total}{note}"
            wallOffset <- lastWallSeconds (Path.Combine(out, MetricsCsv.FileName)) (state.EnvSteps)
            state, MetricsCsv.Continue(Path.Combine(out, MetricsCsv.FileName), Metrics.columns r.Algorithm.MetricNames, state.EnvSteps)
        else r.Start(), new MetricsCsv(Path.Combine(out, MetricsCsv.FileName), Metrics.columns r.Algorithm.MetricNames)
    AtomicFile.WriteText(Path.Combine(out, "config.json"), configJson)
    let checkpointPath = Path.Combine(out, CheckpointFileName)
    let mutable lastCheckpoint = None
    let callbacks onRecord =
        [ yield Callback.ofRecord onRecord
          if every > 0L then
              let save = r.CheckpointEvery(every, checkpointPath, total, saveReplay)
              yield Callback.create (fun steps s record ->
                  let decision = save.OnStep(steps, s, record)
                  if steps % every = 0L then lastCheckpoint <- Some steps
                  decision)
          match req.StopAtReward with
          | Some threshold -> yield Callback.stopAtEvalReturn threshold
          | None -> () ]
    let job: Progress.Job = { Title = $"{req.Algo} {envId}"; Algorithm = req.Algo; StartStep = state.EnvSteps; TotalSteps = total }
    // SIGINT and SIGTERM end the run after the current step, with a checkpoint, instead of killing it mid-write.
    let mutable signal = 0
    let onSignal (number: int) = Action<PosixSignalContext>(fun context -> context.Cancel <- true; signal <- number)
    use _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, onSignal 2)
    use _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, onSignal 15)
    let interrupt = Callback.create (fun _ _ _ -> if signal <> 0 then CallbackDecision.Stop "interrupted" else CallbackDecision.Continue)
    let outcome =
        try runInDirectory { req with Env = envId } out job csv wallOffset (fun onRecord -> r.RunTo(state, total, callbacks onRecord @ [ interrupt ]))
        with :? NumericalFaultException as e ->
            csv.Dispose()
            let last =
                match lastCheckpoint with
                | Some s -> $"the last good checkpoint is {checkpointPath} (step {s})"
                | None when File.Exists checkpointPath -> $"the last good checkpoint is {checkpointPath}"
                | None -> ""
            if last = "" then
                raise (TrainingFault $"{e.Message}; training stopped before its first checkpoint, so there is nothing to resume: run the same sac train command again (it may reuse {out}), with --config to lower the learning rates")
            raise (TrainingFault $"{e.Message}; training stopped, {last}. Continue with: sac train --resume {out} (with --config to lower the learning rates if it recurs)")
    if signal <> 0 then
        r.Save(checkpointPath, outcome.State, total, saveReplay)
        let name = if signal = 2 then "SIGINT" else "SIGTERM"
        raise (Interrupted($"{name}: stopped at step {outcome.State.EnvSteps} of {total} and wrote {checkpointPath}; continue with: sac train --resume {out}", 128 + signal))
    r.Save(Path.Combine(out, Checkpoint.FinalFileName), outcome.State, total, saveReplay)
    outcome.StopReason |> Option.iter (fun reason -> say req $"stopped early: {reason}")
    say req $"wrote {out} (config.json, metrics.csv, {Checkpoint.FinalFileName}, curve.svg)"

/// The SAC run: fresh or resumed, on the CPU or a CUDA backend.
let private trainSac (req: TrainRequest) (out: string) (resume: (SacConfig * RunInfo) option) (backend: Sac.Cuda.Backend.CudaBackend option) =
    let device = if backend.IsSome then "cuda" else "cpu"
    let config, info =
        match resume with
        | Some (config, info) -> config, RunInfo(info.Algorithm, info.EnvironmentId, info.Steps, info.Seed, device, config, ExtendedTo = info.ExtendedTo)
        | None ->
            let config = resolveConfig req
            let steps = defaultArg req.Steps (defaultSteps req.Env)
            config, RunInfo(req.Algo, req.Env, steps, req.Seed, device, config)
    use _backend = match backend with Some b -> b :> IDisposable | None -> { new IDisposable with member _.Dispose() = () }
    let onBackend: Sac.Cuda.Backend.ISacBackend | null = match backend with Some b -> b | None -> null
    use trainer = new Trainer(info.EnvironmentId, config, GemmProvider.Create req.Threads, onBackend)
    trainRun req out info.EnvironmentId info.TotalSteps (ConfigJson.SerializeRun info) resume.IsSome trainer

/// The keys of a config.json written by `runJson`: algorithm, environment, steps, seed and the configuration's JSON.
let private readRunJson (configPath: string) (text: string) =
    match (try JsonNode.Parse text with e -> raise (UsageError $"{configPath}: not valid JSON ({e.Message})")) with
    | :? JsonObject as o ->
        let get (key: string) =
            match o[key] with
            | null -> raise (UsageError $"{configPath}: no '{key}' key")
            | v -> v
        let env = try get("environmentId").GetValue<string>() with :? InvalidOperationException | :? FormatException -> raise (UsageError $"{configPath}: 'environmentId' is not a string")
        let steps = try get("steps").GetValue<int64>() with :? InvalidOperationException | :? FormatException -> raise (UsageError $"{configPath}: 'steps' is not an integer")
        let seed = try get("seed").GetValue<uint64>() with :? InvalidOperationException | :? FormatException -> raise (UsageError $"{configPath}: 'seed' is not an integer")
        let extendedTo =
            match o["extendedTo"] with
            | null -> None
            | v -> Some(try v.GetValue<int64>() with :? InvalidOperationException | :? FormatException -> raise (UsageError $"{configPath}: 'extendedTo' is not an integer"))
        env, steps, extendedTo, seed, get("config").ToJsonString()
    | _ -> raise (UsageError $"{configPath}: expected a JSON object")

/// `sac train --resume DIR` for a run whose config.json `runJson` wrote (Soft Q-Learning, the DQN family): its stored
/// configuration with the --config keys that keep `fixedKeys`, to --steps or the run's own length. The DQN family's
/// exploration schedule stays the one of the run's own length (its TotalTimesteps key).
let private resumeFromRunJson<'T, 'L, 'M when 'T: not struct and 'T: not null and 'T :> IConfig>
        (req: TrainRequest) (dir: string) (configPath: string) (text: string) (algorithm: string)
        (fixedKeys: 'T -> 'T -> (string * bool) list) (makeRun: string -> 'T -> OffPolicyTrainer<'L, 'M>) =
    let env, stored, extendedTo, seed, configJson = readRunJson configPath text
    let config =
        let saved = try ConfigJson.Deserialize<'T>(configJson, configPath) with :? ArgumentException | :? FormatException as e -> raise (UsageError(plainMessage e))
        resumedConfig req saved seed fixedKeys
    openDevice req algorithm false |> ignore
    let steps = defaultArg req.Steps (defaultArg extendedTo stored)
    let req = { req with Env = env; Algo = algorithm; Seed = seed }
    let extended = if steps = stored then None else Some steps
    trainRun req dir env steps (runJson req stored extended "cpu" (ConfigJson.Serialize config)) true (makeRun env config)

/// `sac train --resume DIR`: continues a run (SAC here; the others through resumeFromRunJson) from its newest checkpoint, with the configuration its config.json
/// records (and --config keys that do not change its shapes), to --steps or the run's own length.
let private resumeRun (req: TrainRequest) (dir: string) =
    let configPath = Path.Combine(dir, "config.json")
    if not (File.Exists configPath) then raise (UsageError $"--resume {dir}: no config.json there, so it is not a run directory")
    let text = File.ReadAllText configPath
    let algorithm =
        match (try JsonNode.Parse text with e -> raise (UsageError $"{configPath}: not valid JSON ({e.Message})")) with
        | :? JsonObject as o when not (isNull o["algorithm"]) -> string o["algorithm"]
        | _ -> raise (UsageError $"{configPath}: names no algorithm")
    if req.AlgoGiven && req.Algo <> algorithm then
        raise (UsageError $"--algo {req.Algo}: {dir} is a {algorithm} run; leave out --algo to resume it")
    if algorithm = "sql" then
        resumeFromRunJson req dir configPath text algorithm
            (fun stored (merged: SqlConfig) ->
                [ "hiddenSizes", sameSizes merged.HiddenSizes stored.HiddenSizes
                  "samplerHiddenSizes", sameSizes merged.SamplerHiddenSizes stored.SamplerHiddenSizes
                  "bufferSize", (merged.BufferSize = stored.BufferSize) ])
            (fun env config -> SqlTrainer(env, config, GemmProvider.Create req.Threads) :> OffPolicyTrainer<_, _>)
    elif isDqn algorithm then
        resumeFromRunJson req dir configPath text algorithm
            (fun stored (merged: DqnConfig) ->
                [ "hiddenSizes", sameSizes merged.HiddenSizes stored.HiddenSizes
                  "bufferSize", (merged.BufferSize = stored.BufferSize)
                  "variant", (merged.Variant = stored.Variant) ])
            (fun env config -> DqnTrainer(env, config, GemmProvider.Create req.Threads) :> OffPolicyTrainer<_, _>)
    elif algorithm <> "sac" && algorithm <> "sac-v1" then
        raise (UsageError $"--resume {dir}: it is a {algorithm} run, which this build does not train")
    else
    let info = try ConfigJson.DeserializeRun(text, configPath) with :? ArgumentException | :? FormatException as e -> raise (UsageError(plainMessage e))
    let config =
        resumedConfig req info.Config info.Seed (fun stored merged ->
            [ "hiddenSizes", sameSizes merged.HiddenSizes stored.HiddenSizes
              "bufferSize", (merged.BufferSize = stored.BufferSize)
              "variant", (merged.Variant = stored.Variant) ])
    // config.json keeps the length the run was started with; a longer or shorter --steps is recorded as extendedTo.
    let steps = defaultArg req.Steps info.TotalSteps
    let info = RunInfo(info.Algorithm, info.EnvironmentId, info.Steps, info.Seed, info.Device, config,
                       ExtendedTo = (if steps = info.Steps then Nullable() else Nullable steps))
    let backend = openDevice req info.Algorithm (config.Variant = SacVariant.V2)
    trainSac { req with Env = info.EnvironmentId; Algo = info.Algorithm; Seed = info.Seed } dir (Some(config, info)) backend

/// `sac train`: trains, writing config.json, metrics.csv, checkpoints, final.ckpt and curve.svg into the run directory.
let train (req: TrainRequest) =
    match req.Resume with
    | Some dir ->
        if not (String.IsNullOrEmpty req.Env) then raise (UsageError "--resume continues the run its directory describes; leave out --env")
        if req.Out.IsSome then raise (UsageError "--resume DIR writes into DIR; leave out --out")
        report (optionProblems req)
        resumeRun req dir
        0
    | None ->
    if String.IsNullOrEmpty req.Env then raise (UsageError "--env is required (or --resume DIR to continue a run)")
    // Every problem at once: the options, the environment and algorithm, and each bad configuration value.
    let algorithm = algorithmProblems req
    // The seed, algorithm and length the run will have once the configuration is resolved (a --config file may set
    // the seed, the SAC variant and the DQN run length when the command line does not).
    let resolved =
        if not algorithm.IsEmpty then Error []
        else
            try
                match req.Algo with
                | "sql" -> Ok(resolveSqlConfig(req).Seed, req.Algo, None)
                | a when isDqn a -> let c = resolveDqnConfig req in Ok(c.Seed, a, Some c.TotalTimesteps)
                | _ -> let c = resolveConfig req in Ok(c.Seed, (if c.Variant = SacVariant.V1 then "sac-v1" else "sac"), None)
            with UsageError m -> Error [ m ]
    report (optionProblems req @ algorithm @ (match resolved with Error ms -> ms | Ok _ -> []))
    let seed, algo, configuredSteps = match resolved with Ok r -> r | Error _ -> req.Seed, req.Algo, None
    let req = { req with Seed = seed; SeedGiven = true; Algo = algo; AlgoGiven = true }
    let steps = defaultArg req.Steps (defaultArg configuredSteps (defaultSteps req.Env))
    let out = defaultArg req.Out (Path.Combine("runs", $"{req.Env}_{req.Algo}_s{req.Seed}"))
    let sacV2 = req.Algo = "sac"
    // SAC opens its backend after its configuration is resolved (and validated); the others run on the CPU.
    let device = "cpu"
    if req.Algo = "sql" || isDqn req.Algo then openDevice req req.Algo false |> ignore
    if req.Algo = "sql" then
        let config = resolveSqlConfig req
        freshDirectory out
        let trainer = SqlTrainer(req.Env, config, GemmProvider.Create req.Threads)
        trainRun req out req.Env steps (runJson req steps None device (ConfigJson.Serialize config)) false trainer
    elif isDqn req.Algo then
        let config = resolveDqnConfig { req with Steps = Some steps }
        freshDirectory out
        let trainer = DqnTrainer(req.Env, config, GemmProvider.Create req.Threads)
        trainRun req out req.Env steps (runJson req steps None device (ConfigJson.Serialize config)) false trainer
    else
        let backend = openDevice req req.Algo sacV2
        freshDirectory out
        trainSac { req with Steps = Some steps } out None backend
    0

/// Prints the eval line; on MultiGoal it adds how many episodes reached each goal.
let private printEvaluation (mean: float) (std: float) (goals: int[]) episodes =
    let f (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
    if goals.Length = 0 then printfn """{"mean":%s,"std":%s,"episodes":%d}""" (f mean) (f std) episodes
    else printfn """{"mean":%s,"std":%s,"episodes":%d,"goals":[%s]}""" (f mean) (f std) episodes (String.Join(",", goals))

let private misfit (checkpoint: string) (trainedOn: string) (obs: int) (act: string) (env: string) (envObs: int) (envAct: string) =
    UsageError $"{checkpoint}: trained on {trainedOn} (observation {obs}, actions {act}), which does not fit {env} (observation {envObs}, actions {envAct})"

let private evalSac (checkpoint: string) (env: string) (episodes: int) (seed: uint64) =
    let struct (header, state, _) =
        try Checkpoint.Load checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let envInstance = RescaleAction(EnvironmentRegistry.Make env) :> IEnvironment
    if envInstance.ObservationSpace.Dimension <> header.ObservationSize || envInstance.ActionSpace.Dimension <> header.ActionSize then
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize (string header.ActionSize) env envInstance.ObservationSpace.Dimension (string envInstance.ActionSpace.Dimension))
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
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize (string header.ActionSize) env envInstance.ObservationSpace.Dimension (string envInstance.ActionSpace.Dimension))
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
        raise (misfit checkpoint header.EnvironmentId header.ObservationSize $"Discrete({header.ActionCount})" env envInstance.ObservationSpace.Dimension $"Discrete({actions.Value})")
    let config = DqnConfig(HiddenSizes = Seq.toArray header.HiddenSizes, BatchSize = 1, BufferSize = 1, LearningStarts = 0)
    let ctx = DqnContext(config, header.ObservationSize, header.ActionCount, new ManagedGemm(1))
    let r = Dqn.evaluate ctx (Sac.Core.Networks.MlpWorkspace(ctx.Spec, 1)) state.QNetwork envInstance episodes seed
    r.Mean, r.Std, Array.empty<int>

/// `sac eval`: loads a checkpoint (of any algorithm this build trains) and prints {"mean":…,"std":…,"episodes":K}
/// over K episodes, episode k seeded seed + k (SAC: mean action; DQN family: greedy; SQL: its sampler), adding
/// "goals":[n1,n2,n3,n4] on MultiGoal.
/// Without --env the checkpoint's own environment; with another one, only under --force-env (the spaces must still fit).
let evaluate (checkpoint: string) (env: string) (forceEnv: bool) (episodes: int) (seed: uint64) =
    if episodes < 1 then raise (UsageError $"--episodes must be at least 1, got {episodes}")
    let metadata =
        try Checkpoint.ReadMetadata checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let trainedOn = match metadata.TryGetValue "environment_id" with | true, id -> id | _ -> ""
    let env = if String.IsNullOrEmpty env then trainedOn else env
    if String.IsNullOrEmpty env then raise (UsageError $"{checkpoint}: the checkpoint names no environment; pass --env")
    if env <> trainedOn && not forceEnv then
        raise (UsageError $"{checkpoint}: trained on {trainedOn}, not {env}; leave out --env to evaluate on {trainedOn}, or add --force-env to evaluate on {env} anyway")
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

/// `sac eval` as a function: `env` empty for the checkpoint's own environment, and no other one without --force-env.
let eval (checkpoint: string) (env: string) (episodes: int) (seed: uint64) = evaluate checkpoint env false episodes seed
