// Soft Q-Learning against SAC on the multi-goal task of the SQL paper (Haarnoja et al. 2017, sec. 6.1): a point mass
// starts at the origin and may end at any of four goals. SQL's energy-based policy should keep every way of solving the
// task alive and reach all four goals; SAC's unimodal (tanh-Gaussian) policy tends to commit to fewer.
// After one build (dotnet build -c Release), run: dotnet fsi examples/multigoal.fsx [STEPS] [SEED] [ROLLOUTS]
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open System
open System.Diagnostics
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Fs

let args = fsi.CommandLineArgs |> Array.tail
let steps = if args.Length > 0 then int64 args.[0] else 20_000L
let seed = if args.Length > 1 then uint64 args.[1] else 1UL
let rollouts = if args.Length > 2 then int args.[2] else 200
let env = "MultiGoal-v0"
let evalSeed = 777_000UL
let gemm = GemmProvider.Create 1

let show (name: string) (r: EvaluationResult) =
    let covered = r.Goals |> Array.filter (fun n -> n > 0) |> Array.length
    printfn "%-28s mean %8.1f ± %6.1f   goals [+x, -x, +y, -y] = %A   (%d of 4 reached, %d of %d episodes at a goal)"
        name r.Mean r.Std r.Goals covered (Array.sum r.Goals) r.Returns.Length

// ---- Soft Q-Learning: SqlConfig's defaults are the reference implementation's MultiGoal settings. ----
let sqlConfig = SqlConfig(Seed = seed, EvalInterval = 2000, EvalEpisodes = 20)
let clock = Stopwatch.StartNew()
let sqlTrainer, sqlFinal =
    SqlTraining.train gemm env sqlConfig steps (fun r ->
        match r.EvalReturn, r.Metrics with
        | Some mean, Some m -> printfn "SQL step %6d  eval %8.1f  Q loss %.4f  mean Q %7.3f  updates/s %s" r.Step mean m.["q_loss"] m.["mean_q"] (r.UpdatesPerSec |> Option.map (sprintf "%.0f") |> Option.defaultValue "-")
        | _ -> ())
let sqlSeconds = clock.Elapsed.TotalSeconds
let sqlStochastic = sqlTrainer.Evaluate(sqlFinal, rollouts, evalSeed)
// xi = 0: one fixed action per state, for comparison (not a mode of the energy-based policy).
let sqlDeterministic =
    let ws = SqlPolicyWorkspace(sqlTrainer.Context.Networks)
    let act (obs: float32[]) (action: float32[]) =
        SoftQLearning.act sqlTrainer.Context ws sqlFinal.Learner.Sampler Deterministic (ReadOnlySpan obs) (Span action)
    Rollout.run sqlTrainer.EvaluationEnvironment rollouts evalSeed (RolloutPolicy(fun _ obs action -> act obs action))

// ---- SAC: the environment's preset (SB3 defaults unless the presets name MultiGoal), same seed and step budget. ----
let preset = Presets.forEnvironment env
let sacConfig =
    SacConfig(HiddenSizes = preset.HiddenSizes, ActorLearningRate = preset.ActorLearningRate,
              CriticLearningRate = preset.CriticLearningRate, AlphaLearningRate = preset.AlphaLearningRate,
              BufferSize = preset.BufferSize, BatchSize = preset.BatchSize, LearningStarts = preset.LearningStarts,
              Tau = preset.Tau, Gamma = preset.Gamma, TrainFrequency = preset.TrainFrequency, GradientSteps = preset.GradientSteps,
              AutoAlpha = preset.AutoAlpha, InitialAlpha = preset.InitialAlpha, EvalInterval = 2000, EvalEpisodes = 20, Seed = seed)
clock.Restart()
let sacTrainer, sacFinal =
    Training.train gemm env sacConfig steps (fun r ->
        match r.EvalReturn, r.Metrics with
        | Some mean, Some m -> printfn "SAC step %6d  eval %8.1f  alpha %.4f  entropy %6.2f  updates/s %s" r.Step mean m.["alpha"] m.["entropy"] (r.UpdatesPerSec |> Option.map (sprintf "%.0f") |> Option.defaultValue "-")
        | _ -> ())
let sacSeconds = clock.Elapsed.TotalSeconds
// Policy.act in Stochastic mode (noise keyed by the evaluation seed) and in Deterministic mode, with goal counts.
let sacStochastic = GoalEvaluation.sac sacTrainer.Context sacFinal.Learner.Actor true sacTrainer.EvaluationEnvironment rollouts evalSeed
let sacDeterministic = GoalEvaluation.sac sacTrainer.Context sacFinal.Learner.Actor false sacTrainer.EvaluationEnvironment rollouts evalSeed

printfn ""
printfn "%s, %d training steps each, seed %d, %d rollouts from the start state (reset seeds %d..), GEMM %s" env steps seed rollouts evalSeed gemm.Name
printfn "SQL trained in %.1f s (Q %A, sampler %A); SAC trained in %.1f s (hidden %A, batch %d)"
    sqlSeconds (List.ofSeq sqlConfig.HiddenSizes) (List.ofSeq sqlConfig.SamplerHiddenSizes) sacSeconds (List.ofSeq sacConfig.HiddenSizes) sacConfig.BatchSize
show "SQL (sampler, stochastic)" sqlStochastic
show "SQL (sampler at xi = 0)" sqlDeterministic
show "SAC (stochastic)" sacStochastic
show "SAC (deterministic mean)" sacDeterministic
