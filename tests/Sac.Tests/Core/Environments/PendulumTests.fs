/// Pendulum-v1 against Gymnasium's equations: transitions, reward and speed bounds, and truncation at 200 steps.
module PendulumTests

open System
open Xunit
open Expecto
open FsCheck.FSharp
open Sac.Core.Random
open Sac.Core.Environments
open EnvironmentsKit

/// Python's float modulo and Gymnasium's angle_normalize, written independently of the library.
let private angleNormalize (x: float) =
    let twoPi = 2.0 * Math.PI
    let r = (x + Math.PI) - twoPi * Math.Floor((x + Math.PI) / twoPi)
    r - Math.PI

let private pendulumMinReward = -(Math.PI * Math.PI + 0.1 * 64.0 + 0.001 * 4.0)

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

let tests = testList "Pendulum" [
    ``Pendulum matches hand-computed Gymnasium transitions``
    ``Pendulum reward is bounded, speed stays within 8 and it never terminates (property)``
    ``Pendulum through Make truncates exactly at step 200 and keeps its invariants``
]
