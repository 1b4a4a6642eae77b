/// The agent API: create, learn, save, load from the checkpoint alone, predict (one, batch, stochastic), evaluate.
module SacAgentTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs

let private config = SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0)

let private observations (rows: int) (size: int) (seed: uint64) =
    let x = Array.zeroCreate<float32> (rows * size)
    Philox.FillNormal(PhiloxKey.FromSeed seed, 0UL, Span x)
    x

let private temp () = Path.Combine(Path.GetTempPath(), $"sac-agent-{Guid.NewGuid():N}.ckpt")

let ``an agent saved and loaded from the checkpoint alone predicts, evaluates and learns on exactly as before`` = testCase "an agent saved and loaded from the checkpoint alone predicts, evaluates and learns on exactly as before" <| fun () ->
    let path = temp ()
    try
        use agent = SacAgent.Create("Pendulum-v1", config)
        agent.Learn(300L) |> ignore
        Assert.Equal(300L, agent.Steps)
        agent.Save path
        use loaded = SacAgent.Load path
        Assert.Equal("Pendulum-v1", loaded.EnvironmentId)
        Assert.Equal(config, loaded.Config)
        Assert.Equal(300L, loaded.Steps)
        let obs = observations 20 3 9UL
        Assert.Equal<float32[]>(agent.PredictBatch(obs, 20), loaded.PredictBatch(obs, 20))
        Assert.Equal<float[]>((agent.Evaluate(2, 5UL)).Returns, (loaded.Evaluate(2, 5UL)).Returns)
        // Learning on continues (without the replay buffer it refills before updating, as a resumed run does).
        loaded.Learn(200L) |> ignore
        Assert.Equal(500L, loaded.Steps)
        Assert.Contains("\"hiddenSizes\"", (Checkpoint.ReadMetadata path).[Checkpoint.ConfigMetadataKey])
    finally
        File.Delete path

let ``predictions are in the environment's bounds: the rescaled mean action, or a seeded draw`` = testCase "predictions are in the environment's bounds: the rescaled mean action, or a seeded draw" <| fun () ->
    use agent = SacAgent.Create("Pendulum-v1", config)
    agent.Learn(100L) |> ignore
    let obs = observations 50 3 3UL
    let actions = agent.PredictBatch(obs, 50)
    Assert.All(actions, fun a -> Assert.InRange(a, -2.0f, 2.0f))
    // The deterministic action is 2 tanh(mu), Pendulum's [-2, 2] rescaling of the policy's [-1, 1].
    let unit = Array.zeroCreate<float32> 1
    let ctx = SacContext(config, 3, 1, new Sac.Core.Compute.ManagedGemm(1))
    Policy.act ctx (PolicyWorkspace ctx.Networks) agent.State.Learner.Actor Deterministic (ReadOnlySpan(obs, 0, 3)) (Span unit)
    Assert.Equal(2.0f * unit.[0], actions.[0], 6)
    // Stochastic: the same seed the same draw, other seeds other draws; batches equal row-wise predictions.
    let one = obs.[0 .. 2]
    Assert.Equal<float32[]>(agent.Predict(one, false, 7UL), agent.Predict(one, false, 7UL))
    Assert.NotEqual<float32[]>(agent.Predict(one, false, 7UL), agent.Predict(one, false, 8UL))
    let batch = agent.PredictBatch(obs, 50, false, 100UL)
    Assert.Equal<float32[]>(agent.Predict(obs.[3 .. 5], false, 101UL), batch.[1 .. 1])
    Assert.Throws<ArgumentException>(fun () -> agent.PredictBatch(obs, 49) |> ignore) |> ignore

/// A 1-D point steered toward 0, for Create(factory).
type private Steer() =
    let mutable x = 0.0
    interface IEnvironment with
        member _.Id = "SteerAgent-v0"
        member _.ObservationSpace = Box.Uniform(1, -3f, 3f)
        member _.ActionSpace = Box.Uniform(1, -0.5f, 0.5f)
        member _.MaxEpisodeSteps = Nullable 30
        member _.Reset(seed, observation) =
            x <- (if seed.HasValue then float (seed.Value % 5UL) - 2.0 else 1.0)
            observation.[0] <- float32 x
        member _.Step(action, observation) =
            x <- Math.Clamp(x + float action.[0], -3.0, 3.0)
            observation.[0] <- float32 x
            StepResult(float32 -(abs x), false, false)

let ``an agent made from your own environment class registers it and evaluates on an instance`` = testCase "an agent made from your own environment class registers it and evaluates on an instance" <| fun () ->
    use agent = SacAgent.Create((fun () -> Steer() :> IEnvironment), config)
    Assert.Equal("SteerAgent-v0", agent.EnvironmentId)
    Assert.Contains("SteerAgent-v0", EnvironmentRegistry.Ids)
    agent.Learn(200L) |> ignore
    Assert.All(agent.PredictBatch(observations 10 1 2UL, 10), fun a -> Assert.InRange(a, -0.5f, 0.5f))
    let limited = TimeLimit(Steer(), 30)
    let result = agent.Evaluate(limited, 3, 0UL)
    Assert.Equal(3, result.Returns.Length)
    Assert.Throws<ArgumentException>(fun () -> agent.Evaluate(Pendulum(), 1, 0UL) |> ignore) |> ignore

let ``Load refuses checkpoints without a configuration or of another algorithm`` = testCase "Load refuses checkpoints without a configuration or of another algorithm" <| fun () ->
    let path = temp ()
    try
        use agent = SacAgent.Create("Pendulum-v1", config)
        let struct (header, learner, _) =
            agent.Save path
            Checkpoint.Load path
        // A bare learner checkpoint (Checkpoint.Save without metadata) holds no configuration.
        Checkpoint.Save(path, header, learner)
        let e = Assert.Throws<CheckpointException>(fun () -> SacAgent.Load path |> ignore)
        Assert.Contains("no configuration", e.Message)
        Assert.Throws<CheckpointException>(fun () -> SacAgent.Load(path + ".missing") |> ignore) |> ignore
    finally
        File.Delete path

let ``every trainer's checkpoint holds its resolved configuration and environment in the metadata`` = testCase "every trainer's checkpoint holds its resolved configuration and environment in the metadata" <| fun () ->
    let path = temp ()
    try
        use gemm = new Sac.Core.Compute.ManagedGemm(1)
        let sql = SqlConfig(Seed = 3UL, HiddenSizes = [| 8 |], SamplerHiddenSizes = [| 8 |], LearningStarts = 20, EvalInterval = 0)
        let trainer = SqlTrainer("MultiGoal-v0", sql, gemm)
        trainer.Save(path, (trainer.RunTo(trainer.Start(), 40L, [])).State, 40L, false)
        let m = Checkpoint.ReadMetadata path
        Assert.Equal("MultiGoal-v0", m.["environment_id"])
        Assert.Equal(sql, Sac.Core.Runs.ConfigJson.Deserialize<SqlConfig>(m.[Checkpoint.ConfigMetadataKey], path))
        let dqn = DqnConfig(Seed = 4UL, HiddenSizes = [| 8 |], LearningStarts = 20, BatchSize = 8, EvalInterval = 0)
        let trainer = DqnTrainer("CartPole-v1", dqn, gemm)
        trainer.Save(path, (trainer.RunTo(trainer.Start(), 40L, [])).State, 40L, false)
        let m = Checkpoint.ReadMetadata path
        Assert.Equal("dqn", m.["algorithm"])
        Assert.Equal(dqn, Sac.Core.Runs.ConfigJson.Deserialize<DqnConfig>(m.[Checkpoint.ConfigMetadataKey], path))
    finally
        File.Delete path

let ``Soft Q-Learning and DQN agents save, load from the checkpoint alone and predict exactly as before`` = testCase "Soft Q-Learning and DQN agents save, load from the checkpoint alone and predict exactly as before" <| fun () ->
    let path = temp ()
    try
        let sqlConfig = SqlConfig(Seed = 3UL, HiddenSizes = [| 16 |], SamplerHiddenSizes = [| 16 |], BatchSize = 16, ValueParticles = 4,
                                  KernelParticles = 4, LearningStarts = 40, EvalInterval = 0)
        use sql = SqlAgent.Create("Pendulum-v1", sqlConfig)
        sql.Learn(120L) |> ignore
        sql.Save path
        use loadedSql = SqlAgent.Load path
        let obs = observations 10 3 9UL
        Assert.Equal<float32[]>(sql.PredictBatch(obs, 10, false, 5UL), loadedSql.PredictBatch(obs, 10, false, 5UL))
        // Actions come back in Pendulum's own bounds, [-2, 2].
        Assert.All(sql.PredictBatch(obs, 10, false, 5UL), fun a -> Assert.InRange(a, -2.0f, 2.0f))
        Assert.Equal(120L, loadedSql.Steps)
        // Loading by algorithm, and refusing the wrong kind.
        use any = Agents.Load path
        Assert.Equal("sql", any.Algorithm)
        Assert.Contains("not sac", Assert.Throws<CheckpointException>(fun () -> SacAgent.Load path |> ignore).Message)

        let dqnConfig = DqnConfig(Seed = 3UL, HiddenSizes = [| 16 |], BatchSize = 16, LearningStarts = 50, EvalInterval = 0,
                                  Variant = DqnVariant.SoftDqn, Temperature = 0.5f)
        use dqn = DqnAgent.Create("CartPole-v1", dqnConfig)
        dqn.Learn(150L) |> ignore
        dqn.Save path
        use loadedDqn = DqnAgent.Load path
        let obs = observations 20 4 11UL
        let greedy = loadedDqn.PredictBatch(obs, 20)
        Assert.Equal<float32[]>(dqn.PredictBatch(obs, 20), greedy)
        Assert.All(greedy, fun a -> Assert.True(a = 0.0f || a = 1.0f, $"action index {a}"))
        // Greedy is the argmax of the Q-network; a stochastic draw is seeded.
        let t = loadedDqn.Trainer :?> DqnTrainer
        for i in 0 .. 19 do
            let q = Sac.Core.Networks.MlpWorkspace(t.Context.Spec, 1)
            Assert.Equal(float32 (Dqn.act t.Context q loadedDqn.State.Learner.QNetwork Greedy (ReadOnlySpan(obs, 4 * i, 4))), greedy.[i])
        Assert.Equal<float32[]>(loadedDqn.Predict(obs.[0 .. 3], false, 8UL), dqn.Predict(obs.[0 .. 3], false, 8UL))
        use any = Agents.Load path
        Assert.Equal("soft-dqn", any.Algorithm)
        Assert.Equal<float[]>(dqn.Evaluate(2, 1UL).Returns, any.EvaluateEpisodes(2, 1UL).Returns)
    finally
        File.Delete path

let ``agents with ELU, LeakyReLU or tanh hidden layers load with that activation and predict exactly as before`` = testCase "agents with ELU, LeakyReLU or tanh hidden layers load with that activation and predict exactly as before" <| fun () ->
    let path = temp ()
    try
        let obs = observations 20 3 9UL
        use sac = SacAgent.Create("Pendulum-v1", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, Activation = Activation.Elu))
        sac.Learn(150L) |> ignore
        sac.Save path
        use loaded = SacAgent.Load path
        Assert.Equal(Activation.Elu, loaded.Config.Activation)
        Assert.Equal(Activation.Elu, (loaded.Trainer :?> Trainer).Context.Networks.Actor.Hidden)
        Assert.Equal<float32[]>(sac.PredictBatch(obs, 20), loaded.PredictBatch(obs, 20))
        let struct (header, _, _) = Checkpoint.Load path
        Assert.Equal(Activation.Elu, header.ResolvedActivation)

        use sql = SqlAgent.Create("Pendulum-v1", SqlConfig(Seed = 3UL, HiddenSizes = [| 16 |], SamplerHiddenSizes = [| 16 |], BatchSize = 16, ValueParticles = 4,
                                                           KernelParticles = 4, LearningStarts = 40, EvalInterval = 0, Activation = Activation.LeakyRelu))
        sql.Learn(80L) |> ignore
        sql.Save path
        use loadedSql = SqlAgent.Load path
        Assert.Equal(Activation.LeakyRelu, loadedSql.Config.Activation)
        Assert.Equal<float32[]>(sql.PredictBatch(obs, 20, false, 5UL), loadedSql.PredictBatch(obs, 20, false, 5UL))

        use dqn = DqnAgent.Create("CartPole-v1", DqnConfig(Seed = 3UL, HiddenSizes = [| 16 |], BatchSize = 16, LearningStarts = 50, EvalInterval = 0, Activation = Activation.Tanh))
        dqn.Learn(100L) |> ignore
        dqn.Save path
        use loadedDqn = DqnAgent.Load path
        Assert.Equal(Activation.Tanh, loadedDqn.Config.Activation)
        Assert.Equal(Activation.Tanh, (loadedDqn.Trainer :?> DqnTrainer).Context.Spec.Hidden)
        let states = observations 20 4 11UL
        Assert.Equal<float32[]>(dqn.PredictBatch(states, 20, false, 8UL), loadedDqn.PredictBatch(states, 20, false, 8UL))
    finally
        File.Delete path

let tests = testList "Agents" [
    ``an agent saved and loaded from the checkpoint alone predicts, evaluates and learns on exactly as before``
    ``predictions are in the environment's bounds: the rescaled mean action, or a seeded draw``
    ``an agent made from your own environment class registers it and evaluates on an instance``
    ``Load refuses checkpoints without a configuration or of another algorithm``
    ``every trainer's checkpoint holds its resolved configuration and environment in the metadata``
    ``Soft Q-Learning and DQN agents save, load from the checkpoint alone and predict exactly as before``
    ``agents with ELU, LeakyReLU or tanh hidden layers load with that activation and predict exactly as before``
]
