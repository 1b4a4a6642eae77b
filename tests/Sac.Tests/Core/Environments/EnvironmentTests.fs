module EnvironmentTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Random
open Sac.Core.Environments

// ---------- helpers ----------

let private near (what: string) (tol: float) (expected: float) (actual: float) =
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.12g, got %.12g (|diff| %.3g > %.3g)" what expected actual (Math.Abs(actual - expected)) tol

let private step (env: IEnvironment) (action: float32[]) (obs: float32[]) =
    env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))

let private reset (env: IEnvironment) (seed: uint64 option) (obs: float32[]) =
    env.Reset(Option.toNullable seed, Span<float32>(obs))

let private obsFor (env: IEnvironment) = Array.zeroCreate<float32> env.ObservationSpace.Dimension

/// A deterministic action in [-1, 1]^n for step t of a run keyed by key (no clock, no System.Random).
let private fillAction (key: PhiloxKey) (t: int) (action: float32[]) =
    for i in 0 .. action.Length - 1 do
        action.[i] <- 2.0f * Philox.Uniform(key, uint64 (t * action.Length + i)) - 1.0f

/// The environment an agent acts on: discrete-action environments take their indices natively, continuous ones act
/// in [-1, 1]^n through RescaleAction.
let private agentView (env: IEnvironment) : IEnvironment =
    if (DiscreteActions.TryGetActionCount env).HasValue then env else RescaleAction(env) :> IEnvironment

/// A deterministic action for step t that the agent view accepts: a uniform index for a discrete environment,
/// fillAction's [-1, 1]^n otherwise.
let private fillAgentAction (env: IEnvironment) (key: PhiloxKey) (t: int) (action: float32[]) =
    let count = DiscreteActions.TryGetActionCount env
    if count.HasValue then action.[0] <- float32 (Philox.UniformInt(key, uint64 t, count.Value))
    else fillAction key t action

/// Python's float modulo and Gymnasium's angle_normalize, written independently of the library.
let private angleNormalize (x: float) =
    let twoPi = 2.0 * Math.PI
    let r = (x + Math.PI) - twoPi * Math.Floor((x + Math.PI) / twoPi)
    r - Math.PI

let private pendulumMinReward = -(Math.PI * Math.PI + 0.1 * 64.0 + 0.001 * 4.0)

let private fsCheckConfig = Config.QuickThrowOnFailure.WithMaxTest(100)

// ---------- Box and StepResult ----------

let ``Box validates its bounds and allows infinite observation bounds`` = testCase "Box validates its bounds and allows infinite observation bounds" <| fun () ->
    Assert.Throws<ArgumentException>(fun () -> Box([| 0.0f |], [| 1.0f; 2.0f |]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([||], [||]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([| 1.0f |], [| 0.0f |]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([| nanf |], [| 0.0f |]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([| infinityf |], [| infinityf |]) |> ignore) |> ignore
    let b = Box([| -infinityf; 0.0f |], [| infinityf; 1.0f |])
    Assert.Equal(2, b.Dimension)
    Assert.False(b.IsBounded)
    Assert.True(b.Contains(ReadOnlySpan [| 1e30f; 0.5f |]))
    Assert.True(b.Contains(ReadOnlySpan [| 0.0f; 1.0f |]))
    Assert.False(b.Contains(ReadOnlySpan [| 0.0f; 1.5f |]))
    Assert.False(b.Contains(ReadOnlySpan [| nanf; 0.5f |]))
    Assert.False(b.Contains(ReadOnlySpan [| 0.0f |]))
    Assert.Equal(Box.Uniform(2, -1.0f, 1.0f), Box([| -1.0f; -1.0f |], [| 1.0f; 1.0f |]))
    Assert.True(StepResult(0.0f, false, true).Done)
    Assert.False(StepResult(0.0f, false, false).Done)

// ---------- Pendulum ----------

/// One Gymnasium Pendulum-v1 step in float64 (g = 10, m = l = 1, dt = 0.05): (reward, theta', thetaDot').
let private pendulumReference (th: float) (thdot: float) (torque: float) =
    let u = Math.Max(-2.0, Math.Min(2.0, torque))
    let an = angleNormalize th
    let cost = an * an + 0.1 * thdot * thdot + 0.001 * u * u
    let newThDot = thdot + (3.0 * 10.0 / 2.0 * Math.Sin th + 3.0 * u) * 0.05
    let newThDot = Math.Max(-8.0, Math.Min(8.0, newThDot))
    -cost, th + newThDot * 0.05, newThDot

let ``Pendulum matches hand-computed Gymnasium transitions`` = testCase "Pendulum matches hand-computed Gymnasium transitions" <| fun () ->
    let cases =
        [ 0.0, 0.0, 0.0
          1.0, -0.5, 1.5
          Math.PI, 0.0, -2.0
          7.0, 3.0, 5.0 // angle past 2π normalizes; torque clips to 2
          -7.0, -7.9, -3.0 // velocity clips to -8 after the update
          0.3, 7.95, 2.0 ] // velocity clips to +8; the clipped value integrates the angle
    let clipsSpeed (_, thdot, _) = abs thdot > 7.0
    for (th, thdot, torque) in cases do
        let env = Pendulum()
        let obs = Array.zeroCreate<float32> 3
        env.SetState(th, thdot, Span obs)
        let r = step env [| float32 torque |] obs
        let er, eth, ethdot = pendulumReference th thdot (float (float32 torque))
        let what = sprintf "(θ=%g, θdot=%g, u=%g)" th thdot torque
        Assert.Equal(float32 er, r.Reward)
        near ("theta " + what) 1e-12 eth env.Theta
        near ("thetaDot " + what) 1e-12 ethdot env.ThetaDot
        Assert.Equal(float32 (Math.Cos eth), obs.[0])
        Assert.Equal(float32 (Math.Sin eth), obs.[1])
        Assert.Equal(float32 ethdot, obs.[2])
        Assert.False(r.Terminated || r.Truncated)
        if clipsSpeed (th, thdot, torque) then Assert.Equal(8.0, abs env.ThetaDot)
    near "angle_normalize 7" 1e-15 (7.0 - 2.0 * Math.PI) (Pendulum.AngleNormalize 7.0)
    near "angle_normalize -4" 1e-15 (-4.0 + 2.0 * Math.PI) (Pendulum.AngleNormalize -4.0)
    near "angle_normalize 0" 0.0 0.0 (Pendulum.AngleNormalize 0.0)

let ``Pendulum reward is bounded, speed stays within 8 and it never terminates (property)`` =
    let gen =
        gen {
            let! th = Gen.choose (-20000, 20000) |> Gen.map (fun k -> float k / 1000.0)
            let! thdot = Gen.choose (-8000, 8000) |> Gen.map (fun k -> float k / 1000.0)
            let! u = Gen.choose (-5000, 5000) |> Gen.map (fun k -> float32 k / 1000.0f)
            return th, thdot, u
        }
    let prop (th, thdot, u) =
        let env = Pendulum()
        let obs = Array.zeroCreate<float32> 3
        env.SetState(th, thdot, Span obs)
        let r = step env [| u |] obs
        float r.Reward >= pendulumMinReward - 1e-5 && r.Reward <= 0.0f
        && abs env.ThetaDot <= 8.0 && abs obs.[2] <= 8.0f
        && abs (float obs.[0] ** 2.0 + float obs.[1] ** 2.0 - 1.0) < 1e-6
        && not r.Terminated && not r.Truncated
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Pendulum reward is bounded, speed stays within 8 and it never terminates (property)" (Prop.forAll (Arb.fromGen gen) prop)

let ``Pendulum through Make truncates exactly at step 200 and keeps its invariants`` = testCase "Pendulum through Make truncates exactly at step 200 and keeps its invariants" <| fun () ->
    let env = EnvironmentRegistry.Make "Pendulum-v1"
    Assert.Equal(Nullable 200, env.MaxEpisodeSteps)
    Assert.Equal(Box([| -1.0f; -1.0f; -8.0f |], [| 1.0f; 1.0f; 8.0f |]), env.ObservationSpace)
    Assert.Equal(Box.Uniform(1, -2.0f, 2.0f), env.ActionSpace)
    let obs = obsFor env
    let action = Array.zeroCreate<float32> 1
    let key = PhiloxKey.FromSeed 11UL
    for episode in 0 .. 1 do
        reset env (if episode = 0 then Some 3UL else None) obs
        Assert.True(env.ObservationSpace.Contains(ReadOnlySpan obs))
        Assert.True(abs obs.[2] <= 1.0f)
        for t in 1 .. 200 do
            fillAction key (t + 1000 * episode) action
            action.[0] <- 2.0f * action.[0]
            let r = step env action obs
            Assert.False(r.Terminated)
            Assert.Equal((t = 200), r.Truncated)
            Assert.InRange(float r.Reward, pendulumMinReward - 1e-5, 0.0)
            Assert.InRange(obs.[2], -8.0f, 8.0f)
            near "cos^2 + sin^2" 1e-6 1.0 (float obs.[0] ** 2.0 + float obs.[1] ** 2.0)

// ---------- MountainCarContinuous ----------

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

// ---------- TimeLimit ----------

let ``TimeLimit sets truncated together with terminated when the limit coincides, and Reset restarts the count`` = testCase "TimeLimit sets truncated together with terminated when the limit coincides, and Reset restarts the count" <| fun () ->
    let inner = PointGoal()
    let env = TimeLimit(inner, 1)
    let obs = obsFor env
    reset env (Some 1UL) obs
    inner.SetState(0.15, 0.0, Span obs)
    let r = step env [| -1.0f; 0.0f |] obs
    Assert.True(r.Terminated)
    Assert.True(r.Truncated)
    // Past the limit every step reports truncated, as Gymnasium's TimeLimit does.
    Assert.True((step env [| 0.0f; 0.0f |] obs).Truncated)
    Assert.Equal(2, env.ElapsedSteps)
    reset env None obs
    Assert.Equal(0, env.ElapsedSteps)
    let long = TimeLimit(PointGoal(), 3)
    reset long (Some 2UL) obs
    let flags = [ for _ in 1 .. 3 -> (step long [| 0.0f; 0.0f |] obs).Truncated ]
    Assert.Equal<bool list>([ false; false; true ], flags)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> TimeLimit(PointGoal(), 0) |> ignore) |> ignore

// ---------- determinism ----------

let private trajectory (env: IEnvironment) (seed: uint64 option) (steps: int) =
    let obs = obsFor env
    let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
    let key = PhiloxKey.FromSeed 99UL
    reset env seed obs
    [ yield Array.copy obs
      for t in 0 .. steps - 1 do
          fillAgentAction env key t action
          let r = step env action obs
          yield Array.append obs [| r.Reward; (if r.Terminated then 1.0f else 0.0f) |] ]

let ``Same seed gives identical trajectories, different seeds different starts, and Reset(null) continues the stream`` = testCase "Same seed gives identical trajectories, different seeds different starts, and Reset(null) continues the stream" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let a = trajectory (agentView (EnvironmentRegistry.Make id)) (Some 42UL) 60
        let b = trajectory (agentView (EnvironmentRegistry.Make id)) (Some 42UL) 60
        Assert.Equal<float32[] list>(a, b)
        let starts = [ for s in 0UL .. 9UL -> (trajectory (EnvironmentRegistry.Make id) (Some s) 0).Head ]
        Assert.Equal(10, starts |> List.distinct |> List.length)
        // Seed then two unseeded resets: the two continue the stream (differ), and repeat after reseeding.
        let env = EnvironmentRegistry.Make id
        let run () =
            let o0, o1, o2 = obsFor env, obsFor env, obsFor env
            reset env (Some 7UL) o0
            reset env None o1
            reset env None o2
            o0, o1, o2
        let (x0, x1, x2), (y0, y1, y2) = run (), run ()
        Assert.NotEqual<float32[]>(x1, x2)
        Assert.NotEqual<float32[]>(x0, x1)
        Assert.Equal<float32[]>(x0, y0)
        Assert.Equal<float32[]>(x1, y1)
        Assert.Equal<float32[]>(x2, y2)
        // Never seeded: Reset(null) still works (entropy seed) and later resets continue from it.
        let fresh = EnvironmentRegistry.Make id
        let f1, f2 = obsFor fresh, obsFor fresh
        reset fresh None f1
        reset fresh None f2
        Assert.NotEqual<float32[]>(f1, f2)

// ---------- RescaleAction ----------

/// An environment that records the last action it was given, with bounds [0, 10] x [-3, -1].
type private Recorder() =
    let space = Box([| 0.0f; -3.0f |], [| 10.0f; -1.0f |])
    member val Last = Array.zeroCreate<float32> 2
    interface IEnvironment with
        member _.Id = "Recorder-v0"
        member _.ObservationSpace = Box.Uniform(1, -1.0f, 1.0f)
        member _.ActionSpace = space
        member _.MaxEpisodeSteps = Nullable()
        member _.Reset(_seed, observation) = observation.[0] <- 0.0f
        member this.Step(action, observation) =
            action.CopyTo(Span this.Last)
            observation.[0] <- 0.0f
            StepResult(0.0f, false, false)

let ``RescaleAction maps -1 and 1 to the inner bounds and clips out-of-range actions`` = testCase "RescaleAction maps -1 and 1 to the inner bounds and clips out-of-range actions" <| fun () ->
    let inner = Recorder()
    let env = RescaleAction(inner)
    Assert.Equal(Box.Uniform(2, -1.0f, 1.0f), env.ActionSpace)
    let obs = obsFor env
    reset env (Some 0UL) obs
    let check (a: float32[]) (expected: float32[]) =
        step env a obs |> ignore
        Assert.Equal<float32[]>(expected, inner.Last)
    check [| -1.0f; -1.0f |] [| 0.0f; -3.0f |]
    check [| 1.0f; 1.0f |] [| 10.0f; -1.0f |]
    check [| 0.0f; 0.5f |] [| 5.0f; -1.5f |]
    check [| -7.0f; 3.0f |] [| 0.0f; -1.0f |]
    check [| infinityf; -infinityf |] [| 10.0f; -3.0f |]
    // Pendulum: [-1, 1] -> [-2, 2].
    let p = RescaleAction(Pendulum())
    let native = Array.zeroCreate<float32> 1
    for a, e in [ -1.0f, -2.0f; 1.0f, 2.0f; 0.25f, 0.5f; 1.5f, 2.0f; -9.0f, -2.0f ] do
        p.ToNative(ReadOnlySpan [| a |], Span native)
        Assert.Equal(e, native.[0])
    // Property: any action lands inside the inner box, and monotonically.
    let prop (a: float32) (b: float32) =
        let na, nb = Array.zeroCreate<float32> 1, Array.zeroCreate<float32> 1
        p.ToNative(ReadOnlySpan [| a |], Span na)
        p.ToNative(ReadOnlySpan [| b |], Span nb)
        (Single.IsNaN a || Pendulum().ActionSpace.Contains(ReadOnlySpan na))
        && (Single.IsNaN a || Single.IsNaN b || (a <= b) = (na.[0] <= nb.[0]) || na.[0] = nb.[0])
    Check.One(fsCheckConfig, prop)
    let unbounded =
        { new IEnvironment with
            member _.Id = "Unbounded-v0"
            member _.ObservationSpace = Box.Uniform(1, -1.0f, 1.0f)
            member _.ActionSpace = Box([| -infinityf |], [| infinityf |])
            member _.MaxEpisodeSteps = Nullable()
            member _.Reset(_, _) = ()
            member _.Step(_, _) = StepResult() }
    let ex = Assert.Throws<ArgumentException>(fun () -> RescaleAction(unbounded) |> ignore)
    Assert.Contains("Unbounded-v0", ex.Message)

// ---------- bad inputs ----------

let ``Bad inputs throw with the environment id in the message`` = testCase "Bad inputs throw with the environment id in the message" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let variants: IEnvironment list =
            [ EnvironmentRegistry.Make id; RescaleAction(EnvironmentRegistry.Make id)
              (match id with
               | "Pendulum-v1" -> Pendulum() :> IEnvironment
               | "MountainCarContinuous-v0" -> MountainCarContinuous()
               | "CartPole-v1" -> CartPole()
               | "MultiGoal-v0" -> MultiGoal()
               | "PointGoal-v0" -> PointGoal()
               | _ -> (EnvironmentRegistry.Make id :?> TimeLimit).Inner) ]
        for env in variants do
            let obs = obsFor env
            let act = Array.zeroCreate<float32> env.ActionSpace.Dimension
            let ex = Assert.Throws<InvalidOperationException>(fun () -> step env act obs |> ignore)
            Assert.Contains(id, ex.Message)
            let ex = Assert.Throws<ArgumentException>(fun () -> reset env (Some 0UL) (Array.zeroCreate (obs.Length + 1)))
            Assert.Contains(id, ex.Message)
            reset env (Some 0UL) obs
            let ex = Assert.Throws<ArgumentException>(fun () -> step env (Array.zeroCreate (act.Length + 1)) obs |> ignore)
            Assert.Contains(id, ex.Message)
            Assert.Contains("action", ex.Message)
            let ex = Assert.Throws<ArgumentException>(fun () -> step env act (Array.zeroCreate (obs.Length - 1)) |> ignore)
            Assert.Contains(id, ex.Message)
            Assert.Contains("observation", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> EnvironmentRegistry.Make "NoSuchEnv-v0" |> ignore)
    Assert.Contains("NoSuchEnv-v0", ex.Message)
    for id in EnvironmentRegistry.Ids do Assert.Contains(id, ex.Message)
    Assert.Equal<string list>(
        [ "Pendulum-v1"; "MountainCarContinuous-v0"; "PointGoal-v0"; "CartPole-v1"; "MultiGoal-v0"
          "HalfCheetah-v4"; "HalfCheetah-v5"; "Hopper-v4"; "Walker2d-v4"; "Ant-v4"; "Ant-v5"; "Humanoid-v4"; "Humanoid-v5" ],
        EnvironmentRegistry.Ids |> Seq.filter EnvironmentRegistry.IsBuiltIn |> List.ofSeq)

// ---------- PointGoal ----------

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

// ---------- allocation ----------

let ``Step allocates nothing for every environment through Make and RescaleAction`` = testCase "Step allocates nothing for every environment through Make and RescaleAction" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let env = agentView (EnvironmentRegistry.Make id)
        let obs = obsFor env
        let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
        let key = PhiloxKey.FromSeed 5UL
        let run n =
            for t in 0 .. n - 1 do
                fillAgentAction env key t action
                let r = env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))
                if r.Done then env.Reset(Nullable(), Span<float32>(obs))
        env.Reset(Nullable 1UL, Span<float32>(obs))
        run 2000 // warm up past tiered JIT
        let before = GC.GetAllocatedBytesForCurrentThread()
        run 1000
        let after = GC.GetAllocatedBytesForCurrentThread()
        Assert.True((after - before = 0L), sprintf "%s: %d bytes allocated over 1000 steps" id (after - before))

let tests = testList "BuiltIn" [
    ``Box validates its bounds and allows infinite observation bounds``
    ``Pendulum matches hand-computed Gymnasium transitions``
    ``Pendulum reward is bounded, speed stays within 8 and it never terminates (property)``
    ``Pendulum through Make truncates exactly at step 200 and keeps its invariants``
    ``MountainCar matches hand-computed Gymnasium steps``
    ``MountainCar left wall stops the car``
    ``MountainCar bang-bang policy reaches the goal and terminates with the +100 bonus``
    ``MountainCar idle car is truncated exactly at step 999``
    ``TimeLimit sets truncated together with terminated when the limit coincides, and Reset restarts the count``
    ``Same seed gives identical trajectories, different seeds different starts, and Reset(null) continues the stream``
    ``RescaleAction maps -1 and 1 to the inner bounds and clips out-of-range actions``
    ``Bad inputs throw with the environment id in the message``
    ``PointGoal random policy scores clearly worse than moving straight to the goal``
    ``PointGoal step follows its documented dynamics and reward``
    ``Step allocates nothing for every environment through Make and RescaleAction``
]
