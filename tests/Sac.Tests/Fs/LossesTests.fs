/// The SAC losses (critic, actor, temperature, v1 value) and their gradients against central finite differences; the batch maths allocate nothing.
module LossesTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Fs
open SacMathKit

// ---------- gradients against central finite differences ----------

let ``critic loss and gradient match finite differences`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "critic loss and gradient match finite differences" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 9
        let q = uniform rng batch -10.0 10.0
        let y = uniform rng batch -10.0 10.0
        let dq = Array.zeroCreate<float32> batch
        let l = Losses.critic batch (ro q, ro y, rw dq)
        let f (qs: float[]) = Array.map2 (fun a b -> 0.5 * (a - float b) ** 2.0) qs y |> Array.average
        let q64 = Array.map float q
        near "critic loss" 1e-5 1e-6 (f q64) (float l)
        for i in 0 .. batch - 1 do
            near $"dq[{i}]" 1e-4 1e-5 (centralDiff 1e-4 f q64 i) (float dq.[i])))

let ``actor loss and gradients match finite differences away from ties`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "actor loss and gradients match finite differences away from ties" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 9
        let alpha = float32 (0.01 + rng.NextDouble())
        let logPi = uniform rng batch -5.0 5.0
        let q1 = uniform rng batch -10.0 10.0
        // q2 at least 0.01 away from q1 on either side.
        let q2 = q1 |> Array.map (fun a -> a + (if rng.Next 2 = 0 then 1.0f else -1.0f) * float32 (0.01 + 3.0 * rng.NextDouble()))
        let dLogPi, dq1, dq2 = Array.zeroCreate<float32> batch, Array.zeroCreate<float32> batch, Array.zeroCreate<float32> batch
        let l = Losses.actor alpha batch (ro logPi, ro q1, ro q2, rw dLogPi, rw dq1, rw dq2)
        let f (lp: float[]) (a: float[]) (b: float[]) =
            Array.init batch (fun i -> float alpha * lp.[i] - min a.[i] b.[i]) |> Array.average
        let lp64, a64, b64 = Array.map float logPi, Array.map float q1, Array.map float q2
        near "actor loss" 1e-5 1e-5 (f lp64 a64 b64) (float l)
        for i in 0 .. batch - 1 do
            near $"dLogPi[{i}]" 1e-4 1e-6 (centralDiff 1e-4 (fun x -> f x a64 b64) lp64 i) (float dLogPi.[i])
            near $"dq1[{i}]" 1e-4 1e-6 (centralDiff 1e-4 (fun x -> f lp64 x b64) a64 i) (float dq1.[i])
            near $"dq2[{i}]" 1e-4 1e-6 (centralDiff 1e-4 (fun x -> f lp64 a64 x) b64 i) (float dq2.[i])))

let ``actor loss gives zero gradient to the non-minimal critic; ties go to the first`` = testCase "actor loss gives zero gradient to the non-minimal critic; ties go to the first" <| fun () ->
    let q1 = [| 1.0f; 5.0f; 2.0f; -3.0f |]
    let q2 = [| 4.0f; 2.0f; 2.0f; -7.0f |]
    let logPi = [| 0.5f; -1.0f; 0.0f; 2.0f |]
    let dLogPi, dq1, dq2 = Array.zeroCreate<float32> 4, Array.zeroCreate<float32> 4, Array.zeroCreate<float32> 4
    let l = Losses.actor 0.2f 4 (ro logPi, ro q1, ro q2, rw dLogPi, rw dq1, rw dq2)
    Assert.Equal<float32>([| -0.25f; 0.0f; -0.25f; 0.0f |], dq1)
    Assert.Equal<float32>([| 0.0f; -0.25f; 0.0f; -0.25f |], dq2)
    Assert.Equal<float32>(Array.create 4 0.05f, dLogPi)
    near "actor loss" 1e-6 0.0 ((0.2 * 1.5 - (1.0 + 2.0 + 2.0 - 7.0)) / 4.0) (float l)

let ``temperature loss and gradient match finite differences`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "temperature loss and gradient match finite differences" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 9
        let logAlpha = float32 (-5.0 + 6.0 * rng.NextDouble())
        let h0 = Losses.defaultTargetEntropy (1 + rng.Next 6)
        let logPi = uniform rng batch -8.0 8.0
        let struct (l, g) = Losses.temperature logAlpha h0 batch (ro logPi)
        let f (x: float[]) = logPi |> Array.map (fun lp -> -x.[0] * (float lp + float h0)) |> Array.average
        near "temperature loss" 1e-5 1e-5 (f [| float logAlpha |]) (float l)
        near "dLogAlpha" 1e-4 1e-5 (centralDiff 1e-4 f [| float logAlpha |] 0) (float g)))

let ``temperature gradient step raises alpha when entropy is below target and lowers it above`` =
    let lr = 0.01f
    testPropertyWithConfig (Properties.ofFsCheck config) "temperature gradient step raises alpha when entropy is below target and lowers it above" (Prop.forAll (Arb.fromGen (Gen.zip (floatIn -3.0 1.0) (Gen.choose (1, 6)))) (fun (logAlpha, actDim) ->
        let h0 = Losses.defaultTargetEntropy actDim
        // Entropy -logPi below the target: logPi > -h0.
        let low = Array.init 8 (fun i -> -h0 + 0.5f + float32 i * 0.1f)
        let struct (_, gLow) = Losses.temperature logAlpha h0 8 (ro low)
        Assert.True(gLow < 0.0f, $"dLogAlpha = {gLow} with entropy below target")
        Assert.True(exp (logAlpha - lr * gLow) > exp logAlpha)
        // Entropy above the target: logPi < -h0.
        let high = Array.init 8 (fun i -> -h0 - 0.5f - float32 i * 0.1f)
        let struct (_, gHigh) = Losses.temperature logAlpha h0 8 (ro high)
        Assert.True(gHigh > 0.0f, $"dLogAlpha = {gHigh} with entropy above target")
        Assert.True(exp (logAlpha - lr * gHigh) < exp logAlpha)))

let ``v1 value loss and gradient match finite differences`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "v1 value loss and gradient match finite differences" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 9
        let alpha = float32 (rng.NextDouble())
        let v = uniform rng batch -10.0 10.0
        let q1 = uniform rng batch -10.0 10.0
        let q2 = uniform rng batch -10.0 10.0
        let logPi = uniform rng batch -5.0 5.0
        let dv = Array.zeroCreate<float32> batch
        let l = Losses.value alpha batch (ro v, ro q1, ro q2, ro logPi, rw dv)
        let f (x: float[]) =
            Array.init batch (fun i ->
                let t = min (float q1.[i]) (float q2.[i]) - float alpha * float logPi.[i]
                0.5 * (x.[i] - t) ** 2.0)
            |> Array.average
        let v64 = Array.map float v
        near "value loss" 1e-5 1e-5 (f v64) (float l)
        for i in 0 .. batch - 1 do
            near $"dv[{i}]" 1e-4 1e-5 (centralDiff 1e-4 f v64 i) (float dv.[i])))

// ---------- allocation ----------

let ``batch functions allocate nothing after warm-up`` = testCase "batch functions allocate nothing after warm-up" <| fun () ->
    let batch, actDim = 64, 6
    let n = batch * actDim
    let rng = Random(7)
    let mu, raw, eps = uniform rng n -2.0 2.0, uniform rng n -4.0 1.0, uniform rng n -2.0 2.0
    let gA, gL = uniform rng n -1.0 1.0, uniform rng batch -1.0 1.0
    let dMu, dRaw, act = Array.zeroCreate<float32> n, Array.zeroCreate<float32> n, Array.zeroCreate<float32> n
    let r, d = uniform rng batch -1.0 1.0, Array.zeroCreate<float32> batch
    let q1, q2, lp, v = uniform rng batch -5.0 5.0, uniform rng batch -5.0 5.0, uniform rng batch -5.0 5.0, uniform rng batch -5.0 5.0
    let y, g1, g2, g3 = Array.zeroCreate<float32> batch, Array.zeroCreate<float32> batch, Array.zeroCreate<float32> batch, Array.zeroCreate<float32> batch
    let ws = TanhGaussianWorkspace(batch, actDim)
    let clamp = LogStdRange.Clamp(-20.0f, 2.0f)
    let smooth = LogStdRange.TanhRescale(-5.0f, 2.0f)
    let mutable sink = 0.0f
    let run () =
        TanhGaussian.sampleForward clamp (batch, actDim) (ro mu, ro raw, ro eps, ws)
        TanhGaussian.sampleForward smooth (batch, actDim) (ro mu, ro raw, ro eps, ws)
        TanhGaussian.sampleBackward (batch, actDim) (ws, ro gA, ro gL, rw dMu, rw dRaw)
        TanhGaussian.deterministicActionBatch (batch, actDim) (ro mu, rw act)
        SoftBellman.targetBatch 0.99f 0.2f batch (ro r, ro d, ro q1, ro q2, ro lp, rw y)
        SoftBellman.sampledSoftValueBatch 0.2f batch (ro q1, ro q2, ro lp, rw g3)
        sink <- sink + Losses.critic batch (ro q1, ro y, rw g1)
        sink <- sink + Losses.actor 0.2f batch (ro lp, ro q1, ro q2, rw g1, rw g2, rw g3)
        let struct (l, g) = Losses.temperature -1.0f -6.0f batch (ro lp)
        sink <- sink + l + g
        sink <- sink + Losses.value 0.2f batch (ro v, ro q1, ro q2, ro lp, rw g1)
        sink <- sink + ws.LogPi.[0] + ws.Action.[0]
    for _ in 1 .. 50 do run ()
    Assert.Equal(0L, Allocation.leastAllocated (fun () -> for _ in 1 .. 200 do run ()))
    Assert.True(Single.IsFinite sink)

let tests = testList "Losses" [
    ``critic loss and gradient match finite differences``
    ``actor loss and gradients match finite differences away from ties``
    ``actor loss gives zero gradient to the non-minimal critic; ties go to the first``
    ``temperature loss and gradient match finite differences``
    ``temperature gradient step raises alpha when entropy is below target and lowers it above``
    ``v1 value loss and gradient match finite differences``
    ``batch functions allocate nothing after warm-up``
]
