/// SGD: PyTorch's momentum and Nesterov formulas, convergence, the vector body against the scalar tail, and config checks.
module SgdTests

open System
open Xunit
open Expecto
open Sac.Core.Optim
open OptimKit

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

let ``Bad SGD configs throw naming the field`` = testCase "Bad SGD configs throw naming the field" <| fun () ->
    throwsNaming "LearningRate" (fun () -> SgdConfig(0.0f) |> ignore)
    throwsNaming "Momentum" (fun () -> SgdConfig(0.1f, Momentum = 1.0f) |> ignore)
    throwsNaming "Momentum" (fun () -> SgdConfig(0.1f, Momentum = -0.5f) |> ignore)
    throwsNaming "Nesterov" (fun () -> Sgd.Init(SgdConfig(0.1f, Nesterov = true), 3) |> ignore)
    throwsNaming "parameterCount" (fun () -> Sgd.Init(SgdConfig(0.1f), -1) |> ignore)

let tests = testList "Sgd" [
    testList "SGD with momentum converges on the quadratic" [
        testCase "nesterov: false" <| fun () -> ``SGD with momentum converges on the quadratic`` (false)
        testCase "nesterov: true" <| fun () -> ``SGD with momentum converges on the quadratic`` (true)
    ]
    ``SGD follows the PyTorch momentum and Nesterov formulas``
    ``SGD vector body and scalar tail give bit-identical results``
    ``Bad SGD configs throw naming the field``
]
