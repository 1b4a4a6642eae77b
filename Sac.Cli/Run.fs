/// `sac train`: runs on disk (config.json, metrics.csv, final.ckpt, curve.svg; DESIGN.md, Contracts).
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
open Sac.Cli.Options


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

/// What a resumed run takes over from metrics.csv up to `step`: the wall_seconds of the last row (0 without one) and
/// the best eval_return so far (None without one); both when the file cannot be read.
let private resumedFromMetrics (file: string) (step: int64) =
    try
        let struct (columns, rows) = MetricsCsv.Read file
        let at (name: string) = Array.IndexOf(columns, name)
        let stepAt = at "step"
        let upTo = rows |> Seq.filter (fun r -> stepAt >= 0 && r.[stepAt].HasValue && r.[stepAt].Value <= float step) |> List.ofSeq
        let values i = if i < 0 then [] else upTo |> List.choose (fun r -> if r.[i].HasValue then Some r.[i].Value else None)
        (match values (at "wall_seconds") with [] -> 0.0 | ws -> List.last ws), (match values (at "eval_return") with [] -> None | es -> Some(List.max es))
    with :? FormatException | :? IOException -> 0.0, None

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
let private runJson (req: TrainRequest) (steps: int64) (extendedTo: int64 option) (device: string) (startedOn: string option) (configJson: string) =
    let o = JsonObject()
    o["algorithm"] <- JsonValue.Create req.Algo
    o["environmentId"] <- JsonValue.Create req.Env
    o["steps"] <- JsonValue.Create steps
    match extendedTo with
    | Some total -> o["extendedTo"] <- JsonValue.Create total
    | None -> ()
    o["seed"] <- JsonValue.Create req.Seed
    o["device"] <- JsonValue.Create device
    startedOn |> Option.iter (fun gemm -> o["gemm"] <- JsonValue.Create gemm)
    o["config"] <- JsonNode.Parse configJson
    o.ToJsonString(Text.Json.JsonSerializerOptions(WriteIndented = true))


let private say (req: TrainRequest) (message: string) =
    if req.Progress <> Progress.Quiet then eprintfn "sac: %s" message

/// A resumed run continues bitwise only on the GEMM provider it started on: say so when the provider changed.
let private noteGemmChange (req: TrainRequest) (started: string option) (gemm: IGemm) =
    match started with
    | Some before when before <> GemmProvider.Describe gemm ->
        say req $"this run started on the {before} GEMM and continues on {GemmProvider.Describe gemm}, which rounds differently, so it will not be bitwise the run it would have been (SAC_GEMM chooses the provider)"
    | _ -> ()

/// Where periodic checkpoints go, atomically replaced each time.
[<Literal>]
let CheckpointFileName = "checkpoint.ckpt"

/// The checkpoint of a run's best evaluation so far (written whenever an evaluation improves on it).
let BestFileName = "best.ckpt"

/// Steps between periodic checkpoints when --checkpoint-every is not given: a tenth of the run, at least 1000 and at
/// most 10000, so a long run never goes long without one.
let defaultCheckpointInterval (total: int64) = min 10_000L (max 1000L (total / 10L))

/// A run directory must not already hold a run: starting afresh there would overwrite what was saved.
let private freshDirectory (out: string) =
    if File.Exists(Path.Combine(out, "config.json")) then
        if File.Exists(Path.Combine(out, CheckpointFileName)) || File.Exists(Path.Combine(out, Checkpoint.FinalFileName)) then
            raise (UsageError $"{out} already holds a run (config.json); continue it with --resume {out}, or choose another --out")
        // A run that stopped before its first checkpoint left nothing to resume: it may start again in the same place.
        for f in [ "config.json"; MetricsCsv.FileName; "curve.svg"; BestFileName ] do File.Delete(Path.Combine(out, f))
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

/// The backend --device asks for, opened before any work: cuda without a usable GPU, or for anything but SAC, is a
/// usage error; auto falls back to the CPU with one line saying why. None means the CPU.
let private openDevice (req: TrainRequest) (algorithm: string) (sac: bool) (gsde: bool) : Sac.Cuda.Backend.CudaBackend option =
    let tryOpen () =
        match Sac.Cuda.Backend.CudaBackend.TryCreate 0 with
        | true, b, _ -> Ok(nonNull b)
        | false, _, reason -> Error reason
    match req.Device with
    | "cuda" when not sac ->
        raise (UsageError $"--device cuda: the CUDA backend runs SAC (--algo sac or sac-v1) only, not {algorithm}; use --device cpu or auto")
    | "cuda" when gsde ->
        raise (UsageError "--device cuda: gSDE (useSde) runs on the CPU only; the CUDA backend has no gSDE kernels. Use --device cpu or auto")
    | "cuda" ->
        match tryOpen () with
        | Ok b -> Some b
        | Error reason -> raise (UsageError $"--device cuda: {reason}")
    | "auto" when not sac ->
        say req $"--device auto: {algorithm} runs on the CPU (the CUDA backend runs SAC only)"
        None
    | "auto" when gsde ->
        say req "--device auto: gSDE (useSde) runs on the CPU only; training on the CPU"
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
    // The best evaluation so far (a resumed run's from its metrics.csv), for best.ckpt.
    let mutable bestEval = None
    let state, csv =
        if resume then
            let path, ckpt, _, progress = newestCheckpoint req out r
            // The environments' running episodes are part of the saved run: it resumes with as many as it had.
            match req.NEnvs with
            | Some n when n <> progress.EnvironmentCount ->
                raise (UsageError $"--n-envs {n}: {out} steps {progress.EnvironmentCount} environment(s) together and resumes with as many (leave --n-envs out)")
            | _ -> r.UseEnvironments progress.EnvironmentCount
            // A resumed run keeps the options of the run it continues unless told otherwise.
            saveReplay <- saveReplay || not (isNull ckpt.Replay)
            if req.CheckpointEvery.IsNone && progress.CheckpointEvery > 0L then every <- progress.CheckpointEvery
            let state = try r.Resume ckpt with :? ArgumentException as e -> raise (UsageError $"{path}: {plainMessage e}")
            if total < state.EnvSteps then
                raise (UsageError $"--steps {total} is below the {state.EnvSteps} steps {out} has already taken; give a larger --steps to extend the run")
            let note = if not (isNull ckpt.Replay) then "" else " (no replay buffer saved: refilling it before updating)"
            say req $"resuming {out} from {Path.GetFileName path} at step {state.EnvSteps} of {total}{note}"
            let wall, best = resumedFromMetrics (Path.Combine(out, MetricsCsv.FileName)) state.EnvSteps
            wallOffset <- wall
            bestEval <- best
            state, MetricsCsv.Continue(Path.Combine(out, MetricsCsv.FileName), Metrics.columns r.Algorithm.MetricNames, state.EnvSteps)
        else
            // The configuration's nEnvs (--n-envs or the file's) already set the count.
            r.Start(), new MetricsCsv(Path.Combine(out, MetricsCsv.FileName), Metrics.columns r.Algorithm.MetricNames)
    AtomicFile.WriteText(Path.Combine(out, "config.json"), configJson)
    let checkpointPath = Path.Combine(out, CheckpointFileName)
    let mutable lastCheckpoint = None
    let callbacks onRecord =
        [ yield Callback.ofRecord onRecord
          if every > 0L then
              let save = r.CheckpointEvery(every, checkpointPath, total, saveReplay)
              // As Callback.every decides: the step that reaches a multiple of the interval (steps grow by --n-envs).
              let mutable previous = state.EnvSteps
              yield Callback.create (fun steps s record ->
                  let decision = save.OnStep(steps, s, record)
                  if steps / every > previous / every then lastCheckpoint <- Some steps
                  previous <- steps
                  decision)
          // SB3's EvalCallback: the learner of the best evaluation so far, beside final.ckpt.
          yield Callback.create (fun _ s record ->
              match record with
              | Some { EvalReturn = Some mean } when (match bestEval with None -> true | Some b -> mean > b) ->
                  bestEval <- Some mean
                  r.Save(Path.Combine(out, BestFileName), s, total, false)
              | _ -> ()
              CallbackDecision.Continue)
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
    let best = if File.Exists(Path.Combine(out, BestFileName)) then $", {BestFileName}" else ""
    say req $"wrote {out} (config.json, metrics.csv, {Checkpoint.FinalFileName}{best}, curve.svg)"

/// The run's GEMM provider, made once its configuration is valid.
let private providerOf (req: TrainRequest) = GemmProvider.Create req.Threads

/// What frees the provider when the run ends (the managed GEMM's worker threads).
let private released (gemm: IGemm) =
    match gemm with
    | :? IDisposable as d -> d
    | _ -> { new IDisposable with member _.Dispose() = () }

/// A fresh Soft Q-Learning or DQN-family run on the CPU: its provider, its trainer, config.json recording both.
let private trainFresh (req: TrainRequest) (out: string) (steps: int64) (configJson: string) (makeRun: IGemm -> OffPolicyTrainer<'L, 'M>) =
    let gemm = providerOf req
    use _gemm = released gemm
    trainRun req out req.Env steps (runJson req steps None "cpu" (Some(GemmProvider.Describe gemm)) configJson) false (makeRun gemm)

/// The SAC run: fresh or resumed, on the CPU or a CUDA backend.
let private trainSac (req: TrainRequest) (out: string) (resume: (SacConfig * RunInfo) option) (backend: Sac.Cuda.Backend.CudaBackend option) =
    let device = if backend.IsSome then "cuda" else "cpu"
    let config = match resume with Some (config, _) -> config | None -> resolveConfig req
    // The provider is made once the configuration is known to be valid.
    let gemm = providerOf req
    use _gemm = released gemm
    let info =
        match resume with
        | Some (_, info) ->
            noteGemmChange req (Option.ofObj info.Gemm) gemm
            RunInfo(info.Algorithm, info.EnvironmentId, info.Steps, info.Seed, device, config, ExtendedTo = info.ExtendedTo, Gemm = info.Gemm)
        | None ->
            let steps = defaultArg req.Steps (defaultSteps req.Env)
            RunInfo(req.Algo, req.Env, steps, req.Seed, device, config, Gemm = GemmProvider.Describe gemm)
    use _backend = match backend with Some b -> b :> IDisposable | None -> { new IDisposable with member _.Dispose() = () }
    let onBackend: Sac.Cuda.Backend.ISacBackend | null = match backend with Some b -> b | None -> null
    use trainer = new Trainer(info.EnvironmentId, config, gemm, onBackend)
    trainRun req out info.EnvironmentId info.TotalSteps (ConfigJson.SerializeRun info) resume.IsSome trainer

/// The keys of a config.json written by `runJson`: algorithm, environment, steps, seed, the GEMM it started on (where recorded) and the configuration's JSON.
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
        // Files written before the key existed have no gemm.
        let gemm = match o["gemm"] with null -> None | v -> Some(string v)
        env, steps, extendedTo, seed, gemm, get("config").ToJsonString()
    | _ -> raise (UsageError $"{configPath}: expected a JSON object")

/// `sac train --resume DIR` for a run whose config.json `runJson` wrote (Soft Q-Learning, the DQN family): its stored
/// configuration with the --config keys that keep `fixedKeys`, to --steps or the run's own length. The DQN family's
/// exploration schedule stays the one of the run's own length (its TotalTimesteps key).
let private resumeFromRunJson<'T, 'L, 'M when 'T: not struct and 'T: not null and 'T :> IConfig>
        (req: TrainRequest) (dir: string) (configPath: string) (text: string) (algorithm: string)
        (fixedKeys: 'T -> 'T -> (string * bool) list) (makeRun: string -> 'T -> IGemm -> OffPolicyTrainer<'L, 'M>) =
    let env, stored, extendedTo, seed, startedOn, configJson = readRunJson configPath text
    let config =
        let saved = try ConfigJson.Deserialize<'T>(configJson, configPath) with :? ArgumentException | :? FormatException as e -> raise (UsageError(plainMessage e))
        resumedConfig req saved seed fixedKeys
    openDevice req algorithm false false |> ignore
    let steps = defaultArg req.Steps (defaultArg extendedTo stored)
    let req = { req with Env = env; Algo = algorithm; Seed = seed }
    let extended = if steps = stored then None else Some steps
    let gemm = providerOf req
    use _gemm = released gemm
    noteGemmChange req startedOn gemm
    trainRun req dir env steps (runJson req stored extended "cpu" startedOn (ConfigJson.Serialize config)) true (makeRun env config gemm)

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
                  "activation", (merged.Activation = stored.Activation)
                  "bufferSize", (merged.BufferSize = stored.BufferSize) ])
            (fun env config gemm -> SqlTrainer(env, config, gemm) :> OffPolicyTrainer<_, _>)
    elif isDqn algorithm then
        resumeFromRunJson req dir configPath text algorithm
            (fun stored (merged: DqnConfig) ->
                [ "hiddenSizes", sameSizes merged.HiddenSizes stored.HiddenSizes
                  "activation", (merged.Activation = stored.Activation)
                  "bufferSize", (merged.BufferSize = stored.BufferSize)
                  "variant", (merged.Variant = stored.Variant) ])
            (fun env config gemm -> DqnTrainer(env, config, gemm) :> OffPolicyTrainer<_, _>)
    elif algorithm <> "sac" && algorithm <> "sac-v1" then
        raise (UsageError $"--resume {dir}: it is a {algorithm} run, which this build does not train")
    else
    let info = try ConfigJson.DeserializeRun(text, configPath) with :? ArgumentException | :? FormatException as e -> raise (UsageError(plainMessage e))
    let config =
        resumedConfig req info.Config info.Seed (fun stored merged ->
            [ "hiddenSizes", sameSizes merged.HiddenSizes stored.HiddenSizes
              "actorHiddenSizes", sameSizes merged.ResolvedActorHiddenSizes stored.ResolvedActorHiddenSizes
              "criticHiddenSizes", sameSizes merged.ResolvedCriticHiddenSizes stored.ResolvedCriticHiddenSizes
              "activation", (merged.Activation = stored.Activation)
              "bufferSize", (merged.BufferSize = stored.BufferSize)
              "variant", (merged.Variant = stored.Variant) ])
    // config.json keeps the length the run was started with; a longer or shorter --steps is recorded as extendedTo.
    let steps = defaultArg req.Steps info.TotalSteps
    let info = RunInfo(info.Algorithm, info.EnvironmentId, info.Steps, info.Seed, info.Device, config,
                       ExtendedTo = (if steps = info.Steps then Nullable() else Nullable steps), Gemm = info.Gemm)
    let backend = openDevice req info.Algorithm true config.UseSde
    trainSac { req with Env = info.EnvironmentId; Algo = info.Algorithm; Seed = info.Seed } dir (Some(config, info)) backend

/// `sac train`: trains, writing config.json, metrics.csv, checkpoints, final.ckpt and curve.svg into the run directory.
let train (req: TrainRequest) =
    match req.Resume with
    | Some dir ->
        if not (String.IsNullOrEmpty req.Env) then raise (UsageError "--resume continues the run its directory describes; leave out --env")
        if req.Out.IsSome then raise (UsageError "--resume DIR writes into DIR; leave out --out")
        report (optionProblems req)
        threadsWarning req.Threads |> Option.iter (say req)
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
    threadsWarning req.Threads |> Option.iter (say req)
    let seed, algo, configuredSteps = match resolved with Ok r -> r | Error _ -> req.Seed, req.Algo, None
    let req = { req with Seed = seed; SeedGiven = true; Algo = algo; AlgoGiven = true }
    let steps = defaultArg req.Steps (defaultArg configuredSteps (defaultSteps req.Env))
    let out = defaultArg req.Out (Path.Combine("runs", $"{req.Env}_{req.Algo}_s{req.Seed}"))
    let sac = req.Algo = "sac" || req.Algo = "sac-v1"
    // SAC opens its backend after its configuration is resolved (and validated); the others run on the CPU.
    if req.Algo = "sql" || isDqn req.Algo then openDevice req req.Algo false false |> ignore
    if req.Algo = "sql" then
        let config = resolveSqlConfig req
        freshDirectory out
        trainFresh req out steps (ConfigJson.Serialize config) (fun gemm -> SqlTrainer(req.Env, config, gemm))
    elif isDqn req.Algo then
        let config = resolveDqnConfig { req with Steps = Some steps }
        freshDirectory out
        trainFresh req out steps (ConfigJson.Serialize config) (fun gemm -> DqnTrainer(req.Env, config, gemm))
    else
        let backend = openDevice req req.Algo sac (sac && (resolveConfig req).UseSde)
        freshDirectory out
        trainSac { req with Steps = Some steps } out None backend
    0
