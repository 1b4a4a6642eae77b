// DQN, Double DQN and soft DQN on CartPole-v1 from F# Interactive: one (algorithm, seed) run, printing the greedy
// evaluation trace and a summary line.
// After one build (dotnet build -c Release), run:
//   dotnet fsi examples/dqn_cartpole.fsx [dqn|double-dqn|soft-dqn] [SEED] [STEPS] [EVAL_EPISODES] [EVAL_INTERVAL] [TEMPERATURE]
// Defaults: dqn, seed 0, 50000 steps (RL Zoo's budget), 20 evaluation episodes every 5000 steps, and DqnConfig's
// temperature for soft DQN. Evaluation uses its own environment and streams, so its schedule never changes training.
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open System.Diagnostics
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Runs
open Sac.Fs

let args = fsi.CommandLineArgs |> Array.tail
let arg i fallback = if args.Length > i then args.[i] else fallback
let algo = arg 0 "dqn"
let seed = uint64 (arg 1 "0")
let steps = int64 (arg 2 "50000")
let evalEpisodes = int (arg 3 "20")
let evalInterval = int (arg 4 "5000")
let defaults = DqnConfig()
let temperature = if args.Length > 5 then float32 args.[5] else defaults.Temperature

// RL Zoo's CartPole-v1 DQN hyperparameters are DqnConfig's defaults; only the variant, seed, run length and
// evaluation schedule are set here.
let config =
    DqnConfig(Variant = DqnCheckpoint.VariantOf algo, Seed = seed, TotalTimesteps = steps,
              EvalEpisodes = evalEpisodes, EvalInterval = evalInterval, Temperature = temperature)

let gemm = new ManagedGemm(1)
let clock = Stopwatch.StartNew()
let evals = ResizeArray<int64 * float>()
let trainer, final =
    DqnTraining.train gemm "CartPole-v1" config steps (fun record ->
        match record.EvalReturn, record.EvalStd with
        | Some mean, Some std ->
            evals.Add((record.Step, mean))
            let loss, q, entropy =
                match record.Metrics with
                | Some m -> m.["td_loss"], m.["mean_q"], m.["entropy"]
                | None -> nanf, nanf, nanf
            printfn "%s seed %d  step %6d  eval %6.1f ± %5.1f  td %.4f  meanQ %7.2f  entropy %.3f  (%.0f s)"
                algo seed record.Step mean std loss q entropy clock.Elapsed.TotalSeconds
        | _ -> ())

let best = evals |> Seq.map snd |> Seq.max
let last = evals.[evals.Count - 1] |> snd
let firstSolved = evals |> Seq.tryFind (fun (_, m) -> m >= 475.0) |> Option.map fst
printfn "SUMMARY %s seed %d: best %.1f last %.1f reaches475 %s (%.0f s, GEMM %s)"
    algo seed best last (match firstSolved with Some s -> $"yes@{s}" | None -> "no") clock.Elapsed.TotalSeconds gemm.Name
