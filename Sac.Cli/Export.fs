/// `sac export`: a checkpoint's policy as an ONNX model.
module Sac.Cli.Export

open System
open System.IO
open System.Text.Json
open Sac.Core.Runs
open Sac.Fs
open Sac.Cli.Options

/// Writes the policy of <paramref name="checkpoint"/> (any algorithm) to <paramref name="onnx"/> and prints
/// {"onnx":…,"algorithm":…,"bytes":n,"stochastic":…}. A bad checkpoint or an unwritable output is a usage error.
let export (checkpoint: string) (onnx: string) (stochastic: bool) : int =
    if String.IsNullOrWhiteSpace onnx then raise (UsageError "--onnx needs a file name")
    let metadata =
        try Checkpoint.ReadMetadata checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    // --stochastic selects SAC's model with a noise input; saying it of another algorithm would be silently ignored.
    match metadata.TryGetValue "algorithm" with
    | true, algorithm when stochastic && algorithm <> "sac" ->
        raise (UsageError $"--stochastic: {checkpoint} is a {algorithm} checkpoint; only SAC has a stochastic model (a sql model always takes a noise input, a DQN-family model has none)")
    | _ -> ()
    // Name an unknown environment (a plugin's, without --plugin) before loading fails on it less clearly.
    match metadata.TryGetValue "environment_id" with
    | true, env -> checkEnvironment $"{checkpoint}: environment" env
    | _ -> ()
    use agent =
        try Agents.Load checkpoint
        with :? CheckpointException as e -> raise (UsageError e.Message)
    let bytes =
        writingTo "--onnx" onnx (fun () ->
            try OnnxExport.Save(agent, onnx, stochastic)
            with :? ArgumentException as e -> raise (UsageError $"--onnx {onnx}: {e.Message}"))
    let stochasticModel = if stochastic then "true" else "false"
    let file = JsonSerializer.Serialize(Path.GetFullPath onnx)
    let algorithm = JsonSerializer.Serialize agent.Algorithm
    Console.Out.WriteLine($"{{\"onnx\":{file},\"algorithm\":{algorithm},\"bytes\":{bytes},\"stochastic\":{stochasticModel}}}")
    0
