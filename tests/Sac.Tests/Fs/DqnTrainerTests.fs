/// The DQN-family trainer (exact resume is in ResumeTests, with the other algorithms): thread determinism, the checks
/// of its own checkpoint fields, learner-only checkpoints, the numerical check of every update, the callbacks, the
/// records of DqnTraining.train, and learning CartPole.
module DqnTrainerTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Runs
open Sac.Fs
open TrainingKit

let private gemm = new ManagedGemm(1) :> IGemm

let private config (variant: DqnVariant) (lr: float32) =
    DqnConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 100, TrainFrequency = 4,
              GradientSteps = 2, TargetUpdateInterval = 50, TotalTimesteps = 600L, EvalInterval = 200, EvalEpisodes = 1,
              LearningRate = lr, Temperature = 0.5f, Seed = 7UL, Variant = variant)

let private assertSameLearner (a: DqnLearnerState) (b: DqnLearnerState) =
    Assert.Equal<float32[]>(a.QNetwork, b.QNetwork)
    Assert.Equal<float32[]>(a.TargetQNetwork, b.TargetQNetwork)
    Assert.Equal(a.Optimizer.Step, b.Optimizer.Step)
    Assert.Equal<float32[]>(a.Optimizer.FirstMoment, b.Optimizer.FirstMoment)
    Assert.Equal<float32[]>(a.Optimizer.SecondMoment, b.Optimizer.SecondMoment)
    Assert.Equal(a.Step, b.Step)
    Assert.Equal(a.Key, b.Key)

let private variantOf (name: string) = DqnCheckpoint.VariantOf name

let ``the same seed gives bitwise-identical DQN runs on one and two threads`` = testCase "the same seed gives bitwise-identical DQN runs on one and two threads" <| fun () ->
    let cfg = DqnConfig(HiddenSizes = [| 64; 64 |], BatchSize = 64, BufferSize = 1000, LearningStarts = 100, TrainFrequency = 8,
                        GradientSteps = 4, TargetUpdateInterval = 50, TotalTimesteps = 400L, EvalInterval = 0, Seed = 3UL,
                        Variant = DqnVariant.DoubleDqn)
    let run threads =
        use g = new ManagedGemm(threads)
        let t = DqnTrainer("CartPole-v1", cfg, g)
        let records, onRecord = collect ()
        let s = t.RunTo(t.Start(), 400L, [ onRecord ]).State
        s, records |> Seq.map comparable |> List.ofSeq
    let a, ra = run 1
    let b, rb = run 2
    Assert.Equal(152L, a.Learner.Step)   // phases at steps 104, 112, ..., 400: 38 of 4 updates each
    assertSameLearner a.Learner b.Learner
    Assert.Equal<_ list>(ra, rb)

let ``resuming checks that the checkpoint fits the trainer, with a clear message`` = testCase "resuming checks that the checkpoint fits the trainer, with a clear message" <| fun () ->
    withTempDir (fun dir ->
        let cfg = config DqnVariant.Dqn 2.3e-3f
        let t = DqnTrainer("CartPole-v1", cfg, gemm)
        let s = t.RunTo(t.Start(), 130L, []).State
        let path = Path.Combine(dir, "c.ckpt")
        t.Save(path, s, 600L, true)
        let resumeWith (c: DqnConfig) (ckpt: TrainingCheckpoint<DqnCheckpointHeader, DqnLearnerState>) =
            Assert.Throws<ArgumentException>(fun () -> DqnTrainer("CartPole-v1", c, gemm).Resume ckpt |> ignore).Message
        let ckpt = DqnCheckpoint.LoadTraining path
        let other = DqnConfig(HiddenSizes = [| 8 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 100, Seed = 7UL)
        Assert.Contains("hidden sizes [16, 16]", resumeWith other ckpt)
        let soft = DqnConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, Variant = DqnVariant.SoftDqn)
        Assert.Contains("'dqn'", resumeWith soft ckpt)
        let smallBuffer = DqnConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 500)
        Assert.Contains("BufferSize", resumeWith smallBuffer ckpt)
        let h, p = ckpt.Header, nonNull ckpt.Header.Progress
        let withHeader (header: DqnCheckpointHeader) = TrainingCheckpoint<DqnCheckpointHeader, DqnLearnerState>(header, ckpt.State, ckpt.Replay, ckpt.EpisodeActions)
        // Another environment, and another shape of the same one.
        let elsewhere = DqnCheckpointHeader(h.Algorithm, "Acrobot-v1", h.ObservationSize, h.ActionCount, h.HiddenSizes, h.EnvironmentSteps, Progress = p)
        let message = resumeWith cfg (withHeader elsewhere)
        Assert.Contains("Acrobot-v1", message)
        Assert.Contains("CartPole-v1", message)
        let reshaped = DqnCheckpointHeader(h.Algorithm, h.EnvironmentId, 6, 3, h.HiddenSizes, h.EnvironmentSteps, Progress = p)
        Assert.Contains("observation 6, actions 3", resumeWith cfg (withHeader reshaped))
        // A learner alone (no progress) is not a training checkpoint.
        let bare = DqnCheckpointHeader(h.Algorithm, h.EnvironmentId, h.ObservationSize, h.ActionCount, h.HiddenSizes, h.EnvironmentSteps)
        Assert.Contains("no training progress", resumeWith cfg (TrainingCheckpoint<DqnCheckpointHeader, DqnLearnerState>(bare, ckpt.State, null, [||])))
        // A tampered progress record (episode return) is caught by replaying the running episode.
        let tampered = TrainingProgress(p.TotalSteps, p.Episodes, p.EpisodeReturn + 1.0, p.EpisodeLength, p.Draws, p.LastMetrics)
        let header = DqnCheckpointHeader(h.Algorithm, h.EnvironmentId, h.ObservationSize, h.ActionCount, h.HiddenSizes, h.EnvironmentSteps, Progress = tampered)
        Assert.Contains("replaying the running episode", resumeWith cfg (withHeader header)))

let ``a checkpoint written without progress still loads, as a learner without a run`` = testCase "a checkpoint written without progress still loads, as a learner without a run" <| fun () ->
    withTempDir (fun dir ->
        let cfg = config DqnVariant.SoftDqn 2.3e-3f
        let t = DqnTrainer("CartPole-v1", cfg, gemm)
        let s = t.RunTo(t.Start(), 120L, []).State
        let path = Path.Combine(dir, "learner.ckpt")
        DqnCheckpoint.Save(path, DqnCheckpointHeader("soft-dqn", "CartPole-v1", 4, 2, [| 16; 16 |], 120L), s.Learner)
        let struct (h, loaded) = DqnCheckpoint.Load path
        Assert.Null(h.Progress)
        assertSameLearner s.Learner loaded
        let training = DqnCheckpoint.LoadTraining path
        Assert.Null(training.Header.Progress)
        Assert.Null(training.Replay)
        Assert.Empty(training.EpisodeActions)
        // A training checkpoint loads through Load too, which returns its learner.
        t.Save(path, s, 600L, true)
        let struct (h, loaded) = DqnCheckpoint.Load path
        Assert.NotNull(h.Progress)
        assertSameLearner s.Learner loaded
        // The saved metrics are the last update's, in the documented order.
        let m = s.LastMetrics.Value
        Assert.Equal<float32 list>([ m.TdLoss; m.MeanQ; m.MeanTarget; m.Entropy ], List.ofSeq (nonNull (nonNull h.Progress).LastMetrics))
        Assert.Equal<string list>([ "td_loss"; "mean_q"; "mean_target"; "entropy" ], List.ofSeq DqnCheckpoint.MetricNames))

let ``a diverging learner stops at the first bad update, naming the quantity and the step`` = testCase "a diverging learner stops at the first bad update, naming the quantity and the step" <| fun () ->
    let t = DqnTrainer("CartPole-v1", config DqnVariant.Dqn 1e30f, gemm)
    let e = Assert.Throws<NumericalFaultException>(fun () -> t.RunTo(t.Start(), 600L, []) |> ignore)
    // The first updates run at step 104 (after LearningStarts = 100, every 4 steps); the first moves every weight by
    // about 1e30, so the next forward pass overflows.
    Assert.Equal(104L, e.EnvironmentStep)
    Assert.Equal(2L, e.Update)
    Assert.True(Single.IsNaN e.Value || Single.IsInfinity e.Value)
    Assert.Contains(e.Quantity, e.Message)
    Assert.Contains($"environment step {e.EnvironmentStep}", e.Message)

let ``the DQN update check names the first non-finite quantity in the order the update computes them`` = testCase "the DQN update check names the first non-finite quantity in the order the update computes them" <| fun () ->
    let cfg = config DqnVariant.Dqn 2.3e-3f
    let ctx = DqnContext(cfg, 4, 2, gemm)
    let s = Dqn.init ctx 1UL
    let grad = Array.zeroCreate<float32> ctx.Spec.ParameterCount
    let check (target, loss, q, h) = NumericalCheck.dqnUpdate 9L s (target, loss, q, h) (ReadOnlySpan grad)
    check (1.0f, 0.5f, 1.0f, 0.0f)
    let quantity (f: unit -> unit) = (Assert.Throws<NumericalFaultException>(f)).Quantity
    Assert.Equal("mean TD target", quantity (fun () -> check (nanf, nanf, nanf, 0.0f)))
    Assert.Equal("TD loss", quantity (fun () -> check (1.0f, infinityf, nanf, 0.0f)))
    Assert.Equal("mean Q", quantity (fun () -> check (1.0f, 0.5f, -infinityf, 0.0f)))
    Assert.Equal("policy entropy", quantity (fun () -> check (1.0f, 0.5f, 1.0f, nanf)))
    grad.[3] <- nanf
    s.QNetwork.[5] <- nanf
    let e = Assert.Throws<NumericalFaultException>(fun () -> check (1.0f, 0.5f, 1.0f, 0.0f))
    Assert.Equal("Q-network gradient", e.Quantity)
    Assert.Equal(3, e.Index)
    grad.[3] <- 0.0f
    Assert.Equal("Q-network parameters", quantity (fun () -> check (1.0f, 0.5f, 1.0f, 0.0f)))
    s.QNetwork.[5] <- 0.0f
    s.TargetQNetwork.[0] <- infinityf
    Assert.Equal("target Q-network parameters", quantity (fun () -> check (1.0f, 0.5f, 1.0f, 0.0f)))

let ``RunTo passes every step to the callbacks; Every, a reward threshold and CheckpointEvery fire when they should`` = testCase "RunTo passes every step to the callbacks; Every, a reward threshold and CheckpointEvery fire when they should" <| fun () ->
    withTempDir (fun dir ->
        let t = DqnTrainer("CartPole-v1", config DqnVariant.DoubleDqn 2.3e-3f, gemm)
        let mutable seen = []
        let mutable fired = []
        let counter = Callback.create (fun steps _ _ -> seen <- steps :: seen; CallbackDecision.Continue)
        let every = Callback.every 40L (fun steps (s: DqnTrainingState) -> fired <- (steps, s.EnvSteps) :: fired)
        let path = Path.Combine(dir, "periodic.ckpt")
        let periodic = t.CheckpointEvery(60L, path, 600L, false)
        let outcome = t.RunTo(t.Start(), 130L, [ counter; every; periodic ])
        Assert.Equal<int64 list>([ 130L .. -1L .. 1L ], seen)
        Assert.Equal<(int64 * int64) list>([ 120L, 120L; 80L, 80L; 40L, 40L ], fired)
        Assert.Equal(None, outcome.StopReason)
        Assert.Equal(130L, outcome.State.EnvSteps)
        let saved = DqnCheckpoint.LoadTraining path
        Assert.Equal(120L, saved.Header.EnvironmentSteps)
        Assert.Equal(60L, (nonNull saved.Header.Progress).CheckpointEvery)
        Assert.Null(saved.Replay)
        // Any evaluation return is above -1e9: the first evaluation (step 200) stops the run.
        let stop = t.RunTo(t.Start(), 600L, [ Callback.stopAtEvalReturn -1e9 ])
        Assert.Equal(200L, stop.State.EnvSteps)
        Assert.Contains("threshold", stop.StopReason.Value)
        // A fresh start forgets the previous run's transitions.
        t.Start() |> ignore
        Assert.Equal(0, t.Replay.Count))

let ``the trainer is reproducible from its seed and reports TD metrics through TrainingRecord`` = testCase "the trainer is reproducible from its seed and reports TD metrics through TrainingRecord" <| fun () ->
    let cfg = DqnConfig(HiddenSizes = [| 16; 16 |], LearningStarts = 200, TrainFrequency = 50, GradientSteps = 10, BatchSize = 16,
                        TotalTimesteps = 1000L, EvalInterval = 500, EvalEpisodes = 2, Seed = 4UL, Variant = DqnVariant.SoftDqn, Temperature = 0.1f)
    let run () =
        use g = new ManagedGemm(1)
        let records = ResizeArray<TrainingRecord>()
        let trainer, final = DqnTraining.train g "CartPole-v1" cfg 1000L records.Add
        final, records
    let a, recA = run ()
    let b, _ = run ()
    Assert.Equal<float32[]>(a.Learner.QNetwork, b.Learner.QNetwork)
    Assert.Equal(1000L, a.EnvSteps)
    Assert.Equal(160L, a.Learner.Step)   // (1000 - 200) / 50 phases of 10 steps
    let evals = recA |> Seq.filter (fun r -> r.EvalReturn.IsSome) |> List.ofSeq
    Assert.Equal<int64 list>([ 500L; 1000L ], evals |> List.map (fun r -> r.Step))
    let m = (List.last evals).Metrics.Value
    Assert.Equal<string[]>([| "td_loss"; "mean_q"; "entropy"; "temperature" |], m.Names)
    Assert.Equal(0.1f, m.["temperature"])
    Assert.True(m.["td_loss"] >= 0.0f && m.["entropy"] >= 0.0f && Single.IsFinite m.["mean_q"])
    Assert.True(recA |> Seq.forall (fun r -> r.EpisodeReturn.IsNone || r.EpisodeReturn = (r.EpisodeLength |> Option.map float)))

let ``DQN, Double DQN and soft DQN learn CartPole far beyond a random policy in 30k steps`` = testCase "DQN, Double DQN and soft DQN learn CartPole far beyond a random policy in 30k steps" <| fun () ->
    use g = new ManagedGemm(1)
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let cfg = DqnConfig(Variant = variant, HiddenSizes = [| 64; 64 |], TotalTimesteps = 30_000L, EvalInterval = 2500,
                            EvalEpisodes = 10, Seed = 0UL)
        let evals = ResizeArray<float>()
        DqnTraining.train g "CartPole-v1" cfg 30_000L (fun r -> r.EvalReturn |> Option.iter evals.Add) |> ignore
        // A uniformly random policy averages about 22 on CartPole-v1; 150 needs a policy that balances.
        let best = Seq.max evals
        Assert.True(best >= 150.0, sprintf "%A: best evaluation mean %.1f over %A" variant best (List.ofSeq evals))

let tests = testList "DqnTrainer" [
    ``the same seed gives bitwise-identical DQN runs on one and two threads``
    ``resuming checks that the checkpoint fits the trainer, with a clear message``
    ``a checkpoint written without progress still loads, as a learner without a run``
    ``a diverging learner stops at the first bad update, naming the quantity and the step``
    ``the DQN update check names the first non-finite quantity in the order the update computes them``
    ``RunTo passes every step to the callbacks; Every, a reward threshold and CheckpointEvery fire when they should``
    ``the trainer is reproducible from its seed and reports TD metrics through TrainingRecord``
    ``DQN, Double DQN and soft DQN learn CartPole far beyond a random policy in 30k steps``
]
