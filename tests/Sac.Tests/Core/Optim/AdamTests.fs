/// Adam: the textbook update, gradient-norm clipping, convergence, config checks, and warm updates of every optimizer allocating nothing.
module AdamTests

open System
open Xunit
open Expecto
open FsCheck.FSharp
open Sac.Core.Optim
open OptimKit

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

let tests = testList "Adam" [
    testList "Adam matches the textbook formula step by step on three parameters" [
        testCase "epsilon: 1e-8f" <| fun () -> ``Adam matches the textbook formula step by step on three parameters`` (1e-8f)
        testCase "epsilon: 1e-2f" <| fun () -> ``Adam matches the textbook formula step by step on three parameters`` (1e-2f)
    ]
    ``Adam first step moves every parameter with a nonzero gradient by about lr against the gradient``
    ``Adam first step has magnitude lr for any gradient well above epsilon``
    ``Adam vector body and scalar tail give bit-identical results``
    ``Adam with MaxGradNorm equals Adam on the pre-scaled gradient and leaves the caller's gradient alone``
    ``Adam converges on an ill-conditioned quadratic``
    ``Adam reaches the Rosenbrock minimum from (-1.5, 2)``
    ``Bad Adam configs throw naming the field``
    ``Warm updates allocate nothing``
]
