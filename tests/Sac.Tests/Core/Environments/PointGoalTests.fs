/// PointGoal-v0: its dynamics and reward, and a random policy against one moving straight to the goal.
module PointGoalTests

open System
open Xunit
open Expecto
open Sac.Core.Random
open Sac.Core.Environments
open EnvironmentsKit

/// Mean return over `episodes` episodes of PointGoal-v0 through Make, with actions from `policy obs t action`.
let private pointGoalReturns (episodes: int) (policy: float32[] -> int -> float32[] -> unit) =
    let env = EnvironmentRegistry.Make "PointGoal-v0"
    let obs = obsFor env
    let action = Array.zeroCreate<float32> 2
    let mutable total = 0.0
    let mutable reached = 0
    let mutable steps = 0
    for e in 0 .. episodes - 1 do
        reset env (Some(uint64 e)) obs
        let mutable r = StepResult()
        while not r.Done do
            policy obs steps action
            r <- step env action obs
            total <- total + float r.Reward
            steps <- steps + 1
        if r.Terminated then reached <- reached + 1
    total / float episodes, float reached / float episodes

let ``PointGoal random policy scores clearly worse than moving straight to the goal`` = testCase "PointGoal random policy scores clearly worse than moving straight to the goal" <| fun () ->
    let key = PhiloxKey.FromSeed 2024UL
    let randomMean, randomReached = pointGoalReturns 1000 (fun _ t a -> fillAction key t a)
    let straight (obs: float32[]) _ (a: float32[]) =
        a.[0] <- Math.Clamp(10.0f * obs.[2], -1.0f, 1.0f)
        a.[1] <- Math.Clamp(10.0f * obs.[3], -1.0f, 1.0f)
    let straightMean, straightReached = pointGoalReturns 1000 straight
    Console.WriteLine(sprintf "PointGoal-v0 over 1000 episodes: random %.3f (reached %.1f%%), straight %.3f (reached %.1f%%)"
                          randomMean (100.0 * randomReached) straightMean (100.0 * straightReached))
    Assert.True(randomMean < -25.0, sprintf "random policy mean return %.3f" randomMean)
    Assert.True(straightMean > -5.0, sprintf "straight policy mean return %.3f" straightMean)
    Assert.Equal(1.0, straightReached)

let ``PointGoal step follows its documented dynamics and reward`` = testCase "PointGoal step follows its documented dynamics and reward" <| fun () ->
    let env = PointGoal()
    let obs = Array.zeroCreate<float32> 4
    env.SetState(0.5, -0.95, Span obs)
    Assert.Equal<float32[]>([| 0.5f; -0.95f; -0.5f; 0.95f |], obs)
    let r = step env [| -0.5f; -2.0f |] obs
    near "x" 1e-15 0.45 env.X
    near "y" 0.0 -1.0 env.Y // clipped to the arena
    near "reward" 1e-6 (-(sqrt (0.45 * 0.45 + 1.0)) - 0.01 * (0.25 + 1.0)) (float r.Reward)
    Assert.False(r.Terminated)
    env.SetState(0.0, 0.18, Span obs)
    let r = step env [| 0.0f; -1.0f |] obs
    Assert.True(r.Terminated)
    near "terminal reward" 1e-6 (-0.08 - 0.01 + 1.0) (float r.Reward)
    // Resets start outside the goal radius and inside the arena.
    for s in 0UL .. 199UL do
        env.Reset(Nullable s, Span obs)
        Assert.True(sqrt (env.X * env.X + env.Y * env.Y) > PointGoal.GoalRadius)
        Assert.True(env.ObservationSpace.Contains(ReadOnlySpan obs))

let tests = testList "PointGoal" [
    ``PointGoal random policy scores clearly worse than moving straight to the goal``
    ``PointGoal step follows its documented dynamics and reward``
]
