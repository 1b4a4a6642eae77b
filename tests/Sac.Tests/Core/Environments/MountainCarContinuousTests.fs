/// MountainCarContinuous-v0 against Gymnasium's equations: steps, the left wall, reaching the goal and truncation at 999 steps.
module MountainCarContinuousTests

open System
open Xunit
open Expecto
open Sac.Core.Environments
open EnvironmentsKit

/// One Gymnasium MountainCarContinuous-v0 step in float64, state rounded to float32 as Gymnasium stores it.
let private carReference (x: float) (v: float) (a: float) =
    let force = Math.Max(-1.0, Math.Min(1.0, a))
    let v = v + force * 0.0015 - 0.0025 * Math.Cos(3.0 * x)
    let v = Math.Max(-0.07, Math.Min(0.07, v))
    let x = Math.Max(-1.2, Math.Min(0.6, x + v))
    let v = if x = -1.2 && v < 0.0 then 0.0 else v
    let terminated = x >= 0.45 && v >= 0.0
    let reward = (if terminated then 100.0 else 0.0) - 0.1 * a * a
    float32 x, float32 v, reward, terminated

let ``MountainCar matches hand-computed Gymnasium steps`` = testCase "MountainCar matches hand-computed Gymnasium steps" <| fun () ->
    let cases =
        [ -0.5, 0.0, 0.7
          -0.3, 0.02, -1.0
          -0.6, 0.069, 1.0 // velocity clips at 0.07
          0.44, 0.02, 1.0 // crosses 0.45 moving right: terminates with +100
          -0.5, 0.0, 3.0 ] // force clips at 1 but the cost uses 3^2
    for (x, v, a) in cases do
        let env = MountainCarContinuous()
        let obs = Array.zeroCreate<float32> 2
        env.SetState(x, v, Span obs)
        let r = step env [| float32 a |] obs
        let ex, ev, er, et = carReference x v (float (float32 a))
        Assert.Equal(ex, obs.[0])
        Assert.Equal(ev, obs.[1])
        Assert.Equal(float32 er, r.Reward)
        Assert.Equal(et, r.Terminated)
        if v = 0.069 then Assert.Equal(0.07f, obs.[1])
        if x = 0.44 then Assert.True(r.Terminated)
    // a = 3 moves the car exactly as a = 1 does.
    let e1, e3 = MountainCarContinuous(), MountainCarContinuous()
    let o1, o3 = Array.zeroCreate<float32> 2, Array.zeroCreate<float32> 2
    e1.SetState(-0.5, 0.0, Span o1)
    e3.SetState(-0.5, 0.0, Span o3)
    step e1 [| 1.0f |] o1 |> ignore
    step e3 [| 3.0f |] o3 |> ignore
    Assert.Equal<float32[]>(o1, o3)

let ``MountainCar left wall stops the car`` = testCase "MountainCar left wall stops the car" <| fun () ->
    let env = MountainCarContinuous()
    let obs = Array.zeroCreate<float32> 2
    env.SetState(-1.19, -0.05, Span obs)
    let r = step env [| -1.0f |] obs
    Assert.Equal(-1.2f, obs.[0])
    Assert.Equal(0.0f, obs.[1])
    Assert.False(r.Terminated)
    near "reward" 1e-7 -0.1 (float r.Reward)

let ``MountainCar bang-bang policy reaches the goal and terminates with the +100 bonus`` = testCase "MountainCar bang-bang policy reaches the goal and terminates with the +100 bonus" <| fun () ->
    let env = EnvironmentRegistry.Make "MountainCarContinuous-v0"
    Assert.Equal(Nullable 999, env.MaxEpisodeSteps)
    let obs = obsFor env
    for seed in [ 0UL; 1UL; 2UL ] do
        reset env (Some seed) obs
        Assert.InRange(obs.[0], -0.6f, -0.4f)
        Assert.Equal(0.0f, obs.[1])
        let mutable last = StepResult()
        let mutable steps = 0
        while not last.Done do
            // Push in the direction of motion (right when at rest) to pump energy into the oscillation.
            let a = if obs.[1] >= 0.0f then 1.0f else -1.0f
            last <- step env [| a |] obs
            steps <- steps + 1
        Assert.True(last.Terminated, sprintf "seed %d: no termination in %d steps" seed steps)
        Assert.False(last.Truncated)
        Assert.True(steps < 300, sprintf "seed %d took %d steps" seed steps)
        Assert.True(obs.[0] >= 0.45f && obs.[1] >= 0.0f)
        near "terminal reward" 1e-5 99.9 (float last.Reward)

let ``MountainCar idle car is truncated exactly at step 999`` = testCase "MountainCar idle car is truncated exactly at step 999" <| fun () ->
    let env = EnvironmentRegistry.Make "MountainCarContinuous-v0"
    let obs = obsFor env
    reset env (Some 5UL) obs
    let zero = [| 0.0f |]
    for t in 1 .. 999 do
        let r = step env zero obs
        Assert.False(r.Terminated)
        Assert.Equal((t = 999), r.Truncated)
        Assert.Equal(0.0f, r.Reward)

let tests = testList "MountainCarContinuous" [
    ``MountainCar matches hand-computed Gymnasium steps``
    ``MountainCar left wall stops the car``
    ``MountainCar bang-bang policy reaches the goal and terminates with the +100 bonus``
    ``MountainCar idle car is truncated exactly at step 999``
]
