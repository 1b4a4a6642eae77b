/// CartPole-v1 against Gymnasium's equations; the DQN, Double DQN and soft DQN targets, loss and policies against
/// their definitions and each other; the update, trainer and checkpoint; and a short learning run.
module DqnTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs

let private fsConfig = FsCheck.Config.QuickThrowOnFailure.WithMaxTest(200)
let private seeds = Arb.fromGen (Gen.choose (0, Int32.MaxValue))
let private gemm = ReferenceGemm.Instance :> IGemm

let private ro (a: float32[]) = ReadOnlySpan<float32>(a)
let private rw (a: float32[]) = Span<float32>(a)

let private near (what: string) (tol: float) (expected: float) (actual: float) =
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.12g, got %.12g (|diff| %.3g > %.3g)" what expected actual (Math.Abs(actual - expected)) tol

// ---------- CartPole-v1 ----------

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

// ---------- targets ----------

/// A random transition: gamma, reward, terminated, |A| and two rows of Q-values (online, target) at s'.
let private transition (seed: int) =
    let rng = Random(seed)
    let n = 1 + rng.Next 6
    let scale = [| 0.01; 1.0; 100.0 |].[rng.Next 3]
    let row () = Array.init n (fun _ -> float32 (scale * (2.0 * rng.NextDouble() - 1.0)))
    let gamma = if rng.Next 4 = 0 then 1.0f else float32 (rng.NextDouble())
    let r = float32 (10.0 * (2.0 * rng.NextDouble() - 1.0))
    let d = if rng.Next 3 = 0 then 1.0f else 0.0f
    gamma, r, d, n, row (), row ()

let ``for the same networks the Double DQN target never exceeds the DQN target`` =
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "for the same networks the Double DQN target never exceeds the DQN target" (Prop.forAll seeds (fun seed ->
        let gamma, r, d, _, qOnline, qTarget = transition seed
        let hard = Dqn.dqnTarget gamma (r, d, ro qTarget)
        let double' = Dqn.doubleDqnTarget gamma (r, d, ro qOnline, ro qTarget)
        // When the online network ranks the actions as the target does, both pick the same action.
        let same = Dqn.doubleDqnTarget gamma (r, d, ro qTarget, ro qTarget)
        double' <= hard && same = hard))

let ``the soft target lies within [hard, hard + gamma (1 - d) alpha log |A|] and tends to the hard target as alpha falls`` =
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the soft target lies within [hard, hard + gamma (1 - d) alpha log |A|] and tends to the hard target as alpha falls" (Prop.forAll seeds (fun seed ->
        let gamma, r, d, n, _, q = transition seed
        let alpha = float32 (Math.Pow(10.0, -4.0 + 4.0 * Random(seed + 1).NextDouble()))
        let hard = Dqn.dqnTarget gamma (r, d, ro q)
        let soft = Dqn.softDqnTarget gamma alpha (r, d, ro q)
        let width = float gamma * (1.0 - float d) * float alpha * Math.Log(float n)
        let ulp = 4.0 * float (MathF.BitIncrement(abs hard + 1.0f) - (abs hard + 1.0f))
        let within = soft >= hard && float soft <= float hard + width + ulp
        // As alpha -> 0 the gap closes: |soft - hard| <= gamma (1 - d) alpha log |A| at every alpha, and alpha = 0 is the hard target.
        let shrinking =
            [ 1e-1f; 1e-2f; 1e-3f; 1e-5f; 1e-7f ]
            |> List.forall (fun a ->
                let s = Dqn.softDqnTarget gamma a (r, d, ro q)
                s >= hard && float s - float hard <= float gamma * (1.0 - float d) * float a * Math.Log(float n) + ulp)
        let atZero = Dqn.softDqnTarget gamma 0.0f (r, d, ro q) = hard
        // The value alpha logsumexp(q / alpha) itself: max q, plus alpha log |A| when every action ties.
        let tie = Array.create n q.[0]
        let tieValue = float32 (SoftMaximum.Of(ro tie, float alpha))
        let tieOk = abs (float tieValue - (float q.[0] + float alpha * Math.Log(float n))) <= 1e-6 * (1.0 + abs (float q.[0]))
        within && shrinking && atZero && tieOk))

let ``terminated transitions target the reward alone`` =
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "terminated transitions target the reward alone" (Prop.forAll seeds (fun seed ->
        let gamma, r, _, _, qOnline, qTarget = transition seed
        Dqn.dqnTarget gamma (r, 1.0f, ro qTarget) = r
        && Dqn.doubleDqnTarget gamma (r, 1.0f, ro qOnline, ro qTarget) = r
        && Dqn.softDqnTarget gamma 0.5f (r, 1.0f, ro qTarget) = r))

let ``the batch targets equal the per-transition targets row by row`` =
    testPropertyWithConfig (Properties.ofFsCheck (fsConfig.WithMaxTest(50))) "the batch targets equal the per-transition targets row by row" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let b, n = 1 + rng.Next 9, 1 + rng.Next 4
        let f k = Array.init k (fun _ -> float32 (5.0 * rng.NextDouble() - 2.5))
        let r, qo, qt = f b, f (b * n), f (b * n)
        let d = Array.init b (fun i -> if i % 3 = 0 then 1.0f else 0.0f)
        let y1, y2, y3 = Array.zeroCreate b, Array.zeroCreate b, Array.zeroCreate b
        Dqn.dqnTargetBatch 0.9f b n (ro r, ro d, ro qt, rw y1)
        Dqn.doubleDqnTargetBatch 0.9f b n (ro r, ro d, ro qo, ro qt, rw y2)
        Dqn.softDqnTargetBatch 0.9f 0.3f b n (ro r, ro d, ro qt, rw y3)
        [ 0 .. b - 1 ] |> List.forall (fun i ->
            let rowO = ReadOnlySpan(qo, i * n, n)
            let rowT = ReadOnlySpan(qt, i * n, n)
            y1.[i] = Dqn.dqnTarget 0.9f (r.[i], d.[i], rowT)
            && y2.[i] = Dqn.doubleDqnTarget 0.9f (r.[i], d.[i], rowO, rowT)
            && y3.[i] = Dqn.softDqnTarget 0.9f 0.3f (r.[i], d.[i], rowT)
            && y2.[i] <= y1.[i] && y1.[i] <= y3.[i])))

// ---------- the TD loss and its gradient ----------

let ``the TD loss gradient reaches only the taken action's output and matches finite differences`` = testCase "the TD loss gradient reaches only the taken action's output and matches finite differences" <| fun () ->
    let b, n = 6, 3
    let rng = Random(17)
    let q = Array.init (b * n) (fun _ -> float32 (4.0 * rng.NextDouble() - 2.0))
    let actions = Array.init b (fun i -> float32 (i % n))
    // Offsets from Q(s, a): rows 0-2 in Huber's quadratic zone, rows 3-5 in its linear zone, all far from |d| = 1.
    let offsets = [| 0.3f; -0.6f; 0.05f; 2.5f; -3.0f; 1.7f |]
    let y = Array.init b (fun i -> q.[i * n + int actions.[i]] - offsets.[i])
    for kind in [ TdLoss.Huber; TdLoss.Squared ] do
        let dq = Array.create (b * n) nanf
        let loss = Dqn.tdLoss kind b n (ro q, ro actions, ro y, rw dq)
        let lossAt (qq: float32[]) = float (Dqn.tdLoss kind b n (ro qq, ro actions, ro y, rw (Array.zeroCreate (b * n))))
        // The loss itself, by definition.
        let expected =
            offsets |> Array.averageBy (fun d ->
                let d = float d
                if kind = TdLoss.Huber && abs d >= 1.0 then abs d - 0.5 else 0.5 * d * d)
        near $"{kind} loss" 1e-6 expected (float loss)
        for i in 0 .. b - 1 do
            for j in 0 .. n - 1 do
                let k = i * n + j
                let h = 1e-2f
                let plus, minus = Array.copy q, Array.copy q
                plus.[k] <- q.[k] + h
                minus.[k] <- q.[k] - h
                let fd = (lossAt plus - lossAt minus) / (2.0 * float h)
                if j = int actions.[i] then
                    let d = float offsets.[i]
                    let analytic = (if kind = TdLoss.Huber then Math.Clamp(d, -1.0, 1.0) else d) / float b
                    near $"{kind} dq[{i},{j}]" 1e-6 analytic (float dq.[k])
                    near $"{kind} finite difference [{i},{j}]" 1e-4 fd (float dq.[k])
                else
                    Assert.Equal(0.0f, dq.[k])
                    Assert.Equal(0.0, fd)
    // Bad action indices are refused.
    for bad in [ -1.0f; 3.0f; 0.5f; nanf ] do
        let acts = Array.copy actions
        acts.[2] <- bad
        Assert.Throws<ArgumentException>(fun () -> Dqn.tdLoss TdLoss.Huber b n (ro q, ro acts, ro y, rw (Array.zeroCreate (b * n))) |> ignore) |> ignore

let private smallConfigWith (hidden: int[]) variant =
    DqnConfig(Variant = variant, HiddenSizes = hidden, BatchSize = 5, BufferSize = 100, Seed = 3UL, Temperature = 0.5f)

let private smallConfig variant = smallConfigWith [| 8; 8 |] variant

/// A batch of random transitions with action indices (every third one terminated).
let private randomBatch (b: int) o n seed =
    let batch = Batch(b, o, 1)
    let key = PhiloxKey.FromSeed seed
    Philox.FillNormal(key, 0UL, Span batch.Observations)
    Philox.FillNormal(key, 1000UL, Span batch.NextObservations)
    for i in 0 .. b - 1 do batch.Actions.[i] <- float32 (Philox.UniformInt(key, uint64 i, n))
    Philox.FillNormal(key, 3000UL, Span batch.Rewards)
    for i in 0 .. b - 1 do batch.Terminated.[i] <- (if i % 3 = 0 then 1.0f else 0.0f)
    batch

let ``the TD-loss parameter gradient through the Q-network matches finite differences`` = testCase "the TD-loss parameter gradient through the Q-network matches finite differences" <| fun () ->
    let ctx = DqnContext(smallConfig DqnVariant.Dqn, 4, 3, gemm)
    let state = Dqn.init ctx 5UL
    let batch = randomBatch 5 4 3 8UL
    let b, n = batch.Size, ctx.ActionCount
    let ws = ctx.Workspace
    let theta = Array.copy state.QNetwork
    let qAt (p: float32[]) = (Mlp.Forward(gemm, ctx.Spec, ro p, ro batch.Observations, b, MlpWorkspace(ctx.Spec, b))).ToArray()
    // Targets placed so rows alternate between Huber's quadratic and linear zones, away from its kinks.
    let q0 = qAt theta
    let offsets = [| 0.4f; 2.0f; -0.3f; -2.5f; 0.1f |]
    for i in 0 .. b - 1 do ws.Targets.[i] <- q0.[i * n + int batch.Actions.[i]] - offsets.[i]
    let y = Array.sub ws.Targets 0 b
    let lossAt (p: float32[]) = Dqn.tdLoss TdLoss.Huber b n (ro (qAt p), ro batch.Actions, ro y, rw (Array.zeroCreate (b * n)))
    let struct (_, loss, _, _) = Dqn.tdStep ctx batch state
    near "loss" 1e-6 (float (lossAt theta)) (float loss)
    let grad = Array.copy ws.ParameterGrad
    let h = 1e-3f
    let mutable worst = 0.0f
    for i in 0 .. theta.Length - 1 do
        let plus, minus = Array.copy theta, Array.copy theta
        plus.[i] <- plus.[i] + h
        minus.[i] <- minus.[i] - h
        let fd = (lossAt plus - lossAt minus) / (2.0f * h)
        worst <- max worst (abs (fd - grad.[i]) / max 0.05f (abs fd))
    Assert.True(worst < 0.02f, sprintf "worst relative error %g over %d parameters" worst theta.Length)
    // The step moved the online network only.
    Assert.NotEqual<float32[]>(theta, state.QNetwork)
    Assert.Equal<float32[]>(theta, state.TargetQNetwork)

// ---------- policies, schedule, update ----------

let ``epsilon follows SB3's linear schedule and the behaviour policies have the stated distributions`` = testCase "epsilon follows SB3's linear schedule and the behaviour policies have the stated distributions" <| fun () ->
    let cfg = DqnConfig()
    Assert.Equal(1.0f, Dqn.explorationRate cfg 0L)
    near "midway" 1e-6 (1.0 + 0.5 * (0.04 - 1.0)) (float (Dqn.explorationRate cfg 4000L))
    near "end of the ramp" 1e-6 0.04 (float (Dqn.explorationRate cfg 8000L))
    Assert.Equal(0.04f, Dqn.explorationRate cfg 8001L)
    Assert.Equal(0.04f, Dqn.explorationRate cfg 1_000_000L)
    Assert.Equal(0.04f, Dqn.explorationRate (DqnConfig(ExplorationFraction = 0.0f)) 0L)
    near "uniform entropy" 1e-6 (Math.Log 3.0) (float (Dqn.epsilonGreedyEntropy 1.0f 3))
    Assert.Equal(0.0f, Dqn.epsilonGreedyEntropy 0.0f 3)
    // Boltzmann: probabilities, entropy, and inverse-CDF sampling on a grid of uniforms reproduce softmax(q / alpha).
    let q = [| 1.0f; 1.5f; 0.2f; 1.5f |]
    let alpha = 0.4f
    let p = Array.zeroCreate<float32> 4
    Dqn.boltzmannProbabilities alpha (ro q, rw p)
    let w = q |> Array.map (fun v -> Math.Exp(float v / float alpha))
    let z = Array.sum w
    for j in 0 .. 3 do near $"p[{j}]" 1e-6 (w.[j] / z) (float p.[j])
    let h = -(w |> Array.sumBy (fun wj -> wj / z * Math.Log(wj / z)))
    near "Boltzmann entropy" 1e-5 h (float (Dqn.boltzmannEntropy alpha (ro q)))
    let grid = 100_000
    let counts = Array.zeroCreate<int> 4
    for k in 0 .. grid - 1 do
        let a = Dqn.sampleBoltzmann alpha (ro q) (float32 ((float k + 0.5) / float grid))
        counts.[a] <- counts.[a] + 1
    for j in 0 .. 3 do near $"sampled frequency {j}" 2e-4 (w.[j] / z) (float counts.[j] / float grid)
    Assert.Equal(1, Dqn.argmax (ro q))
    // Acting: greedy is argmax; epsilon 1 is uniform; epsilon 0 is greedy.
    let ctx = DqnContext(smallConfig DqnVariant.Dqn, 4, 3, gemm)
    let state = Dqn.init ctx 1UL
    let ws = MlpWorkspace(ctx.Spec, 1)
    let obs = [| 0.1f; -0.2f; 0.3f; 0.05f |]
    let greedy = Dqn.act ctx ws state.QNetwork Greedy (ro obs)
    Assert.Equal(Dqn.argmax (Dqn.qValues ctx ws state.QNetwork (ro obs)), greedy)
    let key = PhiloxKey.FromSeed 77UL
    let freq = Array.zeroCreate<int> 3
    for t in 0 .. 2999 do
        Assert.Equal(greedy, Dqn.act ctx ws state.QNetwork (EpsilonGreedy(0.0f, key, uint64 t)) (ro obs))
        let a = Dqn.act ctx ws state.QNetwork (EpsilonGreedy(1.0f, key, uint64 t)) (ro obs)
        freq.[a] <- freq.[a] + 1
    for c in freq do Assert.InRange(c, 850, 1150)

let ``an update moves only the online network, the target follows every TargetUpdateInterval steps, and nothing allocates`` = testCase "an update moves only the online network, the target follows every TargetUpdateInterval steps, and nothing allocates" <| fun () ->
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let ctx = DqnContext(smallConfig variant, 4, 3, gemm)
        let batch = randomBatch 5 4 3 21UL
        let mutable s = Dqn.init ctx 2UL
        let target0 = Array.copy s.TargetQNetwork
        let struct (next, m) = Dqn.update ctx batch s
        s <- next
        Assert.Equal(1L, s.Step)
        Assert.Equal(1L, s.Optimizer.Step)
        Assert.Equal<float32[]>(target0, s.TargetQNetwork)
        Assert.NotEqual<float32[]>(target0, s.QNetwork)
        Assert.True(m.TdLoss > 0.0f && Single.IsFinite m.MeanQ && Single.IsFinite m.MeanTarget)
        if variant = DqnVariant.SoftDqn then Assert.InRange(m.Entropy, 0.0f, float32 (Math.Log 3.0) + 1e-6f)
        else Assert.Equal(0.0f, m.Entropy)
        // syncTarget copies on multiples of the interval (10) only.
        Assert.False(Dqn.syncTarget ctx 9L s)
        Assert.Equal<float32[]>(target0, s.TargetQNetwork)
        Assert.True(Dqn.syncTarget ctx 20L s)
        Assert.Equal<float32[]>(s.QNetwork, s.TargetQNetwork)
        for _ in 1 .. 5 do
            let struct (n, _) = Dqn.update ctx batch s
            s <- n
        let before = GC.GetAllocatedBytesForCurrentThread()
        for t in 1 .. 20 do
            let struct (n, _) = Dqn.update ctx batch s
            s <- n
            Dqn.syncTarget ctx (int64 t) s |> ignore
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)
        Assert.Equal(26L, s.Step)

// A 500-step CartPole truncation stored as terminal would teach a perfect policy that its best states are worth 1.
let ``a truncated transition bootstraps through the replay buffer into every variant's target, a terminated one does not`` = testCase "a truncated transition bootstraps through the replay buffer into every variant's target, a terminated one does not" <| fun () ->
    let obs = [| 0.01f; -0.02f; 0.03f; 0.04f |]
    let next = [| 0.02f; 0.01f; -0.01f; 0.05f |]
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let cfg = smallConfig variant
        let ctx = DqnContext(cfg, 4, 2, gemm)
        let state = Dqn.init ctx 3UL
        let qNext = (Dqn.qValues ctx (MlpWorkspace(ctx.Spec, 1)) state.TargetQNetwork (ro next)).ToArray()
        let targetOf (terminated: bool) =
            let replay = ReplayBuffer(1, 4, 1)
            replay.Add(ro obs, ro [| 1.0f |], 1.0f, ro next, terminated, true)
            let batch = Batch(cfg.BatchSize, 4, 1)
            replay.Sample(PhiloxKey.FromSeed 5UL, 0UL, batch)
            Assert.Equal((if terminated then 1.0f else 0.0f), batch.Terminated.[0])
            Assert.Equal(1.0f, batch.Truncated.[0])
            Dqn.targets ctx batch state
            ctx.Workspace.Targets.[0]
        // The online and target networks are equal after init, so Double DQN's bootstrap is the hard one here.
        let bootstrap =
            match variant with
            | DqnVariant.SoftDqn -> Dqn.softDqnTarget cfg.Gamma cfg.Temperature (1.0f, 0.0f, ro qNext)
            | _ -> Dqn.dqnTarget cfg.Gamma (1.0f, 0.0f, ro qNext)
        Assert.True(abs (bootstrap - 1.0f) > 1e-3f, sprintf "%A: the next state's value should be visible, got %g" variant bootstrap)
        Assert.Equal(bootstrap, targetOf false)
        Assert.Equal(1.0f, targetOf true)

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

// ---------- checkpoints ----------

let private trainedLearnerWith (hidden: int[]) variant =
    let ctx = DqnContext(smallConfigWith hidden variant, 4, 3, gemm)
    let batch = randomBatch 5 4 3 31UL
    let mutable s = Dqn.init ctx 6UL
    for t in 1 .. 7 do
        let struct (n, _) = Dqn.update ctx batch s
        s <- n
        Dqn.syncTarget ctx (int64 t * 5L) s |> ignore
    ctx, batch, s

let private trainedLearner variant = trainedLearnerWith [| 8; 8 |] variant

let private header algorithm = DqnCheckpointHeader(algorithm, "CartPole-v1", 4, 3, [| 8; 8 |], 1234L)

let private tempFile () = Path.Combine(Path.GetTempPath(), $"dqn-{Guid.NewGuid():N}.ckpt")

let ``a DQN checkpoint round-trips the learner exactly, and training continues identically`` = testCase "a DQN checkpoint round-trips the learner exactly, and training continues identically" <| fun () ->
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let ctx, batch, s = trainedLearner variant
        let name = DqnCheckpoint.AlgorithmName variant
        Assert.Equal(variant, DqnCheckpoint.VariantOf name)
        let path = tempFile ()
        try
            DqnCheckpoint.Save(path, header name, s)
            Assert.Equal(name, DqnCheckpoint.PeekAlgorithm path)
            let struct (h, loaded) = DqnCheckpoint.Load path
            Assert.Equal(header name, h)
            Assert.Equal(variant, h.Variant)
            Assert.Equal<float32[]>(s.QNetwork, loaded.QNetwork)
            Assert.Equal<float32[]>(s.TargetQNetwork, loaded.TargetQNetwork)
            Assert.Equal(s.Optimizer.Step, loaded.Optimizer.Step)
            Assert.Equal<float32[]>(s.Optimizer.FirstMoment, loaded.Optimizer.FirstMoment)
            Assert.Equal<float32[]>(s.Optimizer.SecondMoment, loaded.Optimizer.SecondMoment)
            Assert.Equal(s.Step, loaded.Step)
            Assert.Equal(s.Key, loaded.Key)
            let struct (a, _) = Dqn.update ctx batch (s.DeepCopy())
            let struct (b, _) = Dqn.update ctx batch loaded
            Assert.Equal<float32[]>(a.QNetwork, b.QNetwork)
            // SAC's loader refuses it cleanly (its header has DQN fields), as DQN's loader refuses a SAC file.
            Assert.Throws<CheckpointException>(fun () -> Checkpoint.Load path |> ignore) |> ignore
        finally
            File.Delete path
    // Mismatched arrays are the caller's error, reported before anything is written.
    let _, _, s = trainedLearner DqnVariant.Dqn
    let path = tempFile ()
    let ex = Assert.Throws<ArgumentException>(fun () -> DqnCheckpoint.Save(path, DqnCheckpointHeader("dqn", "CartPole-v1", 4, 3, [| 8; 9 |], 0L), s))
    Assert.Contains("QNetwork", ex.Message)
    Assert.False(File.Exists path)
    Assert.Throws<ArgumentException>(fun () -> DqnCheckpointHeader("sac", "CartPole-v1", 4, 3, [| 8 |], 0L) |> ignore) |> ignore

let ``truncated or damaged DQN checkpoints fail with CheckpointException, never another exception`` = testCase "truncated or damaged DQN checkpoints fail with CheckpointException, never another exception" <| fun () ->
    // Small networks keep the files short, so every prefix and every byte can be tried.
    let _, _, s = trainedLearnerWith [| 3 |] DqnVariant.SoftDqn
    let path = tempFile ()
    let trainingPath = tempFile ()
    let damaged = tempFile ()
    try
        DqnCheckpoint.Save(path, DqnCheckpointHeader("soft-dqn", "CartPole-v1", 4, 3, [| 3 |], 99L), s)
        // A training checkpoint: progress with metrics in the header, the running episode's actions and a replay buffer.
        let cfg = DqnConfig(HiddenSizes = [| 3 |], BatchSize = 4, BufferSize = 4, LearningStarts = 4, TrainFrequency = 1,
                            GradientSteps = 1, EvalInterval = 0, Seed = 2UL)
        let trainer = DqnTrainer("CartPole-v1", cfg, gemm)
        let state = trainer.RunTo(trainer.Start(), 7L, []).State
        trainer.Save(trainingPath, state, 50L, true)
        let full = DqnCheckpoint.LoadTraining trainingPath
        Assert.NotNull((nonNull full.Header.Progress).LastMetrics)
        Assert.Equal(4, (nonNull full.Replay).Count)
        Assert.NotEmpty(full.EpisodeActions)
        for source in [ path; trainingPath ] do
            let bytes = File.ReadAllBytes source
            let expectFailure (what: string) (content: byte[]) =
                File.WriteAllBytes(damaged, content)
                let attempt (load: string -> unit) =
                    try
                        load damaged
                        failwithf "%s: loaded without error" what
                    with
                    | :? CheckpointException as e -> e
                    | e -> failwithf "%s: %s instead of CheckpointException: %s" what (e.GetType().Name) e.Message
                // The learner-only file through Load, the training one through LoadTraining (both share the reader).
                attempt (if source = path then DqnCheckpoint.Load >> ignore else DqnCheckpoint.LoadTraining >> ignore)
            // Every proper prefix: cut short, whatever the length.
            for n in 0 .. bytes.Length - 1 do
                let e = expectFailure $"prefix of {n} bytes" bytes.[.. n - 1]
                Assert.Equal(CheckpointFailure.Truncated, e.Reason)
            // A flipped bit anywhere.
            for i in 0 .. bytes.Length - 1 do
                let copy = Array.copy bytes
                copy.[i] <- copy.[i] ^^^ 0x10uy
                expectFailure $"bit flip at {i}" copy |> ignore
        Assert.Equal(CheckpointFailure.NotFound, (Assert.Throws<CheckpointException>(fun () -> DqnCheckpoint.Load(path + ".missing") |> ignore)).Reason)
        // A SAC checkpoint is named for what it is.
        let sacCtx = SacContext(SacConfig(HiddenSizes = [| 8 |]), 3, 1, gemm)
        Checkpoint.Save(damaged, CheckpointHeader("sac", "Pendulum-v1", 3, 1, [| 8 |], "V2", 0L), Sac.init sacCtx 1UL)
        Assert.Equal("sac", DqnCheckpoint.PeekAlgorithm damaged)
        let e = Assert.Throws<CheckpointException>(fun () -> DqnCheckpoint.Load damaged |> ignore)
        Assert.Equal(CheckpointFailure.Malformed, e.Reason)
        Assert.Contains("\"sac\" checkpoint, not a DQN-family one", e.Message)
    finally
        File.Delete path
        File.Delete trainingPath
        File.Delete damaged

// ---------- training ----------

let ``the trainer is reproducible from its seed and reports TD metrics through TrainingRecord`` = testCase "the trainer is reproducible from its seed and reports TD metrics through TrainingRecord" <| fun () ->
    let cfg = DqnConfig(HiddenSizes = [| 16; 16 |], LearningStarts = 200, TrainFrequency = 50, GradientSteps = 10, BatchSize = 16,
                        TotalTimesteps = 1000L, EvalInterval = 500, EvalEpisodes = 2, Seed = 4UL, Variant = DqnVariant.SoftDqn, Temperature = 0.1f)
    let run () =
        use g = new ManagedGemm(1)
        let records = ResizeArray<TrainingRecord>()
        let trainer, final = DqnTraining.train g "CartPole-v1" cfg 1000L records.Add
        final, records
    let a, recA = run ()
    let b, _ = run ()
    Assert.Equal<float32[]>(a.Learner.QNetwork, b.Learner.QNetwork)
    Assert.Equal(1000L, a.EnvSteps)
    Assert.Equal(160L, a.Learner.Step)   // (1000 - 200) / 50 phases of 10 steps
    let evals = recA |> Seq.filter (fun r -> r.EvalReturn.IsSome) |> List.ofSeq
    Assert.Equal<int64 list>([ 500L; 1000L ], evals |> List.map (fun r -> r.Step))
    let m = (List.last evals).Metrics.Value
    Assert.Equal<string[]>([| "td_loss"; "mean_q"; "entropy"; "temperature" |], m.Names)
    Assert.Equal(0.1f, m.["temperature"])
    Assert.True(m.["td_loss"] >= 0.0f && m.["entropy"] >= 0.0f && Single.IsFinite m.["mean_q"])
    Assert.True(recA |> Seq.forall (fun r -> r.EpisodeReturn.IsNone || r.EpisodeReturn = (r.EpisodeLength |> Option.map float)))

let ``DQN, Double DQN and soft DQN learn CartPole far beyond a random policy in 30k steps`` = testCase "DQN, Double DQN and soft DQN learn CartPole far beyond a random policy in 30k steps" <| fun () ->
    use g = new ManagedGemm(1)
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let cfg = DqnConfig(Variant = variant, HiddenSizes = [| 64; 64 |], TotalTimesteps = 30_000L, EvalInterval = 2500,
                            EvalEpisodes = 10, Seed = 0UL)
        let evals = ResizeArray<float>()
        DqnTraining.train g "CartPole-v1" cfg 30_000L (fun r -> r.EvalReturn |> Option.iter evals.Add) |> ignore
        // A uniformly random policy averages about 22 on CartPole-v1; 150 needs a policy that balances.
        let best = Seq.max evals
        Assert.True(best >= 150.0, sprintf "%A: best evaluation mean %.1f over %A" variant best (List.ofSeq evals))

let tests = testList "Dqn" [
    ``CartPole matches hand-computed Gymnasium steps``
    ``CartPole terminates past 2.4 or 12 degrees, rewarding the terminating step and none after it``
    ``CartPole truncates at 500 steps through the registry``
    ``CartPole is deterministic by seed, starts in U(-0.05, 0.05)^4 and refuses bad indices``
    ``CartPole steps allocate nothing``
    ``for the same networks the Double DQN target never exceeds the DQN target``
    ``the soft target lies within [hard, hard + gamma (1 - d) alpha log |A|] and tends to the hard target as alpha falls``
    ``terminated transitions target the reward alone``
    ``the batch targets equal the per-transition targets row by row``
    ``the TD loss gradient reaches only the taken action's output and matches finite differences``
    ``the TD-loss parameter gradient through the Q-network matches finite differences``
    ``epsilon follows SB3's linear schedule and the behaviour policies have the stated distributions``
    ``an update moves only the online network, the target follows every TargetUpdateInterval steps, and nothing allocates``
    ``a truncated transition bootstraps through the replay buffer into every variant's target, a terminated one does not``
    ``DqnConfig defaults are RL Zoo's CartPole-v1 entry and every bad field is named``
    ``a DQN checkpoint round-trips the learner exactly, and training continues identically``
    ``truncated or damaged DQN checkpoints fail with CheckpointException, never another exception``
    ``the trainer is reproducible from its seed and reports TD metrics through TrainingRecord``
    ``DQN, Double DQN and soft DQN learn CartPole far beyond a random policy in 30k steps``
]
