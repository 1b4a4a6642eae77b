/// The Soft Q-Learning trainer: thread determinism, its checkpoint fields, update checks, the callbacks and learning MultiGoal.
module SqlTrainerTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs
open TrainingKit
open EnvironmentsKit

let private gemm = new ManagedGemm(1) :> IGemm

// MultiGoal-v0 episodes last at most 30 steps; updates start after 40 and the target network is copied every 10.
let private sized (hidden: int[]) (samplerHidden: int[]) (bufferSize: int) (lr: float32) =
    SqlConfig(HiddenSizes = hidden, SamplerHiddenSizes = samplerHidden, BatchSize = 16, BufferSize = bufferSize, ValueParticles = 8,
              KernelParticles = 8, TargetUpdateInterval = 10, LearningStarts = 40, EvalInterval = 70, EvalEpisodes = 1,
              QLearningRate = lr, SamplerLearningRate = lr, Seed = 21UL)

let private config (lr: float32) = sized [| 16; 16 |] [| 16; 16 |] 1000 lr

let private assertSameLearner (a: SqlLearnerState) (b: SqlLearnerState) =
    Assert.Equal<float32[]>(a.Q, b.Q)
    Assert.Equal<float32[]>(a.TargetQ, b.TargetQ)
    Assert.Equal<float32[]>(a.Sampler, b.Sampler)
    for x, y in [ a.QOptimizer, b.QOptimizer; a.SamplerOptimizer, b.SamplerOptimizer ] do
        Assert.Equal(x.Step, y.Step)
        Assert.Equal<float32[]>(x.FirstMoment, y.FirstMoment)
        Assert.Equal<float32[]>(x.SecondMoment, y.SecondMoment)
    Assert.Equal(a.Step, b.Step)
    Assert.Equal(a.Key, b.Key)

let private assertSameState (a: SqlTrainingState) (b: SqlTrainingState) =
    Assert.Equal((a.EnvSteps, a.Episodes, a.EpisodeReturn, a.EpisodeLength, a.Draws), (b.EnvSteps, b.Episodes, b.EpisodeReturn, b.EpisodeLength, b.Draws))
    Assert.Equal(a.LastMetrics, b.LastMetrics)
    assertSameLearner a.Learner b.Learner

let ``resuming checks Soft Q-Learning's own fields: both networks' hidden sizes`` = testCase "resuming checks Soft Q-Learning's own fields: both networks' hidden sizes" <| fun () ->
    withTempDir (fun dir ->
        let t = SqlTrainer("MultiGoal-v0", config 3e-4f, gemm)
        let s = t.RunTo(t.Start(), 45L, []).State
        let path = Path.Combine(dir, "sql.ckpt")
        t.Save(path, s, 100L, true)
        let rejects (trainer: SqlTrainer) (part: string) =
            let e = Assert.Throws<ArgumentException>(fun () -> trainer.Resume(SqlCheckpoint.LoadTraining path) |> ignore)
            Assert.Contains("cannot resume", e.Message)
            Assert.Contains(part, e.Message)
        rejects (SqlTrainer("PointGoal-v0", config 3e-4f, gemm)) "trained on MultiGoal-v0, not PointGoal-v0"
        rejects (SqlTrainer("MultiGoal-v0", sized [| 8 |] [| 16; 16 |] 1000 3e-4f, gemm)) "Q hidden sizes [16, 16]"
        rejects (SqlTrainer("MultiGoal-v0", sized [| 16; 16 |] [| 16; 8 |] 1000 3e-4f, gemm)) "sampler hidden sizes [16, 16]"
        rejects (SqlTrainer("MultiGoal-v0", sized [| 16; 16 |] [| 16; 16 |] 500 3e-4f, gemm)) "BufferSize is 500")

let ``a diverging learner stops at the first bad update, naming the quantity and the step`` = testCase "a diverging learner stops at the first bad update, naming the quantity and the step" <| fun () ->
    let cfg = config 1e8f
    let t = SqlTrainer("MultiGoal-v0", cfg, gemm)
    let e = Assert.Throws<NumericalFaultException>(fun () -> t.RunTo(t.Start(), 200L, []) |> ignore)
    // The first update is at step LearningStarts + 1; a step size of 1e8 leaves the learner finite after it and
    // overflows within a few more updates.
    Assert.True(e.EnvironmentStep > 40L && e.EnvironmentStep < 50L, e.Message)
    Assert.Equal(e.EnvironmentStep - 40L, e.Update)
    Assert.True(Single.IsNaN e.Value || Single.IsInfinity e.Value)
    Assert.Contains(e.Quantity, e.Message)
    Assert.Contains($"environment step {e.EnvironmentStep}", e.Message)
    // Every update before it left the learner finite: the fault is reported where it first appears.
    let u = SqlTrainer("MultiGoal-v0", cfg, gemm)
    let before = u.RunTo(u.Start(), e.EnvironmentStep - 1L, []).State.Learner
    for values in [ before.Q; before.TargetQ; before.Sampler ] do
        Assert.Equal(-1, FusedOps.IndexOfNonFinite(ReadOnlySpan values))

let ``the SQL update check names the first non-finite quantity in the order the update computes them`` =
    let names = [| "Q loss"; "mean Q"; "Q gradient"; "Q parameters"; "SVGD surrogate"; "sampler gradient"; "sampler parameters"; "target Q parameters" |]
    let prop (poisoned: bool[]) (seed: int) (infinite: bool) =
        let poisoned = Array.init names.Length (fun i -> i < poisoned.Length && poisoned.[i])
        let bad = if infinite then Single.NegativeInfinity else Single.NaN
        let rng = Random seed
        let array n = Array.init n (fun _ -> float32 (rng.NextDouble() - 0.5))
        let q, target, sampler, qGrad, sGrad = array 7, array 7, array 5, array 7, array 5
        let at (arr: float32[]) = rng.Next arr.Length
        let mutable metrics = { QLoss = 0.5f; SvgdLoss = -0.25f; MeanQ = 2.0f; Alpha = 1.0f }
        let positions = Collections.Generic.Dictionary<int, int>()
        for i in 0 .. names.Length - 1 do
            if poisoned.[i] then
                let poison (arr: float32[]) = let p = at arr in arr.[p] <- bad; positions.[i] <- p
                match i with
                | 0 -> metrics <- { metrics with QLoss = bad }
                | 1 -> metrics <- { metrics with MeanQ = bad }
                | 2 -> poison qGrad
                | 3 -> poison q
                | 4 -> metrics <- { metrics with SvgdLoss = bad }
                | 5 -> poison sGrad
                | 6 -> poison sampler
                | _ -> poison target
        let state = SqlLearnerState(q, target, sampler, AdamState(3L, array 7, array 7), AdamState(3L, array 5, array 5), 9L, PhiloxKey.FromSeed 1UL)
        let check () = NumericalCheck.sqlUpdate 123L state qGrad sGrad metrics
        match Array.tryFindIndex id poisoned with
        | None -> check ()
        | Some first ->
            let e = Assert.Throws<NumericalFaultException>(fun () -> check ())
            Assert.Equal(names.[first], e.Quantity)
            Assert.Equal((123L, 9L), (e.EnvironmentStep, e.Update))
            Assert.Equal((match positions.TryGetValue first with | true, p -> p | _ -> -1), e.Index)
    testPropertyWithConfig (Properties.ofFsCheck Config.QuickThrowOnFailure) "the SQL update check names the first non-finite quantity in the order the update computes them" (prop)

let ``RunTo passes every step to the callbacks; Every, a reward threshold and CheckpointEvery fire when they should`` = testCase "RunTo passes every step to the callbacks; Every, a reward threshold and CheckpointEvery fire when they should" <| fun () ->
    withTempDir (fun dir ->
        let cfg = config 3e-4f
        let t = SqlTrainer("MultiGoal-v0", cfg, gemm)
        let mutable seen = []
        let mutable fired = []
        let counter = Callback.create (fun steps _ _ -> seen <- steps :: seen; CallbackDecision.Continue)
        let every = Callback.every 25L (fun steps (s: SqlTrainingState) -> fired <- (steps, s.EnvSteps) :: fired)
        let path = Path.Combine(dir, "periodic.ckpt")
        let periodic = t.CheckpointEvery(40L, path, 130L, false)
        let outcome = t.RunTo(t.Start(), 130L, [ counter; every; periodic ])
        Assert.Equal<int64 list>([ 130L .. -1L .. 1L ], seen)
        Assert.Equal<(int64 * int64) list>([ 125L, 125L; 100L, 100L; 75L, 75L; 50L, 50L; 25L, 25L ], fired)
        Assert.Equal(None, outcome.StopReason)
        Assert.Equal(130L, outcome.State.EnvSteps)
        // The last periodic checkpoint is from step 120 and remembers its interval.
        let saved = SqlCheckpoint.LoadTraining path
        Assert.Equal(120L, saved.Header.EnvironmentSteps)
        Assert.Equal(40L, (nonNull saved.Header.Progress).CheckpointEvery)
        Assert.Equal(130L, (nonNull saved.Header.Progress).TotalSteps)
        Assert.Null(saved.Replay)
        // Any evaluation return is above -1e9: the first evaluation (step 70) stops the run.
        let stop = t.RunTo(t.Start(), 1000L, [ Callback.stopAtEvalReturn -1e9 ])
        Assert.Equal(70L, stop.State.EnvSteps)
        Assert.Contains("threshold", stop.StopReason.Value))

let ``the same seed gives bitwise-identical SQL learners on one and two threads`` = testCase "the same seed gives bitwise-identical SQL learners on one and two threads" <| fun () ->
    let cfg = SqlConfig(HiddenSizes = [| 16; 16 |], SamplerHiddenSizes = [| 16; 16 |], BatchSize = 16, KernelParticles = 8,
                        ValueParticles = 8, LearningStarts = 50, EvalInterval = 0, Seed = 5UL)
    let run threads =
        use g = new ManagedGemm(threads)
        let trainer, final = SqlTraining.train g "MultiGoal-v0" cfg 200L ignore
        final.Learner, trainer.Evaluate(final, 5, 77UL)
    let (a, ea), (b, eb), (c, ec) = run 1, run 1, run 2
    Assert.Equal<float32[]>(a.Q, b.Q)
    Assert.Equal<float32[]>(a.Sampler, b.Sampler)
    Assert.Equal<float32[]>(a.Q, c.Q)
    Assert.Equal<float32[]>(a.Sampler, c.Sampler)
    Assert.Equal<float[]>(ea.Returns, ec.Returns)
    Assert.Equal<int[]>(ea.Goals, eb.Goals)
    Assert.Equal(150L, a.Step)

let ``SQL learns MultiGoal far beyond a random policy and reaches several goals`` = testCase "SQL learns MultiGoal far beyond a random policy and reaches several goals" <| fun () ->
    use g = new ManagedGemm(1)
    let cfg = SqlConfig(HiddenSizes = [| 64; 64 |], SamplerHiddenSizes = [| 64; 64 |], EvalInterval = 0, Seed = 1UL)
    let clock = Diagnostics.Stopwatch.StartNew()
    let mutable episodes = 0
    let trainer, final = SqlTraining.train g "MultiGoal-v0" cfg 2500L (fun r -> if r.EpisodeReturn.IsSome then episodes <- episodes + 1)
    let learned = trainer.Evaluate(final, 50, 4242UL)
    let randomMean, _ = multiGoalRollouts 50 (randomPolicy 4242UL)
    let reached = learned.Goals |> Array.filter (fun n -> n > 0) |> Array.length
    Console.WriteLine(sprintf "SQL MultiGoal after 2500 steps (%d episodes, %.1f s): mean %.1f (random %.1f), goals %A"
                          episodes clock.Elapsed.TotalSeconds learned.Mean randomMean learned.Goals)
    Assert.Equal(MultiGoal.GoalCount, learned.Goals.Length)
    Assert.True(learned.Mean > randomMean + 250.0, sprintf "mean %.1f vs random %.1f" learned.Mean randomMean)
    Assert.True(reached >= 2, sprintf "goals reached %A" learned.Goals)

let tests = testList "SqlTrainer" [
    ``resuming checks Soft Q-Learning's own fields: both networks' hidden sizes``
    ``a diverging learner stops at the first bad update, naming the quantity and the step``
    ``the SQL update check names the first non-finite quantity in the order the update computes them``
    ``RunTo passes every step to the callbacks; Every, a reward threshold and CheckpointEvery fire when they should``
    ``the same seed gives bitwise-identical SQL learners on one and two threads``
    ``SQL learns MultiGoal far beyond a random policy and reaches several goals``
]
