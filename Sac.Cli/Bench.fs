/// `sac bench`: throughput measurements printed as JSON lines (DESIGN.md, Contracts), read as ratios against the
/// FMA peak measured in the same run or against the PyTorch anchors run beside it.
module Sac.Cli.Bench

open System
open System.Diagnostics
open Sac.Core.Compute
open Sac.Core.Networks
open Sac.Core.Random

/// Options of one bench run.
type BenchOptions =
    { Filter: string option
      Threads: int list
      Seconds: float }

let private fmt (x: float) = x.ToString("0.###", Globalization.CultureInfo.InvariantCulture)

/// Runs `step` past tiered JIT, then for about `seconds`; returns calls per second.
let rate (seconds: float) (step: unit -> unit) =
    let warm = Stopwatch.StartNew()
    let mutable n = 0
    while n < 50 || warm.Elapsed.TotalSeconds < min 0.5 (seconds / 2.0) do
        step ()
        n <- n + 1
    let sw = Stopwatch.StartNew()
    let mutable calls = 0L
    while sw.Elapsed.TotalSeconds < seconds do
        step ()
        calls <- calls + 1L
    float calls / sw.Elapsed.TotalSeconds

let private random (n: int) seed =
    let a = Array.zeroCreate<float32> n
    Philox.FillUniform(PhiloxKey.FromSeed(uint64 seed), 0UL, Span a)
    a

let private gemmLine (g: IGemm) seconds (m, n, k) (ta: Transpose, tb: Transpose) =
    let a, b, c = random (m * k) 1, random (k * n) 2, Array.zeroCreate<float32> (m * n)
    let lda = if ta = Transpose.No then k else m
    let ldb = if tb = Transpose.No then n else k
    let perSec = rate seconds (fun () -> g.Sgemm(ta, tb, m, n, k, 1.0f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, 0.0f, Span c, n))
    let trans = (if ta = Transpose.No then "N" else "T") + (if tb = Transpose.No then "N" else "T")
    sprintf """{"name":"gemm","m":%d,"n":%d,"k":%d,"trans":"%s","threads":%d,"gflops":%s,"provider":"%s"}"""
        m n k trans g.Threads (fmt (2.0 * float m * float n * float k * perSec / 1e9)) g.Name

/// The shapes of SAC's critic at batch 256 (obs+act = 23, hidden 256): forward X W^T is NT, dW = dZ^T X is TN, dX = dZ W is NN.
let private gemmCases =
    [ (256, 256, 256), [ Transpose.No, Transpose.No; Transpose.No, Transpose.Yes; Transpose.Yes, Transpose.No ]
      (256, 256, 23), [ Transpose.No, Transpose.Yes ]
      (256, 23, 256), [ Transpose.Yes, Transpose.No ]
      (256, 1, 256), [ Transpose.No, Transpose.Yes ]
      (1, 256, 256), [ Transpose.Yes, Transpose.No ] ]
    |> List.collect (fun (shape, ts) -> ts |> List.map (fun t -> shape, t))

/// One critic step's network work, as the PyTorch anchor measures it: forward, then parameter gradients only (a critic
/// update needs no input gradient).
let private mlpLine (g: IGemm) seconds =
    let sizes = [| 23; 256; 256; 1 |]
    let batch = 256
    let spec = MlpSpec(sizes, Activation.Relu, Activation.Identity)
    let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 7UL)
    let ws = MlpWorkspace(spec, batch)
    let x, dy = random (batch * 23) 3, random batch 4
    let dp = Array.zeroCreate<float32> p.Length
    let perSec =
        rate seconds (fun () ->
            let _ = Mlp.Forward(g, spec, ReadOnlySpan p, ReadOnlySpan x, batch, ws)
            Mlp.Backward(g, spec, ReadOnlySpan p, ws, batch, ReadOnlySpan dy, Span dp, Span.Empty))
    sprintf """{"name":"mlp_fwd_bwd","batch":%d,"sizes":[23,256,256,1],"threads":%d,"per_sec":%s,"provider":"%s"}"""
        batch g.Threads (fmt perSec) g.Name

/// One full SAC v2 update as the PyTorch anchor measures it: sample 256 transitions from a 1M-transition random replay
/// buffer, then the whole gradient step (hidden 256x2).
let private sacUpdateLine (g: IGemm) seconds (obs: int, act: int) =
    let cfg = Sac.Core.Config.SacConfig()
    let ctx = Sac.Fs.SacContext(cfg, obs, act, g)
    let capacity = 1_000_000
    let replay = Sac.Core.Data.ReplayBuffer(capacity, obs, act)
    let o, a, o2 = random obs 5, random act 6, random obs 7
    let key = PhiloxKey.FromSeed 8UL
    for i in 0 .. capacity - 1 do
        // Vary one value per row cheaply: the contents do not matter to the speed, only that they are finite.
        let r = Philox.Uniform(key, uint64 i) - 0.5f
        o.[i % obs] <- r
        replay.Add(ReadOnlySpan o, ReadOnlySpan a, r, ReadOnlySpan o2, (i % 100 = 0), false)
    let batch = Sac.Core.Data.Batch(cfg.BatchSize, obs, act)
    let mutable state = Sac.Fs.Sac.init ctx 9UL
    let mutable draw = 0UL
    let perSec =
        rate seconds (fun () ->
            replay.Sample(key, draw, batch)
            draw <- draw + 1UL
            let struct (next, _) = Sac.Fs.Sac.update ctx batch state
            state <- next)
    sprintf """{"name":"sac_update","obs":%d,"act":%d,"hidden":256,"batch":256,"threads":%d,"updates_per_sec":%s,"device":"cpu","provider":"%s"}"""
        obs act g.Threads (fmt perSec) g.Name

/// Runs every measurement whose name contains the filter, printing one JSON line each as it completes.
let run (opts: BenchOptions) (print: string -> unit) =
    let wanted name = opts.Filter |> Option.forall (fun f -> (name: string).Contains(f, StringComparison.OrdinalIgnoreCase))
    for t in opts.Threads do
        if wanted "fma_peak" then
            print (sprintf """{"name":"fma_peak","threads":%d,"gflops":%s}""" t (fmt (FmaPeak.Measure(t, opts.Seconds))))
        let providers: IGemm list =
            [ yield new ManagedGemm(t) :> IGemm
              match OpenBlasGemm.TryCreate t with
              | null -> ()
              | ob -> yield ob :> IGemm ]
        for g in providers do
            if wanted "gemm" then
                for shape, ts in gemmCases do
                    print (gemmLine g opts.Seconds shape ts)
            if wanted "mlp_fwd_bwd" then print (mlpLine g opts.Seconds)
            if wanted "sac_update" then
                for shape in [ (3, 1); (17, 6) ] do print (sacUpdateLine g opts.Seconds shape)
        for g in providers do
            match g with
            | :? IDisposable as d -> d.Dispose()
            | _ -> ()
