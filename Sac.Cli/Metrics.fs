/// The columns of metrics.csv and of --json lines: the shared ones, and each algorithm's metrics by its own names.
module Sac.Cli.Metrics

open Sac.Fs

/// The metrics an algorithm reports, by name, and where each is in the record every trainer emits.
let ofAlgorithm (algorithm: string) : (string * (SacMetrics -> float32)) list =
    match algorithm with
    | "dqn" | "double-dqn" | "soft-dqn" ->
        [ "td_loss", (fun m -> m.CriticLoss); "mean_q", (fun m -> m.MeanQ); "entropy", (fun m -> m.Entropy) ]
        @ (if algorithm = "soft-dqn" then [ "temperature", (fun m -> m.Alpha) ] else [])
    | "sql" ->
        // The soft Q residual and the SVGD sampler's surrogate loss; alpha is the fixed temperature.
        [ "q_loss", (fun m -> m.CriticLoss); "svgd_loss", (fun m -> m.ActorLoss); "mean_q", (fun m -> m.MeanQ); "alpha", (fun m -> m.Alpha) ]
    | "sac-v1" ->
        [ "critic_loss", (fun m -> m.CriticLoss); "actor_loss", (fun m -> m.ActorLoss); "value_loss", (fun m -> m.ValueLoss)
          "alpha_loss", (fun m -> m.AlphaLoss); "alpha", (fun m -> m.Alpha); "entropy", (fun m -> m.Entropy); "mean_q", (fun m -> m.MeanQ) ]
    | _ ->
        [ "critic_loss", (fun m -> m.CriticLoss); "actor_loss", (fun m -> m.ActorLoss); "alpha_loss", (fun m -> m.AlphaLoss)
          "alpha", (fun m -> m.Alpha); "entropy", (fun m -> m.Entropy); "mean_q", (fun m -> m.MeanQ) ]

/// The columns of a run's metrics.csv, in order.
let columns (algorithm: string) =
    [ "step"; "episode"; "episode_return"; "episode_length"; "eval_return"; "eval_std" ]
    @ (ofAlgorithm algorithm |> List.map fst)
    @ [ "updates_per_sec"; "wall_seconds" ]
