/// `sac worker` (a silo of a sweep cluster) and `sac sweep` (runs a sweep on the cluster, shows its progress).
module Sac.Cli.Sweep

open System
open System.IO
open System.Net
open System.Text.Json.Nodes
open System.Threading
open Argu
open Sac.Core.Config
open Sac.Core.Runs
open Sac.Fs
open Sac.Sweeps
open Sac.Cli.Options

/// The options of `sac worker`.
type WorkerArgs =
    | Cluster of address: string
    | Port of port: int
    | Gateway_Port of port: int
    | Primary_Port of port: int
    | Address of ip: string
    | Max_Runs of count: int
    | Cluster_Id of id: string
    | Plugin of assembly: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Cluster _ -> "membership: localhost (Orleans development clustering, one machine; default) or redis://HOST:PORT (many machines)."
            | Port _ -> "silo-to-silo port (default 11111)."
            | Gateway_Port _ -> "client gateway port (default 30000)."
            | Primary_Port _ -> "localhost clustering: the silo port of the primary silo, which holds the membership (default 11111)."
            | Address _ -> "redis clustering: the address this silo listens on and advertises (default 127.0.0.1)."
            | Max_Runs _ -> "runs training on this silo at once (default: its cores)."
            | Cluster_Id _ -> "cluster id shared by the silos and clients of one cluster (default sac-sweeps)."
            | Plugin _ -> "load environments from a .NET assembly (see sac train --plugin); repeatable."

/// The options of `sac sweep`.
type SweepArgs =
    | [<Mandatory>] Spec of file: string
    | Status
    | Cluster of address: string
    | Gateways of ports: int list
    | Cluster_Id of id: string
    | Timeout of seconds: float
    | Poll of seconds: float
    | Quiet
    | Plugin of assembly: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Spec _ -> "sweep specification (JSON: environments, algorithms, seeds, steps, grid or configs; see the README)."
            | Status -> "print each run's progress from the sweep directory (no cluster needed) and exit."
            | Cluster _ -> "membership: localhost (default) or redis://HOST:PORT."
            | Gateways _ -> "localhost clustering: gateway ports of the silos on 127.0.0.1 (default 30000)."
            | Cluster_Id _ -> "cluster id (default sac-sweeps)."
            | Timeout _ -> "give up waiting after this many seconds (default: wait for every run)."
            | Poll _ -> "seconds between checks on the runs (default 1)."
            | Quiet -> "print only the summary."
            | Plugin _ -> "load environments from a .NET assembly to check the spec against (the workers need it too); repeatable."

let private clusterOf (text: string) =
    match ClusterAddress.TryParse text with
    | true, address, _ -> Ok address
    | false, _, problem -> Error problem

let private portProblem (flag: string) (port: int) =
    if port < 1 || port > 65535 then Some $"{flag} must be a port from 1 to 65535, got {port}" else None

/// `sac worker`: starts a silo and serves runs until SIGINT or SIGTERM (runs training then stop after writing a
/// checkpoint, and continue on the other silos).
let worker (args: ParseResults<WorkerArgs>) =
    loadPlugins (args.GetResults WorkerArgs.Plugin)
    let cluster = clusterOf (args.GetResult(WorkerArgs.Cluster, defaultValue = "localhost"))
    let port = args.GetResult(WorkerArgs.Port, defaultValue = 11111)
    let gateway = args.GetResult(WorkerArgs.Gateway_Port, defaultValue = 30000)
    let primary = args.GetResult(WorkerArgs.Primary_Port, defaultValue = 11111)
    let maxRuns = args.GetResult(WorkerArgs.Max_Runs, defaultValue = Environment.ProcessorCount)
    let addressText = args.GetResult(WorkerArgs.Address, defaultValue = "127.0.0.1")
    let address = match IPAddress.TryParse addressText with | true, a -> Some(nonNull a) | _ -> None
    report
        [ match cluster with Error p -> p | Ok _ -> ()
          yield! [ portProblem "--port" port; portProblem "--gateway-port" gateway; portProblem "--primary-port" primary ] |> List.choose id
          if port = gateway then $"--port and --gateway-port must differ, both are {port}"
          if maxRuns < 1 then $"--max-runs must be at least 1, got {maxRuns}"
          if address.IsNone then $"--address {addressText}: not an IP address"
          match cluster with
          | Ok c when c.IsLocalhost && args.Contains WorkerArgs.Address -> "--address is for redis clustering; localhost clustering listens on 127.0.0.1"
          | _ -> () ]
    let settings =
        SiloSettings(Result.defaultValue ClusterAddress.Localhost cluster, (if (Result.defaultValue ClusterAddress.Localhost cluster).IsLocalhost then IPAddress.Loopback else address.Value),
                     port, gateway, primary, maxRuns, args.GetResult(WorkerArgs.Cluster_Id, defaultValue = "sac-sweeps"))
    SweepSilo.RunAsync(settings, SweepRun.executor, (fun line -> eprintfn "sac: %s" line), CancellationToken.None).GetAwaiter().GetResult()
    0

/// The configuration keys of a configuration, as the command-line layer of the configuration resolution.
let private overrideKeys (c: SweepConfiguration) : (string * (JsonNode | null)) list =
    match JsonNode.Parse c.Overrides with
    | :? JsonObject as o -> [ for KeyValue (k, v) in Seq.toArray o -> k, (match v with null -> null | v -> v.DeepClone()) ]
    | _ -> []

/// What resolving a configuration for an environment and algorithm finds wrong (unknown keys, bad values), as
/// `sac train --config` would.
let private configurationProblem (env: string) (algo: string) (c: SweepConfiguration) =
    let req = { defaultRequest env with Algo = algo }
    let keys = overrideKeys c
    try
        match algo with
        | "sql" -> resolve<SqlConfig> (ConfigJson.Serialize(SqlConfig())) req keys |> ignore
        | a when isDqn a ->
            let variant = match a with "double-dqn" -> "DoubleDqn" | "soft-dqn" -> "SoftDqn" | _ -> "Dqn"
            resolve<DqnConfig> (ConfigJson.Serialize(DqnConfig())) req (keys @ [ "variant", JsonValue.Create variant ]) |> ignore
        | a -> resolve<SacConfig> (ConfigJson.Serialize(Presets.forEnvironment env)) req (keys @ [ "variant", JsonValue.Create(if a = "sac-v1" then "V1" else "V2") ]) |> ignore
        None
    with UsageError m -> Some m

/// Every problem of a specification: the reader's, unknown environments and algorithms, algorithms that do not fit an
/// environment, and configurations that do not resolve.
let problems (source: string) (reading: SweepSpecReading) =
    let spec = reading.Spec
    let envs =
        [ for env in spec.Environments ->
            env, (try checkEnvironment "environment" env; None with UsageError m -> Some $"{source}: {m}") ]
    let found =
        [ for env, problem in envs do
            match problem with
            | Some p -> yield p
            | None ->
                for algo in spec.Algorithms do
                    match algorithmProblems { defaultRequest env with Algo = algo } with
                    | [] ->
                        for c in spec.Configurations do
                            match configurationProblem env algo c with
                            | Some p -> yield $"{source}: configuration '{c.Label}' ({env}, {algo}): {p}"
                            | None -> ()
                    | ps -> for p in ps -> $"{source}: {p}" ]
    List.ofSeq reading.Problems @ List.distinct found

/// The specification and its runs, or a usage error naming every problem.
let load (path: string) =
    let reading = SweepSpecReader.ReadFile path
    match problems path reading with
    | [] ->
        let spec = reading.Spec
        let dir = Path.GetFullPath spec.Out
        spec, dir, List.ofSeq (SweepPlan.Expand(spec, dir))
    | ps -> raise (UsageError(String.Join("; ", ps)))

/// The last step a run's metrics.csv records (0 without one).
let private lastStep (order: RunOrder) =
    let file = Path.Combine(order.RunDirectory, MetricsCsv.FileName)
    try
        if not (File.Exists file) then 0L
        else
            match File.ReadLines file |> Seq.filter (fun l -> l.Length > 0) |> Seq.tryLast with
            | Some line when not (line.StartsWith "step") ->
                match Int64.TryParse(line.Split(',').[0]) with
                | true, s -> s
                | _ -> 0L
            | _ -> 0L
    with :? IOException -> 0L

/// `sac sweep --status`: one line per run (state, silo, step of total, attempts, final evaluation, last message).
let statusLines (runs: RunOrder list) =
    let statuses = runs |> List.map (fun r -> RunStatusFile.Read(r.StatusPath, r.RunId))
    let width = runs |> List.map (fun r -> r.RunId.Length) |> List.fold max 3
    [ yield $"""{"run".PadRight width}  {"state",-8} {"silo",-16} {"step",13}  attempts  final"""
      for r, s in List.zip runs statuses do
          let total = if r.Steps.HasValue then r.Steps.Value else defaultSteps r.Environment
          let final = if s.FinalMean.HasValue then s.FinalMean.Value.ToString("0.###", Globalization.CultureInfo.InvariantCulture) else "-"
          let state = s.State.ToString().ToLowerInvariant()
          let silo = match s.Silo with null -> "-" | silo -> silo
          let note = match s.Message with null -> "" | m when s.State = RunState.Failed -> "  " + m | _ -> ""
          let progress = $"{(if s.State = RunState.Done then total else lastStep r)}/{total}"
          yield $"""{r.RunId.PadRight width}  {state,-8} {silo,-16} {progress,13}  {s.Attempts,8}  {final}{note}"""
      let count state = statuses |> List.filter (fun s -> s.State = state) |> List.length
      yield $"{runs.Length} runs: {count RunState.Done} done, {count RunState.Running} running, {count RunState.Failed} failed, {runs.Length - count RunState.Done - count RunState.Running - count RunState.Failed} pending" ]

/// `sac sweep --spec FILE`: runs every run of the sweep on the cluster, then writes the summary and the plots;
/// `--status` prints the progress instead. Exit 0 when every run is done, 3 when some failed (reported).
let sweep (args: ParseResults<SweepArgs>) =
    loadPlugins (args.GetResults SweepArgs.Plugin)
    let specPath = args.GetResult SweepArgs.Spec
    let cluster = clusterOf (args.GetResult(SweepArgs.Cluster, defaultValue = "localhost"))
    let gateways = args.GetResult(SweepArgs.Gateways, defaultValue = [ 30000 ])
    let timeout = args.TryGetResult SweepArgs.Timeout
    let poll = args.GetResult(SweepArgs.Poll, defaultValue = 1.0)
    report
        [ match cluster with Error p -> p | Ok _ -> ()
          yield! gateways |> List.choose (portProblem "--gateways")
          match timeout with Some t when not (t > 0.0) -> $"--timeout must be positive, got {t}" | _ -> ()
          if not (poll > 0.0) then $"--poll must be positive, got {poll}" ]
    let spec, dir, runs = load specPath
    if args.Contains SweepArgs.Status then
        for line in statusLines runs do printfn "%s" line
        0
    else
    let quiet = args.Contains SweepArgs.Quiet
    try SweepPlan.Prepare(spec, File.ReadAllText specPath, dir)
    with :? SweepSpecException as e -> raise (UsageError e.Message)
    let events = Path.Combine(dir, "events.log")
    let say (line: string) =
        File.AppendAllText(events, $"{DateTime.UtcNow:O} {line}\n")
        if not quiet then eprintfn "sac: %s" line
    let address = Result.defaultValue ClusterAddress.Localhost cluster
    say $"sweep {spec.Name}: {runs.Length} runs in {dir} on cluster {address}"
    let host =
        try SweepClient.ConnectAsync(address, gateways, args.GetResult(SweepArgs.Cluster_Id, defaultValue = "sac-sweeps"), TimeSpan.FromSeconds 30.0, CancellationToken.None).GetAwaiter().GetResult()
        with e -> raise (UsageError $"cannot reach the cluster {address} (gateways {String.Join(',', gateways)}): {e.Message}; start silos with sac worker")
    let client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Orleans.IClusterClient> host.Services
    let statuses =
        try
            SweepDriver.RunAsync(client, runs, (fun e -> say $"+{e.Elapsed:F1}s {e.RunId}: {e.What}"), TimeSpan.FromSeconds poll,
                                 Option.toNullable (timeout |> Option.map TimeSpan.FromSeconds), CancellationToken.None).GetAwaiter().GetResult()
            |> List.ofSeq
        finally
            host.StopAsync().GetAwaiter().GetResult()
            host.Dispose()
    let rows = SweepSummary.rows runs statuses
    let md = SweepSummary.write dir rows
    SweepSummary.plots dir runs statuses |> ignore
    printf "%s" md
    let failed = List.zip runs statuses |> List.filter (fun (_, s) -> s.State = RunState.Failed)
    for r, s in failed do eprintfn "sac: %s failed: %s" r.RunId s.Message
    say $"sweep {spec.Name} finished: {runs.Length - failed.Length} done, {failed.Length} failed; summary in {dir}/summary.csv and summary.md, plots in {dir}/plots"
    if failed.IsEmpty then 0 else 3
