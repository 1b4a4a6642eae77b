// Sac.Functional from F# Interactive: train SAC, read its records, evaluate the learned policy.
// After one build (dotnet build -c Release), run: dotnet fsi examples/QuickStart.fsx [ENV] [STEPS]
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open Sac.Core.Compute
open Sac.Core.Config
open Sac.Fs

let args = fsi.CommandLineArgs |> Array.tail
let env = if args.Length > 0 then args.[0] else "PointGoal-v0"
let steps = if args.Length > 1 then int64 args.[1] else 4000L

// The environment's preset, with our seed and evaluation schedule (C# records take F# object-initializer syntax).
let preset = Presets.forEnvironment env
let config =
    SacConfig(HiddenSizes = preset.HiddenSizes, ActorLearningRate = preset.ActorLearningRate,
              CriticLearningRate = preset.CriticLearningRate, AlphaLearningRate = preset.AlphaLearningRate,
              BufferSize = preset.BufferSize, BatchSize = preset.BatchSize, LearningStarts = preset.LearningStarts,
              EvalInterval = 1000, Seed = 7UL)

let gemm = GemmProvider.Create 1
let trainer, final =
    Training.train gemm env config steps (fun record ->
        match record.EvalReturn, record.Metrics with
        | Some mean, Some m -> printfn "step %6d  eval %8.2f  alpha %.3f  entropy %6.2f" record.Step mean m.["alpha"] m.["entropy"]
        | _ -> ())

let result = trainer.Evaluate(final, 20, 2024UL)
printfn "%s after %d steps: %.2f ± %.2f over 20 episodes (GEMM: %s)" env steps result.Mean result.Std gemm.Name
