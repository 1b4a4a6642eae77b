/// The columns of metrics.csv and of --json lines: the shared ones, and the algorithm's metrics by its own names.
module Sac.Cli.Metrics

/// The columns of a run's metrics.csv, in order, for an algorithm that reports <paramref name="metricNames"/>.
let columns (metricNames: seq<string>) =
    [ "step"; "episode"; "episode_return"; "episode_length"; "eval_return"; "eval_std" ]
    @ List.ofSeq metricNames
    @ [ "updates_per_sec"; "wall_seconds" ]
