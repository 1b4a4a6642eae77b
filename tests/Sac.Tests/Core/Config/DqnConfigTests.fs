/// DqnConfig: RL Zoo's CartPole-v1 defaults, a check naming every bad field, and a trainer refusing continuous actions.
module DqnConfigTests

open System
open Xunit
open Expecto
open Sac.Core.Config
open Sac.Fs
open DqnKit

let ``DqnConfig defaults are RL Zoo's CartPole-v1 entry and every bad field is named`` = testCase "DqnConfig defaults are RL Zoo's CartPole-v1 entry and every bad field is named" <| fun () ->
    let c = DqnConfig()
    Assert.Equal(2.3e-3f, c.LearningRate)
    Assert.Equal(64, c.BatchSize)
    Assert.Equal(100_000, c.BufferSize)
    Assert.Equal(1000, c.LearningStarts)
    Assert.Equal(0.99f, c.Gamma)
    Assert.Equal(10, c.TargetUpdateInterval)
    Assert.Equal(256, c.TrainFrequency)
    Assert.Equal(128, c.GradientSteps)
    Assert.Equal(0.16f, c.ExplorationFraction)
    Assert.Equal(1.0f, c.ExplorationInitialEps)
    Assert.Equal(0.04f, c.ExplorationFinalEps)
    Assert.Equal<int seq>([ 256; 256 ], c.HiddenSizes)
    Assert.Equal(Nullable 10.0f, c.MaxGradNorm)
    Assert.Equal(TdLoss.Huber, c.Loss)
    Assert.Equal(1.0f, c.Tau)
    Assert.Equal(DqnVariant.Dqn, c.Variant)
    Assert.Empty(c.Validate())
    Assert.Equal(c, DqnConfig(HiddenSizes = [| 256; 256 |]))
    for (name, make) in
        [ "LearningRate", (fun () -> DqnConfig(LearningRate = 0.0f))
          "BatchSize", (fun () -> DqnConfig(BatchSize = 0))
          "Gamma", (fun () -> DqnConfig(Gamma = 1.5f))
          "ExplorationFinalEps", (fun () -> DqnConfig(ExplorationFinalEps = -0.1f))
          "TotalTimesteps", (fun () -> DqnConfig(TotalTimesteps = 0L))
          "HiddenSizes", (fun () -> DqnConfig(HiddenSizes = [||]))
          "Temperature", (fun () -> DqnConfig(Temperature = nanf))
          "Tau", (fun () -> DqnConfig(Tau = 0.0f))
          "Variant", (fun () -> DqnConfig(Variant = enum<DqnVariant> 7)) ] do
        let ex = Assert.Throws<ArgumentException>(fun () -> make () |> ignore)
        Assert.Equal(name, ex.ParamName)
    let problems = DqnConfig(BatchSize = 500, BufferSize = 100).Validate()
    Assert.Single(problems) |> ignore
    Assert.Contains("BatchSize", problems.[0])
    Assert.Throws<ArgumentException>(fun () -> DqnConfig(BatchSize = 500, BufferSize = 100).ThrowIfInvalid() |> ignore) |> ignore
    let ex = Assert.Throws<ArgumentException>(fun () -> DqnTrainer("Pendulum-v1", DqnConfig(), gemm) |> ignore)
    Assert.Contains("Pendulum-v1", ex.Message)

let tests = testList "DqnConfig" [
    ``DqnConfig defaults are RL Zoo's CartPole-v1 entry and every bad field is named``
]
