// An environment of your own in F#: write it, register it, train SAC on it, save, reload and evaluate.
// After one build (dotnet build -c Release), run: dotnet fsi examples/custom_environment.fsx [STEPS]
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open System
open System.IO
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Fs

let steps = match fsi.CommandLineArgs |> Array.tail with [| s |] -> int64 s | _ -> 6000L

/// A 1-D double integrator: position x, velocity v, force a in [-1, 1]; reward -(x^2 + 0.1 v^2 + 0.01 a^2);
/// dt = 0.1, 200 steps (the registration below sets the limit), never terminates.
type DoubleIntegrator() =
    static let observations = Box([| -10f; -10f |], [| 10f; 10f |])
    static let actions = Box.Uniform(1, -1f, 1f)
    let mutable key = PhiloxKey.FromSeed 0UL
    let mutable draw = 0UL
    let mutable x = 0.0
    let mutable v = 0.0
    let uniform () =
        draw <- draw + 1UL
        float (Philox.Uniform(key, draw - 1UL))
    let observe (o: Span<float32>) =
        o.[0] <- float32 x
        o.[1] <- float32 v
    interface IEnvironment with
        member _.Id = "DoubleIntegratorFs-v0"
        member _.ObservationSpace = observations
        member _.ActionSpace = actions
        member _.MaxEpisodeSteps = Nullable 200
        member _.Reset(seed, observation) =
            if seed.HasValue then
                key <- PhiloxKey.FromSeed seed.Value
                draw <- 0UL
            x <- 2.0 * uniform () - 1.0
            v <- 0.5 * uniform () - 0.25
            observe observation
        member _.Step(action, observation) =
            let a = Math.Clamp(float action.[0], -1.0, 1.0)
            let reward = -(x * x + 0.1 * v * v + 0.01 * a * a)
            v <- Math.Clamp(v + a * 0.1, -10.0, 10.0)
            x <- Math.Clamp(x + v * 0.1, -10.0, 10.0)
            observe observation
            StepResult(float32 reward, false, false)

// The agent registers the factory under the environment's id; the id then goes wherever a built-in id goes.
let config =
    SacConfig(Seed = 3UL, HiddenSizes = [| 64; 64 |], BatchSize = 128, LearningStarts = 500, ActorLearningRate = 1e-3f,
              CriticLearningRate = 1e-3f, AlphaLearningRate = 1e-3f, EvalInterval = 2000, EvalEpisodes = 5)
EnvironmentRegistry.Register("DoubleIntegratorFs-v0", (fun () -> DoubleIntegrator() :> IEnvironment), 200)
let agent = SacAgent.Create("DoubleIntegratorFs-v0", config)
let before = agent.Evaluate(10, 99UL)
agent.Learn(steps, [ Callback.ofRecord (fun r -> r.EvalReturn |> Option.iter (printfn "step %d: evaluation %.2f" r.Step)) ]) |> ignore
let after = agent.Evaluate(10, 99UL)
printfn "untrained %.2f ± %.2f, after %d steps %.2f ± %.2f" before.Mean before.Std agent.Steps after.Mean after.Std

// Save, load from the file alone, evaluate and predict.
let dir = Directory.CreateTempSubdirectory("double-integrator-fs-").FullName
let file = Path.Combine(dir, "agent.ckpt")
agent.Save file
let loaded = SacAgent.Load file
let again = loaded.Evaluate(10, 99UL)
let force = loaded.Predict([| 1f; 0f |])
printfn "loaded: %.2f ± %.2f; at x = 1, v = 0 the force is %.3f" again.Mean again.Std force.[0]
Directory.Delete(dir, true)
if again.Mean <> after.Mean || not (after.Mean > before.Mean) then exit 1
