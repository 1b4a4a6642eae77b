/// SoftBellman targets and soft values against their definitions and the special cases the theory names.
module SoftBellmanTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Fs
open SacMathKit

// ---------- soft Bellman targets ----------

/// One transition's inputs: (gamma, alpha, r, q1, q2, logPi).
let private transition =
    gen {
        let! gamma = floatIn 0.0 1.0
        let! alpha = floatIn 0.0 2.0
        let! r = floatIn -100.0 100.0
        let! q1 = floatIn -100.0 100.0
        let! q2 = floatIn -100.0 100.0
        let! logPi = floatIn -20.0 20.0
        return gamma, alpha, r, q1, q2, logPi
    }

let private targetOf gamma alpha r terminated q1 q2 logPi =
    SoftBellman.target gamma r terminated (SoftBellman.sampledSoftValue alpha (q1, q2, logPi))

let private targetBatchOf gamma alpha r terminated q1 q2 logPi =
    let dest = [| nanf |]
    SoftBellman.targetBatch gamma alpha 1 (ro [| r |], ro [| terminated |], ro [| q1 |], ro [| q2 |], ro [| logPi |], rw dest)
    dest.[0]

let ``target is the reward alone when terminated, whatever q, logPi and alpha`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "target is the reward alone when terminated, whatever q, logPi and alpha" (Prop.forAll (Arb.fromGen transition) (fun (gamma, alpha, r, q1, q2, logPi) ->
        Assert.Equal(r, targetOf gamma alpha r 1.0f q1 q2 logPi)
        Assert.Equal(r, targetBatchOf gamma alpha r 1.0f q1 q2 logPi)))

let ``target bootstraps when not terminated, truncated or not`` =
    // Truncation is not an input at all: a time-limit transition is stored with terminated = 0 and bootstraps.
    testPropertyWithConfig (Properties.ofFsCheck config) "target bootstraps when not terminated, truncated or not" (Prop.forAll (Arb.fromGen (Gen.zip transition (Gen.elements [ false; true ]))) (fun ((gamma, alpha, r, q1, q2, logPi), _truncated) ->
        let v = SoftBellman.sampledSoftValue alpha (q1, q2, logPi)
        Assert.Equal(r + gamma * v, targetOf gamma alpha r 0.0f q1 q2 logPi)
        Assert.Equal(r + gamma * v, targetBatchOf gamma alpha r 0.0f q1 q2 logPi)
        near "bootstrap" 1e-5 1e-4 (float r + float gamma * (min (float q1) (float q2) - float alpha * float logPi))
             (float (targetOf gamma alpha r 0.0f q1 q2 logPi))))

let ``target increases weakly with the reward and with the twin minimum`` =
    let gen' = Gen.zip3 transition (Gen.elements [ 0.0f; 1.0f ]) (floatIn 0.0 50.0)
    testPropertyWithConfig (Properties.ofFsCheck config) "target increases weakly with the reward and with the twin minimum" (Prop.forAll (Arb.fromGen gen') (fun ((gamma, alpha, r, q1, q2, logPi), d, delta) ->
        let y = targetOf gamma alpha r d q1 q2 logPi
        Assert.True(targetOf gamma alpha (r + delta) d q1 q2 logPi >= y, "reward")
        Assert.True(targetOf gamma alpha r d (q1 + delta) q2 logPi >= y, "q1")
        Assert.True(targetOf gamma alpha r d q1 (q2 + delta) logPi >= y, "q2")
        Assert.True(targetOf gamma alpha r d (q1 + delta) (q2 + delta) logPi >= y, "both")))

let ``alpha = 0 gives the hard clipped double-Q target`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "alpha = 0 gives the hard clipped double-Q target" (Prop.forAll (Arb.fromGen (Gen.zip transition (Gen.elements [ 0.0f; 1.0f ]))) (fun ((gamma, _, r, q1, q2, logPi), d) ->
        let hard = r + gamma * (1.0f - d) * min q1 q2
        Assert.Equal(hard, targetOf gamma 0.0f r d q1 q2 logPi)
        Assert.Equal(hard, targetBatchOf gamma 0.0f r d q1 q2 logPi)))

let ``targetBatch and sampledSoftValueBatch equal the one-transition forms row by row`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "targetBatch and sampledSoftValueBatch equal the one-transition forms row by row" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = rng.Next 12
        let gamma = float32 (rng.NextDouble())
        let alpha = float32 (rng.NextDouble())
        let r = uniform rng batch -5.0 5.0
        let d = Array.init batch (fun _ -> if rng.Next 3 = 0 then 1.0f else 0.0f)
        let q1 = uniform rng batch -50.0 50.0
        let q2 = uniform rng batch -50.0 50.0
        let lp = uniform rng batch -10.0 10.0
        let y = Array.zeroCreate<float32> (batch + 3)   // longer than needed: the tail is untouched
        SoftBellman.targetBatch gamma alpha batch (ro r, ro d, ro q1, ro q2, ro lp, rw y)
        let v = Array.zeroCreate<float32> batch
        SoftBellman.sampledSoftValueBatch alpha batch (ro q1, ro q2, ro lp, rw v)
        for i in 0 .. batch - 1 do
            Assert.Equal(SoftBellman.sampledSoftValue alpha (q1.[i], q2.[i], lp.[i]), v.[i])
            Assert.Equal(targetOf gamma alpha r.[i] d.[i] q1.[i] q2.[i] lp.[i], y.[i])
        Assert.Equal<float32>([| 0.0f; 0.0f; 0.0f |], y.[batch..])))

let ``batch functions reject buffers shorter than the batch`` = testCase "batch functions reject buffers shorter than the batch" <| fun () ->
    let short = Array.zeroCreate<float32> 2
    let ok = Array.zeroCreate<float32> 4
    let ex = Assert.ThrowsAny<ArgumentException>(fun () ->
        SoftBellman.targetBatch 0.99f 0.2f 3 (ro ok, ro ok, ro short, ro ok, ro ok, rw ok))
    Assert.Equal("q1Next", ex.ParamName)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> Losses.critic 3 (ro ok, ro ok, rw short) |> ignore)
    Assert.Equal("dq", ex.ParamName)
    let ws = TanhGaussianWorkspace(2, 2)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () ->
        TanhGaussian.sampleForward LogStdRange.Default (3, 2) (ro ok, ro ok, ro ok, ws))
    Assert.Equal("batch", ex.ParamName)
    TanhGaussian.sampleForward LogStdRange.Default (2, 2) (ro ok, ro ok, ro ok, ws)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () ->
        TanhGaussian.sampleBackward (1, 2) (ws, ro ok, ro ok, rw ok, rw ok))
    Assert.Equal("batch", ex.ParamName)

let tests = testList "SoftBellman" [
    ``target is the reward alone when terminated, whatever q, logPi and alpha``
    ``target bootstraps when not terminated, truncated or not``
    ``target increases weakly with the reward and with the twin minimum``
    ``alpha = 0 gives the hard clipped double-Q target``
    ``targetBatch and sampledSoftValueBatch equal the one-transition forms row by row``
    ``batch functions reject buffers shorter than the batch``
]
