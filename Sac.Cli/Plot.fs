/// `sac envs` and `sac plot`: what environments there are, and learning curves from one or several runs.
module Sac.Cli.Plot

open System
open System.IO
open Sac.Core.Environments
open Sac.Core.Runs
open Sac.Cli.Options

/// One line per registered environment: id, observation and action spaces, episode limit.
let envLines () =
    [ for id in EnvironmentRegistry.Ids do
      let made =
          match EnvironmentRegistry.IsAvailable id with
          | false, reason -> Error reason
          | true, _ ->
              // A registered environment's factory may fail; list it with the reason rather than fail the listing.
              try Ok(EnvironmentRegistry.Make id) with e -> Error e.Message
      match made with
      | Error reason -> yield $"{id,-26} unavailable: {reason}"
      | Ok env ->
        let obs = env.ObservationSpace
        let actions =
            match DiscreteActions.TryGetActionCount env |> Option.ofNullable with
            | Some n -> $"Discrete({n})"
            | None ->
                let a = env.ActionSpace
                let same (xs: float32[]) = xs |> Array.forall (fun x -> x = xs.[0])
                if same a.Low && same a.High then $"Box({a.Low.[0]:g}, {a.High.[0]:g}, ({a.Dimension},))"
                else $"Box(({a.Dimension},))"
        let limit = match env.MaxEpisodeSteps |> Option.ofNullable with Some n -> string n | None -> "none"
        yield $"{id,-26} observation Box(({obs.Dimension},))  action {actions,-24} max steps {limit}" ]

/// `sac envs`: prints the registered environments.
let envs () =
    for line in envLines () do printfn "%s" line
    0

/// The metrics.csv of a run directory, or the file itself.
let private csvOf (path: string) =
    let file = if Directory.Exists path then Path.Combine(path, MetricsCsv.FileName) else path
    if not (File.Exists file) then raise (UsageError $"{path}: no {MetricsCsv.FileName} there")
    file

/// The (step, value) points of one column of one metrics.csv, skipping rows where the column is empty.
let columnPoints (file: string) (column: string) =
    let struct (columns, rows) =
        try MetricsCsv.Read file
        with :? FormatException | :? IOException as e ->
            // MetricsCsv's messages already start with the path.
            raise (UsageError(if e.Message.StartsWith(file, StringComparison.Ordinal) then e.Message else $"{file}: {e.Message}"))
    let stepAt, valueAt = Array.IndexOf(columns, "step"), Array.IndexOf(columns, column)
    if stepAt < 0 then raise (UsageError $"{file}: no 'step' column")
    if valueAt < 0 then
        let known = String.Join(", ", columns)
        raise (UsageError $"{file}: no '{column}' column (columns: {known})")
    let points =
        [ for row in rows do
            match row.[stepAt], row.[valueAt] with
            | s, v when s.HasValue && v.HasValue -> yield s.Value, v.Value
            | _ -> () ]
    if points.IsEmpty then
        let hint = if column = "eval_return" then " (evaluation was off in that run, evalInterval 0; try --column episode_return)" else ""
        raise (UsageError $"{file}: no '{column}' values to plot{hint}")
    points

/// The series of a plot: one line per run, or, for several runs, the mean over runs at each step that every run
/// recorded, with the min-max band.
let series (files: string list) (column: string) : Series[] =
    let runs = files |> List.map (fun f -> columnPoints f column)
    match runs with
    | [ single ] -> [| Series(column, [| for s, v in single -> struct (s, v) |]) |]
    | _ ->
        let byStep = runs |> List.map (fun points -> points |> List.groupBy fst |> Map.ofList |> Map.map (fun _ vs -> vs |> List.averageBy snd))
        let shared = byStep |> List.map (fun m -> m |> Map.keys |> Set.ofSeq) |> Set.intersectMany |> Set.toList
        let stats = [ for s in shared -> s, byStep |> List.map (fun m -> m.[s]) ]
        [| Series($"mean of {runs.Length} runs (min-max band)",
                  [| for s, vs in stats -> struct (s, List.average vs) |],
                  [| for s, vs in stats -> struct (s, List.min vs, List.max vs) |]) |]

/// The environments of runs (each run's config.json names its environment; runs without one are left out).
let runEnvironments (inputs: string list) =
    inputs
    |> List.choose (fun input ->
        let config = Path.Combine((if Directory.Exists input then input else (match Path.GetDirectoryName(Path.GetFullPath input) with null -> "." | d -> d)), "config.json")
        if File.Exists config then
            try
                use doc = Text.Json.JsonDocument.Parse(File.ReadAllText config)
                match doc.RootElement.TryGetProperty "environmentId" with
                | true, v when v.ValueKind = Text.Json.JsonValueKind.String -> Some(v.GetString())
                | _ -> None
            with _ -> None
        else None)
    |> List.distinct

/// Runs of different environments average to a curve of no task: the warning that says so, or None.
let mixedEnvironmentsWarning (inputs: string list) =
    match runEnvironments inputs with
    | environments when environments.Length > 1 ->
        Some $"""the runs are of different environments ({String.Join(", ", environments)}); their mean mixes tasks"""
    | _ -> None

/// `sac plot`: renders curve.svg-style learning curves from one or several runs into `out`.
let plot (inputs: string list) (column: string) (out: string) (title: string option) =
    if inputs.IsEmpty then raise (UsageError "give at least one run directory or metrics.csv")
    let files = inputs |> List.map csvOf
    let runName (file: string) =
        match Path.GetDirectoryName(Path.GetFullPath file) with
        | null -> file
        | dir -> match Path.GetFileName dir with null -> file | name -> name
    mixedEnvironmentsWarning inputs |> Option.iter (eprintfn "sac: warning: %s")
    let title = defaultArg title (if files.Length = 1 then runName files.Head else $"{files.Length} runs")
    let options = SvgCurveOptions(Title = title, YLabel = column)
    writingTo "--out" out (fun () -> SvgCurve.Write(out, options, series files column))
    eprintfn "sac: wrote %s" out
    0
