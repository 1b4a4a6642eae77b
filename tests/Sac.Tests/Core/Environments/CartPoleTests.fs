/// CartPole-v1 against Gymnasium's equations: steps, termination, truncation at 500 steps, seeding, bad indices and allocation.
module CartPoleTests

open System
open Xunit
open Expecto
open Sac.Core.Random
open Sac.Core.Environments
open EnvironmentsKit

let private ro (a: float32[]) = ReadOnlySpan<float32>(a)
let private rw (a: float32[]) = Span<float32>(a)

/// One Gymnasium CartPole step in float64, written out from cartpole.py: (x, xdot, θ, θdot) after pushing with `action`.
let private cartPoleReference (x: float, xDot: float, th: float, thDot: float) (action: int) =
    let g, mc, mp, l, fMag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    let total = mc + mp
    let pml = mp * l
    let force = if action = 1 then fMag else -fMag
    let c, s = Math.Cos th, Math.Sin th
    let temp = (force + pml * thDot * thDot * s) / total
    let thAcc = (g * s - c * temp) / (l * (4.0 / 3.0 - mp * c * c / total))
    let xAcc = temp - pml * thAcc * c / total
    (x + tau * xDot, xDot + tau * xAcc, th + tau * thDot, thDot + tau * thAcc)

let private cartState (env: CartPole) = (env.X, env.XDot, env.Theta, env.ThetaDot)

let ``CartPole matches hand-computed Gymnasium steps`` = testCase "CartPole matches hand-computed Gymnasium steps" <| fun () ->
    let env = CartPole()
    let obs = Array.zeroCreate<float32> 4
    // By hand from the zero state, pushing right: temp = 100/11, θacc = -(100/11) / (0.5 (4/3 - 1/11)) = -600/41,
    // xacc = 100/11 + 0.05 (600/41) / 1.1 = 4400/451; so xdot' = 0.02 * 4400/451 = 88/451 and θdot' = -12/41.
    env.SetState(0.0, 0.0, 0.0, 0.0, Span obs)
    let r = env.Step(ro [| 1.0f |], rw obs)
    near "x" 0.0 0.0 env.X
    near "xdot" 1e-15 (88.0 / 451.0) env.XDot
    near "theta" 0.0 0.0 env.Theta
    near "thetadot" 1e-15 (-12.0 / 41.0) env.ThetaDot
    Assert.Equal(1.0f, r.Reward)
    Assert.False(r.Terminated || r.Truncated)
    Assert.Equal<float32[]>([| 0.0f; float32 (88.0 / 451.0); 0.0f; float32 (-12.0 / 41.0) |], obs)
    // Pushing left mirrors it.
    env.SetState(0.0, 0.0, 0.0, 0.0, Span obs)
    env.Step(ro [| 0.0f |], rw obs) |> ignore
    near "xdot (left)" 1e-15 (-88.0 / 451.0) env.XDot
    near "thetadot (left)" 1e-15 (12.0 / 41.0) env.ThetaDot
    // Two transitions printed by Gymnasium (float32 observations), one push each way.
    for (s0, a, s1) in
        [ (-0.03783562, 0.22712974, 0.02664461, -0.270979), 1, (-0.03329302, 0.42186156, 0.02122504, -0.55514044)
          (0.02384843, 1.2023422, -0.05781629, -1.7270179), 0, (0.04789528, 1.007927, -0.09235664, -1.4528707) ] do
        let (x, xd, th, thd) = s0
        env.SetState(x, xd, th, thd, Span obs)
        env.Step(ro [| float32 a |], rw obs) |> ignore
        let (ex, exd, eth, ethd) = s1
        for (what, e, got) in [ "x", ex, float obs.[0]; "xdot", exd, float obs.[1]; "theta", eth, float obs.[2]; "thetadot", ethd, float obs.[3] ] do
            near $"Gymnasium transition {what}" 1e-6 e got
    // The float64 reference along a long trajectory of random pushes (terminations included).
    let key = PhiloxKey.FromSeed 3UL
    env.Reset(Nullable 11UL, Span obs)
    for t in 0 .. 299 do
        let a = Philox.UniformInt(key, uint64 t, 2)
        let expected = cartPoleReference (cartState env) a
        let r = env.Step(ro [| float32 a |], rw obs)
        let (ex, exd, eth, ethd) = expected
        near "x" 1e-14 ex env.X
        near "xdot" 1e-13 exd env.XDot
        near "theta" 1e-14 eth env.Theta
        near "thetadot" 1e-13 ethd env.ThetaDot
        Assert.Equal<float32[]>([| float32 env.X; float32 env.XDot; float32 env.Theta; float32 env.ThetaDot |], obs)
        if r.Terminated then env.Reset(Nullable(), Span obs)

let ``CartPole terminates past 2.4 or 12 degrees, rewarding the terminating step and none after it`` = testCase "CartPole terminates past 2.4 or 12 degrees, rewarding the terminating step and none after it" <| fun () ->
    let env = CartPole()
    let obs = Array.zeroCreate<float32> 4
    let thr = 12.0 * 2.0 * Math.PI / 360.0
    Assert.Equal(thr, CartPole.ThetaThresholdRadians)
    // Positions are updated with the old velocities, so x' = x + 0.02 xdot and θ' = θ + 0.02 θdot exactly here.
    let stepFrom (x, xd, th, thd) =
        env.SetState(x, xd, th, thd, Span obs)
        env.Step(ro [| 1.0f |], rw obs)
    for (state, terminated) in
        [ (2.4, 0.0, 0.0, 0.0), false             // exactly on the threshold: continues
          (2.4, 0.01, 0.0, 0.0), true             // x' = 2.4002
          (-2.4, -0.01, 0.0, 0.0), true
          (2.39, 0.0, 0.0, 0.0), false
          (0.0, 0.0, thr, 0.0), false
          (0.0, 0.0, thr, 0.01), true             // θ' just past 12 degrees
          (0.0, 0.0, -thr, -0.01), true
          (0.0, 0.0, 0.2, 0.0), false ] do
        let r = stepFrom state
        Assert.True((terminated = r.Terminated), sprintf "state %A: terminated %b" state r.Terminated)
        Assert.False(r.Truncated)
        Assert.Equal(1.0f, r.Reward)
    // Stepping on after termination: reward 0 while out of bounds (Gymnasium's steps_beyond_terminated).
    let r = stepFrom (2.4, 0.01, 0.0, 0.0)
    Assert.True(r.Terminated)
    Assert.Equal(1.0f, r.Reward)
    let r2 = env.Step(ro [| 1.0f |], rw obs)
    Assert.True(r2.Terminated)
    Assert.Equal(0.0f, r2.Reward)
    // Left alone, a random policy's episodes end by termination, with one reward per step.
    let made = EnvironmentRegistry.Make CartPole.EnvironmentId
    let key = PhiloxKey.FromSeed 9UL
    let mutable lengths = []
    let mutable t = 0
    for episode in 0 .. 49 do
        made.Reset(Nullable(uint64 episode), Span obs)
        let mutable fin = false
        let mutable total = 0.0f
        let mutable len = 0
        while not fin do
            let r = made.Step(ro [| float32 (Philox.UniformInt(key, uint64 t, 2)) |], rw obs)
            t <- t + 1
            len <- len + 1
            total <- total + r.Reward
            fin <- r.Terminated || r.Truncated
            if fin then Assert.True(r.Terminated)
        Assert.Equal(float32 len, total)
        lengths <- len :: lengths
    // A random policy averages about 22 steps on CartPole.
    let mean = List.averageBy float lengths
    Assert.InRange(mean, 12.0, 40.0)

let ``CartPole truncates at 500 steps through the registry`` = testCase "CartPole truncates at 500 steps through the registry" <| fun () ->
    let env = EnvironmentRegistry.Make CartPole.EnvironmentId
    Assert.Equal(Nullable 500, env.MaxEpisodeSteps)
    Assert.Equal(Nullable 2, DiscreteActions.TryGetActionCount env)
    Assert.Equal(2, DiscreteActions.ActionCount env)
    Assert.Equal(Box.Uniform(1, 0.0f, 1.0f), env.ActionSpace)
    Assert.Equal(4, env.ObservationSpace.Dimension)
    let inner = (env :?> TimeLimit).Inner :?> CartPole
    let obs = Array.zeroCreate<float32> 4
    env.Reset(Nullable 0UL, Span obs)
    // Hold the pole upright by setting the state before every step, so only the time limit can end the episode.
    for t in 1 .. 500 do
        inner.SetState(0.0, 0.0, 0.0, 0.0, Span obs)
        let r = env.Step(ro [| float32 (t % 2) |], rw obs)
        Assert.False(r.Terminated)
        Assert.Equal(1.0f, r.Reward)
        Assert.True((r.Truncated = (t = 500)), sprintf "step %d truncated %b" t r.Truncated)
    // A PD-style controller on the pole keeps a real episode going to the limit as well.
    env.Reset(Nullable 1UL, Span obs)
    let mutable steps = 0
    let mutable fin = false
    let mutable last = StepResult()
    while not fin do
        let push = if float obs.[2] + 0.5 * float obs.[3] + 0.01 * float obs.[0] + 0.1 * float obs.[1] > 0.0 then 1.0f else 0.0f
        last <- env.Step(ro [| push |], rw obs)
        steps <- steps + 1
        fin <- last.Terminated || last.Truncated
    Assert.Equal(500, steps)
    Assert.True(last.Truncated)
    Assert.False(last.Terminated)
    Assert.False((DiscreteActions.TryGetActionCount(EnvironmentRegistry.Make "Pendulum-v1")).HasValue)

let ``CartPole is deterministic by seed, starts in U(-0.05, 0.05)^4 and refuses bad indices`` = testCase "CartPole is deterministic by seed, starts in U(-0.05, 0.05)^4 and refuses bad indices" <| fun () ->
    let run seed =
        let env = EnvironmentRegistry.Make CartPole.EnvironmentId
        let obs = Array.zeroCreate<float32> 4
        env.Reset(Nullable seed, Span obs)
        let key = PhiloxKey.FromSeed 4UL
        [ yield Array.copy obs
          for t in 0 .. 199 do
              let r = env.Step(ro [| float32 (Philox.UniformInt(key, uint64 t, 2)) |], rw obs)
              yield Array.append obs [| r.Reward; (if r.Terminated then 1.0f else 0.0f) |]
              if r.Terminated then env.Reset(Nullable(), Span obs) ]
    Assert.Equal<float32[] list>(run 5UL, run 5UL)
    Assert.NotEqual<float32[] list>(run 5UL, run 6UL)
    let env = CartPole()
    let obs = Array.zeroCreate<float32> 4
    for s in 0UL .. 199UL do
        env.Reset(Nullable s, Span obs)
        for v in obs do Assert.InRange(v, -0.05f, 0.05f)
    for bad in [ 0.5f; 2.0f; -1.0f; nanf; infinityf; 1.0001f ] do
        let ex = Assert.Throws<ArgumentException>(fun () -> env.Step(ro [| bad |], rw obs) |> ignore)
        Assert.Contains("CartPole-v1", ex.Message)
        Assert.Contains(string bad, ex.Message)
    // A refused action does not move the state or use up the episode.
    let limited = EnvironmentRegistry.Make CartPole.EnvironmentId :?> TimeLimit
    limited.Reset(Nullable 0UL, Span obs)
    Assert.Throws<ArgumentException>(fun () -> limited.Step(ro [| 0.25f |], rw obs) |> ignore) |> ignore
    Assert.Equal(0, limited.ElapsedSteps)
    let ex = Assert.Throws<ArgumentException>(fun () -> DiscreteActions.ActionCount(EnvironmentRegistry.Make "Pendulum-v1") |> ignore)
    Assert.Contains("Pendulum-v1", ex.Message)

let ``CartPole steps allocate nothing`` = testCase "CartPole steps allocate nothing" <| fun () ->
    let env = EnvironmentRegistry.Make CartPole.EnvironmentId
    let obs = Array.zeroCreate<float32> 4
    let action = Array.zeroCreate<float32> 1
    let key = PhiloxKey.FromSeed 2UL
    let run n =
        for t in 0 .. n - 1 do
            action.[0] <- float32 (Philox.UniformInt(key, uint64 t, 2))
            let r = env.Step(ReadOnlySpan action, Span obs)
            if r.Done then env.Reset(Nullable(), Span obs)
    env.Reset(Nullable 1UL, Span obs)
    run 3000
    let before = GC.GetAllocatedBytesForCurrentThread()
    run 2000
    Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)

let tests = testList "CartPole" [
    ``CartPole matches hand-computed Gymnasium steps``
    ``CartPole terminates past 2.4 or 12 degrees, rewarding the terminating step and none after it``
    ``CartPole truncates at 500 steps through the registry``
    ``CartPole is deterministic by seed, starts in U(-0.05, 0.05)^4 and refuses bad indices``
    ``CartPole steps allocate nothing``
]
