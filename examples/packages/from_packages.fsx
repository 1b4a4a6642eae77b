// Sac.Functional as NuGet packages from a local folder, the way a project outside this repository uses it.
// Make the packages, then run the script (nuget.config beside it adds out/packages as a package source):
//   dotnet pack -c Release -o out/packages
//   dotnet fsi examples/packages/from_packages.fsx [STEPS]
#r "nuget: Sac.Fs, 0.1.0"

open Sac.Core.Compute
open Sac.Core.Config
open Sac.Fs

let steps = match fsi.CommandLineArgs with [| _; n |] -> int64 n | _ -> 3000L

// PointGoal's preset with our seed and an evaluation every 1000 steps.
let preset = Presets.forEnvironment "PointGoal-v0"
let config =
    SacConfig(HiddenSizes = preset.HiddenSizes, BatchSize = preset.BatchSize, BufferSize = preset.BufferSize,
              LearningStarts = preset.LearningStarts, EvalInterval = 1000, Seed = 3UL)

let trainer, final =
    Training.train (GemmProvider.Create 1) "PointGoal-v0" config steps (fun r ->
        r.EvalReturn |> Option.iter (fun mean -> printfn "step %5d  evaluation %7.2f" r.Step mean))
let result = trainer.Evaluate(final, 10, 99UL)
printfn "Sac.Fs %s from the local feed: mean return %.2f ± %.2f over 10 episodes after %d steps"
    (typeof<Trainer>.Assembly.GetName().Version.ToString()) result.Mean result.Std final.EnvSteps

// The MuJoCo tasks come with the packages too (Sac.Core carries its MuJoCo shim); they need libmujoco2.2.2 installed.
match Sac.Core.Environments.EnvironmentRegistry.IsAvailable "Hopper-v4" with
| true, _ ->
    let env = Sac.Core.Environments.EnvironmentRegistry.Make "Hopper-v4"
    let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
    env.Reset(System.Nullable 0UL, System.Span obs)
    let r = env.Step(System.ReadOnlySpan(Array.zeroCreate<float32> env.ActionSpace.Dimension), System.Span obs)
    printfn "Hopper-v4 from the packages: ok (reward %.3f)" r.Reward
| false, reason -> printfn "MuJoCo tasks unavailable: %s" reason
