/// Rollout.run: per-goal counts on MultiGoal, none on other environments.
module RolloutTests

open Xunit
open Expecto
open Sac.Core.Environments
open Sac.Fs

let ``goal evaluation counts nothing on other environments`` = testCase "goal evaluation counts nothing on other environments" <| fun () ->
    let env = RescaleAction(EnvironmentRegistry.Make "PointGoal-v0")
    let r = Rollout.run env 3 0UL (RolloutPolicy(fun _ _ a -> a.[0] <- 0.0f; a.[1] <- 0.0f))
    Assert.Empty(r.Goals)
    Assert.Equal(3, r.Returns.Length)
    let mg = RescaleAction(EnvironmentRegistry.Make "MultiGoal-v0")
    let r = Rollout.run mg 4 0UL (RolloutPolicy(fun _ _ a -> a.[0] <- 0.0f; a.[1] <- -1.0f))
    Assert.Equal<int[]>([| 0; 0; 0; 4 |], r.Goals)

let tests = testList "Rollout" [
    ``goal evaluation counts nothing on other environments``
]
