/// One run of a sweep on a silo: `sac train` in-process (fresh, or resumed from the newest checkpoint of its run
/// directory), then `sac eval`'s evaluation of its final checkpoint.
module Sac.Cli.SweepRun

open System
open System.IO
open System.Text.Json
open Sac.Core.Runs
open Sac.Sweeps
open Sac.Cli.Options

/// The `sac train` request of a fresh run: every run keeps its replay buffer in its checkpoints, so a run continued
/// on another silo is bitwise the run that was never interrupted.
let request (order: RunOrder) : TrainRequest =
    { defaultRequest order.Environment with
        Steps = Option.ofNullable order.Steps
        Seed = order.Seed
        Out = Some order.RunDirectory
        Algo = order.Algorithm
        ConfigFile = Some order.ConfigFile
        SaveReplay = true
        CheckpointEvery = Option.ofNullable order.CheckpointEvery }

/// The environment steps a checkpoint was written at, from its header; None when it cannot be read.
let private stepsOf (checkpoint: string) =
    try
        match Checkpoint.ReadMetadata(checkpoint).TryGetValue "header" with
        | true, header ->
            use doc = JsonDocument.Parse header
            match doc.RootElement.TryGetProperty "environmentSteps" with
            | true, v -> Some(v.GetInt64())
            | _ -> None
        | _ -> None
    with _ -> None

/// Trains the run to its end and evaluates final.ckpt (episodes and seed of the sweep's final evaluation).
let execute (order: RunOrder) (note: string -> unit) : RunEvaluation =
    let dir = order.RunDirectory
    let final = Path.Combine(dir, Checkpoint.FinalFileName)
    let checkpoint = Path.Combine(dir, Run.CheckpointFileName)
    try
        if File.Exists final then note "trained already; evaluating final.ckpt"
        elif File.Exists checkpoint then
            note (match stepsOf checkpoint with Some s -> $"resuming from the checkpoint at step {s}" | None -> "resuming from checkpoint.ckpt")
            Run.train { defaultRequest "" with Resume = Some dir } |> ignore
        else
            // A run lost before its first checkpoint starts again from nothing (sac train allows it in the same place).
            note "training from step 0"
            Run.train (request order) |> ignore
        let mean, std, _ = Evaluate.measure final "" false order.EvalEpisodes order.EvalSeed
        RunEvaluation(mean, std)
    with
    | UsageError m
    | TrainingFault m -> raise (RunFaultException m)
    | Interrupted (m, _) -> raise (RunInterruptedException m)

/// The executor a silo runs its runs with.
let executor =
    { new IRunExecutor with
        member _.Execute(order, note) = execute order note.Invoke }
