/// The learning-rate schedule through each algorithm's update and through the engine: a factor f is every optimizer at
/// f times its rate, and a linear run's last update moves no parameter.
module LearningRateTests

open System
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Runs
open Sac.Fs

let private gemm = ReferenceGemm.Instance :> IGemm
let private batch rows o a seed = Sac.Cli.DeviceCheck.randomBatch rows o a seed

/// The arrays after `run` at factor 0.5 equal those after `runHalved` (the same algorithm with every rate halved) at factor 1.
let private sameAsHalvedRates (run: float32 -> float32[] list) (runHalved: float32 -> float32[] list) =
    let atFactor = run 0.5f
    let atHalfRates = runHalved 1.0f
    Assert.Equal(atHalfRates.Length, atFactor.Length)
    for x, y in List.zip atHalfRates atFactor do Assert.Equal<float32[]>(x, y)

let ``SAC at factor 0.5 is SAC with every learning rate halved (v2 and v1)`` = testCase "SAC at factor 0.5 is SAC with every learning rate halved (v2 and v1)" <| fun () ->
    for variant in [ SacVariant.V2; SacVariant.V1 ] do
        let cfg (lr: float32) = SacConfig(HiddenSizes = [| 8 |], BatchSize = 6, BufferSize = 10, Variant = variant,
                                          ActorLearningRate = lr, CriticLearningRate = lr, AlphaLearningRate = lr)
        let run (lr: float32) (factor: float32) =
            let ctx = SacContext(cfg lr, 3, 2, gemm)
            let mutable s = Sac.init ctx 4UL
            for k in 0 .. 2 do
                let struct (next, _) = Sac.updateWith ctx factor (batch 6 3 2 (uint64 k)) s
                s <- next
            [ s.Actor; s.Critic; s.TargetCritic; [| s.LogAlpha |] ] @ (match s.Value with null -> [] | v -> [ v ])
        sameAsHalvedRates (run 1e-3f) (run 5e-4f)

let ``Soft Q-Learning at factor 0.5 is Soft Q-Learning with both learning rates halved`` = testCase "Soft Q-Learning at factor 0.5 is Soft Q-Learning with both learning rates halved" <| fun () ->
    let cfg (lr: float32) =
        SqlConfig(HiddenSizes = [| 8 |], SamplerHiddenSizes = [| 8 |], BatchSize = 5, BufferSize = 100, ValueParticles = 4,
                  KernelParticles = 6, QLearningRate = lr, SamplerLearningRate = lr)
    let run (lr: float32) (factor: float32) =
        let ctx = SqlContext(cfg lr, 2, 2, gemm)
        let mutable s = SoftQLearning.init ctx 4UL
        for k in 0 .. 2 do
            let struct (next, _) = SoftQLearning.updateWith ctx factor (batch 5 2 2 (uint64 k)) s
            s <- next
        [ s.Q; s.TargetQ; s.Sampler ]
    sameAsHalvedRates (run 1e-3f) (run 5e-4f)

let ``the DQN family at factor 0.5 is the DQN family with the learning rate halved`` = testCase "the DQN family at factor 0.5 is the DQN family with the learning rate halved" <| fun () ->
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let run (lr: float32) (factor: float32) =
            let ctx = DqnContext(DqnConfig(HiddenSizes = [| 8 |], BatchSize = 6, BufferSize = 10, LearningRate = lr, Variant = variant), 4, 3, gemm)
            let mutable s = Dqn.init ctx 4UL
            for k in 0 .. 2 do
                let b = batch 6 4 1 (uint64 k)
                for i in 0 .. 5 do b.Actions.[i] <- float32 ((i + k) % 3)
                let struct (next, _) = Dqn.updateWith ctx factor b s
                s <- next
            [ s.QNetwork ]
        sameAsHalvedRates (run 2e-3f) (run 1e-3f)

let ``a factor outside [0, 1] is refused by every algorithm`` = testCase "a factor outside [0, 1] is refused by every algorithm" <| fun () ->
    let sac = SacContext(SacConfig(HiddenSizes = [| 8 |], BatchSize = 6, BufferSize = 10), 3, 2, gemm)
    Assert.Throws<ArgumentException>(fun () -> Sac.updateWith sac 1.5f (batch 6 3 2 1UL) (Sac.init sac 1UL) |> ignore) |> ignore
    let dqn = DqnContext(DqnConfig(HiddenSizes = [| 8 |], BatchSize = 6, BufferSize = 10), 4, 3, gemm)
    Assert.Throws<ArgumentException>(fun () -> Dqn.updateWith dqn -0.1f (batch 6 4 1 1UL) (Dqn.init dqn 1UL) |> ignore) |> ignore

let ``a linear run's last update moves no online parameter, and a linear run differs from a constant one`` = testCase "a linear run's last update moves no online parameter, and a linear run differs from a constant one" <| fun () ->
    let cfg schedule =
        SacConfig(HiddenSizes = [| 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, EvalInterval = 0,
                  Seed = 3UL, LearningRateSchedule = schedule)
    let total = 120L
    use linear = new Trainer("Pendulum-v1", cfg LearningRateSchedule.Linear, gemm)
    let before = linear.RunTo(linear.Start(), total - 1L, []).State
    let actor, critic = Array.copy before.Learner.Actor, Array.copy before.Learner.Critic
    linear.RunLength <- total
    let struct (last, _) = linear.Step before
    Assert.Equal(total, last.EnvSteps)
    Assert.True(last.Learner.Step > before.Learner.Step, "the last step updates")
    Assert.Equal<float32[]>(actor, last.Learner.Actor)
    Assert.Equal<float32[]>(critic, last.Learner.Critic)
    use constant = new Trainer("Pendulum-v1", cfg LearningRateSchedule.Constant, gemm)
    let c = constant.RunTo(constant.Start(), total, []).State
    Assert.NotEqual<float32[]>(c.Learner.Actor, last.Learner.Actor)

let ``sac train takes RL Zoo's lin_ rates over the preset and records the linear schedule in config.json`` = testCase "sac train takes RL Zoo's lin_ rates over the preset and records the linear schedule in config.json" <| fun () ->
    TrainingKit.withTempDir (fun dir ->
        let config = IO.Path.Combine(dir, "lin.json")
        IO.File.WriteAllText(config, """{ "actorLearningRate": "lin_7.3e-4", "learningStarts": 50, "hiddenSizes": [16] }""")
        let out = IO.Path.Combine(dir, "run")
        Assert.Equal(0, Sac.Cli.Program.main [| "train"; "--env"; "Pendulum-v1"; "--steps"; "120"; "--config"; config; "--out"; out; "--quiet" |])
        let stored = ConfigJson.DeserializeRun(IO.File.ReadAllText(IO.Path.Combine(out, "config.json")), "config.json").Config
        Assert.Equal((7.3e-4f, LearningRateSchedule.Linear), (stored.ActorLearningRate, stored.LearningRateSchedule))
        // A lin_ value that is no number is a usage error naming the file and the key.
        IO.File.WriteAllText(config, """{ "criticLearningRate": "lin_soon" }""")
        Assert.Equal(2, Sac.Cli.Program.main [| "train"; "--env"; "Pendulum-v1"; "--steps"; "120"; "--config"; config; "--out"; out + "2"; "--quiet" |]))

let tests = testList "LearningRate" [
    ``SAC at factor 0.5 is SAC with every learning rate halved (v2 and v1)``
    ``Soft Q-Learning at factor 0.5 is Soft Q-Learning with both learning rates halved``
    ``the DQN family at factor 0.5 is the DQN family with the learning rate halved``
    ``a factor outside [0, 1] is refused by every algorithm``
    ``a linear run's last update moves no online parameter, and a linear run differs from a constant one``
    ``sac train takes RL Zoo's lin_ rates over the preset and records the linear schedule in config.json``
]
