/// The end of a sweep: one row per configuration (mean, std, min, max of the runs' final evaluations over seeds) as
/// CSV and Markdown, and one plot of each configuration's seeds.
module Sac.Cli.SweepSummary

open System
open System.IO
open System.Globalization
open Sac.Core.Runs
open Sac.Sweeps
open Sac.Cli.Options

/// One configuration's result over its seeds.
type Row =
    { Environment: string
      Algorithm: string
      Configuration: string
      /// Runs (seeds) of the configuration.
      Seeds: int
      /// Runs that finished with a final evaluation.
      Finished: int
      /// Mean, population standard deviation, min and max of the finished runs' final evaluation means (NaN without any).
      Mean: float
      Std: float
      Min: float
      Max: float }

/// Mean, population standard deviation (numpy's default), min and max; NaN for no values.
let stats (values: float list) =
    match values with
    | [] -> nan, nan, nan, nan
    | _ ->
        let mean = List.average values
        let std = sqrt (values |> List.averageBy (fun v -> (v - mean) * (v - mean)))
        mean, std, List.min values, List.max values

/// The rows of a sweep, one per (environment, algorithm, configuration) in the order of the runs.
let rows (runs: RunOrder list) (statuses: RunStatus list) =
    List.zip runs statuses
    |> List.groupBy (fun (r, _) -> r.Environment, r.Algorithm, r.Configuration)
    |> List.map (fun ((env, algo, config), group) ->
        let finals = group |> List.choose (fun (_, s) -> if s.State = RunState.Done && s.FinalMean.HasValue then Some s.FinalMean.Value else None)
        let mean, std, lo, hi = stats finals
        { Environment = env; Algorithm = algo; Configuration = config; Seeds = group.Length; Finished = finals.Length
          Mean = mean; Std = std; Min = lo; Max = hi })

let private number (x: float) = if Double.IsNaN x then "" else x.ToString("R", CultureInfo.InvariantCulture)
let private shown (x: float) = if Double.IsNaN x then "–" else x.ToString("0.###", CultureInfo.InvariantCulture)
let private quoted (s: string) = if s.IndexOfAny([| ','; '"' |]) >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

/// The summary as CSV: environment, algorithm, configuration, seeds, finished, mean, std, min, max.
let csv (rows: Row list) =
    let lines =
        [ yield "environment,algorithm,configuration,seeds,finished,mean,std,min,max"
          for r in rows ->
              String.Join(",", [ quoted r.Environment; quoted r.Algorithm; quoted r.Configuration; string r.Seeds; string r.Finished
                                 number r.Mean; number r.Std; number r.Min; number r.Max ]) ]
    String.Join("\n", lines) + "\n"

/// The summary as a Markdown table.
let markdown (rows: Row list) =
    let lines =
        [ yield "| environment | algorithm | configuration | seeds | finished | mean | std | min | max |"
          yield "|---|---|---|---:|---:|---:|---:|---:|---:|"
          for r in rows ->
              let config = r.Configuration.Replace("|", "\\|")
              $"| {r.Environment} | {r.Algorithm} | {config} | {r.Seeds} | {r.Finished} | {shown r.Mean} | {shown r.Std} | {shown r.Min} | {shown r.Max} |" ]
    String.Join("\n", lines) + "\n"

/// Draws each configuration's finished runs as `sac plot` does (their mean with a min-max band) into SWEEP/plots,
/// evaluation returns where the runs have them, episode returns otherwise; returns the files written.
let plots (sweepDirectory: string) (runs: RunOrder list) (statuses: RunStatus list) =
    let folder = Path.Combine(sweepDirectory, "plots")
    Directory.CreateDirectory folder |> ignore
    List.zip runs statuses
    |> List.filter (fun (_, s) -> s.State = RunState.Done)
    |> List.groupBy (fun (r, _) -> r.Environment, r.Algorithm, r.Configuration)
    |> List.map (fun ((env, algo, config), group) ->
        let dirs = group |> List.map (fun (r, _) -> r.RunDirectory)
        let name = SweepPlan.FileName($"{env}_{algo}_{config}")
        let out = Path.Combine(folder, name + ".svg")
        let title = $"{algo} on {env}, {config} ({dirs.Length} seeds)"
        let files = dirs |> List.map (fun d -> Path.Combine(d, MetricsCsv.FileName))
        let draw column = SvgCurve.Write(out, SvgCurveOptions(Title = title, YLabel = column), Plot.series files column)
        try draw "eval_return" with UsageError _ -> draw "episode_return"
        out)

/// Writes SWEEP/summary.csv and SWEEP/summary.md; returns the Markdown.
let write (sweepDirectory: string) (rows: Row list) =
    File.WriteAllText(Path.Combine(sweepDirectory, "summary.csv"), csv rows)
    let md = markdown rows
    File.WriteAllText(Path.Combine(sweepDirectory, "summary.md"), md)
    md
