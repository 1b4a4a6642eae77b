/// The host backend against the definitions it delegates to (on sub-slices at non-zero offsets, with the memory
/// around each slice checked untouched), DeviceMlp against Mlp, and DeviceSac on the host backend against Sac.update.
module DeviceSacTests

open System
open System.Numerics.Tensors
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend
open Sac.Fs

let private config = Config.QuickThrowOnFailure.WithMaxTest(30)
let private gemm = ReferenceGemm.Instance :> IGemm
let private backend = new HostBackend(gemm) :> ISacBackend

/// The value every element around a placed slice holds; an operation that writes outside its slice changes one.
let private sentinel = -7777.25f

let private randomFloats (seed: int) (n: int) (scale: float) =
    let rng = Random(seed)
    Array.init n (fun _ -> float32 ((rng.NextDouble() * 2.0 - 1.0) * scale))

/// `data` at element `offset` of a new host array with sentinels before and after it.
let private place (offset: int) (data: float32[]) : DeviceSlice =
    let arr = new HostArray(offset + data.Length + 5)
    Array.fill arr.Data 0 arr.Data.Length sentinel
    Array.blit data 0 arr.Data offset data.Length
    arr.Slice(offset, data.Length)

let private contents (s: DeviceSlice) = (HostBackend.Span s).ToArray()

let private bits (x: float32[]) = x |> Array.map BitConverter.SingleToInt32Bits

/// Bitwise equality of two float arrays, with the first difference in the message.
let private same (what: string) (expected: float32[]) (actual: float32[]) =
    Assert.True(expected.Length = actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}")
    match Array.tryFindIndex id (Array.map2 (<>) (bits expected) (bits actual)) with
    | Some i -> Assert.Fail($"{what}[{i}] = {actual.[i]}, expected {expected.[i]} (bitwise)")
    | None -> ()

/// The slice holds `expected` and every element around it is still the sentinel.
let private holds (what: string) (expected: float32[]) (s: DeviceSlice) =
    same what expected (contents s)
    let data = (s.Array :?> HostArray).Data
    for i in 0 .. data.Length - 1 do
        if i < s.Offset || i >= s.Offset + s.Length then
            Assert.True(data.[i] = sentinel, $"{what}: element {i} outside the slice [{s.Offset}, {s.Offset + s.Length}) was written")

let private offsets = Gen.choose (1, 9)

let ``host Upload, Download and Copy move exactly their slices`` =
    let case = gen { let! n = Gen.choose (0, 40) in let! o1 = offsets in let! o2 = offsets in let! seed = Gen.choose (0, 1000000) in return n, o1, o2, seed }
    testPropertyWithConfig (Properties.ofFsCheck config) "host Upload, Download and Copy move exactly their slices" (Prop.forAll (Arb.fromGen case) (fun (n, o1, o2, seed) ->
        let data = randomFloats seed n 2.0
        let a = place o1 (Array.create n sentinel)
        backend.Upload(ReadOnlySpan data, a)
        holds "upload" data a
        let b = place o2 (Array.create n sentinel)
        backend.Copy(a, b)
        holds "copy" data b
        let host = Array.create (n + 2) 5.0f
        backend.Download(b, Span(host, 1, n))
        same "download" (Array.concat [ [| 5.0f |]; data; [| 5.0f |] ]) host))

let ``host Gemm is IGemm.Sgemm on sub-slices with leading dimensions`` =
    let case =
        gen {
            let! m = Gen.choose (1, 9)
            let! n = Gen.choose (1, 9)
            let! k = Gen.choose (1, 9)
            let! ta = Gen.elements [ Transpose.No; Transpose.Yes ]
            let! tb = Gen.elements [ Transpose.No; Transpose.Yes ]
            let! pads = Gen.arrayOfLength 3 (Gen.choose (0, 2))
            let! offs = Gen.arrayOfLength 3 offsets
            let! beta = Gen.elements [ 0.0f; 1.0f; 0.5f ]
            let! seed = Gen.choose (0, 1000000)
            return m, n, k, ta, tb, pads, offs, beta, seed
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "host Gemm is IGemm.Sgemm on sub-slices with leading dimensions" (Prop.forAll (Arb.fromGen case) (fun (m, n, k, ta, tb, pads, offs, beta, seed) ->
        let aRows, aCols = (if ta = Transpose.No then m, k else k, m)
        let bRows, bCols = (if tb = Transpose.No then k, n else n, k)
        let lda, ldb, ldc = aCols + pads.[0], bCols + pads.[1], n + pads.[2]
        let a = randomFloats seed ((aRows - 1) * lda + aCols) 1.0
        let b = randomFloats (seed + 1) ((bRows - 1) * ldb + bCols) 1.0
        let c = randomFloats (seed + 2) ((m - 1) * ldc + n) 1.0
        let expected = Array.copy c
        gemm.Sgemm(ta, tb, m, n, k, 0.75f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span expected, ldc)
        let cs = place offs.[2] c
        backend.Gemm(ta, tb, m, n, k, 0.75f, place offs.[0] a, lda, place offs.[1] b, ldb, beta, cs, ldc)
        holds "C" expected cs))

let private matrixCase =
    gen {
        let! rows = Gen.choose (1, 7)
        let! cols = Gen.oneof [ Gen.choose (1, 20); Gen.elements [ 16; 17; 65 ] ]
        let! act = Gen.elements [ Activation.Identity; Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]
        let! off = offsets
        let! seed = Gen.choose (0, 1000000)
        return rows, cols, act, off, seed
    }

let ``host BiasActivationForward, ActivationBackward and ColumnSums are FusedOps on sub-slices`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "host BiasActivationForward, ActivationBackward and ColumnSums are FusedOps on sub-slices" (Prop.forAll (Arb.fromGen matrixCase) (fun (rows, cols, act, off, seed) ->
        let z = randomFloats seed (rows * cols) 2.0
        let bias = randomFloats (seed + 1) cols 1.0
        let expected = Array.copy z
        FusedOps.BiasActivationForward(Span expected, rows, cols, ReadOnlySpan bias, act)
        let zs = place off z
        backend.BiasActivationForward(zs, rows, cols, place (off + 1) bias, act)
        holds "z" expected zs
        let dy = randomFloats (seed + 2) (rows * cols) 1.0
        let expectedDy = Array.copy dy
        FusedOps.ActivationBackward(ReadOnlySpan expected, Span expectedDy, act)
        let dys = place (off + 2) dy
        backend.ActivationBackward(place off expected, dys, act)
        holds "dy" expectedDy dys
        for accumulate in [ false; true ] do
            let dest = randomFloats (seed + 3) cols 1.0
            let expectedSums = Array.copy dest
            FusedOps.ColumnSums(ReadOnlySpan dy, rows, cols, Span expectedSums, accumulate)
            let ds = place (off + 3) dest
            backend.ColumnSums(place off dy, rows, cols, ds, accumulate)
            holds $"column sums (accumulate {accumulate})" expectedSums ds))

let ``host Sum is the CPU update's reduction and FillNormal is Philox's stream`` =
    let case = gen { let! n = Gen.oneof [ Gen.choose (0, 40); Gen.choose (250, 600) ] in let! off = offsets in let! seed = Gen.choose (0, 1000000) in return n, off, seed }
    testPropertyWithConfig (Properties.ofFsCheck config) "host Sum is the CPU update's reduction and FillNormal is Philox's stream" (Prop.forAll (Arb.fromGen case) (fun (n, off, seed) ->
        let x = randomFloats seed n 3.0
        let dest = place (off + 2) [| 1.0f |]
        backend.Sum(place off x, dest)
        holds "sum" [| TensorPrimitives.Sum(ReadOnlySpan x) |] dest
        let key = PhiloxKey.FromSeed(uint64 seed)
        let start = uint64 (seed % 1000)
        let expected = Array.zeroCreate<float32> n
        Philox.FillNormal(key, start, Span expected)
        let noise = place off (Array.zeroCreate n)
        backend.FillNormal(key, start, noise)
        holds "noise" expected noise))

let ``host ConcatColumns is Rows.concat and SumColumnBlock adds one column block`` =
    let case = gen { let! rows = Gen.choose (1, 8) in let! o = Gen.choose (1, 6) in let! a = Gen.choose (1, 4) in let! off = offsets in let! seed = Gen.choose (0, 1000000) in return rows, o, a, off, seed }
    testPropertyWithConfig (Properties.ofFsCheck config) "host ConcatColumns is Rows.concat and SumColumnBlock adds one column block" (Prop.forAll (Arb.fromGen case) (fun (rows, o, a, off, seed) ->
        let w = o + a
        let left = randomFloats seed (rows * o) 1.0
        let right = randomFloats (seed + 1) (rows * a) 1.0
        let expected = Array.zeroCreate<float32> (rows * w)
        Rows.concat rows o a (ReadOnlySpan left) (ReadOnlySpan right) (Span expected)
        // Independent of concatRows: row i is left's row i, then right's row i.
        for i in 0 .. rows - 1 do
            same "row" (Array.append left.[i * o .. i * o + o - 1] right.[i * a .. i * a + a - 1]) expected.[i * w .. i * w + w - 1]
        let dest = place (off + 1) (Array.zeroCreate (rows * w))
        backend.ConcatColumns(rows, place off left, o, place (off + 2) right, a, dest)
        holds "concat" expected dest
        let x1 = randomFloats (seed + 2) (rows * w) 1.0
        let x2 = randomFloats (seed + 3) (rows * w) 1.0
        let blockSum = Array.init (rows * a) (fun k -> x1.[(k / a) * w + o + k % a] + x2.[(k / a) * w + o + k % a])
        let ds = place (off + 3) (Array.zeroCreate (rows * a))
        backend.SumColumnBlock(rows, w, o, a, place off x1, place (off + 1) x2, ds)
        holds "sum column block" blockSum ds))

/// Actor output rows [mean (A), raw log-std (A)], noise and a bound, for the tanh-Gaussian kernels.
let private policyCase =
    gen {
        let! rows = Gen.choose (1, 7)
        let! a = Gen.choose (1, 4)
        let! bound = Gen.elements [ LogStdBound.Clamp; LogStdBound.TanhRescale ]
        let! off = offsets
        let! seed = Gen.choose (0, 1000000)
        return rows, a, bound, off, seed
    }

let private logStdRange (bound: LogStdBound) = if bound = LogStdBound.Clamp then -2.0f, 1.0f else -5.0f, 2.0f

/// The split form the CPU update feeds TanhGaussian.sampleForward: means and raw log-stds as two matrices.
let private split rows a (out: float32[]) =
    Array.init (rows * a) (fun k -> out.[(k / a) * 2 * a + k % a]), Array.init (rows * a) (fun k -> out.[(k / a) * 2 * a + a + k % a])

let ``host TanhGaussianForward reads interleaved actor rows as TanhGaussian.sampleForward reads split ones`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "host TanhGaussianForward reads interleaved actor rows as TanhGaussian.sampleForward reads split ones" (Prop.forAll (Arb.fromGen policyCase) (fun (rows, a, bound, off, seed) ->
        let lo, hi = logStdRange bound
        let out = randomFloats seed (rows * 2 * a) 3.0
        let noise = randomFloats (seed + 1) (rows * a) 2.0
        let mu, raw = split rows a out
        let ws = TanhGaussianWorkspace(rows, a)
        let range = LogStdRange.Of(bound, lo, hi)
        TanhGaussian.sampleForward range (rows, a) (ReadOnlySpan mu, ReadOnlySpan raw, ReadOnlySpan noise, ws)
        let action, sigma, grad = place off (Array.zeroCreate (rows * a)), place (off + 1) (Array.zeroCreate (rows * a)), place (off + 2) (Array.zeroCreate (rows * a))
        let logPi = place (off + 3) (Array.zeroCreate rows)
        backend.TanhGaussianForward(bound, lo, hi, rows, a, place off out, place (off + 4) noise, action, sigma, grad, logPi)
        holds "action" (ws.Action.ToArray()) action
        holds "sigma" (ws.Sigma.ToArray()) sigma
        holds "logPi" (ws.LogPi.ToArray()) logPi
        holds "dlogSigma/draw" (raw |> Array.map (TanhGaussian.logStdGrad range)) grad))

let ``host TanhGaussianBackward writes TanhGaussian.sampleBackward's gradients interleaved`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "host TanhGaussianBackward writes TanhGaussian.sampleBackward's gradients interleaved" (Prop.forAll (Arb.fromGen policyCase) (fun (rows, a, bound, off, seed) ->
        let lo, hi = logStdRange bound
        let out = randomFloats seed (rows * 2 * a) 3.0
        let noise = randomFloats (seed + 1) (rows * a) 2.0
        let mu, raw = split rows a out
        let ws = TanhGaussianWorkspace(rows, a)
        TanhGaussian.sampleForward (LogStdRange.Of(bound, lo, hi)) (rows, a) (ReadOnlySpan mu, ReadOnlySpan raw, ReadOnlySpan noise, ws)
        let dA = randomFloats (seed + 2) (rows * a) 1.0
        let dLogPi = randomFloats (seed + 3) rows 1.0
        let dMu, dRaw = Array.zeroCreate<float32> (rows * a), Array.zeroCreate<float32> (rows * a)
        TanhGaussian.sampleBackward (rows, a) (ws, ReadOnlySpan dA, ReadOnlySpan dLogPi, Span dMu, Span dRaw)
        let action, sigma, grad = place off (Array.zeroCreate (rows * a)), place (off + 1) (Array.zeroCreate (rows * a)), place (off + 2) (Array.zeroCreate (rows * a))
        let noiseS = place (off + 4) noise
        backend.TanhGaussianForward(bound, lo, hi, rows, a, place off out, noiseS, action, sigma, grad, place (off + 3) (Array.zeroCreate rows))
        let dOut = place (off + 5) (Array.zeroCreate (rows * 2 * a))
        backend.TanhGaussianBackward(rows, a, action, sigma, noiseS, grad, place off dA, place (off + 1) dLogPi, dOut)
        let expected = Array.init (rows * 2 * a) (fun k -> let i, j = k / (2 * a), k % (2 * a) in if j < a then dMu.[i * a + j] else dRaw.[i * a + j - a])
        holds "d(actor output)" expected dOut))

let ``host SoftTarget, CriticLoss and ActorLoss are SoftBellman and Losses on sub-slices`` =
    let case = gen { let! n = Gen.choose (1, 40) in let! off = offsets in let! seed = Gen.choose (0, 1000000) in return n, off, seed }
    testPropertyWithConfig (Properties.ofFsCheck config) "host SoftTarget, CriticLoss and ActorLoss are SoftBellman and Losses on sub-slices" (Prop.forAll (Arb.fromGen case) (fun (n, off, seed) ->
        let r = randomFloats seed n 1.0
        let term = Array.init n (fun i -> if (seed + i) % 3 = 0 then 1.0f else 0.0f)
        let q1, q2, logPi = randomFloats (seed + 1) n 2.0, randomFloats (seed + 2) n 2.0, randomFloats (seed + 3) n 2.0
        // Ties send the actor gradient to Q1: make some rows tie.
        for i in 0 .. n - 1 do if i % 4 = 0 then q2.[i] <- q1.[i]
        let y = Array.zeroCreate<float32> n
        SoftBellman.targetBatch 0.97f 0.3f n (ReadOnlySpan r, ReadOnlySpan term, ReadOnlySpan q1, ReadOnlySpan q2, ReadOnlySpan logPi, Span y)
        let ys = place (off + 5) (Array.zeroCreate n)
        backend.SoftTarget(0.97f, 0.3f, place off r, place (off + 1) term, place (off + 2) q1, place (off + 3) q2, place (off + 4) logPi, ys)
        holds "y" y ys
        let dq = Array.zeroCreate<float32> n
        let loss = Losses.critic n (ReadOnlySpan q1, ReadOnlySpan y, Span dq)
        let dqs, terms = place off (Array.zeroCreate n), place (off + 1) (Array.zeroCreate n)
        backend.CriticLoss(place (off + 2) q1, ys, dqs, terms)
        holds "dq" dq dqs
        let total = (contents terms |> Array.sum)
        Assert.True(abs (total - loss) <= 1e-5f * max 1.0f (abs loss), $"critic terms sum to {total}, loss {loss}")
        let dLogPi, d1, d2 = Array.zeroCreate<float32> n, Array.zeroCreate<float32> n, Array.zeroCreate<float32> n
        let actorLoss = Losses.actor 0.3f n (ReadOnlySpan logPi, ReadOnlySpan q1, ReadOnlySpan q2, Span dLogPi, Span d1, Span d2)
        let dls, d1s, d2s, ats = place off (Array.zeroCreate n), place (off + 1) (Array.zeroCreate n), place (off + 2) (Array.zeroCreate n), place (off + 3) (Array.zeroCreate n)
        backend.ActorLoss(0.3f, place (off + 4) logPi, place (off + 5) q1, place (off + 6) q2, dls, d1s, d2s, ats)
        holds "dlogPi" dLogPi dls
        holds "dq1" d1 d1s
        holds "dq2" d2 d2s
        let actorTotal = contents ats |> Array.sum
        Assert.True(abs (actorTotal - actorLoss) <= 1e-5f * max 1.0f (abs actorLoss), $"actor terms sum to {actorTotal}, loss {actorLoss}")))

let ``host Adam is Adam.Update and host Polyak is Polyak.Update on sub-slices`` =
    let case =
        gen {
            let! n = Gen.oneof [ Gen.choose (1, 20); Gen.choose (60, 80) ]
            let! steps = Gen.choose (0, 4)
            let! clip = Gen.elements [ None; Some 0.1f; Some 100.0f ]
            let! tau = Gen.elements [ 0.0f; 0.005f; 0.5f; 1.0f ]
            let! off = offsets
            let! seed = Gen.choose (0, 1000000)
            return n, steps, clip, tau, off, seed
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "host Adam is Adam.Update and host Polyak is Polyak.Update on sub-slices" (Prop.forAll (Arb.fromGen case) (fun (n, steps, clip, tau, off, seed) ->
        let cfg = AdamConfig(1e-2f, 0.9f, 0.999f, 1e-8f, Option.toNullable clip)
        let p = randomFloats seed n 1.0
        let g = randomFloats (seed + 1) n 1.0
        let m = randomFloats (seed + 2) n 0.1
        let v = randomFloats (seed + 3) n 0.1 |> Array.map abs
        let ps, gs, ms, vs = place off p, place (off + 1) g, place (off + 2) m, place (off + 3) v
        let expected = Array.copy p
        let state = Adam.Update(cfg, AdamState(int64 steps, Array.copy m, Array.copy v), ReadOnlySpan g, Span expected)
        backend.Adam(cfg, state.Step, ps, gs, ms, vs)
        holds "parameters" expected ps
        holds "m" state.FirstMoment ms
        holds "v" state.SecondMoment vs
        holds "gradients" g gs
        let target = randomFloats (seed + 4) n 1.0
        let expectedTarget = Array.copy target
        Polyak.Update(tau, ReadOnlySpan p, Span expectedTarget)
        let ts = place (off + 4) target
        backend.Polyak(tau, place off p, ts)
        holds "target" expectedTarget ts))

let ``host operations refuse a slice of another backend's array`` = testCase "host operations refuse a slice of another backend's array" <| fun () ->
    let foreign = { new DeviceArray(4) with member _.Dispose(_: bool) = () }
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> backend.Sum(foreign.All, place 1 [| 0.0f |]))
    Assert.Contains("HostArray", ex.Message)

let ``DeviceMlp on the host backend is Mlp.Forward and Mlp.Backward bit for bit`` =
    let case =
        gen {
            let! sizes = Gen.elements [ [| 3; 8; 2 |]; [| 5; 16; 16; 1 |]; [| 4; 7; 3; 6 |] ]
            let! hidden = Gen.elements [ Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]
            let! output = Gen.elements [ Activation.Identity; Activation.Tanh ]
            let! batch = Gen.choose (1, 9)
            let! off = offsets
            let! seed = Gen.choose (0, 1000000)
            return sizes, hidden, output, batch, off, seed
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "DeviceMlp on the host backend is Mlp.Forward and Mlp.Backward bit for bit" (Prop.forAll (Arb.fromGen case) (fun (sizes, hidden, output, batch, off, seed) ->
        let spec = MlpSpec(sizes, hidden, output)
        let theta = Mlp.InitParameters(spec, PhiloxKey.FromSeed(uint64 seed))
        let x = randomFloats seed (batch * spec.InputSize) 1.0
        let dy = randomFloats (seed + 1) (batch * spec.OutputSize) 1.0
        let ws = MlpWorkspace(spec, 9)
        let y = Mlp.Forward(gemm, spec, ReadOnlySpan theta, ReadOnlySpan x, batch, ws).ToArray()
        let dTheta, dx = Array.zeroCreate<float32> theta.Length, Array.zeroCreate<float32> x.Length
        Mlp.Backward(gemm, spec, ReadOnlySpan theta, ws, batch, ReadOnlySpan dy, Span dTheta, Span dx)
        use dws = new DeviceMlpWorkspace(backend, spec, 9)
        let thetaS = place off theta
        let out = DeviceMlp.forward backend spec thetaS (place (off + 1) x) batch dws
        same "output" y (contents out)
        let dThetaS, dxS = place (off + 2) (Array.zeroCreate theta.Length), place (off + 3) (Array.zeroCreate x.Length)
        DeviceMlp.backward backend spec thetaS dws batch (place off dy) (ValueSome dThetaS) (ValueSome dxS)
        holds "dtheta" dTheta dThetaS
        holds "dx" dx dxS))

/// A batch of random transitions drawn from `seed` (about a third terminated): the one `sac check-device` uses.
let private randomBatch (rows: int) o a (seed: uint64) = Sac.Cli.DeviceCheck.randomBatch rows o a seed

let private sameAdam (what: string) (e: AdamState) (a: AdamState) =
    Assert.True((e.Step = a.Step), $"{what}.Step = {a.Step}, expected {e.Step}")
    same (what + ".m") e.FirstMoment a.FirstMoment
    same (what + ".v") e.SecondMoment a.SecondMoment

/// Every field of two learner states, bitwise (the value network too, for v1).
let private sameState (what: string) (e: LearnerState) (a: LearnerState) =
    same (what + " actor") e.Actor a.Actor
    same (what + " critic") e.Critic a.Critic
    same (what + " target critic") e.TargetCritic a.TargetCritic
    sameAdam (what + " actor Adam") e.ActorOptimizer a.ActorOptimizer
    sameAdam (what + " critic Adam") e.CriticOptimizer a.CriticOptimizer
    sameAdam (what + " alpha Adam") e.AlphaOptimizer a.AlphaOptimizer
    Assert.True(BitConverter.SingleToInt32Bits e.LogAlpha = BitConverter.SingleToInt32Bits a.LogAlpha, $"{what} log alpha {a.LogAlpha}, expected {e.LogAlpha}")
    Assert.Equal(e.Step, a.Step)
    Assert.Equal(e.Key, a.Key)
    match e.Value, e.TargetValue with
    | null, _ | _, null -> Assert.True(isNull a.Value && isNull a.TargetValue && not a.ValueOptimizer.HasValue, $"{what}: a v2 state holds no value network")
    | v, t ->
        same (what + " value") v (nonNull a.Value)
        same (what + " target value") t (nonNull a.TargetValue)
        sameAdam (what + " value Adam") e.ValueOptimizer.Value a.ValueOptimizer.Value

let private near (what: string) (expected: float32) (actual: float32) =
    Assert.True(abs (actual - expected) <= 1e-4f * max 1.0f (abs expected), $"{what} = {actual}, expected {expected}")

/// DeviceSac on the host backend and Sac.update from one initial state over 100 random batches.
let private tracks (cfg: SacConfig) (obs: int) (act: int) (rows: int) =
    let cpu = SacContext(cfg, obs, act, gemm)
    use dev = new DeviceSacContext(cfg, obs, act, backend)
    let init = Sac.init cpu 21UL
    use learner = DeviceSac.upload dev (init.DeepCopy())
    let mutable state = init
    for k in 0 .. 99 do
        let batch = randomBatch rows obs act (1000UL + uint64 k)
        let struct (next, e) = Sac.update cpu batch state
        state <- next
        let m = DeviceSac.update dev batch learner
        let at = $"update {k}"
        // Reductions whose order differs (float64 row sums vs per-row float32 terms) agree to rounding.
        near (at + " critic loss") e.CriticLoss m.CriticLoss
        near (at + " actor loss") e.ActorLoss m.ActorLoss
        // The rest is computed by the same code in the same order: bitwise.
        same (at + " alpha, alpha loss, value loss, entropy, mean Q")
            [| e.Alpha; e.AlphaLoss; e.ValueLoss; e.Entropy; e.MeanQ |] [| m.Alpha; m.AlphaLoss; m.ValueLoss; m.Entropy; m.MeanQ |]
        if k % 33 = 0 || k = 99 then sameState at state (DeviceSac.download dev learner)
    Assert.Equal(100L, learner.Step)
    // The run learned something: parameters moved away from the initial ones.
    Assert.NotEqual<float32[]>((Sac.init cpu 21UL).Actor, state.Actor)

let ``DeviceSac on the host backend tracks Sac.update: obs 3, act 1, automatic temperature`` = testCase "DeviceSac on the host backend tracks Sac.update: obs 3, act 1, automatic temperature" <| fun () ->
    tracks (SacConfig(HiddenSizes = [| 32; 32 |], BatchSize = 16, BufferSize = 100)) 3 1 16

let ``DeviceSac on the host backend tracks Sac.update: obs 5, act 2, fixed temperature, Polyak every 2 steps`` = testCase "DeviceSac on the host backend tracks Sac.update: obs 5, act 2, fixed temperature, Polyak every 2 steps" <| fun () ->
    tracks (SacConfig(HiddenSizes = [| 32; 32 |], BatchSize = 16, BufferSize = 100, AutoAlpha = false, InitialAlpha = 0.2f, TargetUpdateInterval = 2, Tau = 0.05f)) 5 2 16

let ``DeviceSac on the host backend tracks Sac.update: obs 5, act 2, automatic temperature, tanh log-std, clipping, short batches`` = testCase "DeviceSac on the host backend tracks Sac.update: obs 5, act 2, automatic temperature, tanh log-std, clipping, short batches" <| fun () ->
    let cfg =
        SacConfig(HiddenSizes = [| 32; 32 |], BatchSize = 16, BufferSize = 100, LogStdBound = LogStdBound.TanhRescale,
                  LogStdMin = -5.0f, MaxGradNorm = Nullable 0.5f, TargetEntropy = Nullable -1.5f)
    tracks cfg 5 2 11

let ``DeviceSac on the host backend tracks Sac.update: obs 3, act 1, fixed temperature`` = testCase "DeviceSac on the host backend tracks Sac.update: obs 3, act 1, fixed temperature" <| fun () ->
    tracks (SacConfig(HiddenSizes = [| 32; 32 |], BatchSize = 16, BufferSize = 100, AutoAlpha = false)) 3 1 16

let ``upload then download gives back the learner, and downloadActor its actor`` = testCase "upload then download gives back the learner, and downloadActor its actor" <| fun () ->
    let cfg = SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 8, BufferSize = 100)
    let cpu = SacContext(cfg, 4, 2, gemm)
    // A few CPU updates first, so the moments, steps, log alpha and targets are not their initial values.
    let mutable state = Sac.init cpu 5UL
    for k in 0 .. 2 do
        let struct (next, _) = Sac.update cpu (randomBatch 8 4 2 (uint64 k)) state
        state <- next
    use dev = new DeviceSacContext(cfg, 4, 2, backend)
    let snapshot = state.DeepCopy()
    use learner = DeviceSac.upload dev state
    let back = DeviceSac.download dev learner
    sameState "round trip" snapshot back
    // The device learner owns copies: changing the downloaded or the uploaded host arrays changes nothing on it.
    back.Actor.[0] <- 99.0f
    state.AlphaOptimizer.FirstMoment.[0] <- 99.0f
    sameState "second download" snapshot (DeviceSac.download dev learner)
    let actor = Array.zeroCreate<float32> snapshot.Actor.Length
    DeviceSac.downloadActor dev learner actor
    same "actor" snapshot.Actor actor
    Assert.ThrowsAny<ArgumentException>(fun () -> DeviceSac.downloadActor dev learner (Array.zeroCreate 3)) |> ignore

let ``a SAC v1 learner round-trips through upload and download, and a learner of the other variant is refused`` = testCase "a SAC v1 learner round-trips through upload and download, and a learner of the other variant is refused" <| fun () ->
    let cfg = SacConfig(HiddenSizes = [| 8 |], BatchSize = 4, BufferSize = 10, Variant = SacVariant.V1)
    let cpu = SacContext(cfg, 3, 1, gemm)
    let mutable state = Sac.init cpu 2UL
    for k in 0 .. 1 do
        let struct (next, _) = Sac.update cpu (randomBatch 4 3 1 (uint64 k)) state
        state <- next
    use dev = new DeviceSacContext(cfg, 3, 1, backend)
    let snapshot = state.DeepCopy()
    use learner = DeviceSac.upload dev state
    sameState "v1 round trip" snapshot (DeviceSac.download dev learner)
    use v2 = new DeviceSacContext(SacConfig(HiddenSizes = [| 8 |], BatchSize = 4, BufferSize = 10), 3, 1, backend)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> DeviceSac.upload v2 state |> ignore)
    Assert.Contains("value network", ex.Message)

let ``a batch of the wrong shape or size is refused`` = testCase "a batch of the wrong shape or size is refused" <| fun () ->
    let cfg = SacConfig(HiddenSizes = [| 8 |], BatchSize = 4, BufferSize = 10)
    use dev = new DeviceSacContext(cfg, 3, 1, backend)
    use learner = DeviceSac.upload dev (Sac.init (SacContext(cfg, 3, 1, gemm)) 1UL)
    Assert.ThrowsAny<ArgumentException>(fun () -> DeviceSac.update dev (randomBatch 5 3 1 1UL) learner |> ignore) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> DeviceSac.update dev (randomBatch 4 2 1 1UL) learner |> ignore) |> ignore
    Assert.Equal(0L, learner.Step)

let ``a DeviceSac update on the host backend allocates nothing once warm`` = testCase "a DeviceSac update on the host backend allocates nothing once warm" <| fun () ->
    // On two threads the caller runs branch 0 of every pair; branch 1 is the same code on the team's worker.
    use g2 = new ManagedGemm(2)
    use two = new HostBackend(g2)
    for auto, backend in [ true, backend; false, backend; true, (two :> ISacBackend) ] do
        let cfg = SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 8, BufferSize = 100, AutoAlpha = auto)
        use dev = new DeviceSacContext(cfg, 3, 2, backend)
        use learner = DeviceSac.upload dev (Sac.init (SacContext(cfg, 3, 2, gemm)) 3UL)
        let batch = randomBatch 8 3 2 9UL
        for _ in 1 .. 3 do DeviceSac.update dev batch learner |> ignore
        let before = GC.GetAllocatedBytesForCurrentThread()
        for _ in 1 .. 10 do DeviceSac.update dev batch learner |> ignore
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)
        Assert.Equal(13L, learner.Step)

/// Records which thread ran each branch of a pair, and in what order.
type private BranchThreads() =
    let threads = Array.zeroCreate<int> 2
    let order = Collections.Concurrent.ConcurrentQueue<int>()
    member _.Threads = threads
    member _.Order = order
    member val Lanes : ISacBackend[] = Array.zeroCreate 2
    interface IPairWork with
        member this.Execute(lane, i) =
            threads.[i] <- Environment.CurrentManagedThreadId
            this.Lanes.[i] <- lane
            order.Enqueue i

/// A GEMM that reports two threads but is not the managed GEMM (as OpenBLAS): its pairs run in order.
type private TwoThreadsElsewhere() =
    interface IGemm with
        member _.Name = "elsewhere"
        member _.Threads = 2
        member _.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =
            ReferenceGemm.Instance.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

/// A pair whose branch `failing` throws.
type private FailingBranch(failing: int) =
    interface IPairWork with
        member _.Execute(_, i) = if i = failing then invalidOp $"branch {i} failed"

let ``host RunPair runs the branches on two threads with a two-thread managed GEMM, and in order on the caller otherwise`` = testCase "host RunPair runs the branches on two threads with a two-thread managed GEMM, and in order on the caller otherwise" <| fun () ->
    let caller = Environment.CurrentManagedThreadId
    use g2 = new ManagedGemm(2)
    use two = new HostBackend(g2)
    let w = BranchThreads()
    (two :> ISacBackend).RunPair w
    Assert.Equal(caller, w.Threads.[0])
    Assert.NotEqual(caller, w.Threads.[1])
    // Each branch gets a lane of its own, not the backend whose GEMM is split.
    Assert.False(obj.ReferenceEquals(w.Lanes.[0], w.Lanes.[1]))
    for lane in w.Lanes do
        Assert.False(obj.ReferenceEquals(lane, two))
        Assert.Equal(1, ((lane :?> HostBackend).GemmProvider).Threads)
    for g in [ gemm; new ManagedGemm(1) :> IGemm; TwoThreadsElsewhere() :> IGemm ] do
        use one = new HostBackend(g)
        let w = BranchThreads()
        (one :> ISacBackend).RunPair w
        Assert.Equal<int[]>([| caller; caller |], w.Threads)
        Assert.Equal<int[]>([| 0; 1 |], w.Order.ToArray())
        Assert.True(obj.ReferenceEquals(w.Lanes.[0], one) && obj.ReferenceEquals(w.Lanes.[1], one))
    // A failing branch surfaces on the caller, from either side.
    Assert.Throws<InvalidOperationException>(fun () -> (two :> ISacBackend).RunPair(FailingBranch 0)) |> ignore
    let e = Assert.Throws<AggregateException>(fun () -> (two :> ISacBackend).RunPair(FailingBranch 1))
    Assert.Contains("branch 1 failed", (nonNull e.InnerException).Message)
    // And the team still works afterwards.
    let w = BranchThreads()
    (two :> ISacBackend).RunPair w
    Assert.NotEqual(w.Threads.[0], w.Threads.[1])

let private learnerArrays (s: LearnerState) =
    [ "Actor", s.Actor; "Critic", s.Critic; "TargetCritic", s.TargetCritic
      "ActorOptimizer.FirstMoment", s.ActorOptimizer.FirstMoment; "ActorOptimizer.SecondMoment", s.ActorOptimizer.SecondMoment
      "CriticOptimizer.FirstMoment", s.CriticOptimizer.FirstMoment; "CriticOptimizer.SecondMoment", s.CriticOptimizer.SecondMoment
      "LogAlpha", [| s.LogAlpha |]
      if not (isNull s.Value) then
          "Value", nonNull s.Value
          "TargetValue", nonNull s.TargetValue
          "ValueOptimizer.FirstMoment", s.ValueOptimizer.Value.FirstMoment ]

let ``SAC updates on two threads, the critics side by side, equal one thread bit for bit: v2, v2 with clipping, v1, gSDE`` = testCase "SAC updates on two threads, the critics side by side, equal one thread bit for bit: v2, v2 with clipping, v1, gSDE" <| fun () ->
    let configs =
        [ SacConfig(HiddenSizes = [| 24; 16 |], BatchSize = 16)
          // Layers of 64 units or more: the actor's backward pass splits their weight gradients between its branches.
          SacConfig(HiddenSizes = [| 256; 96; 72 |], BatchSize = 256)
          SacConfig(HiddenSizes = [| 256; 256 |], BatchSize = 256, UseSde = true)
          SacConfig(HiddenSizes = [| 24; 16 |], BatchSize = 16, MaxGradNorm = Nullable 0.5f, TargetUpdateInterval = 2)
          SacConfig(HiddenSizes = [| 24; 16 |], BatchSize = 16, Variant = SacVariant.V1)
          SacConfig(HiddenSizes = [| 24; 16 |], BatchSize = 16, UseSde = true) ]
    for cfg in configs do
        let run threads =
            use g = new ManagedGemm(threads)
            let ctx = SacContext(cfg, 5, 2, g)
            let mutable s = Sac.init ctx 4UL
            for i in 1 .. 25 do
                // Short batches too: the pairs must honour the batch's rows.
                let struct (next, _) = Sac.update ctx (randomBatch (if i % 5 = 0 then 9 else cfg.BatchSize) 5 2 (uint64 i)) s
                s <- next
            s
        let one, two = run 1, run 2
        for (name, a), (_, b) in List.zip (learnerArrays one) (learnerArrays two) do
            same $"{cfg.Variant} clip={cfg.MaxGradNorm} gSDE={cfg.UseSde}: {name}" a b

/// Pairs side by side on two threads, branch 0 held back a millisecond before each GEMM: where branch 1 changes
/// something that branch 0 has yet to read, the result differs from running the branches in order.
type private LaggingBranchZero(lane0: ISacBackend, lane1: ISacBackend) =
    inherit BackendKit.ForwardingBackend(lane0, "host")
    let slow =
        { new BackendKit.ForwardingBackend(lane0, "host") with
            override _.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =
                Threading.Thread.Sleep 1
                lane0.Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
    override _.RunPair work =
        let failure = ref (null: exn | null)
        let other = Threading.Thread(fun () -> try work.Execute(lane1, 1) with e -> failure.Value <- e)
        other.Start()
        work.Execute(slow, 0)
        other.Join()
        match failure.Value with
        | null -> ()
        | e -> raise e

let ``however far branch 0 lags, the pairs of an update give the in-order result: the actor's backward steps no weights it still reads`` = testCase "however far branch 0 lags, the pairs of an update give the in-order result: the actor's backward steps no weights it still reads" <| fun () ->
    // Layers of 64 units or more, whose weight gradients the actor's backward pass splits between its branches.
    let cfg = SacConfig(HiddenSizes = [| 96; 80; 72 |], BatchSize = 32)
    let o, a = 5, 2
    let run (backend: ISacBackend) =
        use dev = new DeviceSacContext(cfg, o, a, backend)
        use learner = DeviceSac.upload dev (Sac.init (SacContext(cfg, o, a, ReferenceGemm.Instance)) 5UL)
        for k in 0 .. 2 do DeviceSac.update dev (randomBatch 32 o a (uint64 k)) learner |> ignore
        DeviceSac.download dev learner
    use g = new ManagedGemm(1)
    use g0 = new ManagedGemm(1)
    use g1 = new ManagedGemm(1)
    use host = new HostBackend(g)
    use lane0 = new HostBackend(g0)
    use lane1 = new HostBackend(g1)
    let inOrder = run host
    let lagging = run (new LaggingBranchZero(lane0, lane1))
    for (name, e), (_, l) in List.zip (learnerArrays inOrder) (learnerArrays lagging) do
        same $"lagging branch 0: {name}" e l

let tests = testList "DeviceSac" [
    ``host Upload, Download and Copy move exactly their slices``
    ``host Gemm is IGemm.Sgemm on sub-slices with leading dimensions``
    ``host BiasActivationForward, ActivationBackward and ColumnSums are FusedOps on sub-slices``
    ``host Sum is the CPU update's reduction and FillNormal is Philox's stream``
    ``host ConcatColumns is Rows.concat and SumColumnBlock adds one column block``
    ``host TanhGaussianForward reads interleaved actor rows as TanhGaussian.sampleForward reads split ones``
    ``host TanhGaussianBackward writes TanhGaussian.sampleBackward's gradients interleaved``
    ``host SoftTarget, CriticLoss and ActorLoss are SoftBellman and Losses on sub-slices``
    ``host Adam is Adam.Update and host Polyak is Polyak.Update on sub-slices``
    ``host operations refuse a slice of another backend's array``
    ``DeviceMlp on the host backend is Mlp.Forward and Mlp.Backward bit for bit``
    ``DeviceSac on the host backend tracks Sac.update: obs 3, act 1, automatic temperature``
    ``DeviceSac on the host backend tracks Sac.update: obs 5, act 2, fixed temperature, Polyak every 2 steps``
    ``DeviceSac on the host backend tracks Sac.update: obs 5, act 2, automatic temperature, tanh log-std, clipping, short batches``
    ``DeviceSac on the host backend tracks Sac.update: obs 3, act 1, fixed temperature``
    ``upload then download gives back the learner, and downloadActor its actor``
    ``a SAC v1 learner round-trips through upload and download, and a learner of the other variant is refused``
    ``a batch of the wrong shape or size is refused``
    ``a DeviceSac update on the host backend allocates nothing once warm``
    ``host RunPair runs the branches on two threads with a two-thread managed GEMM, and in order on the caller otherwise``
    ``SAC updates on two threads, the critics side by side, equal one thread bit for bit: v2, v2 with clipping, v1, gSDE``
    ``however far branch 0 lags, the pairs of an update give the in-order result: the actor's backward steps no weights it still reads``
]
