/// MultiGoal-v0: its dynamics and reward, the four goals, seeding, finding it through wrappers, reference policies and allocation.
module MultiGoalTests

open System
open Xunit
open Expecto
open Sac.Core.Random
open Sac.Core.Environments
open EnvironmentsKit

let ``MultiGoal step follows the reference dynamics and reward`` = testCase "MultiGoal step follows the reference dynamics and reward" <| fun () ->
    let env = MultiGoal()
    let obs = Array.zeroCreate<float32> 2
    // Not terminal: p' = (1, 0.5); nearest goal (5, 0) at squared distance 16.25; r = -30 * 1.25 - 16.25.
    env.SetState(0.0, 0.0, Span obs)
    let r = step env [| 1.0f; 0.5f |] obs
    Assert.Equal<float32[]>([| 1.0f; 0.5f |], obs)
    near "reward" 1e-4 -53.75 (float r.Reward)
    Assert.False(r.Terminated || r.Truncated)
    Assert.False(env.ReachedGoal.HasValue)
    // Clipped action (0.5, -2) -> (0.5, -1): p' = (4.7, -0.7), |p' - (5, 0)| = sqrt 0.58 < 1: terminal at goal 0.
    env.SetState(4.2, 0.3, Span obs)
    let r = step env [| 0.5f; -2.0f |] obs
    near "x" 1e-12 4.7 env.X
    near "y" 1e-12 -0.7 env.Y
    near "terminal reward" 1e-4 (-30.0 * 1.25 - 0.58 + 10.0) (float r.Reward)
    Assert.True(r.Terminated)
    Assert.Equal(Nullable 0, env.ReachedGoal)
    // The arena clips positions to [-7, 7].
    env.SetState(6.8, 0.0, Span obs)
    let r = step env [| 1.0f; 0.0f |] obs
    near "clipped x" 0.0 7.0 env.X
    near "clipped reward" 1e-4 (-30.0 - 4.0) (float r.Reward)
    // The threshold is strict: ending exactly at distance 1 does not terminate.
    env.SetState(3.0, 0.0, Span obs)
    let r = step env [| 1.0f; 0.0f |] obs
    Assert.False(r.Terminated)
    near "reward at distance 1" 1e-4 (-30.0 - 1.0) (float r.Reward)

let ``MultiGoal detects each of its four goals`` = testCase "MultiGoal detects each of its four goals" <| fun () ->
    let env = MultiGoal()
    let obs = Array.zeroCreate<float32> 2
    Assert.Equal(4, MultiGoal.GoalCount)
    for g in 0 .. MultiGoal.GoalCount - 1 do
        let struct (gx, gy) = MultiGoal.Goal g
        Assert.Equal(5.0, sqrt (gx * gx + gy * gy))
        // Start 1.4 short of the goal on the ray from the origin, move 1 toward it: 0.4 away.
        env.SetState(gx * 0.72, gy * 0.72, Span obs)
        let r = step env [| float32 (gx / 5.0); float32 (gy / 5.0) |] obs
        Assert.True(r.Terminated, sprintf "goal %d" g)
        Assert.Equal(Nullable g, env.ReachedGoal)
        near (sprintf "goal %d reward" g) 1e-4 (-30.0 - 0.16 + 10.0) (float r.Reward)
        // A reset forgets the goal.
        env.Reset(Nullable 1UL, Span obs)
        Assert.False(env.ReachedGoal.HasValue)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> MultiGoal.Goal 4 |> ignore) |> ignore

let ``MultiGoal starts near the origin, is deterministic by seed, and is found through wrappers`` = testCase "MultiGoal starts near the origin, is deterministic by seed, and is found through wrappers" <| fun () ->
    let run seed =
        let env = RescaleAction(EnvironmentRegistry.Make "MultiGoal-v0")
        let obs = Array.zeroCreate<float32> 2
        env.Reset(Nullable seed, Span obs)
        let key = PhiloxKey.FromSeed 9UL
        [ yield Array.copy obs
          for t in 0 .. 40 do
              let a = [| 2.0f * Philox.Uniform(key, uint64 (2 * t)) - 1.0f; 2.0f * Philox.Uniform(key, uint64 (2 * t + 1)) - 1.0f |]
              let r = step env a obs
              yield Array.append obs [| r.Reward; (if r.Terminated then 1.0f else 0.0f); (if r.Truncated then 1.0f else 0.0f) |] ]
    Assert.Equal<float32[] list>(run 42UL, run 42UL)
    Assert.NotEqual<float32[] list>(run 42UL, run 43UL)
    let env = EnvironmentRegistry.Make "MultiGoal-v0"
    Assert.Equal(Nullable 30, env.MaxEpisodeSteps)
    let mg = MultiGoal.Find(RescaleAction env)
    Assert.NotNull(mg)
    Assert.Null(MultiGoal.Find(EnvironmentRegistry.Make "PointGoal-v0"))
    let obs = Array.zeroCreate<float32> 2
    let mutable sumSq = 0.0
    for s in 0UL .. 999UL do
        env.Reset(Nullable s, Span obs)
        Assert.True(abs obs.[0] < 0.6f && abs obs.[1] < 0.6f, sprintf "start %A" obs)
        sumSq <- sumSq + float (obs.[0] * obs.[0] + obs.[1] * obs.[1])
    // E|p0|^2 = 2 sigma^2 = 0.02.
    near "start spread" 0.003 0.02 (sumSq / 1000.0)

let ``MultiGoal random, still and straight policies score as documented`` = testCase "MultiGoal random, still and straight policies score as documented" <| fun () ->
    let randomMean, randomGoals = multiGoalRollouts 1000 (randomPolicy 2024UL)
    let stillMean, stillGoals = multiGoalRollouts 1000 (fun _ _ a -> a.[0] <- 0.0f; a.[1] <- 0.0f)
    let straightMean, straightGoals = multiGoalRollouts 1000 (fun _ _ a -> a.[0] <- 1.0f; a.[1] <- 0.0f)
    Console.WriteLine(sprintf "MultiGoal-v0 over 1000 episodes: random %.1f %A, still %.1f, straight %.1f %A"
                          randomMean randomGoals stillMean straightMean straightGoals)
    Assert.InRange(randomMean, -950.0, -750.0)
    Assert.InRange(Array.sum randomGoals, 200, 400)
    Assert.True(randomGoals |> Array.forall (fun n -> n > 40))
    Assert.InRange(stillMean, -730.0, -700.0)
    Assert.Equal(0, Array.sum stillGoals)
    Assert.InRange(straightMean, -170.0, -140.0)
    Assert.Equal<int[]>([| 1000; 0; 0; 0 |], straightGoals)

let ``MultiGoal steps allocate nothing`` = testCase "MultiGoal steps allocate nothing" <| fun () ->
    let env = RescaleAction(EnvironmentRegistry.Make "MultiGoal-v0")
    let obs = Array.zeroCreate<float32> 2
    let action = Array.zeroCreate<float32> 2
    let key = PhiloxKey.FromSeed 5UL
    let run n =
        for t in 0 .. n - 1 do
            action.[0] <- 2.0f * Philox.Uniform(key, uint64 (2 * t)) - 1.0f
            action.[1] <- 2.0f * Philox.Uniform(key, uint64 (2 * t + 1)) - 1.0f
            let r = env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))
            if r.Done then env.Reset(Nullable(), Span<float32>(obs))
    env.Reset(Nullable 1UL, Span<float32>(obs))
    run 2000
    let before = GC.GetAllocatedBytesForCurrentThread()
    run 1000
    Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)

let tests = testList "MultiGoal" [
    ``MultiGoal step follows the reference dynamics and reward``
    ``MultiGoal detects each of its four goals``
    ``MultiGoal starts near the origin, is deterministic by seed, and is found through wrappers``
    ``MultiGoal random, still and straight policies score as documented``
    ``MultiGoal steps allocate nothing``
]
