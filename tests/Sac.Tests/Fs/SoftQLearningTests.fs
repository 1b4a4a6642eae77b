/// Soft Q-Learning: the importance-sampled soft value, the Q targets, the gradients of both stages, the target network and acting.
module SoftQLearningTests

open System
open Xunit
open Expecto
open FsCheck.FSharp
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Fs
open SqlKit

let private near (what: string) (tol: float) (expected: float) (actual: float) =
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.9g, got %.9g (|diff| %.3g > %.3g)" what expected actual (Math.Abs(actual - expected)) tol

/// The worst relative error of `grad` against central differences of `f` at `theta0` over every coordinate, each taken at
/// the best of a few step sizes: a ReLU kink within +-h of a pre-activation spoils the difference at that h only.
let private worstGradientError (f: float32[] -> float) (theta0: float32[]) (grad: float32[]) =
    let mutable worst = 0.0
    for i in 0 .. theta0.Length - 1 do
        let errorAt (h: float32) =
            let plus, minus = Array.copy theta0, Array.copy theta0
            plus.[i] <- plus.[i] + h
            minus.[i] <- minus.[i] - h
            let fd = (f plus - f minus) / (float plus.[i] - float minus.[i])
            abs (fd - float grad.[i]) / max 0.05 (abs fd)
        worst <- max worst ([ 3e-3f; 1e-3f; 3e-4f ] |> List.map errorAt |> List.min)
    worst

/// alpha log ∫_{-1}^{1} exp(Q(a)/alpha) da by composite Simpson's rule in float64.
let private integralValue (alpha: float) (q: float -> float) =
    let n = 20000
    let h = 2.0 / float n
    let f k = Math.Exp(q (-1.0 + float k * h) / alpha)
    let mutable s = f 0 + f n
    for k in 1 .. n - 1 do s <- s + (if k % 2 = 1 then 4.0 else 2.0) * f k
    alpha * Math.Log(s * h / 3.0)

let private testQ (a: float) = 1.5 * Math.Sin(3.0 * a) + 0.5 * a

/// One importance-sampled estimate with m uniform samples from draw `draw` of the key.
let private sampledValue (alpha: float32) (m: int) (key: PhiloxKey) (draw: uint64) =
    let u = Array.zeroCreate<float32> m
    Philox.FillUniform(key, draw * uint64 m, Span u)
    let q = u |> Array.map (fun x -> float32 (testQ (2.0 * float x - 1.0)))
    let v = Array.zeroCreate<float32> 1
    SoftQLearning.importanceSoftValue alpha 1 1 m (ReadOnlySpan q) (Span v)
    float v.[0]

let ``the importance-sampled soft value matches the numerical integral in 1-D`` = testCase "the importance-sampled soft value matches the numerical integral in 1-D" <| fun () ->
    let alpha = 0.4f
    let exact = integralValue (float alpha) testQ
    let estimate = sampledValue alpha 200_000 (PhiloxKey.FromSeed 1UL) 0UL
    near "V with 200000 samples" 0.01 exact estimate
    // A constant Q = c gives V = c + alpha |A| log 2 exactly (the box has volume 2^|A|), for every M.
    let v = Array.zeroCreate<float32> 2
    SoftQLearning.importanceSoftValue 0.5f 3 2 4 (ReadOnlySpan(Array.create 8 1.25f)) (Span v)
    near "constant Q" 1e-6 (1.25 + 0.5 * 3.0 * Math.Log 2.0) (float v.[0])
    near "constant Q, second row" 1e-6 (float v.[0]) (float v.[1])

let ``the sampled soft value rises toward the integral as M grows, from below (Jensen)`` = testCase "the sampled soft value rises toward the integral as M grows, from below (Jensen)" <| fun () ->
    let alpha = 0.4f
    let exact = integralValue (float alpha) testQ
    let key = PhiloxKey.FromSeed 2UL
    let meanOver (m: int) = Array.init 400 (fun r -> sampledValue alpha m key (uint64 r)) |> Array.average
    let v2, v8, v64, v1024 = meanOver 2, meanOver 8, meanOver 64, meanOver 1024
    Console.WriteLine(sprintf "soft value: exact %.4f; mean estimate M=2 %.4f, 8 %.4f, 64 %.4f, 1024 %.4f" exact v2 v8 v64 v1024)
    Assert.True(v2 < v8 && v8 < v64, sprintf "not increasing: %g %g %g" v2 v8 v64)
    Assert.True(v64 < exact, sprintf "M = 64 mean %g above the integral %g" v64 exact)
    near "M = 1024" 0.01 exact v1024

let ``the sampled soft value lies between max Q plus the sampling bounds`` =
    let gen = gen {
        let! m = Gen.choose (1, 40)
        let! a = Gen.choose (1, 4)
        let! alpha = Gen.elements [ 0.05f; 0.3f; 1.0f; 4.0f ]
        let! qs = Gen.arrayOfLength m (Gen.choose (-10000, 10000) |> Gen.map (fun k -> float32 k / 1000.0f))
        return m, a, alpha, qs }
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the sampled soft value lies between max Q plus the sampling bounds" (Prop.forAll (Arb.fromGen gen) (fun (m, a, alpha, qs) ->
        let v = Array.zeroCreate<float32> 1
        SoftQLearning.importanceSoftValue alpha a 1 m (ReadOnlySpan qs) (Span v)
        let mx = float (Array.max qs)
        let logBox = float a * Math.Log 2.0
        let lo = mx + float alpha * (logBox - Math.Log(float m))
        let hi = mx + float alpha * logBox
        let tol = 1e-5 * (1.0 + abs mx)
        float v.[0] >= lo - tol && float v.[0] <= hi + tol))

let ``Q targets bootstrap unless terminated, and a terminal target is the scaled reward alone`` = testCase "Q targets bootstrap unless terminated, and a terminal target is the scaled reward alone" <| fun () ->
    let rewards = [| 2.0f; -1.0f; 3.0f; 0.5f |]
    let terminated = [| 1.0f; 0.0f; 1.0f; 0.0f |]
    let values = [| nanf; 4.0f; 1e30f; -2.0f |]
    let y = Array.zeroCreate<float32> 4
    SoftQLearning.qTargets 0.9f 0.1f 4 (ReadOnlySpan rewards, ReadOnlySpan terminated, ReadOnlySpan values, Span y)
    Assert.Equal(0.2f, y.[0])
    Assert.Equal(0.1f * -1.0f + 0.9f * 4.0f, y.[1])
    Assert.Equal(0.3f, y.[2])
    Assert.Equal(0.1f * 0.5f + 0.9f * -2.0f, y.[3])

let ``soft targets come from the target network and every terminated row gets y = r_scale r`` = testCase "soft targets come from the target network and every terminated row gets y = r_scale r" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    // Make the online Q differ from the target: the targets must not depend on it.
    for i in 0 .. state.Q.Length - 1 do state.Q.[i] <- state.Q.[i] + 0.5f
    let key = PhiloxKey.FromSeed 4UL
    SoftQLearning.softTargets ctx batch key state
    let y1 = Array.copy ctx.Workspace.Targets
    for i in 0 .. state.Q.Length - 1 do state.Q.[i] <- state.Q.[i] - 1.0f
    SoftQLearning.softTargets ctx batch key state
    Assert.Equal<float32[]>(y1, ctx.Workspace.Targets)
    for i in 0 .. batch.Size - 1 do
        if batch.Terminated.[i] = 1.0f then Assert.Equal(cfg.RewardScale * batch.Rewards.[i], y1.[i])
        else Assert.NotEqual(cfg.RewardScale * batch.Rewards.[i], y1.[i])

let ``the Q-loss gradient matches finite differences and the target stays a constant`` = testCase "the Q-loss gradient matches finite differences and the target stays a constant" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    let ws = ctx.Workspace
    let targets = Array.init batch.Size (fun i -> float32 i * 0.3f - 0.5f)
    Array.blit targets 0 ws.Targets 0 batch.Size
    let theta0 = Array.copy state.Q
    let target0 = Array.copy state.TargetQ
    let sampler0 = Array.copy state.Sampler
    let struct (next, loss, _) = SoftQLearning.qStep ctx batch state
    let grad = Array.copy ws.QParameterGrad
    Assert.Equal<float32[]>(targets, Array.sub ws.Targets 0 batch.Size)
    Assert.Equal<float32[]>(target0, next.TargetQ)
    Assert.Equal<float32[]>(sampler0, next.Sampler)
    Assert.Equal(1L, next.QOptimizer.Step)
    Assert.Equal(0L, next.SamplerOptimizer.Step)
    let n = ctx.Networks
    let input = Array.zeroCreate<float32> (batch.Size * 4)
    Rows.concat batch.Size 2 2 (ReadOnlySpan batch.Observations) (ReadOnlySpan batch.Actions) (Span input)
    let lossAt (theta: float32[]) =
        let q = (Mlp.Forward(gemm, n.Q, ReadOnlySpan theta, ReadOnlySpan input, batch.Size, MlpWorkspace(n.Q, batch.Size))).ToArray()
        let mutable s = 0.0
        for i in 0 .. batch.Size - 1 do s <- s + 0.5 * (float q.[i] - float targets.[i]) ** 2.0
        s / float batch.Size
    near "loss" 1e-5 (lossAt theta0) (float loss)
    let worst = worstGradientError lossAt theta0 grad
    Assert.True(worst < 0.02, sprintf "worst relative error %g over %d Q parameters" worst theta0.Length)

let ``the SVGD scores are dQ/da over alpha (plus the squash term) and the sampler gradient matches finite differences`` = testCase "the SVGD scores are dQ/da over alpha (plus the squash term) and the sampler gradient matches finite differences" <| fun () ->
    for squash in [ false; true ] do
        let cfg = smallConfigWith squash 1.0f 3
        let ctx, state, batch = setup cfg
        let ws = ctx.Workspace
        let n = ctx.Networks
        let q0, target0, sampler0 = Array.copy state.Q, Array.copy state.TargetQ, Array.copy state.Sampler
        let struct (next, _) = SoftQLearning.samplerStep ctx batch (PhiloxKey.FromSeed 6UL) state
        Assert.Equal<float32[]>(q0, next.Q)
        Assert.Equal<float32[]>(target0, next.TargetQ)
        Assert.NotEqual<float32[]>(sampler0, next.Sampler)
        Assert.Equal(1L, next.SamplerOptimizer.Step)
        Assert.Equal(0L, next.QOptimizer.Step)
        // Scores against a finite difference of Q(s, a_j)/alpha in each action component.
        let kf = ws.FixedParticles
        let rows = batch.Size * kf
        let input = Array.sub ws.ParticleInput 0 (rows * 4)
        let qAt (inp: float32[]) = (Mlp.Forward(gemm, n.Q, ReadOnlySpan q0, ReadOnlySpan inp, rows, MlpWorkspace(n.Q, rows))).ToArray()
        let h = 1e-2f
        for d in 0 .. 1 do
            let plus, minus = Array.copy input, Array.copy input
            for r in 0 .. rows - 1 do
                plus.[r * 4 + 2 + d] <- plus.[r * 4 + 2 + d] + h
                minus.[r * 4 + 2 + d] <- minus.[r * 4 + 2 + d] - h
            let qp, qm = qAt plus, qAt minus
            for r in 0 .. rows - 1 do
                let a = ws.FixedActions.[r * 2 + d]
                let fd = (qp.[r] - qm.[r]) / (2.0f * h) / cfg.Alpha + (if squash then Svgd.squashScore a else 0.0f)
                Assert.True(abs (fd - ws.Scores.[r * 2 + d]) < 2e-3f + 2e-3f * abs fd, sprintf "score row %d dim %d: fd %g, analytic %g" r d fd ws.Scores.[r * 2 + d])
        // The sampler gradient is that of -(1/B) sum <Δ, f(xi; s)> with Δ held constant.
        let ku = ws.UpdatedParticles
        let urows = batch.Size * ku
        let direction = Array.sub ws.Direction 0 (urows * 2)
        let uinput = Array.sub ws.UpdatedInput 0 (urows * 4)
        let grad = Array.copy ws.SamplerParameterGrad
        let surrogateAt (theta: float32[]) =
            let f = (Mlp.Forward(gemm, n.Sampler, ReadOnlySpan theta, ReadOnlySpan uinput, urows, MlpWorkspace(n.Sampler, urows))).ToArray()
            -(Array.fold2 (fun s (dl: float32) (fv: float32) -> s + float dl * float fv) 0.0 direction f) / float batch.Size
        let worst = worstGradientError surrogateAt sampler0 grad
        Assert.True(worst < 0.02, sprintf "squash %b: worst relative error %g over %d sampler parameters" squash worst sampler0.Length)

let ``the target network is copied every TargetUpdateInterval steps and a whole update allocates nothing`` = testCase "the target network is copied every TargetUpdateInterval steps and a whole update allocates nothing" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    let initialTarget = Array.copy state.TargetQ
    let struct (s1, m) = SoftQLearning.update ctx batch state
    Assert.Equal(cfg.Alpha, m.Alpha)
    Assert.True(m.QLoss > 0.0f)
    let struct (s2, _) = SoftQLearning.update ctx batch s1
    Assert.Equal<float32[]>(initialTarget, s2.TargetQ)
    Assert.NotEqual<float32[]>(s2.Q, s2.TargetQ)
    let struct (s3, _) = SoftQLearning.update ctx batch s2
    Assert.Equal<float32[]>(s3.Q, s3.TargetQ) // tau = 1 at step 3: a copy
    Assert.Equal(3L, s3.Step)
    let mutable s = s3
    Assert.Equal(0L, Allocation.leastAllocated (fun () ->
        for _ in 1 .. 20 do
            let struct (n, _) = SoftQLearning.update ctx batch s
            s <- n))
    // Polyak averaging with tau < 1 at every step.
    let cfg = smallConfigWith true 0.25f 1
    let ctx, state, batch = setup cfg
    let before = Array.copy state.TargetQ
    let struct (next, _) = SoftQLearning.update ctx batch state
    for i in 0 .. before.Length - 1 do
        Assert.True(abs (next.TargetQ.[i] - (0.25f * next.Q.[i] + 0.75f * before.[i])) < 1e-6f)

let ``acting stays in the box, is reproducible by key, and the deterministic mode uses zero noise`` = testCase "acting stays in the box, is reproducible by key, and the deterministic mode uses zero noise" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, _ = setup cfg
    let ws = SqlPolicyWorkspace(ctx.Networks)
    let obs = [| 0.3f; -1.2f |]
    let act mode =
        let a = Array.zeroCreate<float32> 2
        SoftQLearning.act ctx ws state.Sampler mode (ReadOnlySpan obs) (Span a)
        a
    let key = PhiloxKey.FromSeed 1UL
    Assert.Equal<float32[]>(act (Stochastic(key, 5UL)), act (Stochastic(key, 5UL)))
    Assert.NotEqual<float32[]>(act (Stochastic(key, 5UL)), act (Stochastic(key, 6UL)))
    for i in 0UL .. 200UL do
        let a = act (Stochastic(key, i))
        Assert.True(a |> Array.forall (fun x -> x >= -1.0f && x <= 1.0f))
    let expected = (Mlp.Forward(gemm, ctx.Networks.Sampler, ReadOnlySpan state.Sampler, ReadOnlySpan [| 0.3f; -1.2f; 0.0f; 0.0f |], 1, MlpWorkspace(ctx.Networks.Sampler, 1))).ToArray()
    Assert.Equal<float32[]>(expected, act Deterministic)

let tests = testList "SoftQLearning" [
    ``the importance-sampled soft value matches the numerical integral in 1-D``
    ``the sampled soft value rises toward the integral as M grows, from below (Jensen)``
    ``the sampled soft value lies between max Q plus the sampling bounds``
    ``Q targets bootstrap unless terminated, and a terminal target is the scaled reward alone``
    ``soft targets come from the target network and every terminated row gets y = r_scale r``
    ``the Q-loss gradient matches finite differences and the target stays a constant``
    ``the SVGD scores are dQ/da over alpha (plus the squash term) and the sampler gradient matches finite differences``
    ``the target network is copied every TargetUpdateInterval steps and a whole update allocates nothing``
    ``acting stays in the box, is reproducible by key, and the deterministic mode uses zero noise``
]
