/// SqlConfig: the reference MultiGoal defaults and a check naming every bad field, alone and between fields.
module SqlConfigTests

open System
open Xunit
open Expecto
open Sac.Core.Config
open Sac.Fs
open SqlKit

let ``SqlConfig has the reference MultiGoal defaults and validates every field by name`` = testCase "SqlConfig has the reference MultiGoal defaults and validates every field by name" <| fun () ->
    let c = SqlConfig()
    Assert.Empty(c.Validate())
    Assert.Equal(3e-4f, c.QLearningRate)
    Assert.Equal(64, c.BatchSize)
    Assert.Equal(16, c.ValueParticles)
    Assert.Equal(32, c.KernelParticles)
    Assert.Equal(16, c.FixedParticles)
    Assert.Equal(16, c.UpdatedParticles)
    Assert.Equal(0.1f, c.RewardScale)
    Assert.Equal(1000, c.TargetUpdateInterval)
    Assert.Equal<int seq>([ 128; 128 ], c.HiddenSizes)
    let bad (f: unit -> SqlConfig) (field: string) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Contains(field, ex.Message)
    bad (fun () -> SqlConfig(QLearningRate = 0.0f)) "QLearningRate"
    bad (fun () -> SqlConfig(SamplerLearningRate = nanf)) "SamplerLearningRate"
    bad (fun () -> SqlConfig(Alpha = -1.0f)) "Alpha"
    bad (fun () -> SqlConfig(RewardScale = infinityf)) "RewardScale"
    bad (fun () -> SqlConfig(Tau = 0.0f)) "Tau"
    bad (fun () -> SqlConfig(ValueParticles = 0)) "ValueParticles"
    bad (fun () -> SqlConfig(KernelParticles = 1)) "KernelParticles"
    bad (fun () -> SqlConfig(KernelUpdateRatio = 1.0f)) "KernelUpdateRatio"
    bad (fun () -> SqlConfig(SamplerHiddenSizes = [||])) "SamplerHiddenSizes"
    bad (fun () -> SqlConfig(Gamma = 1.5f)) "Gamma"
    // Rules between fields: reported all at once by Validate, thrown by ThrowIfInvalid and by the context.
    let c = SqlConfig(BatchSize = 200, BufferSize = 100, KernelParticles = 3, KernelUpdateRatio = 0.2f)
    let problems = c.Validate()
    Assert.Equal(2, problems.Count)
    Assert.Contains("BatchSize", problems.[0])
    Assert.Contains("KernelUpdateRatio", problems.[1])
    Assert.ThrowsAny<ArgumentException>(fun () -> SqlContext(c, 2, 2, gemm) |> ignore) |> ignore
    Assert.Equal(SqlConfig(HiddenSizes = [| 4; 4 |]), SqlConfig(HiddenSizes = [| 4; 4 |]))

let tests = testList "SqlConfig" [
    ``SqlConfig has the reference MultiGoal defaults and validates every field by name``
]
