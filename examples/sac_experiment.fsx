// Soft Actor-Critic (SAC v2, Haarnoja et al. 2018), one experiment in one file that reads top to bottom: the
// hyperparameters, the environment, the learner, the replay buffer, the collection loop, the updates, evaluation,
// and the run's files. Every piece of mathematics is the library's (Sac.update, Policy.act, Evaluation.run); what is
// written out here is the loop around it, so it can be read, changed and experimented with.
//
// After one build (dotnet build -c Release), run:
//   dotnet fsi examples/sac_experiment.fsx [--env Pendulum-v1] [--steps 20000] [--seed 1] [--out DIR] [--OPTION VALUE ...]
// For example, a short run as CI does it:
//   dotnet fsi examples/sac_experiment.fsx --env PointGoal-v0 --steps 1500
// Options are the fields of Args below (--help lists them). The algorithm's hyperparameters default to the
// environment's preset (Presets.forEnvironment: RL Baselines3 Zoo's values where the zoo has the environment).
#r "../Sac.Cli/bin/Release/net10.0/System.Numerics.Tensors.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Core.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Cuda.dll"
#r "../Sac.Cli/bin/Release/net10.0/Sac.Fs.dll"

open System
open System.Diagnostics
open System.Globalization
open System.IO
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs

// ---------------------------------------------------------------------------------------------------------------
// 1. Hyperparameters
// ---------------------------------------------------------------------------------------------------------------

/// Everything that decides the run. Options marked "preset" default to Presets.forEnvironment(env).
type Args =
    { /// --env: the environment, one of EnvironmentRegistry.Ids with continuous actions.
      Env: string
      /// --seed: every random stream (initial weights, exploration, replay sampling, resets) derives from it.
      Seed: uint64
      /// --steps: environment steps in total (SB3's total_timesteps).
      TotalSteps: int64
      /// --buffer: replay capacity in transitions (preset).
      BufferSize: int
      /// --batch: transitions per gradient step (preset).
      BatchSize: int
      /// --learning-starts: steps of uniformly random actions, without updates, before learning (preset).
      LearningStarts: int
      /// --train-freq and --gradient-steps: GradientSteps updates every TrainFrequency environment steps (preset).
      TrainFrequency: int
      GradientSteps: int
      /// --gamma: discount; --tau: Polyak coefficient of the target critics (preset).
      Gamma: float32
      Tau: float32
      /// --lr: one Adam step size for actor, critics and log alpha, as SB3's learning_rate (preset: the actor's).
      LearningRate: float32
      /// --hidden: hidden layer widths of every network, comma-separated, e.g. 256,256 (preset).
      Hidden: int[]
      /// --eval-interval: steps between deterministic evaluations; --eval-episodes: episodes per evaluation.
      EvalInterval: int
      EvalEpisodes: int
      /// --threads: threads of the matrix products.
      Threads: int
      /// --out: folder for config.json, metrics.csv and curve.svg (default: a new folder under the temp dir).
      Out: string }

let argv = fsi.CommandLineArgs |> Array.tail
let known =
    [ "env"; "seed"; "steps"; "buffer"; "batch"; "learning-starts"; "train-freq"; "gradient-steps"; "gamma"; "tau"
      "lr"; "hidden"; "eval-interval"; "eval-episodes"; "threads"; "out" ]
let usage () =
    eprintfn "usage: dotnet fsi examples/sac_experiment.fsx %s" (known |> List.map (fun k -> $"[--{k} V]") |> String.concat " ")
    exit 2
if argv |> Array.exists (fun a -> a = "--help" || a = "-h") then usage ()
if argv.Length % 2 <> 0 then (eprintfn "options come in pairs: --name value"; usage ())
let given =
    argv
    |> Array.chunkBySize 2
    |> Array.map (fun pair ->
        let key = pair.[0].TrimStart('-')
        if not (pair.[0].StartsWith "--" && List.contains key known) then (eprintfn "unknown option %s" pair.[0]; usage ())
        key, pair.[1])
    |> Map.ofArray
let opt key (parse: string -> 'T) (fallback: 'T) =
    match given.TryFind key with
    | Some text ->
        try parse text with _ -> (eprintfn "--%s: cannot read '%s'" key text; usage ())
    | None -> fallback
let f32 (s: string) = Single.Parse(s, CultureInfo.InvariantCulture)

let envId = opt "env" id "Pendulum-v1"
let preset = Presets.forEnvironment envId
let args =
    { Env = envId
      Seed = opt "seed" UInt64.Parse 1UL
      TotalSteps = opt "steps" Int64.Parse 20_000L
      BufferSize = opt "buffer" Int32.Parse preset.BufferSize
      BatchSize = opt "batch" Int32.Parse preset.BatchSize
      LearningStarts = opt "learning-starts" Int32.Parse preset.LearningStarts
      TrainFrequency = opt "train-freq" Int32.Parse preset.TrainFrequency
      GradientSteps = opt "gradient-steps" Int32.Parse preset.GradientSteps
      Gamma = opt "gamma" f32 preset.Gamma
      Tau = opt "tau" f32 preset.Tau
      LearningRate = opt "lr" f32 preset.ActorLearningRate
      Hidden = opt "hidden" (fun s -> s.Split(',') |> Array.map Int32.Parse) (Array.ofSeq preset.HiddenSizes)
      EvalInterval = opt "eval-interval" Int32.Parse (if preset.EvalInterval > 0 then preset.EvalInterval else 2000)
      EvalEpisodes = opt "eval-episodes" Int32.Parse preset.EvalEpisodes
      Threads = opt "threads" Int32.Parse 1
      Out = match given.TryFind "out" with Some dir -> dir | None -> Directory.CreateTempSubdirectory("sac-experiment-").FullName }

// The library's configuration record validates every value (and the rules between them) and names what is wrong.
// The temperature keeps the preset's choice: learned toward -|A| (SB3's ent_coef="auto"), or fixed.
let config =
    SacConfig(BufferSize = args.BufferSize, BatchSize = args.BatchSize, LearningStarts = args.LearningStarts,
              TrainFrequency = args.TrainFrequency, GradientSteps = args.GradientSteps, Gamma = args.Gamma, Tau = args.Tau,
              ActorLearningRate = args.LearningRate, CriticLearningRate = args.LearningRate, AlphaLearningRate = args.LearningRate,
              HiddenSizes = args.Hidden, AutoAlpha = preset.AutoAlpha, InitialAlpha = preset.InitialAlpha,
              EvalInterval = args.EvalInterval, EvalEpisodes = args.EvalEpisodes, Seed = args.Seed).ThrowIfInvalid()

// ---------------------------------------------------------------------------------------------------------------
// 2. Environment: Gymnasium's semantics; the agent acts in [-1, 1]^|A| (RescaleAction maps onto the native box),
//    and CheckedEnvironment stops the run at the first non-finite observation or reward, or an action off the box.
// ---------------------------------------------------------------------------------------------------------------

if (DiscreteActions.TryGetActionCount(EnvironmentRegistry.Make args.Env)).HasValue then
    eprintfn "%s has discrete actions; SAC here needs continuous ones (try dotnet fsi examples/dqn_cartpole.fsx)" args.Env
    exit 2
let makeEnv () = CheckedEnvironment(RescaleAction(EnvironmentRegistry.Make args.Env)) :> IEnvironment
let env, evalEnv = makeEnv (), makeEnv ()
let o, a = env.ObservationSpace.Dimension, env.ActionSpace.Dimension

// ---------------------------------------------------------------------------------------------------------------
// 3. Learner: networks, optimizers and temperature (SacContext: fixed parts; LearnerState: everything that changes)
// ---------------------------------------------------------------------------------------------------------------

let gemm = GemmProvider.Create args.Threads
let ctx = SacContext(config, o, a, gemm)
let mutable learner = Sac.init ctx args.Seed
let policyWs = PolicyWorkspace(ctx.Networks)

// Independent random streams, all derived from the seed: acting noise, warm-up actions, replay draws.
let root = PhiloxKey.FromSeed args.Seed
let actKey, warmupKey, sampleKey = root.FoldIn 1u, root.FoldIn 2u, root.FoldIn 3u
let evalSeed = args.Seed + 1_000_000UL

// ---------------------------------------------------------------------------------------------------------------
// 4. Replay buffer (a preallocated ring) and one minibatch it is sampled into
// ---------------------------------------------------------------------------------------------------------------

let replay = ReplayBuffer(config.BufferSize, o, a)
let batch = Batch(config.BatchSize, o, a)

// ---------------------------------------------------------------------------------------------------------------
// 5. Output: config.json now, metrics.csv row by row (a killed run keeps its rows), curve.svg at the end
// ---------------------------------------------------------------------------------------------------------------

Directory.CreateDirectory args.Out |> ignore
AtomicFile.WriteText(Path.Combine(args.Out, "config.json"), ConfigJson.Serialize config)
let csv = new MetricsCsv(Path.Combine(args.Out, MetricsCsv.FileName), MetricsCsv.TrainingColumns)
let episodePoints = ResizeArray<struct (double * double)>()
let evalPoints = ResizeArray<struct (double * double * double)>()

printfn "SAC on %s (obs %d, act %d), seed %d, %d steps, GEMM %s" args.Env o a args.Seed args.TotalSteps gemm.Name
printfn "buffer %d, batch %d, learning starts %d, %d gradient step(s) every %d step(s), gamma %g, tau %g, lr %g, hidden %A,"
    args.BufferSize args.BatchSize args.LearningStarts args.GradientSteps args.TrainFrequency args.Gamma args.Tau
    args.LearningRate (List.ofArray args.Hidden)
printfn "alpha %s, evaluation every %d steps over %d episodes, output %s"
    (if config.AutoAlpha then $"learned toward entropy {ctx.TargetEntropy} from {config.InitialAlpha}" else $"fixed at {config.InitialAlpha}")
    args.EvalInterval args.EvalEpisodes args.Out
printfn "%8s %8s %10s %16s %10s %10s %8s %8s %8s %7s" "step" "episodes" "ep return" "eval return" "critic" "actor" "alpha" "entropy" "upd/s" "wall s"

// ---------------------------------------------------------------------------------------------------------------
// 6. The loop: act, store, reset, update, evaluate
// ---------------------------------------------------------------------------------------------------------------

let obs = Array.zeroCreate<float32> o
let nextObs = Array.zeroCreate<float32> o
let action = Array.zeroCreate<float32> a
let wall = Stopwatch.StartNew()
let mutable episodes = 0
let mutable episodeReturn = 0.0
let mutable episodeLength = 0
let recentReturns = ResizeArray<float>()
let mutable draws = 0UL
let mutable metrics: SacMetrics voption = ValueNone
let mutable updates = 0L
let mutable updateTicks = 0L
let mutable lastEval = (nan, nan)
let mutable bestEval = -infinity

let writeRow (step: int64) (episodeEnd: (float * int) option) (evaluation: (float * float) option) (ups: float) =
    let m (f: SacMetrics -> float32) = match metrics with ValueSome x -> float (f x) | ValueNone -> nan
    let some o f = match o with Some v -> f v | None -> nan
    csv.Append(ReadOnlySpan [| float step; float episodes; some episodeEnd fst; some episodeEnd (snd >> float)
                               some evaluation fst; some evaluation snd; m _.CriticLoss; m _.ActorLoss; m _.Alpha
                               m _.Entropy; ups; wall.Elapsed.TotalSeconds |])

let evaluate (step: int64) =
    // Deterministic evaluation: the mean action tanh(mu) on its own environment, episode k reset with evalSeed + k.
    let result = Evaluation.run ctx policyWs learner.Actor evalEnv args.EvalEpisodes evalSeed
    let ups = if updateTicks > 0L then float updates / (float updateTicks / float Stopwatch.Frequency) else nan
    updates <- 0L
    updateTicks <- 0L
    lastEval <- (result.Mean, result.Std)
    bestEval <- max bestEval result.Mean
    evalPoints.Add(struct (float step, result.Mean, result.Std))
    writeRow step None (Some(result.Mean, result.Std)) ups
    let meanRecent = if recentReturns.Count = 0 then nan else Seq.average recentReturns
    let show (f: SacMetrics -> float32) = match metrics with ValueSome x -> $"%.4g{f x}" | ValueNone -> "-"
    printfn "%8d %8d %10.1f %9.1f ± %5.1f %10s %10s %8s %8s %8.0f %7.1f"
        step episodes meanRecent result.Mean result.Std (show _.CriticLoss) (show _.ActorLoss) (show _.Alpha)
        (show _.Entropy) ups wall.Elapsed.TotalSeconds

env.Reset(Nullable args.Seed, Span obs)
for t in 0L .. args.TotalSteps - 1L do
    // Act: uniform random actions during warm-up (SB3's learning_starts), then a draw from the policy
    // a = tanh(mu(s) + sigma(s) eps) with eps from the acting stream at index t.
    if t < int64 config.LearningStarts then
        for j in 0 .. a - 1 do
            action.[j] <- 2.0f * Philox.Uniform(warmupKey, uint64 t * uint64 a + uint64 j) - 1.0f
    else
        Policy.act ctx policyWs learner.Actor (Stochastic(actKey, uint64 t)) (ReadOnlySpan obs) (Span action)

    let r = env.Step(ReadOnlySpan action, Span nextObs)

    // Store with both flags: the soft target y = r + gamma (1 - terminated) (min Q' - alpha log pi') uses only
    // `terminated`. A time-limit truncation is not an end of the MDP, so it still bootstraps from the true s'.
    replay.Add(ReadOnlySpan obs, ReadOnlySpan action, r.Reward, ReadOnlySpan nextObs, r.Terminated, r.Truncated)
    episodeReturn <- episodeReturn + float r.Reward
    episodeLength <- episodeLength + 1

    // Either flag ends the episode for the collector: reset (the stored s' above was the real last observation).
    if r.Terminated || r.Truncated then
        episodes <- episodes + 1
        recentReturns.Add episodeReturn
        if recentReturns.Count > 10 then recentReturns.RemoveAt 0
        episodePoints.Add(struct (float (t + 1L), episodeReturn))
        writeRow (t + 1L) (Some(episodeReturn, episodeLength)) None nan
        episodeReturn <- 0.0
        episodeLength <- 0
        env.Reset(Nullable(), Span obs)
    else
        Array.blit nextObs 0 obs 0 o

    // Update: GradientSteps SAC updates every TrainFrequency steps once warm-up is over. Each one samples a fresh
    // minibatch (draw number = gradient-step count) and runs the whole pipeline: policy sample, temperature step,
    // soft targets, critic step, actor step, Polyak averaging of the target critics.
    let steps = t + 1L
    if steps > int64 config.LearningStarts && steps % int64 config.TrainFrequency = 0L then
        let t0 = Stopwatch.GetTimestamp()
        // -1 (SB3's gradient_steps = -1): one update per environment step of the phase.
        let rounds = if config.GradientSteps = -1 then config.TrainFrequency else config.GradientSteps
        for _ in 1 .. rounds do
            replay.Sample(sampleKey, draws, batch)
            draws <- draws + 1UL
            let struct (next, m) = Sac.update ctx batch learner
            learner <- next
            metrics <- ValueSome m
        updateTicks <- updateTicks + (Stopwatch.GetTimestamp() - t0)
        updates <- updates + int64 rounds

    if steps % int64 args.EvalInterval = 0L then evaluate steps

// A last evaluation when the run did not end on the schedule.
if args.TotalSteps % int64 args.EvalInterval <> 0L then evaluate args.TotalSteps
csv.Dispose()

// ---------------------------------------------------------------------------------------------------------------
// 7. Summary and learning curve
// ---------------------------------------------------------------------------------------------------------------

let curve =
    [| Series("episode return", [| for struct (x, y) in episodePoints -> struct (x, y) |])
       Series("evaluation mean (±std)", [| for struct (x, m, _) in evalPoints -> struct (x, m) |],
              [| for struct (x, m, s) in evalPoints -> struct (x, m - s, m + s) |]) |]
SvgCurve.Write(Path.Combine(args.Out, SvgCurve.FileName), SvgCurveOptions(Title = $"SAC on {args.Env}, seed {args.Seed}"), curve)

let finalMean, finalStd = lastEval
printfn ""
printfn "SUMMARY %s seed %d: %d steps, %d episodes, %d gradient steps in %.1f s" args.Env args.Seed args.TotalSteps episodes learner.Step wall.Elapsed.TotalSeconds
printfn "  final evaluation %.1f ± %.1f over %d episodes (best %.1f); alpha %s" finalMean finalStd args.EvalEpisodes bestEval
    (match metrics with ValueSome m -> $"%.4f{m.Alpha}" | ValueNone -> "-")
printfn "  files: %s" (String.Join(", ", [ "config.json"; MetricsCsv.FileName; SvgCurve.FileName ] |> List.map (fun f -> Path.Combine(args.Out, f))))
