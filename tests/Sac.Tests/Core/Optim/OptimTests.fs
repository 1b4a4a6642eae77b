module OptimTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Optim

// ---------- helpers ----------

/// |actual - expected| <= rel * |expected| + abs, with a message naming what differs.
let private near (what: string) (rel: float) (abs': float) (expected: float) (actual: float) =
    let tol = rel * Math.Abs expected + abs'
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.9g, got %.9g (|diff| %.3g > tol %.3g)" what expected actual (Math.Abs(actual - expected)) tol

let private throwsNaming (field: string) (f: unit -> unit) =
    let ex = Assert.ThrowsAny<ArgumentException>(Action f)
    Assert.Equal(field, ex.ParamName)

/// Textbook Adam (Kingma & Ba 2015, Alg. 1) in float64 with PyTorch's epsilon placement; returns (m, v, p) after each step.
let private adamReference (lr: float) (b1: float) (b2: float) (eps: float) (p0: float[]) (grads: float[][]) =
    let n = p0.Length
    let m = Array.zeroCreate<float> n
    let v = Array.zeroCreate<float> n
    let p = Array.copy p0
    [ for t in 1 .. grads.Length do
        let g = grads.[t - 1]
        for i in 0 .. n - 1 do
            m.[i] <- b1 * m.[i] + (1.0 - b1) * g.[i]
            v.[i] <- b2 * v.[i] + (1.0 - b2) * g.[i] * g.[i]
            let mhat = m.[i] / (1.0 - b1 ** float t)
            let vhat = v.[i] / (1.0 - b2 ** float t)
            p.[i] <- p.[i] - lr * mhat / (sqrt vhat + eps)
        yield Array.copy m, Array.copy v, Array.copy p ]

/// A deterministic pseudo-random vector in [-scale, scale], so the tests need no seeds from the clock.
let private vector (seed: int) (n: int) (scale: float32) =
    let rng = Random(seed)
    Array.init n (fun _ -> scale * (2.0f * float32 (rng.NextDouble()) - 1.0f))

let private fsCheckConfig = Config.QuickThrowOnFailure.WithMaxTest(200)

// ---------- Adam: exact steps ----------

// A large epsilon makes its placement (outside the square root, as in PyTorch) visible in the comparison.
let ``Adam matches the textbook formula step by step on three parameters`` (epsilon: float32) =
    let cfg = AdamConfig(LearningRate = 0.01f, Beta1 = 0.9f, Beta2 = 0.999f, Epsilon = epsilon)
    let p0 = [| 0.5f; -1.0f; 2.0f |]
    let grads =
        [| [| 0.1f; -0.2f; 0.0f |]
           [| 0.3f; 0.1f; -0.5f |]
           [| -0.4f; 0.05f; 0.25f |]
           [| 1.5f; -2.0f; 0.001f |]
           [| 0.0f; 0.0f; 0.0f |] |]
    // The reference uses the float32 hyperparameters widened, so only the arithmetic precision differs.
    let expected =
        adamReference (float cfg.LearningRate) (float cfg.Beta1) (float cfg.Beta2) (float cfg.Epsilon)
            (Array.map float p0) (grads |> Array.map (Array.map float))
    let p = Array.copy p0
    let mutable st = Adam.Init 3
    Assert.Equal(0L, st.Step)
    expected |> List.iteri (fun k (em, ev, ep) ->
        st <- Adam.Update(cfg, st, ReadOnlySpan grads.[k], Span p)
        Assert.Equal(int64 (k + 1), st.Step)
        for i in 0 .. 2 do
            near (sprintf "m[%d] step %d" i (k + 1)) 1e-6 1e-12 em.[i] (float st.FirstMoment.[i])
            near (sprintf "v[%d] step %d" i (k + 1)) 1e-6 1e-14 ev.[i] (float st.SecondMoment.[i])
            near (sprintf "p[%d] step %d" i (k + 1)) 1e-6 1e-9 ep.[i] (float p.[i]))

let ``Adam first step moves every parameter with a nonzero gradient by about lr against the gradient`` = testCase "Adam first step moves every parameter with a nonzero gradient by about lr against the gradient" <| fun () ->
    let lr = 1e-3f
    let cfg = AdamConfig(LearningRate = lr)
    let p0 = [| 1.0f; -0.25f; 3.0f; 0.0f |]
    let g = [| 0.02f; -7.0f; 1e-3f; 0.0f |]
    let p = Array.copy p0
    Adam.Update(cfg, Adam.Init 4, ReadOnlySpan g, Span p) |> ignore
    for i in 0 .. 2 do
        let delta = float p.[i] - float p0.[i]
        // mhat = g and vhat = g^2 on step one, so the step is lr * g / (|g| + eps).
        near (sprintf "|dp[%d]|" i) 0.0 1e-6 (float lr) (abs delta)
        Assert.Equal(-(sign g.[i]), sign delta)
    Assert.Equal(p0.[3], p.[3])

let ``Adam first step has magnitude lr for any gradient well above epsilon`` =
    let genCase =
        gen {
            let! n = Gen.choose (1, 40)
            let! mags = Gen.arrayOfLength n (Gen.choose (-3000, 3000))
            let! signs = Gen.arrayOfLength n (Gen.elements [ true; false ])
            let g = Array.map2 (fun e s -> (if s then 1.0f else -1.0f) * float32 (10.0 ** (float e / 1000.0))) mags signs
            return g
        }
    let prop (g: float32[]) =
        let lr = 0.01f
        let p = Array.zeroCreate<float32> g.Length
        Adam.Update(AdamConfig(LearningRate = lr), Adam.Init g.Length, ReadOnlySpan g, Span p) |> ignore
        Array.forall2 (fun (pi: float32) gi -> abs (abs pi - lr) <= 1e-6f && sign pi = -(sign gi)) p g
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Adam first step has magnitude lr for any gradient well above epsilon" (Prop.forAll (Arb.fromGen genCase) prop)

let ``Adam vector body and scalar tail give bit-identical results`` = testCase "Adam vector body and scalar tail give bit-identical results" <| fun () ->
    // 37 elements exercise the SIMD body and the remainder; each element updated alone goes through the scalar tail.
    let n = 37
    let cfg = AdamConfig(LearningRate = 0.05f, Beta1 = 0.8f, Beta2 = 0.99f, Epsilon = 1e-6f)
    let p = vector 1 n 2.0f
    let single = Array.init n (fun i -> [| p.[i] |], Adam.Init 1)
    let mutable st = Adam.Init n
    for step in 1 .. 6 do
        let g = vector (100 + step) n 3.0f
        st <- Adam.Update(cfg, st, ReadOnlySpan g, Span p)
        for i in 0 .. n - 1 do
            let (pi, si) = single.[i]
            single.[i] <- (pi, Adam.Update(cfg, si, ReadOnlySpan [| g.[i] |], Span pi))
    for i in 0 .. n - 1 do
        let (pi, si) = single.[i]
        Assert.Equal(pi.[0], p.[i])
        Assert.Equal(si.FirstMoment.[0], st.FirstMoment.[i])
        Assert.Equal(si.SecondMoment.[0], st.SecondMoment.[i])

// ---------- Adam: clipping ----------

let ``Adam with MaxGradNorm equals Adam on the pre-scaled gradient and leaves the caller's gradient alone`` = testCase "Adam with MaxGradNorm equals Adam on the pre-scaled gradient and leaves the caller's gradient alone" <| fun () ->
    let n = 21
    let maxNorm = 1.0f
    let clipped = AdamConfig(LearningRate = 0.01f, MaxGradNorm = maxNorm)
    let plain = AdamConfig(LearningRate = 0.01f)
    let pA = vector 7 n 1.0f
    let pB = Array.copy pA
    let mutable sA = Adam.Init n
    let mutable sB = Adam.Init n
    // Gradient scales alternate above and below the threshold, so both the clipping and pass-through cases run.
    for step in 1 .. 8 do
        let g = vector (200 + step) n (if step % 2 = 0 then 5.0f else 0.01f)
        let before = Array.copy g
        sA <- Adam.Update(clipped, sA, ReadOnlySpan g, Span pA)
        Assert.Equal<float32[]>(before, g)
        let norm = sqrt (g |> Array.sumBy (fun x -> float x * float x))
        let scale = min 1.0f (maxNorm / (float32 norm + 1e-6f))
        if step % 2 = 0 then Assert.True(scale < 1.0f) else Assert.Equal(1.0f, scale)
        let scaled = g |> Array.map (fun x -> x * scale)
        sB <- Adam.Update(plain, sB, ReadOnlySpan scaled, Span pB)
        for i in 0 .. n - 1 do
            near (sprintf "p[%d] step %d" i step) 1e-6 1e-9 (float pB.[i]) (float pA.[i])
            near (sprintf "m[%d] step %d" i step) 1e-6 1e-12 (float sB.FirstMoment.[i]) (float sA.FirstMoment.[i])

let ``GradientClipping computes the global norm and clips in place`` = testCase "GradientClipping computes the global norm and clips in place" <| fun () ->
    Assert.Equal(5.0f, GradientClipping.GlobalNorm(ReadOnlySpan [| 3.0f; 0.0f; -4.0f |]))
    Assert.Equal(0.0f, GradientClipping.GlobalNorm(ReadOnlySpan<float32>.Empty))
    let big = vector 3 1001 10.0f
    let expected = sqrt (big |> Array.sumBy (fun x -> float x * float x))
    near "norm of 1001 elements" 1e-7 0.0 expected (float (GradientClipping.GlobalNorm(ReadOnlySpan big)))
    Assert.Equal(1.0f, GradientClipping.ScaleFactor(10.0f, 5.0f))
    near "scale" 1e-7 0.0 (0.5 / (5.0 + 1e-6)) (float (GradientClipping.ScaleFactor(0.5f, 5.0f)))
    let g = [| 3.0f; 0.0f; -4.0f |]
    let before = GradientClipping.ClipInPlace(Span g, 1.0f)
    Assert.Equal(5.0f, before)
    near "clipped norm" 1e-6 0.0 1.0 (float (GradientClipping.GlobalNorm(ReadOnlySpan g)))
    throwsNaming "maxNorm" (fun () -> GradientClipping.ScaleFactor(0.0f, 1.0f) |> ignore)

// ---------- convergence ----------

let private quadC = [| 1.0f; 10.0f; 100.0f; 0.5f |]
let private quadT = [| 1.0f; -2.0f; 0.5f; 3.0f |]

/// Gradient of sum_i c_i (x_i - t_i)^2.
let private quadGrad (p: float32[]) (g: float32[]) =
    for i in 0 .. p.Length - 1 do g.[i] <- 2.0f * quadC.[i] * (p.[i] - quadT.[i])

let private maxError (p: float32[]) (t: float32[]) = Array.map2 (fun a b -> abs (a - b)) p t |> Array.max

let ``Adam converges on an ill-conditioned quadratic`` = testCase "Adam converges on an ill-conditioned quadratic" <| fun () ->
    let cfg = AdamConfig(LearningRate = 0.05f)
    let p = Array.zeroCreate<float32> 4
    let g = Array.zeroCreate<float32> 4
    let mutable st = Adam.Init 4
    for _ in 1 .. 1000 do
        quadGrad p g
        st <- Adam.Update(cfg, st, ReadOnlySpan g, Span p)
    Assert.True(maxError p quadT < 1e-4f, sprintf "Adam stopped at %A" p)

let ``Adam reaches the Rosenbrock minimum from (-1.5, 2)`` = testCase "Adam reaches the Rosenbrock minimum from (-1.5, 2)" <| fun () ->
    // f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1).
    let cfg = AdamConfig(LearningRate = 0.01f)
    let p = [| -1.5f; 2.0f |]
    let g = Array.zeroCreate<float32> 2
    let mutable st = Adam.Init 2
    for _ in 1 .. 5000 do
        let x, y = p.[0], p.[1]
        g.[0] <- -2.0f * (1.0f - x) - 400.0f * x * (y - x * x)
        g.[1] <- 200.0f * (y - x * x)
        st <- Adam.Update(cfg, st, ReadOnlySpan g, Span p)
    Assert.True(maxError p [| 1.0f; 1.0f |] < 1e-2f, sprintf "Adam stopped at %A" p)

let ``SGD with momentum converges on the quadratic`` (nesterov: bool) =
    let cfg = SgdConfig(0.004f, Momentum = 0.9f, Nesterov = nesterov)
    let p = Array.zeroCreate<float32> 4
    let g = Array.zeroCreate<float32> 4
    let mutable st = Sgd.Init(cfg, 4)
    for _ in 1 .. 500 do
        quadGrad p g
        st <- Sgd.Update(cfg, st, ReadOnlySpan g, Span p)
    Assert.Equal(500L, st.Step)
    Assert.True(maxError p quadT < 1e-4f, sprintf "SGD stopped at %A" p)

// ---------- SGD: exact steps ----------

let ``SGD follows the PyTorch momentum and Nesterov formulas`` = testCase "SGD follows the PyTorch momentum and Nesterov formulas" <| fun () ->
    let lr, mu = 0.1f, 0.5f
    let grads = [| [| 1.0f; -2.0f |]; [| 0.5f; 0.25f |]; [| -1.0f; 4.0f |] |]
    for nesterov in [ false; true ] do
        let cfg = SgdConfig(lr, mu, nesterov)
        let p = [| 1.0f; 2.0f |]
        let pRef = [| 1.0; 2.0 |]
        let vRef = [| 0.0; 0.0 |]
        let mutable st = Sgd.Init(cfg, 2)
        for g in grads do
            st <- Sgd.Update(cfg, st, ReadOnlySpan g, Span p)
            for i in 0 .. 1 do
                vRef.[i] <- float mu * vRef.[i] + float g.[i]
                let d = if nesterov then float g.[i] + float mu * vRef.[i] else vRef.[i]
                pRef.[i] <- pRef.[i] - float lr * d
                near (sprintf "v[%d] nesterov=%b" i nesterov) 1e-6 1e-9 vRef.[i] (float (nonNull st.Velocity).[i])
                near (sprintf "p[%d] nesterov=%b" i nesterov) 1e-6 1e-9 pRef.[i] (float p.[i])
    // Without momentum there is no velocity and the step is plain gradient descent.
    let plain = SgdConfig(0.5f)
    let s0 = Sgd.Init(plain, 2)
    Assert.Null(s0.Velocity)
    let p = [| 1.0f; 1.0f |]
    Sgd.Update(plain, s0, ReadOnlySpan [| 2.0f; -4.0f |], Span p) |> ignore
    Assert.Equal<float32[]>([| 0.0f; 3.0f |], p)

let ``SGD vector body and scalar tail give bit-identical results`` = testCase "SGD vector body and scalar tail give bit-identical results" <| fun () ->
    let n = 37
    for cfg in [ SgdConfig(0.05f); SgdConfig(0.05f, 0.9f); SgdConfig(0.05f, 0.9f, true) ] do
        let p = vector 2 n 1.0f
        let single = Array.init n (fun i -> [| p.[i] |], Sgd.Init(cfg, 1))
        let mutable st = Sgd.Init(cfg, n)
        for step in 1 .. 5 do
            let g = vector (300 + step) n 2.0f
            st <- Sgd.Update(cfg, st, ReadOnlySpan g, Span p)
            for i in 0 .. n - 1 do
                let (pi, si) = single.[i]
                single.[i] <- (pi, Sgd.Update(cfg, si, ReadOnlySpan [| g.[i] |], Span pi))
        for i in 0 .. n - 1 do
            Assert.Equal((fst single.[i]).[0], p.[i])

// ---------- Polyak ----------

/// Finite float32 values spread over many magnitudes, including exact zeros and repeats.
let private genValue =
    Gen.oneof
        [ Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun k -> float32 k / 1000.0f)
          Gen.choose (-30, 30) |> Gen.map (fun e -> float32 (10.0 ** float e))
          Gen.constant 0.0f ]

let private genTau =
    Gen.oneof [ Gen.constant 0.0f; Gen.constant 1.0f; Gen.choose (0, 1_000_000) |> Gen.map (fun k -> float32 k / 1e6f) ]

/// (tau, online, target) with equal lengths; some targets start equal to their online value.
let private genPolyak =
    gen {
        let! tau = genTau
        let! n = Gen.choose (0, 45)
        let! online = Gen.arrayOfLength n genValue
        let! target = Gen.arrayOfLength n genValue
        let! same = Gen.arrayOfLength n (Gen.frequency [ 4, Gen.constant false; 1, Gen.constant true ])
        let target = Array.init n (fun i -> if same.[i] then online.[i] else target.[i])
        return tau, online, target
    }

let ``Polyak keeps every target element between its old value and the online value`` =
    let prop (tau: float32, online: float32[], target: float32[]) =
        let updated = Array.copy target
        Polyak.Update(tau, ReadOnlySpan online, Span updated)
        Array.forall id (Array.init online.Length (fun i ->
            let lo = min online.[i] target.[i]
            let hi = max online.[i] target.[i]
            lo <= updated.[i] && updated.[i] <= hi))
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Polyak keeps every target element between its old value and the online value" (Prop.forAll (Arb.fromGen genPolyak) prop)

let ``Polyak with tau 0 keeps the target and with tau 1 copies the online values`` =
    let prop (_: float32, online: float32[], target: float32[]) =
        let kept = Array.copy target
        Polyak.Update(0.0f, ReadOnlySpan online, Span kept)
        let copied = Array.copy target
        Polyak.Update(1.0f, ReadOnlySpan online, Span copied)
        kept = target && copied = online
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Polyak with tau 0 keeps the target and with tau 1 copies the online values" (Prop.forAll (Arb.fromGen genPolyak) prop)

let ``Repeated Polyak with fixed online values converges geometrically`` =
    let genCase =
        gen {
            let! tauK = Gen.choose (10, 1000)
            let! steps = Gen.choose (1, 60)
            let! n = Gen.choose (1, 40)
            let! online = Gen.arrayOfLength n (Gen.choose (-100_000, 100_000) |> Gen.map (fun k -> float32 k / 100.0f))
            let! target = Gen.arrayOfLength n (Gen.choose (-100_000, 100_000) |> Gen.map (fun k -> float32 k / 100.0f))
            return float32 tauK / 1000.0f, steps, online, target
        }
    let prop (tau: float32, steps: int, online: float32[], target0: float32[]) =
        let target = Array.copy target0
        for _ in 1 .. steps do Polyak.Update(tau, ReadOnlySpan online, Span target)
        let contraction = (1.0 - float tau) ** float steps
        Array.forall id (Array.init online.Length (fun i ->
            // |t_n - o| <= (1 - tau)^n |t_0 - o|, plus a few float32 roundings of the operands per step.
            let scale = max (abs (float online.[i])) (abs (float target0.[i]))
            let slack = float steps * 4.0 * float Single.Epsilon + float steps * 3.0 * 1.2e-7 * scale
            abs (float target.[i] - float online.[i]) <= contraction * abs (float target0.[i] - float online.[i]) + slack))
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Repeated Polyak with fixed online values converges geometrically" (Prop.forAll (Arb.fromGen genCase) prop)

let ``Polyak vector body and scalar tail give bit-identical results`` = testCase "Polyak vector body and scalar tail give bit-identical results" <| fun () ->
    let n = 37
    let online = vector 4 n 5.0f
    let target = vector 5 n 5.0f
    let single = Array.copy target
    Polyak.Update(0.005f, ReadOnlySpan online, Span target)
    for i in 0 .. n - 1 do
        Polyak.Update(0.005f, ReadOnlySpan [| online.[i] |], Span(single, i, 1))
    Assert.Equal<float32[]>(single, target)

// ---------- validation ----------

let ``Bad Adam configs throw naming the field`` = testCase "Bad Adam configs throw naming the field" <| fun () ->
    throwsNaming "LearningRate" (fun () -> AdamConfig(LearningRate = 0.0f) |> ignore)
    throwsNaming "LearningRate" (fun () -> AdamConfig(LearningRate = -1e-3f) |> ignore)
    throwsNaming "LearningRate" (fun () -> AdamConfig(LearningRate = Single.NaN) |> ignore)
    throwsNaming "LearningRate" (fun () -> AdamConfig(LearningRate = Single.PositiveInfinity) |> ignore)
    throwsNaming "Beta1" (fun () -> AdamConfig(Beta1 = 1.0f) |> ignore)
    throwsNaming "Beta1" (fun () -> AdamConfig(Beta1 = -0.1f) |> ignore)
    throwsNaming "Beta2" (fun () -> AdamConfig(Beta2 = 1.0f) |> ignore)
    throwsNaming "Beta2" (fun () -> AdamConfig(Beta2 = Single.NaN) |> ignore)
    throwsNaming "Epsilon" (fun () -> AdamConfig(Epsilon = 0.0f) |> ignore)
    throwsNaming "MaxGradNorm" (fun () -> AdamConfig(MaxGradNorm = 0.0f) |> ignore)
    throwsNaming "MaxGradNorm" (fun () -> AdamConfig(MaxGradNorm = -1.0f) |> ignore)
    // Edge values that are allowed.
    AdamConfig(Beta1 = 0.0f, Beta2 = 0.0f) |> ignore
    Assert.False(AdamConfig().MaxGradNorm.HasValue)
    // A C# `with` expression goes through the init accessor, which checks too.
    let setter = nonNull (nonNull (typeof<AdamConfig>.GetProperty "Beta1")).SetMethod
    let ex = Assert.Throws<Reflection.TargetInvocationException>(fun () -> setter.Invoke(AdamConfig(), [| box 1.5f |]) |> ignore)
    match ex.InnerException with
    | :? ArgumentException as inner -> Assert.Equal("Beta1", inner.ParamName)
    | other -> failwithf "expected ArgumentException, got %O" other

let ``Bad SGD configs throw naming the field`` = testCase "Bad SGD configs throw naming the field" <| fun () ->
    throwsNaming "LearningRate" (fun () -> SgdConfig(0.0f) |> ignore)
    throwsNaming "Momentum" (fun () -> SgdConfig(0.1f, Momentum = 1.0f) |> ignore)
    throwsNaming "Momentum" (fun () -> SgdConfig(0.1f, Momentum = -0.5f) |> ignore)
    throwsNaming "Nesterov" (fun () -> Sgd.Init(SgdConfig(0.1f, Nesterov = true), 3) |> ignore)
    throwsNaming "parameterCount" (fun () -> Sgd.Init(SgdConfig(0.1f), -1) |> ignore)

let ``Mismatched lengths throw naming the span`` = testCase "Mismatched lengths throw naming the span" <| fun () ->
    let cfg = AdamConfig()
    throwsNaming "gradients" (fun () -> Adam.Update(cfg, Adam.Init 3, ReadOnlySpan(Array.zeroCreate 2), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state.FirstMoment" (fun () -> Adam.Update(cfg, Adam.Init 4, ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state.SecondMoment" (fun () ->
        Adam.Update(cfg, AdamState(0L, Array.zeroCreate 3, Array.zeroCreate 2), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state" (fun () -> Adam.Update(cfg, AdamState(), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "parameterCount" (fun () -> Adam.Init -1 |> ignore)
    let sgd = SgdConfig(0.1f, 0.9f)
    throwsNaming "gradients" (fun () -> Sgd.Update(sgd, Sgd.Init(sgd, 3), ReadOnlySpan(Array.zeroCreate 4), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state.Velocity" (fun () -> Sgd.Update(sgd, Sgd.Init(sgd, 2), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state" (fun () -> Sgd.Update(sgd, SgdState(0L, null), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "online" (fun () -> Polyak.Update(0.5f, ReadOnlySpan(Array.zeroCreate 2), Span(Array.zeroCreate 3)))
    throwsNaming "tau" (fun () -> Polyak.Update(1.5f, ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)))
    throwsNaming "tau" (fun () -> Polyak.Update(Single.NaN, ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)))

// ---------- allocation ----------

let ``Warm updates allocate nothing`` = testCase "Warm updates allocate nothing" <| fun () ->
    let n = 10_000
    let p = vector 8 n 1.0f
    let g = vector 9 n 0.1f
    let target = Array.copy p
    let plain = AdamConfig(LearningRate = 1e-3f)
    let clipped = AdamConfig(LearningRate = 1e-3f, MaxGradNorm = 0.5f)
    let sgd = SgdConfig(1e-3f, 0.9f, true)
    let mutable adamState = Adam.Init n
    let mutable sgdState = Sgd.Init(sgd, n)
    let run count =
        for _ in 1 .. count do
            adamState <- Adam.Update(plain, adamState, ReadOnlySpan g, Span p)
            adamState <- Adam.Update(clipped, adamState, ReadOnlySpan g, Span p)
            sgdState <- Sgd.Update(sgd, sgdState, ReadOnlySpan g, Span p)
            Polyak.Update(0.005f, ReadOnlySpan p, Span target)
    run 200
    let before = GC.GetAllocatedBytesForCurrentThread()
    run 100
    let allocated = GC.GetAllocatedBytesForCurrentThread() - before
    Assert.Equal(0L, allocated)
    Assert.Equal(600L, adamState.Step)

let tests = testList "Optim" [
    testList "Adam matches the textbook formula step by step on three parameters" [
        testCase "epsilon: 1e-8f" <| fun () -> ``Adam matches the textbook formula step by step on three parameters`` (1e-8f)
        testCase "epsilon: 1e-2f" <| fun () -> ``Adam matches the textbook formula step by step on three parameters`` (1e-2f)
    ]
    ``Adam first step moves every parameter with a nonzero gradient by about lr against the gradient``
    ``Adam first step has magnitude lr for any gradient well above epsilon``
    ``Adam vector body and scalar tail give bit-identical results``
    ``Adam with MaxGradNorm equals Adam on the pre-scaled gradient and leaves the caller's gradient alone``
    ``GradientClipping computes the global norm and clips in place``
    ``Adam converges on an ill-conditioned quadratic``
    ``Adam reaches the Rosenbrock minimum from (-1.5, 2)``
    testList "SGD with momentum converges on the quadratic" [
        testCase "nesterov: false" <| fun () -> ``SGD with momentum converges on the quadratic`` (false)
        testCase "nesterov: true" <| fun () -> ``SGD with momentum converges on the quadratic`` (true)
    ]
    ``SGD follows the PyTorch momentum and Nesterov formulas``
    ``SGD vector body and scalar tail give bit-identical results``
    ``Polyak keeps every target element between its old value and the online value``
    ``Polyak with tau 0 keeps the target and with tau 1 copies the online values``
    ``Repeated Polyak with fixed online values converges geometrically``
    ``Polyak vector body and scalar tail give bit-identical results``
    ``Bad Adam configs throw naming the field``
    ``Bad SGD configs throw naming the field``
    ``Mismatched lengths throw naming the span``
    ``Warm updates allocate nothing``
]
