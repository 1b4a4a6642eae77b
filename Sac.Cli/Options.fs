/// The options of `sac train` and `sac eval`: the request, its validation, and configuration resolution.
module Sac.Cli.Options


open System
open System.IO
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

/// Runs `write`, which writes the file `path` that option `flag` names; a missing directory or a file that cannot be
/// written is a usage error naming both, not a stack trace.
let writingTo (flag: string) (path: string) (write: unit -> 'T) : 'T =
    try write ()
    with
    | :? DirectoryNotFoundException ->
        raise (UsageError $"{flag} {path}: the directory {Path.GetDirectoryName(Path.GetFullPath path)} does not exist")
    | :? IOException as e -> raise (UsageError $"{flag} {path}: {e.Message}")
    | :? UnauthorizedAccessException as e -> raise (UsageError $"{flag} {path}: {e.Message}")

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
      /// Copies of the environment stepped together (default 1; a resumed run keeps its own).
      NEnvs: int option
      /// Whether Seed was given (on the command line): only then does it override a --config file's seed.
      SeedGiven: bool
      /// Whether Algo was given: only then does it override a --config file's variant.
      AlgoGiven: bool
      /// Whether --quiet was given (refused together with --json).
      QuietGiven: bool }

/// The request of `sac train --env ENV` with every option at its default.
let defaultRequest env =
    { Env = env; Steps = None; Seed = 0UL; Out = None; Algo = "sac"; Device = "cpu"; ConfigFile = None; Threads = 1
      Progress = Progress.Quiet; Resume = None; SaveReplay = false; CheckpointEvery = None; StopAtReward = None; NEnvs = None
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
    | "Humanoid-v4" | "Humanoid-v5" -> 2_000_000L
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

/// One layer's `lin_` learning rates written out, before the layers meet (the preset states a Constant schedule).
let private expandSchedules (json: string) (source: string) =
    try ConfigJson.ExpandLearningRateSchedules(json, source)
    with :? FormatException as e -> raise (UsageError e.Message)

/// Layers JSON objects of configuration keys: a base (the preset), the user's file, then the command line's keys;
/// the result is read back through the record's own validation, so every layer is checked the same way.
let internal resolve<'T when 'T: not struct and 'T: not null and 'T :> IConfig> (basis: string) (req: TrainRequest) (cli: (string * (JsonNode | null)) list) : 'T =
    let basis = asObject basis "preset"
    let withFile =
        match req.ConfigFile with
        | None -> basis
        | Some path ->
            if Directory.Exists path then raise (UsageError $"--config {path}: is a directory, not a configuration file")
            if not (File.Exists path) then raise (UsageError $"--config {path}: no such file")
            overlayJson basis (asObject (expandSchedules (File.ReadAllText path) path) path)
    let top = JsonObject()
    for k, v in cli do top[k] <- v
    let top = asObject (expandSchedules (top.ToJsonString()) "configuration") "configuration"
    let json = (overlayJson withFile top).ToJsonString()
    try ConfigJson.Deserialize<'T>(json, defaultArg req.ConfigFile "configuration")
    with :? ArgumentException | :? FormatException as e -> raise (UsageError(plainMessage e))

/// The command line's seed key, only when --seed was given (otherwise a --config file's seed stands), and nEnvs from
/// --n-envs.
let private seedKey (req: TrainRequest) : (string * (JsonNode | null)) list =
    (if req.SeedGiven then [ "seed", JsonValue.Create req.Seed ] else [])
    @ (match req.NEnvs with Some n -> [ "nEnvs", JsonValue.Create n ] | None -> [])

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

/// A warning where more compute threads are asked for than this process has processors: each fork-join then waits
/// on threads that cannot run (a run on 64 threads of 2 processors updated about ten times slower than on 1).
let threadsWarning (threads: int) : string option =
    let processors = Environment.ProcessorCount
    if threads <= processors then None
    else Some $"warning: --threads {threads} is more than the {processors} processors this process may use; the threads take turns, so each update waits on threads that cannot run (use at most {processors})"

/// Problems with the options that do not depend on the environment.
let internal optionProblems (req: TrainRequest) =
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
      match req.NEnvs with
      | Some n when n < 1 -> $"--n-envs must be at least 1, got {n}"
      | _ -> ()
      match req.StopAtReward with
      | Some r when Double.IsNaN r -> "--stop-at-reward must be a number, got NaN"
      | _ -> ()
      match req.Device with
      | "cpu" | "auto" -> ()
      | "cuda" when req.Resume.IsNone && req.Algo <> "sac" && req.Algo <> "sac-v1" ->
          $"--device cuda: the CUDA backend runs SAC (--algo sac or sac-v1) only, not {req.Algo}; use --device cpu or auto"
      | "cuda" -> ()
      | d -> $"--device {d}: expected cpu, cuda or auto" ]

/// Whether a SAC run of this configuration can be built here: networks a flat parameter array can hold, and the
/// preallocated replay buffer and learner within the memory this process may use.
let private sacSizeProblems (config: SacConfig) (obs: int) (act: int) =
    [ let text (sizes: int list) = "[" + String.Join(", ", sizes) + "]"
      let actorHidden, criticHidden = Seq.toList config.ResolvedActorHiddenSizes, Seq.toList config.ResolvedCriticHiddenSizes
      let specs = [ "actor", actorHidden, [ obs ] @ actorHidden @ [ 2 * act ]; "critic", criticHidden, [ obs + act ] @ criticHidden @ [ 1 ] ]
      let parameters =
          [ for name, hidden, sizes in specs ->
              try Ok(int64 (Sac.Core.Networks.MlpSpec(Array.ofList sizes)).ParameterCount)
              with :? ArgumentException as e -> Error $"hidden sizes {text hidden}: the {name} network cannot be built ({plainMessage e})" ]
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
              $"hiddenSizes {text (Seq.toList config.HiddenSizes)} and bufferSize {config.BufferSize} need about {gb (learnerBytes + replayBytes)} GB (networks {gb learnerBytes} GB, replay buffer {gb replayBytes} GB), more than the {gb available} GB this process may use" ]

/// Problems with the environment and algorithm and the options only some algorithms take.
let internal algorithmProblems (req: TrainRequest) =
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

let internal report problems =
    if not (List.isEmpty problems) then raise (UsageError(String.Join("; ", problems)))

/// Checks everything about a request before any work starts, reporting every problem at once.
let validate (req: TrainRequest) = report (optionProblems req @ algorithmProblems req)
