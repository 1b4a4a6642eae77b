/// `sac check-device`: every backend operation against its CPU reference (KernelReference, the library definitions) on
/// random inputs, the Philox stream's identity, and a 100-update SAC v2 run on the backend against Sac.update. The
/// checks take any ISacBackend, so the comparison code itself runs on the host backend in the unit tests.
module Sac.Cli.DeviceCheck

open System
open System.Globalization
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend
open Sac.Cuda.Kernels
open Sac.Fs

/// <summary>The outcome of one check.</summary>
type CheckResult =
    { /// <summary>Short name, e.g. <c>polyak</c>.</summary>
      Check: string
      /// <summary>Largest error of an output element: <c>|actual - expected| / max(|expected|, 1)</c> (NaN-aware).</summary>
      MaxRelErr: float
      /// <summary>Largest <c>|actual - expected|</c>.</summary>
      MaxAbsErr: float
      /// <summary>The bound MaxRelErr had to stay within.</summary>
      Tolerance: float
      /// <summary>Whether MaxRelErr is within Tolerance (and nothing threw).</summary>
      Ok: bool
      /// <summary>Why a check could not run, else empty.</summary>
      Error: string }

/// <summary>Tolerance of the single-kernel checks.</summary>
let kernelTolerance = 1e-5

/// <summary>Tolerance of the 100-update SAC run against the CPU.</summary>
let trackingTolerance = 1e-4

/// <summary>Error of one element: absolute below magnitude 1, relative above; equal NaNs and equal infinities are 0.</summary>
/// <param name="expected">The reference value.</param>
/// <param name="actual">The backend's value.</param>
let elementError (expected: float32) (actual: float32) =
    if expected = actual || (Single.IsNaN expected && Single.IsNaN actual) then 0.0
    elif not (Single.IsFinite expected && Single.IsFinite actual) then infinity
    else abs (float actual - float expected) / max (abs (float expected)) 1.0

/// <summary>(max relative, max absolute) error over paired arrays of equal lengths.</summary>
/// <param name="pairs">(expected, actual) pairs.</param>
let errors (pairs: (float32[] * float32[]) list) =
    let mutable rel, absErr = 0.0, 0.0
    for expected, actual in pairs do
        if expected.Length <> actual.Length then rel <- infinity
        else
            for i in 0 .. expected.Length - 1 do
                rel <- max rel (elementError expected.[i] actual.[i])
                let d = abs (float actual.[i] - float expected.[i])
                absErr <- max absErr (if Double.IsNaN d then (if Single.IsNaN expected.[i] && Single.IsNaN actual.[i] then 0.0 else infinity) else d)
    rel, absErr

let private result name tolerance pairs =
    let rel, absErr = errors pairs
    { Check = name; MaxRelErr = rel; MaxAbsErr = absErr; Tolerance = tolerance; Ok = rel <= tolerance; Error = "" }

/// Backend arrays made for one check, released together.
type private Scope(backend: ISacBackend) =
    let arrays = Collections.Generic.List<DeviceArray>()
    /// `data` placed at element `offset` of a new array (offsets off 16-byte boundaries exercise unaligned paths).
    member _.Up(data: float32[], offset: int) =
        let a = backend.Allocate(offset + data.Length + 1)
        arrays.Add a
        let s = a.Slice(offset, data.Length)
        backend.Upload(ReadOnlySpan data, s)
        s
    member this.Up(data: float32[]) = this.Up(data, 1)
    member _.Down(s: DeviceSlice) =
        let host = Array.zeroCreate<float32> s.Length
        backend.Download(s, Span host)
        host
    interface IDisposable with
        member _.Dispose() = for a in arrays do a.Dispose()

let private uniform (rng: Random) n (lo: float) (hi: float) =
    Array.init n (fun _ -> float32 (lo + (hi - lo) * rng.NextDouble()))

let private checkSoftTarget (bk: ISacBackend) (rng: Random) =
    let n = 70_003
    let r, q1, q2, lp = uniform rng n -2.0 2.0, uniform rng n -5.0 5.0, uniform rng n -5.0 5.0, uniform rng n -4.0 2.0
    let term = Array.init n (fun _ -> if rng.NextDouble() < 0.3 then 1.0f else 0.0f)
    use s = new Scope(bk)
    let target = s.Up(Array.zeroCreate n)
    bk.SoftTarget(0.99f, 0.2f, s.Up r, s.Up term, s.Up q1, s.Up q2, s.Up lp, target)
    let expected = Array.zeroCreate n
    KernelReference.SoftTarget(0.99f, 0.2f, ReadOnlySpan r, ReadOnlySpan term, ReadOnlySpan q1, ReadOnlySpan q2, ReadOnlySpan lp, Span expected)
    result "soft_target" kernelTolerance [ expected, s.Down target ]

let private checkPolyak (bk: ISacBackend) (rng: Random) =
    let n = 100_003
    let online, target = uniform rng n -1.0 1.0, uniform rng n -1.0 1.0
    use s = new Scope(bk)
    // Same alignment (the float4 body) and different alignment (the scalar path).
    let o1, t1 = s.Up(online, 3), s.Up(target, 3)
    let o2, t2 = s.Up(online, 1), s.Up(target, 2)
    bk.Polyak(0.005f, o1, t1)
    bk.Polyak(0.005f, o2, t2)
    let expected = Array.copy target
    KernelReference.Polyak(0.005f, ReadOnlySpan online, Span expected)
    result "polyak" kernelTolerance [ expected, s.Down t1; expected, s.Down t2 ]

let private checkAdam (clip: float32 option) (bk: ISacBackend) (rng: Random) =
    let n = 90_001
    let config = AdamConfig(3e-4f, 0.9f, 0.999f, 1e-8f, (match clip with Some c -> Nullable c | None -> Nullable()))
    let p, g = uniform rng n -1.0 1.0, uniform rng n -0.1 0.1
    let m, v = uniform rng n -0.01 0.01, uniform rng n 0.0 1e-4
    use s = new Scope(bk)
    let ps, ms, vs = s.Up p, s.Up m, s.Up v
    let step = 7L
    bk.Adam(config, step, ps, s.Up g, ms, vs)
    let struct (stepSize, inv) = KernelReference.AdamStepScalars(config, step)
    let partials =
        match clip with
        | Some _ ->
            let blocks = min 256 (max 1 ((n + 255) / 256))
            let parts = Array.zeroCreate<float> blocks
            KernelReference.SumSquaresPartial(ReadOnlySpan g, Span parts)
            parts
        | None -> [||]
    let pe, me, ve = Array.copy p, Array.copy m, Array.copy v
    KernelReference.Adam(stepSize, inv, 0.9f, 0.999f, 1e-8f, defaultArg clip 0.0f, ReadOnlySpan partials, Span pe,
                         ReadOnlySpan g, Span me, Span ve)
    result (if clip.IsSome then "adam_clipped" else "adam") kernelTolerance [ pe, s.Down ps; me, s.Down ms; ve, s.Down vs ]

let private checkTanhGaussian (bound: LogStdBound) (bk: ISacBackend) (rng: Random) =
    let rows, a = 4099, 6
    let lo, hi = (if bound = LogStdBound.Clamp then -20.0f, 2.0f else -5.0f, 2.0f)
    let out, noise = uniform rng (rows * 2 * a) -3.0 3.0, uniform rng (rows * a) -3.0 3.0
    use s = new Scope(bk)
    let action, sigma, lsg, logPi = s.Up(Array.zeroCreate (rows * a)), s.Up(Array.zeroCreate (rows * a)), s.Up(Array.zeroCreate (rows * a)), s.Up(Array.zeroCreate rows)
    let noiseS = s.Up noise
    bk.TanhGaussianForward(bound, lo, hi, rows, a, s.Up out, noiseS, action, sigma, lsg, logPi)
    let ea, es, eg, el = Array.zeroCreate (rows * a), Array.zeroCreate (rows * a), Array.zeroCreate (rows * a), Array.zeroCreate rows
    KernelReference.TanhGaussianForward(bound, lo, hi, rows, a, ReadOnlySpan out, ReadOnlySpan noise, Span ea, Span es, Span eg, Span el)
    let forward = result (sprintf "tanh_gaussian_forward_%s" (if bound = LogStdBound.Clamp then "clamp" else "tanh")) kernelTolerance
                      [ ea, s.Down action; es, s.Down sigma; eg, s.Down lsg; el, s.Down logPi ]
    // Backward from the reference forward outputs, so it is checked on its own.
    let dA, dLogPi = uniform rng (rows * a) -1.0 1.0, uniform rng rows -1.0 1.0
    let dOut = s.Up(Array.zeroCreate (rows * 2 * a))
    bk.TanhGaussianBackward(rows, a, s.Up ea, s.Up es, s.Up noise, s.Up eg, s.Up dA, s.Up dLogPi, dOut)
    let expected = Array.zeroCreate (rows * 2 * a)
    KernelReference.TanhGaussianBackward(rows, a, ReadOnlySpan ea, ReadOnlySpan es, ReadOnlySpan noise, ReadOnlySpan eg,
                                         ReadOnlySpan dA, ReadOnlySpan dLogPi, Span expected)
    [ forward; result "tanh_gaussian_backward" kernelTolerance [ expected, s.Down dOut ] ]

let private checkPhilox (fillUInt32: (PhiloxKey -> uint64 -> DeviceSlice -> unit) option) (bk: ISacBackend) (rng: Random) =
    let key = PhiloxKey(uint32 (rng.Next()), uint32 (rng.Next()))
    // An offset off a 4-word block boundary, and one near the top of the 64-bit counter.
    let cases = [ 5UL, 10_007; UInt64.MaxValue - 12UL, 13 ]
    use s = new Scope(bk)
    let normal =
        [ for offset, n in cases do
            let d = s.Up(Array.zeroCreate n)
            bk.FillNormal(key, offset, d)
            let e = Array.zeroCreate n
            KernelReference.PhiloxNormal(key, offset, Span e)
            yield e, s.Down d ]
    let words =
        match fillUInt32 with
        | None -> []
        | Some fill ->
            let mismatches =
                cases
                |> List.sumBy (fun (offset, n) ->
                    let d = s.Up(Array.zeroCreate n)
                    fill key offset d
                    let e = Array.zeroCreate<uint32> n
                    KernelReference.PhiloxUInt32(key, offset, Span e)
                    let got = s.Down d |> Array.map BitConverter.SingleToUInt32Bits
                    Array.fold2 (fun c (x: uint32) y -> if x = y then c else c + 1) 0 e got)
            [ { Check = "philox_uint32"; MaxRelErr = (if mismatches = 0 then 0.0 else infinity); MaxAbsErr = float mismatches
                Tolerance = 0.0; Ok = (mismatches = 0); Error = (if mismatches = 0 then "" else sprintf "%d words differ" mismatches) } ]
    words @ [ result "philox_normal" kernelTolerance normal ]

let private checkMlpOps (bk: ISacBackend) (rng: Random) =
    let rows, cols = 1031, 257
    let bias = uniform rng cols -1.0 1.0
    use s = new Scope(bk)
    let forward =
        [ for act in [ Activation.Identity; Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ] do
            let z = uniform rng (rows * cols) -3.0 3.0
            let zs = s.Up z
            bk.BiasActivationForward(zs, rows, cols, s.Up bias, act)
            KernelReference.BiasActivationForward(rows, cols, act, ReadOnlySpan bias, Span z)
            yield z, s.Down zs ]
    let backward =
        [ for act in [ Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ] do
            let y = uniform rng (rows * cols) -1.0 1.0
            let dy = uniform rng (rows * cols) -1.0 1.0
            let dys = s.Up dy
            bk.ActivationBackward(s.Up y, dys, act)
            KernelReference.ActivationBackward(act, ReadOnlySpan y, Span dy)
            yield dy, s.Down dys ]
    let x = uniform rng (rows * cols) -1.0 1.0
    let sums =
        [ for accumulate in [ false; true ] do
            let dest = uniform rng cols -1.0 1.0
            let ds = s.Up dest
            bk.ColumnSums(s.Up x, rows, cols, ds, accumulate)
            KernelReference.ColumnSums(rows, cols, accumulate, ReadOnlySpan x, Span dest)
            yield dest, s.Down ds ]
    let l, r = uniform rng (rows * 17) -1.0 1.0, uniform rng (rows * 6) -1.0 1.0
    let cat = s.Up(Array.zeroCreate (rows * 23))
    bk.ConcatColumns(rows, s.Up l, 17, s.Up r, 6, cat)
    let ecat = Array.zeroCreate (rows * 23)
    KernelReference.ConcatColumns(rows, 17, 6, ReadOnlySpan l, ReadOnlySpan r, Span ecat)
    let x1, x2 = uniform rng (rows * 23) -1.0 1.0, uniform rng (rows * 23) -1.0 1.0
    let block = s.Up(Array.zeroCreate (rows * 6))
    bk.SumColumnBlock(rows, 23, 17, 6, s.Up x1, s.Up x2, block)
    let eblock = Array.zeroCreate (rows * 6)
    KernelReference.SumColumnBlock(rows, 23, 17, 6, ReadOnlySpan x1, ReadOnlySpan x2, Span eblock)
    [ result "bias_activation_forward" kernelTolerance forward
      result "activation_backward" kernelTolerance backward
      result "column_sums" kernelTolerance sums
      result "concat_columns" kernelTolerance [ ecat, s.Down cat ]
      result "sum_column_block" kernelTolerance [ eblock, s.Down block ] ]

let private checkLosses (bk: ISacBackend) (rng: Random) =
    let n = 4099
    let q, y = uniform rng n -5.0 5.0, uniform rng n -5.0 5.0
    use s = new Scope(bk)
    let qg, terms = s.Up(Array.zeroCreate n), s.Up(Array.zeroCreate n)
    bk.CriticLoss(s.Up q, s.Up y, qg, terms)
    let eqg, eterms = Array.zeroCreate n, Array.zeroCreate n
    KernelReference.CriticLoss(ReadOnlySpan q, ReadOnlySpan y, Span eqg, Span eterms)
    let critic = result "critic_loss" kernelTolerance [ eqg, s.Down qg; eterms, s.Down terms ]
    let lp, q1 = uniform rng n -4.0 1.0, uniform rng n -5.0 5.0
    // Some ties, where the gradient goes to q1.
    let q2 = Array.init n (fun i -> if i % 7 = 0 then q1.[i] else float32 (rng.NextDouble() * 10.0 - 5.0))
    let outs = [| for _ in 1 .. 4 -> s.Up(Array.zeroCreate n) |]
    bk.ActorLoss(0.3f, s.Up lp, s.Up q1, s.Up q2, outs.[0], outs.[1], outs.[2], outs.[3])
    let e = [| for _ in 1 .. 4 -> Array.zeroCreate<float32> n |]
    KernelReference.ActorLoss(0.3f, ReadOnlySpan lp, ReadOnlySpan q1, ReadOnlySpan q2, Span e.[0], Span e.[1], Span e.[2], Span e.[3])
    [ critic; result "actor_loss" kernelTolerance [ for i in 0 .. 3 -> e.[i], s.Down outs.[i] ] ]

let private checkSum (bk: ISacBackend) (rng: Random) =
    use s = new Scope(bk)
    let pairs =
        [ for n in [ 0; 1; 255; 4099; 100_003 ] do
            let x = uniform rng n 0.0 1.0
            let d = s.Up [| 123.0f |]
            bk.Sum(s.Up x, d)
            // The kernel's lane order, and the sum in double: the backend must agree with both to rounding.
            yield [| KernelReference.SumReduce(ReadOnlySpan x) |], s.Down d
            yield [| float32 (Array.sumBy float x) |], s.Down d ]
    result "sum_reduce" kernelTolerance pairs

let private checkGemm (bk: ISacBackend) (rng: Random) =
    let cases =
        [ 256, 256, 23, Transpose.No, Transpose.Yes
          256, 23, 256, Transpose.Yes, Transpose.No
          256, 256, 256, Transpose.No, Transpose.No
          37, 19, 53, Transpose.Yes, Transpose.Yes ]
    use s = new Scope(bk)
    let mutable rel, absErr = 0.0, 0.0
    for m, n, k, ta, tb in cases do
        let a, b, c = uniform rng (m * k) -1.0 1.0, uniform rng (k * n) -1.0 1.0, uniform rng (m * n) -1.0 1.0
        let lda = if ta = Transpose.No then k else m
        let ldb = if tb = Transpose.No then n else k
        let cs = s.Up c
        bk.Gemm(ta, tb, m, n, k, 0.5f, s.Up a, lda, s.Up b, ldb, 0.25f, cs, n)
        let got = s.Down cs
        // Error relative to sum_k |a||b| + |c|: the scale a float32 dot product's rounding is proportional to.
        let at i p = if ta = Transpose.No then a.[i * k + p] else a.[p * m + i]
        let bt p j = if tb = Transpose.No then b.[p * n + j] else b.[j * k + p]
        for i in 0 .. m - 1 do
            for j in 0 .. n - 1 do
                let mutable dot, scale = 0.0, 0.0
                for p in 0 .. k - 1 do
                    let x = float (at i p) * float (bt p j)
                    dot <- dot + x
                    scale <- scale + abs x
                let e = 0.5 * dot + 0.25 * float c.[i * n + j]
                let d = abs (float got.[i * n + j] - e)
                absErr <- max absErr d
                rel <- max rel (d / max (0.5 * scale + 0.25 * abs (float c.[i * n + j])) 1e-30)
    { Check = "gemm"; MaxRelErr = rel; MaxAbsErr = absErr; Tolerance = kernelTolerance; Ok = rel <= kernelTolerance; Error = "" }

let private checkCopies (bk: ISacBackend) (rng: Random) =
    let n = 10_007
    let x = uniform rng n -1.0 1.0
    use s = new Scope(bk)
    let a = s.Up(x, 3)
    let b = s.Up(Array.zeroCreate n, 1)
    bk.Copy(a, b)
    let part = s.Down(b.Slice(17, 100))
    result "upload_copy_download" 0.0 [ x, s.Down b; Array.sub x 17 100, part ]

/// <summary>Random transitions drawn from <paramref name="seed"/>, about a third terminated.</summary>
/// <param name="rows">Batch size.</param>
/// <param name="o">Observation size.</param>
/// <param name="a">Action size.</param>
/// <param name="seed">Seed.</param>
let randomBatch (rows: int) (o: int) (a: int) (seed: uint64) =
    let batch = Batch(rows, o, a)
    let key = PhiloxKey.FromSeed seed
    Philox.FillNormal(key, 0UL, Span batch.Observations)
    Philox.FillNormal(key, 100000UL, Span batch.NextObservations)
    Philox.FillUniform(key, 200000UL, Span batch.Actions)
    for i in 0 .. batch.Actions.Length - 1 do batch.Actions.[i] <- 2.0f * batch.Actions.[i] - 1.0f
    Philox.FillNormal(key, 300000UL, Span batch.Rewards)
    Philox.FillUniform(key, 400000UL, Span batch.Terminated)
    for i in 0 .. rows - 1 do batch.Terminated.[i] <- (if batch.Terminated.[i] < 0.33f then 1.0f else 0.0f)
    batch

// The SAC setup both update checks run: small networks, gradient clipping on (so the clipped Adam path is covered).
let private trackingConfig () = SacConfig(HiddenSizes = [| 64; 64 |], BatchSize = 64, BufferSize = 1000, MaxGradNorm = Nullable 10.0f)

let private metricValues (m: SacMetrics) = [| m.CriticLoss; m.ActorLoss; m.AlphaLoss; m.Alpha; m.Entropy; m.MeanQ |]

// Every parameter vector, moment and log alpha of two learners, side by side.
let private learnerPairs (a: LearnerState) (b: LearnerState) =
    [ a.Actor, b.Actor
      a.Critic, b.Critic
      a.TargetCritic, b.TargetCritic
      a.ActorOptimizer.FirstMoment, b.ActorOptimizer.FirstMoment
      a.ActorOptimizer.SecondMoment, b.ActorOptimizer.SecondMoment
      a.CriticOptimizer.FirstMoment, b.CriticOptimizer.FirstMoment
      a.CriticOptimizer.SecondMoment, b.CriticOptimizer.SecondMoment
      [| a.LogAlpha |], [| b.LogAlpha |] ]

/// <summary>
/// <c>DeviceSac.update</c> on <paramref name="backend"/> against <c>Sac.update</c> on the CPU from the same initial
/// state over <paramref name="updates"/> random batches: the largest deviation of the metrics of every update and of
/// all parameters, moments and log alpha at the end (error as <see cref="elementError"/>).
/// </summary>
/// <param name="backend">The backend under test.</param>
/// <param name="updates">Number of updates, e.g. 100.</param>
let sacTracking (backend: ISacBackend) (updates: int) =
    let cfg = trackingConfig ()
    let obs, act = 5, 2
    let cpu = SacContext(cfg, obs, act, ReferenceGemm.Instance)
    use dev = new DeviceSacContext(cfg, obs, act, backend)
    let init = Sac.init cpu 21UL
    use learner = DeviceSac.upload dev (init.DeepCopy())
    let mutable state = init
    let metricPairs = Collections.Generic.List<float32[] * float32[]>()
    for k in 0 .. updates - 1 do
        let batch = randomBatch cfg.BatchSize obs act (1000UL + uint64 k)
        let struct (next, e) = Sac.update cpu batch state
        state <- next
        let m = DeviceSac.update dev batch learner
        metricPairs.Add((metricValues e, metricValues m))
    let got = DeviceSac.download dev learner
    let pRel, pAbs = errors (learnerPairs state got)
    let mRel, mAbs = errors (List.ofSeq metricPairs)
    let rel = max pRel mRel
    { Check = "sac_tracking"; MaxRelErr = rel; MaxAbsErr = max pAbs mAbs; Tolerance = trackingTolerance
      Ok = rel <= trackingTolerance && got.Step = state.Step
      Error = sprintf "parameters max_rel_err %.3g max_abs_err %.3g; metrics max_rel_err %.3g max_abs_err %.3g" pRel pAbs mRel mAbs }

/// <summary>
/// The same SAC updates on a CUDA backend without and with <c>CudaBackend.CaptureGraphs</c>, from the same initial state
/// over <paramref name="updates"/> random batches: the largest deviation of the metrics of every update and of all
/// parameters, moments and log alpha at the end. A graph replays the very kernels the stream would have run, so the
/// tolerance is 0; every update but the first (which runs uncaptured) must have been launched as a graph.
/// </summary>
/// <param name="backend">The CUDA backend under test; its graph capture is left off.</param>
/// <param name="updates">Number of updates each way, at least 2.</param>
let graphTracking (backend: CudaBackend) (updates: int) =
    let cfg = trackingConfig ()
    let obs, act = 5, 2
    let init = Sac.init (SacContext(cfg, obs, act, ReferenceGemm.Instance)) 21UL
    let updateAll graphs =
        use dev = new DeviceSacContext(cfg, obs, act, backend)
        use learner = DeviceSac.upload dev (init.DeepCopy())
        backend.CaptureGraphs <- graphs
        try
            let ms = [ for k in 0 .. updates - 1 -> metricValues (DeviceSac.update dev (randomBatch cfg.BatchSize obs act (2000UL + uint64 k)) learner) ]
            ms, DeviceSac.download dev learner
        finally
            backend.CaptureGraphs <- false
    let plainMetrics, plain = updateAll false
    let before = backend.GraphCounts.Launches
    let graphMetrics, graphed = updateAll true
    let launched = backend.GraphCounts.Launches - before
    let rel, absErr = errors (learnerPairs plain graphed @ List.zip plainMetrics graphMetrics)
    { Check = "sac_graph"; MaxRelErr = rel; MaxAbsErr = absErr; Tolerance = 0.0
      Ok = rel <= 0.0 && launched = int64 (updates - 1) && graphed.Step = plain.Step
      Error = sprintf "%d graph launches over %d updates" launched updates }

/// <summary>
/// Runs every check on <paramref name="backend"/>, calling <paramref name="report"/> with each result as it completes
/// (a check that throws is reported failed with the exception's message).
/// </summary>
/// <param name="backend">The backend under test.</param>
/// <param name="fillUInt32">Raw Philox words into a slice, when the backend has them (<c>CudaBackend.FillUInt32</c>).</param>
/// <param name="updates">Updates of the SAC tracking check (100 for the command).</param>
/// <param name="report">Receives each result.</param>
let run (backend: ISacBackend) (fillUInt32: (PhiloxKey -> uint64 -> DeviceSlice -> unit) option) (updates: int)
        (report: CheckResult -> unit) : CheckResult list =
    let rng = Random 20260101
    let guarded (name: string) (f: unit -> CheckResult list) =
        let results =
            try f ()
            with e -> [ { Check = name; MaxRelErr = infinity; MaxAbsErr = infinity; Tolerance = 0.0; Ok = false; Error = e.GetType().Name + ": " + e.Message } ]
        results |> List.iter report
        results
    [ guarded "upload_copy_download" (fun () -> [ checkCopies backend rng ])
      guarded "soft_target" (fun () -> [ checkSoftTarget backend rng ])
      guarded "polyak" (fun () -> [ checkPolyak backend rng ])
      guarded "adam" (fun () -> [ checkAdam None backend rng ])
      guarded "adam_clipped" (fun () -> [ checkAdam (Some 0.5f) backend rng ])
      guarded "tanh_gaussian_clamp" (fun () -> checkTanhGaussian LogStdBound.Clamp backend rng)
      guarded "tanh_gaussian_tanh" (fun () -> checkTanhGaussian LogStdBound.TanhRescale backend rng)
      guarded "philox" (fun () -> checkPhilox fillUInt32 backend rng)
      guarded "mlp_ops" (fun () -> checkMlpOps backend rng)
      guarded "losses" (fun () -> checkLosses backend rng)
      guarded "sum_reduce" (fun () -> [ checkSum backend rng ])
      guarded "gemm" (fun () -> [ checkGemm backend rng ])
      guarded "sac_tracking" (fun () -> [ sacTracking backend updates ]) ]
    |> List.concat

let private num (x: float) =
    if Double.IsNaN x then "null"
    elif Double.IsPositiveInfinity x then "1e308"
    else x.ToString("G6", CultureInfo.InvariantCulture)

let private str (s: string) = Text.Json.JsonSerializer.Serialize s

/// <summary>One JSON line: <c>{"name":"check","check":…,"max_rel_err":…,"max_abs_err":…,"tolerance":…,"ok":…}</c>
/// (plus <c>"detail"</c> when there is one).</summary>
/// <param name="r">A result.</param>
let toJson (r: CheckResult) =
    let detail = if String.IsNullOrEmpty r.Error then "" else sprintf ""","detail":%s""" (str r.Error)
    sprintf """{"name":"check","check":%s,"max_rel_err":%s,"max_abs_err":%s,"tolerance":%s,"ok":%s%s}"""
        (str r.Check) (num r.MaxRelErr) (num r.MaxAbsErr) (num r.Tolerance) (if r.Ok then "true" else "false") detail

/// <summary>The final line: <c>{"name":"check_summary","device":…,"checks":N,"failed":F,"ok":…}</c>.</summary>
/// <param name="device">What the checks ran on.</param>
/// <param name="results">Every result.</param>
let summary (device: string) (results: CheckResult list) =
    let failed = results |> List.filter (fun r -> not r.Ok) |> List.length
    sprintf """{"name":"check_summary","device":%s,"checks":%d,"failed":%d,"ok":%s}"""
        (str device) results.Length failed (if failed = 0 then "true" else "false")

/// <summary>
/// <c>sac check-device</c>: opens the CUDA backend on <paramref name="ordinal"/> and runs every check, then
/// <see cref="graphTracking"/> where the driver can capture graphs (else a line saying why it skipped), printing one
/// JSON line per check and the summary. Returns 0 when all pass, 1 when one fails, 2 (after one line saying why) when
/// there is no usable GPU.
/// </summary>
/// <param name="ordinal">CUDA device ordinal.</param>
/// <param name="updates">Updates of the SAC tracking check.</param>
/// <param name="print">Receives each output line.</param>
let command (ordinal: int) (updates: int) (print: string -> unit) : int =
    match CudaBackend.TryCreate ordinal with
    | false, _, reason ->
        eprintfn "sac check-device: %s" reason
        2
    | true, backend, _ ->
        use backend = nonNull backend
        let results = run backend (Some(fun key offset dest -> backend.FillUInt32(key, offset, dest))) updates (toJson >> print)
        let graph =
            if backend.GraphsSupported then
                let r =
                    try graphTracking backend (max 2 updates)
                    with e -> { Check = "sac_graph"; MaxRelErr = infinity; MaxAbsErr = infinity; Tolerance = 0.0; Ok = false; Error = e.GetType().Name + ": " + e.Message }
                print (toJson r)
                [ r ]
            else
                print (sprintf """{"name":"check","check":"sac_graph","skipped":%s}""" (str backend.GraphsUnsupportedReason))
                []
        let results = results @ graph
        print (summary (backend.ToString()) results)
        if results |> List.forall (fun r -> r.Ok) then 0 else 1
