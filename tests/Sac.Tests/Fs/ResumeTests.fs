/// Exact resume, for every algorithm the engine drives: one set of tests, parametrised over the agents (SAC v2 and
/// v1, Soft Q-Learning, DQN, Double DQN, soft DQN), through the engine's own Save, Load and Resume.
module ResumeTests

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

/// One algorithm as these tests drive it: a fresh trainer, and the learner's arrays and update count.
type private Case<'L, 'M> =
    { Make: unit -> OffPolicyTrainer<'L, 'M>
      Arrays: 'L -> float32[] list
      Updates: 'L -> int64 }

/// A test written once for any learner and metrics types.
type private ICaseTest =
    abstract Run<'L, 'M when 'M: equality> : Case<'L, 'M> -> unit

let private adam (a: Sac.Core.Optim.AdamState) = [ a.FirstMoment; a.SecondMoment; [| float32 a.Step |] ]

let private sacConfigWith (activation: Activation) (variant: SacVariant) (schedule: LearningRateSchedule) =
    SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, EvalInterval = 150,
              EvalEpisodes = 1, Seed = 11UL, Variant = variant, LearningRateSchedule = schedule, Activation = activation)

let private sqlConfigWith (activation: Activation) (schedule: LearningRateSchedule) =
    SqlConfig(HiddenSizes = [| 16; 16 |], SamplerHiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, ValueParticles = 8,
              KernelParticles = 8, TargetUpdateInterval = 10, LearningStarts = 40, EvalInterval = 70, EvalEpisodes = 1, Seed = 21UL,
              LearningRateSchedule = schedule, Activation = activation)

let private dqnConfigWith (activation: Activation) (variant: DqnVariant) (schedule: LearningRateSchedule) =
    DqnConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 100, TrainFrequency = 4,
              GradientSteps = 2, TargetUpdateInterval = 50, TotalTimesteps = 600L, EvalInterval = 200, EvalEpisodes = 1,
              LearningRate = 2.3e-3f, Temperature = 0.5f, Seed = 7UL, Variant = variant, LearningRateSchedule = schedule,
              Activation = activation)

let private sacCaseWith (activation: Activation) (env: string) (variant: SacVariant) (schedule: LearningRateSchedule) =
    { Make = fun () -> new Trainer(env, sacConfigWith activation variant schedule, gemm) :> OffPolicyTrainer<_, _>
      Arrays = fun (l: LearnerState) ->
          [ l.Actor; l.Critic; l.TargetCritic; [| l.LogAlpha |] ] @ adam l.ActorOptimizer @ adam l.CriticOptimizer @ adam l.AlphaOptimizer
          @ (match l.Value, l.TargetValue with
             | null, _ | _, null -> []
             | v, tv -> [ v; tv ] @ adam l.ValueOptimizer.Value)
      Updates = fun l -> l.Step }

let private sacCase = sacCaseWith Activation.Relu

// gSDE with a sample frequency inside the collection phases, so a resume lands between draws of the acting matrix.
let private sacGsdeCase () =
    let config () =
        SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, EvalInterval = 150,
                  EvalEpisodes = 1, Seed = 11UL, TrainFrequency = 8, GradientSteps = 2, UseSde = true, SdeSampleFrequency = 3,
                  FullStd = false, UseExpln = true, LogStdInit = -1.0f)
    { sacCase "Pendulum-v1" SacVariant.V2 LearningRateSchedule.Constant with
        Make = fun () -> new Trainer("Pendulum-v1", config (), gemm) :> OffPolicyTrainer<_, _> }

// VecNormalize: the statistics and running returns must come back exactly for the records to match.
let private sacNormalizedCase () =
    let config () =
        SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, EvalInterval = 150,
                  EvalEpisodes = 1, Seed = 11UL, Normalize = NormalizeSettings())
    { sacCase "Pendulum-v1" SacVariant.V2 LearningRateSchedule.Constant with
        Make = fun () -> new Trainer("Pendulum-v1", config (), gemm) :> OffPolicyTrainer<_, _> }

let private sqlCaseWith (activation: Activation) (schedule: LearningRateSchedule) =
    { Make = fun () -> SqlTrainer("MultiGoal-v0", sqlConfigWith activation schedule, gemm) :> OffPolicyTrainer<_, _>
      Arrays = fun (l: SqlLearnerState) -> [ l.Q; l.TargetQ; l.Sampler ] @ adam l.QOptimizer @ adam l.SamplerOptimizer
      Updates = fun l -> l.Step }

let private sqlCase = sqlCaseWith Activation.Relu

let private dqnCaseWith (activation: Activation) (variant: DqnVariant) (schedule: LearningRateSchedule) =
    { Make = fun () -> DqnTrainer("CartPole-v1", dqnConfigWith activation variant schedule, gemm) :> OffPolicyTrainer<_, _>
      Arrays = fun (l: DqnLearnerState) -> [ l.QNetwork; l.TargetQNetwork ] @ adam l.Optimizer
      Updates = fun l -> l.Step }

let private dqnCase = dqnCaseWith Activation.Relu

/// Runs <paramref name="test"/> on the named case.
let private on (case: string) (test: ICaseTest) =
    match case with
    | "sac Pendulum-v1" -> test.Run(sacCase "Pendulum-v1" SacVariant.V2 LearningRateSchedule.Constant)
    | "sac Pendulum-v1, linear rates" -> test.Run(sacCase "Pendulum-v1" SacVariant.V2 LearningRateSchedule.Linear)
    | "sac PointGoal-v0" -> test.Run(sacCase "PointGoal-v0" SacVariant.V2 LearningRateSchedule.Constant)
    | "sac-v1 Pendulum-v1" -> test.Run(sacCase "Pendulum-v1" SacVariant.V1 LearningRateSchedule.Constant)
    | "sac gSDE Pendulum-v1" -> test.Run(sacGsdeCase ())
    | "sac Pendulum-v1, normalized" -> test.Run(sacNormalizedCase ())
    | "sql MultiGoal-v0, rewards normalized" ->
        let config = SqlConfig(HiddenSizes = [| 16; 16 |], SamplerHiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, ValueParticles = 8,
                               KernelParticles = 8, TargetUpdateInterval = 10, LearningStarts = 40, EvalInterval = 70, EvalEpisodes = 1,
                               Seed = 21UL, Normalize = NormalizeSettings(Observations = false))
        test.Run { sqlCase LearningRateSchedule.Constant with Make = fun () -> SqlTrainer("MultiGoal-v0", config, gemm) :> OffPolicyTrainer<_, _> }
    | "dqn CartPole-v1, observations normalized" ->
        let config = DqnConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 100, TrainFrequency = 4,
                               GradientSteps = 2, TargetUpdateInterval = 50, TotalTimesteps = 600L, EvalInterval = 200, EvalEpisodes = 1,
                               LearningRate = 2.3e-3f, Seed = 7UL, Normalize = NormalizeSettings(Rewards = false))
        test.Run { dqnCase DqnVariant.Dqn LearningRateSchedule.Constant with Make = fun () -> DqnTrainer("CartPole-v1", config, gemm) :> OffPolicyTrainer<_, _> }
    | "sql MultiGoal-v0" -> test.Run(sqlCase LearningRateSchedule.Constant)
    | "sql MultiGoal-v0, linear rates" -> test.Run(sqlCase LearningRateSchedule.Linear)
    | "dqn CartPole-v1" -> test.Run(dqnCase DqnVariant.Dqn LearningRateSchedule.Constant)
    | "double-dqn CartPole-v1" -> test.Run(dqnCase DqnVariant.DoubleDqn LearningRateSchedule.Constant)
    | "double-dqn CartPole-v1, linear rates" -> test.Run(dqnCase DqnVariant.DoubleDqn LearningRateSchedule.Linear)
    | "soft-dqn CartPole-v1" -> test.Run(dqnCase DqnVariant.SoftDqn LearningRateSchedule.Constant)
    | "sac Pendulum-v1, ELU" -> test.Run(sacCaseWith Activation.Elu "Pendulum-v1" SacVariant.V2 LearningRateSchedule.Constant)
    | "sql MultiGoal-v0, LeakyReLU" -> test.Run(sqlCaseWith Activation.LeakyRelu LearningRateSchedule.Constant)
    | "dqn CartPole-v1, ELU" -> test.Run(dqnCaseWith Activation.Elu DqnVariant.Dqn LearningRateSchedule.Constant)
    | other -> failwith $"no case {other}"

let private assertSameState (case: Case<'L, 'M>) (a: OffPolicyState<'L, 'M>) (b: OffPolicyState<'L, 'M>) =
    Assert.Equal((a.EnvSteps, a.Episodes, a.EpisodeReturn, a.EpisodeLength, a.Draws), (b.EnvSteps, b.Episodes, b.EpisodeReturn, b.EpisodeLength, b.Draws))
    Assert.Equal(a.LastMetrics, b.LastMetrics)
    Assert.Equal(case.Updates a.Learner, case.Updates b.Learner)
    let xs, ys = case.Arrays a.Learner, case.Arrays b.Learner
    Assert.Equal(xs.Length, ys.Length)
    for x, y in List.zip xs ys do Assert.Equal<float32[]>(x, y)

let ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` (case: string) (k: int64) (total: int64) =
    on case
        { new ICaseTest with
            member _.Run<'L, 'M when 'M: equality>(c: Case<'L, 'M>) =
                withTempDir (fun dir ->
                    let whole = c.Make()
                    let wholeRecords, onWhole = collect ()
                    let uninterrupted = whole.RunTo(whole.Start(), total, [ onWhole ])

                    // A run toward `total`, interrupted at k (the learning-rate schedule runs over `total`).
                    let first = c.Make()
                    let firstRecords, onFirst = collect ()
                    let interrupt = Callback.create (fun steps _ _ -> if steps >= k then CallbackDecision.Stop "interrupted" else CallbackDecision.Continue)
                    let atK = first.RunTo(first.Start(), total, [ onFirst; interrupt ]).State
                    Assert.Equal(k, atK.EnvSteps)
                    let path = Path.Combine(dir, "checkpoint.ckpt")
                    first.Save(path, atK, total, true)

                    let second = c.Make()
                    let secondRecords, onSecond = collect ()
                    let point = second.Load path
                    Assert.Equal(None, point.Mismatch)
                    Assert.Equal(k, int64 (nonNull point.Replay).Count)
                    let restored = second.Resume point
                    assertSameState c atK restored
                    let resumed = second.RunTo(restored, total, [ onSecond ])

                    Assert.True(c.Updates uninterrupted.State.Learner > 50L)
                    assertSameState c uninterrupted.State resumed.State
                    let expected = wholeRecords |> Seq.map comparable |> List.ofSeq
                    Assert.True(expected |> List.exists (fun (_, _, _, _, eval, _, _) -> eval.IsSome), "the run evaluates")
                    Assert.Equal<_ list>(expected, Seq.append firstRecords secondRecords |> Seq.map comparable |> List.ofSeq)) }

let ``without the replay buffer a resumed run refills it before updating again`` (case: string) (k: int64) =
    on case
        { new ICaseTest with
            member _.Run<'L, 'M when 'M: equality>(c: Case<'L, 'M>) =
                withTempDir (fun dir ->
                    let first = c.Make()
                    let atK = first.RunTo(first.Start(), k, []).State
                    let path = Path.Combine(dir, "checkpoint.ckpt")
                    first.Save(path, atK, 10_000L, false)
                    let second = c.Make()
                    let point = second.Load path
                    Assert.Null(point.Replay)
                    let resumed = second.Resume point
                    Assert.Equal(0, second.Replay.Count)
                    let before = c.Updates resumed.Learner
                    Assert.True(before > 0L)
                    // LearningStarts transitions are needed again: nothing updates until the buffer holds them.
                    let schedule = second.Algorithm.Schedule
                    let s = second.RunTo(resumed, k + int64 schedule.LearningStarts - 1L, []).State
                    Assert.Equal(before, c.Updates s.Learner)
                    Assert.Equal(resumed.Draws, s.Draws)
                    Assert.Equal(schedule.LearningStarts - 1, second.Replay.Count)
                    let s = second.RunTo(s, k + int64 schedule.LearningStarts + int64 schedule.TrainFrequency, []).State
                    Assert.True(c.Updates s.Learner > before)) }

let ``resuming refuses a checkpoint that does not fit, naming what differs`` (case: string) =
    on case
        { new ICaseTest with
            member _.Run<'L, 'M when 'M: equality>(c: Case<'L, 'M>) =
                withTempDir (fun dir ->
                    let t = c.Make()
                    let k = int64 t.Algorithm.Schedule.LearningStarts + 13L
                    let s = t.RunTo(t.Start(), k, []).State
                    Assert.True(s.EpisodeLength > 0 && s.LastMetrics.IsSome, "the checkpoint falls inside an episode, after an update")
                    let path = Path.Combine(dir, "c.ckpt")
                    t.Save(path, s, 1000L, true)
                    let point = t.Load path
                    let p = nonNull point.Progress
                    let rejects (bad: ResumePoint<'L>) (part: string) =
                        let e = Assert.Throws<ArgumentException>(fun () -> c.Make().Resume bad |> ignore)
                        Assert.Contains("cannot resume from this checkpoint", e.Message)
                        Assert.Contains(part, e.Message)
                    rejects { point with EnvironmentId = "Elsewhere-v3" } $"trained on Elsewhere-v3, not {t.EnvironmentId}"
                    rejects { point with ObservationSize = point.ObservationSize + 1 } $"observation {point.ObservationSize + 1}"
                    rejects { point with Mismatch = Some "it is from another planet" } "another planet"
                    rejects { point with Progress = null } "no training progress"
                    rejects { point with Replay = ReplayBuffer(500, point.ObservationSize, t.Algorithm.ReplayActionSize) } "BufferSize"
                    let tampered = TrainingProgress(p.TotalSteps, p.Episodes, p.EpisodeReturn + 1.0, p.EpisodeLength, p.Draws, p.LastMetrics)
                    rejects { point with Progress = tampered } "replaying the running episode"
                    let fewer = TrainingProgress(p.TotalSteps, p.Episodes, p.EpisodeReturn, p.EpisodeLength, p.Draws, [| 1.0f |])
                    rejects { point with Progress = fewer } $"reports {t.Algorithm.MetricCount}"
                    // The untouched checkpoint resumes.
                    Assert.Equal(k, c.Make().Resume(point).EnvSteps)) }

/// One algorithm's checkpoints with ELU and with ReLU hidden layers: ELU is in the header, and the file resumes under
/// ELU; ReLU, the default, leaves no activation key anywhere in the file (the header and the stored configuration are
/// what they were before the key existed); a trainer with another activation is refused, naming both.
let private ``the hidden activation travels with the checkpoint`` (make: Activation -> OffPolicyTrainer<'L, 'M>) (stored: string -> Activation) =
    withTempDir (fun dir ->
        let save (activation: Activation) =
            let t = make activation
            let s = t.RunTo(t.Start(), int64 t.Algorithm.Schedule.LearningStarts + 7L, []).State
            let path = Path.Combine(dir, $"{activation}.ckpt")
            t.Save(path, s, 1000L, true)
            path
        let elu, relu = save Activation.Elu, save Activation.Relu
        Assert.Equal(Activation.Elu, stored elu)
        Assert.Equal(Activation.Relu, stored relu)
        let metadata (path: string) (key: string) = (Checkpoint.ReadMetadata path).[key]
        Assert.Contains("\"activation\":\"Elu\"", metadata elu "header")
        Assert.Contains("\"activation\": \"Elu\"", metadata elu Checkpoint.ConfigMetadataKey)
        Assert.DoesNotContain("activation", Text.Encoding.Latin1.GetString(File.ReadAllBytes relu))
        let same = make Activation.Elu
        let point = same.Load elu
        Assert.Equal(None, point.Mismatch)
        Assert.Equal(point.EnvironmentSteps, same.Resume(point).EnvSteps)
        for other, path, theirs in [ Activation.Relu, elu, "Elu"; Activation.LeakyRelu, relu, "Relu" ] do
            let t = make other
            let point = t.Load path
            match point.Mismatch with
            | Some m ->
                Assert.Contains($"the {theirs} activation", m)
                Assert.Contains($"asks for {other}", m)
            | None -> failwith $"a {theirs} checkpoint was accepted by a {other} trainer"
            let e = Assert.Throws<ArgumentException>(fun () -> t.Resume point |> ignore)
            Assert.Contains("cannot resume from this checkpoint", e.Message)
            Assert.Contains("activation", e.Message))

let tests = testList "Resuming" [
    testList "saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run" [
        testCase "case: sac Pendulum-v1, k: 230L, total: 450L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac Pendulum-v1") 230L 450L
        testCase "case: sac PointGoal-v0, k: 173L, total: 400L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac PointGoal-v0") 173L 400L
        testCase "case: sac-v1 Pendulum-v1, k: 230L, total: 400L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac-v1 Pendulum-v1") 230L 400L
        testCase "case: sac gSDE Pendulum-v1, k: 230L, total: 450L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac gSDE Pendulum-v1") 230L 450L
        testCase "case: sac Pendulum-v1, normalized, k: 230L, total: 450L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac Pendulum-v1, normalized") 230L 450L
        testCase "case: sql MultiGoal-v0, rewards normalized, k: 97L, total: 180L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sql MultiGoal-v0, rewards normalized") 97L 180L
        testCase "case: dqn CartPole-v1, observations normalized, k: 337L, total: 600L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("dqn CartPole-v1, observations normalized") 337L 600L
        testCase "case: sql MultiGoal-v0, k: 97L, total: 180L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sql MultiGoal-v0") 97L 180L
        testCase "case: sql MultiGoal-v0, k: 23L, total: 150L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sql MultiGoal-v0") 23L 150L
        testCase "case: dqn CartPole-v1, k: 337L, total: 600L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("dqn CartPole-v1") 337L 600L
        testCase "case: double-dqn CartPole-v1, k: 263L, total: 600L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("double-dqn CartPole-v1") 263L 600L
        testCase "case: soft-dqn CartPole-v1, k: 71L, total: 600L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("soft-dqn CartPole-v1") 71L 600L
        testCase "case: sac Pendulum-v1, linear rates, k: 230L, total: 450L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac Pendulum-v1, linear rates") 230L 450L
        testCase "case: sql MultiGoal-v0, linear rates, k: 97L, total: 180L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sql MultiGoal-v0, linear rates") 97L 180L
        testCase "case: double-dqn CartPole-v1, linear rates, k: 263L, total: 600L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("double-dqn CartPole-v1, linear rates") 263L 600L
        testCase "case: sac Pendulum-v1, ELU, k: 230L, total: 450L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sac Pendulum-v1, ELU") 230L 450L
        testCase "case: sql MultiGoal-v0, LeakyReLU, k: 97L, total: 180L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("sql MultiGoal-v0, LeakyReLU") 97L 180L
        testCase "case: dqn CartPole-v1, ELU, k: 337L, total: 600L" <| fun () -> ``saving at step k and resuming in a fresh trainer gives exactly the uninterrupted run`` ("dqn CartPole-v1, ELU") 337L 600L
    ]
    testList "without the replay buffer a resumed run refills it before updating again" [
        testCase "case: sac Pendulum-v1, k: 120L" <| fun () -> ``without the replay buffer a resumed run refills it before updating again`` ("sac Pendulum-v1") 120L
        testCase "case: sql MultiGoal-v0, k: 75L" <| fun () -> ``without the replay buffer a resumed run refills it before updating again`` ("sql MultiGoal-v0") 75L
        testCase "case: dqn CartPole-v1, k: 150L" <| fun () -> ``without the replay buffer a resumed run refills it before updating again`` ("dqn CartPole-v1") 150L
    ]
    testList "resuming refuses a checkpoint that does not fit, naming what differs" [
        testCase "case: sac Pendulum-v1" <| fun () -> ``resuming refuses a checkpoint that does not fit, naming what differs`` ("sac Pendulum-v1")
        testCase "case: sac-v1 Pendulum-v1" <| fun () -> ``resuming refuses a checkpoint that does not fit, naming what differs`` ("sac-v1 Pendulum-v1")
        testCase "case: sql MultiGoal-v0" <| fun () -> ``resuming refuses a checkpoint that does not fit, naming what differs`` ("sql MultiGoal-v0")
        testCase "case: soft-dqn CartPole-v1" <| fun () -> ``resuming refuses a checkpoint that does not fit, naming what differs`` ("soft-dqn CartPole-v1")
    ]
    testList "the hidden activation travels with the checkpoint: stored when not ReLU, absent for ReLU, refused when it differs" [
        testCase "sac Pendulum-v1" <| fun () ->
            ``the hidden activation travels with the checkpoint``
                (fun a -> new Trainer("Pendulum-v1", sacConfigWith a SacVariant.V2 LearningRateSchedule.Constant, gemm) :> OffPolicyTrainer<_, _>)
                (fun path -> (Checkpoint.LoadTraining path).Header.ResolvedActivation)
        testCase "sql MultiGoal-v0" <| fun () ->
            ``the hidden activation travels with the checkpoint``
                (fun a -> SqlTrainer("MultiGoal-v0", sqlConfigWith a LearningRateSchedule.Constant, gemm) :> OffPolicyTrainer<_, _>)
                (fun path -> (SqlCheckpoint.LoadTraining path).Header.ResolvedActivation)
        testCase "dqn CartPole-v1" <| fun () ->
            ``the hidden activation travels with the checkpoint``
                (fun a -> DqnTrainer("CartPole-v1", dqnConfigWith a DqnVariant.Dqn LearningRateSchedule.Constant, gemm) :> OffPolicyTrainer<_, _>)
                (fun path -> (DqnCheckpoint.LoadTraining path).Header.ResolvedActivation)
    ]
]
