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

/// Calls per second of `step` over about `seconds`, without a warm-up of its own.
let private timedRate (seconds: float) (step: unit -> unit) =
    let sw = Stopwatch.StartNew()
    let mutable calls = 0L
    while sw.Elapsed.TotalSeconds < seconds do
        step ()
        calls <- calls + 1L
    float calls / sw.Elapsed.TotalSeconds

/// Runs `step` past tiered JIT, then for about `seconds`; returns calls per second.
let rate (seconds: float) (step: unit -> unit) =
    let warm = Stopwatch.StartNew()
    let mutable n = 0
    while n < 50 || warm.Elapsed.TotalSeconds < min 0.5 (seconds / 2.0) do
        step ()
        n <- n + 1
    timedRate seconds step

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

/// A 1M-transition random replay buffer of one shape, as the PyTorch anchor samples from.
let private randomReplay (obs: int, act: int) =
    let capacity = 1_000_000
    let replay = Sac.Core.Data.ReplayBuffer(capacity, obs, act)
    let o, a, o2 = random obs 5, random act 6, random obs 7
    let key = PhiloxKey.FromSeed 8UL
    for i in 0 .. capacity - 1 do
        // Vary one value per row cheaply: the contents do not matter to the speed, only that they are finite.
        let r = Philox.Uniform(key, uint64 i) - 0.5f
        o.[i % obs] <- r
        replay.Add(ReadOnlySpan o, ReadOnlySpan a, r, ReadOnlySpan o2, (i % 100 = 0), false)
    replay

/// A minibatch out of `replay` as the trainer draws it: shared among the GEMM's threads where it has a team.
let private sampleFor (g: IGemm) (replay: Sac.Core.Data.ReplayBuffer) (key: PhiloxKey) (draw: uint64) (batch: Sac.Core.Data.Batch) =
    Sac.Fs.SamplingTeam.sample (Sac.Fs.SamplingTeam.ofGemm g) replay key draw batch

/// One full SAC v2 update as the PyTorch anchor measures it: sample `batch` transitions from a 1M-transition random
/// replay buffer, then the whole gradient step (hidden 256x2), on the CPU or, with a backend, on the device (the
/// batch uploaded, the metrics downloaded, once per update).
let private sacUpdateLine (g: IGemm) seconds (replay: Sac.Core.Data.ReplayBuffer) (obs: int, act: int) (batchSize: int)
                          (backend: Sac.Cuda.Backend.ISacBackend option) =
    let cfg = Sac.Core.Config.SacConfig(BatchSize = batchSize)
    let ctx = Sac.Fs.SacContext(cfg, obs, act, g)
    let key = PhiloxKey.FromSeed 8UL
    let batch = Sac.Core.Data.Batch(cfg.BatchSize, obs, act)
    let mutable draw = 0UL
    let perSec =
        match backend with
        | None ->
            let mutable state = Sac.Fs.Sac.init ctx 9UL
            rate seconds (fun () ->
                sampleFor g replay key draw batch
                draw <- draw + 1UL
                let struct (next, _) = Sac.Fs.Sac.update ctx batch state
                state <- next)
        | Some bk ->
            use dev = new Sac.Fs.DeviceSacContext(cfg, obs, act, bk)
            use learner = Sac.Fs.DeviceSac.upload dev (Sac.Fs.Sac.init ctx 9UL)
            rate seconds (fun () ->
                sampleFor g replay key draw batch
                draw <- draw + 1UL
                Sac.Fs.DeviceSac.update dev batch learner |> ignore)
    let device, provider = match backend with Some _ -> "cuda", "cublas" | None -> "cpu", g.Name
    sprintf """{"name":"sac_update","obs":%d,"act":%d,"hidden":256,"batch":%d,"threads":%d,"updates_per_sec":%s,"device":"%s","provider":"%s"}"""
        obs act batchSize g.Threads (fmt perSec) device provider

/// A SAC v2 learner on the CPU with `g`, and a step that samples a batch and updates it in place.
let private cpuUpdater (g: IGemm) (replay: Sac.Core.Data.ReplayBuffer) (obs: int, act: int) =
    let cfg = Sac.Core.Config.SacConfig(BatchSize = 256)
    let ctx = Sac.Fs.SacContext(cfg, obs, act, g)
    let key = PhiloxKey.FromSeed 8UL
    let batch = Sac.Core.Data.Batch(cfg.BatchSize, obs, act)
    let mutable state = Sac.Fs.Sac.init ctx 9UL
    let mutable draw = 0UL
    ctx, batch, fun () ->
        sampleFor g replay key draw batch
        draw <- draw + 1UL
        let struct (next, _) = Sac.Fs.Sac.update ctx batch state
        state <- next

/// Calls per second of `first` on this thread and of `second` on another, run at the same time for about `seconds`:
/// what two cores give two independent workloads on this machine now.
let private sideBySide (seconds: float) (first: unit -> unit) (second: unit -> unit) =
    let mutable other : Result<float, exn> = Ok 0.0
    let run () = other <- try Ok (timedRate seconds second) with e -> Error e
    let t = Threading.Thread(run, IsBackground = true)
    t.Start()
    let mine = timedRate seconds first
    t.Join()
    // A failure on the second thread surfaces here, as one on this thread would, not as a crash of the process.
    match other with
    | Ok rate -> mine, rate
    | Error e -> raise (AggregateException("The side-by-side update failed.", e))

/// The two-thread SAC v2 update against the one-thread update (managed GEMM, batch 256), alternated in `rounds`
/// rounds in one process so both see the same machine: each rate, and the 2-thread/1-thread ratio's min, median and
/// max over the rounds. Each round also runs two one-thread updates of separate learners side by side on the two
/// cores (`replays` holds one buffer each, as a buffer samples for one caller at a time): their summed rate over the
/// one-thread rate is what the machine gives two cores in that round, the ceiling of the ratio, and the two-thread
/// update over that sum is how much of it the update reaches, whatever the host's load in the round.
let private sacScalingLine seconds (replays: Sac.Core.Data.ReplayBuffer * Sac.Core.Data.ReplayBuffer) (obs: int, act: int) =
    let replay, second = replays
    use g1 = new ManagedGemm(1)
    use g2 = new ManagedGemm(2)
    use gOther = new ManagedGemm(1)
    let _, _, one = cpuUpdater g1 replay (obs, act)
    let _, _, two = cpuUpdater g2 replay (obs, act)
    let _, _, otherOne = cpuUpdater gOther second (obs, act)
    let rounds = 5
    let slice = max 0.2 (seconds / float rounds)
    for step in [ one; two; otherOne ] do timedRate 0.5 step |> ignore
    let measured =
        [ for _ in 1 .. rounds ->
            let r1 = timedRate slice one
            let r2 = timedRate slice two
            let a, b = sideBySide slice one otherOne
            r1, r2, a + b ]
    let sorted f = measured |> List.map f |> List.sort
    let ratios = sorted (fun (r1, r2, _) -> r2 / r1)
    let ceilings = sorted (fun (r1, _, both) -> both / r1)
    let reached = sorted (fun (_, r2, both) -> r2 / both)
    let mean f = measured |> List.averageBy f
    let median (xs: float list) = xs.[rounds / 2]
    sprintf """{"name":"sac_update_scaling","obs":%d,"act":%d,"hidden":256,"batch":256,"rounds":%d,"updates_per_sec_1":%s,"updates_per_sec_2":%s,"ratio_min":%s,"ratio_median":%s,"ratio_max":%s,"independent_ratio_median":%s,"of_independent_min":%s,"of_independent_median":%s,"of_independent_max":%s,"provider":"managed"}"""
        obs act rounds (fmt (mean (fun (r1, _, _) -> r1))) (fmt (mean (fun (_, r2, _) -> r2))) (fmt ratios.Head) (fmt (median ratios))
        (fmt (List.last ratios)) (fmt (median ceilings)) (fmt reached.Head) (fmt (median reached)) (fmt (List.last reached))

/// Where one SAC v2 update's time goes (batch 256, managed GEMM at `threads`): milliseconds per update in each of
/// DeviceSac's stages, run one after another as the update runs them.
let private sacStagesLine seconds (replay: Sac.Core.Data.ReplayBuffer) (obs: int, act: int) (threads: int) =
    use g = new ManagedGemm(threads)
    let ctx, batch, step = cpuUpdater g replay (obs, act)
    // Warm up the whole update, then drive the stages of one learner directly.
    timedRate 0.5 step |> ignore
    let dev = ctx.Device
    use learner = Sac.Fs.DeviceSac.upload dev (Sac.Fs.Sac.init ctx 9UL)
    let key = PhiloxKey.FromSeed 8UL
    let names = [| "sample_s"; "soft_targets"; "critic_step"; "actor_step"; "target_step" |]
    let spent = Array.zeroCreate<int64> names.Length
    let clock = Stopwatch()
    let timed i (f: unit -> unit) =
        clock.Restart()
        f ()
        spent.[i] <- spent.[i] + clock.ElapsedTicks
    let b = batch.Size
    let alpha = 0.2f
    let total = Stopwatch.StartNew()
    let mutable n = 0L
    while total.Elapsed.TotalSeconds < seconds do
        replay.Sample(key, uint64 n, batch)
        timed 0 (fun () -> Sac.Fs.DeviceSac.prepare dev batch learner)
        timed 1 (fun () -> Sac.Fs.DeviceSac.softTargets dev b alpha learner)
        timed 2 (fun () -> Sac.Fs.DeviceSac.criticStep dev b learner)
        timed 3 (fun () -> Sac.Fs.DeviceSac.actorStep dev b alpha learner)
        timed 4 (fun () -> Sac.Fs.DeviceSac.targetStep dev learner)
        n <- n + 1L
    let ms i = 1000.0 * float spent.[i] / float Stopwatch.Frequency / float n
    let fields = names |> Array.mapi (fun i name -> sprintf "\"%s\":%s" name (fmt (ms i)))
    sprintf """{"name":"sac_update_stages","obs":%d,"act":%d,"hidden":256,"batch":256,"threads":%d,"updates":%d,"ms":{%s},"provider":"managed"}"""
        obs act threads n (String.Join(",", fields))

/// A GEMM provider that times each call of the one it wraps, per transpose case and shape, while `Recording`.
type private TimedGemm(inner: IGemm) =
    let spent = Collections.Generic.Dictionary<struct (Transpose * Transpose * int * int * int), struct (int64 * int64)>()
    member val Recording = false with get, set
    /// Calls and stopwatch ticks per (transA, transB, m, n, k).
    member _.Spent = spent
    interface IGemm with
        member _.Name = inner.Name
        member _.Threads = inner.Threads
        member this.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =
            let start = Stopwatch.GetTimestamp()
            inner.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            if this.Recording then
                let key = struct (transA, transB, m, n, k)
                let struct (calls, ticks) = match spent.TryGetValue key with | true, v -> v | _ -> struct (0L, 0L)
                spent.[key] <- struct (calls + 1L, ticks + Stopwatch.GetTimestamp() - start)

/// Where one SAC v2 update's time goes on one thread (managed GEMM, batch 256): its GEMMs by transpose case and shape
/// (calls, milliseconds and GFLOP/s per update), their share of the update and their GFLOP/s together, and the rest
/// (element-wise passes, optimisers, sampling).
let private sacShapesLine seconds (replay: Sac.Core.Data.ReplayBuffer) (obs: int, act: int) =
    use managed = new ManagedGemm(1)
    let timed = TimedGemm(managed)
    let _, _, step = cpuUpdater timed replay (obs, act)
    timedRate 0.5 step |> ignore
    timed.Recording <- true
    let clock = Stopwatch.StartNew()
    let mutable n = 0L
    while clock.Elapsed.TotalSeconds < seconds do
        step ()
        n <- n + 1L
    let total = clock.Elapsed.TotalSeconds
    timed.Recording <- false
    let secondsOf (ticks: int64) = float ticks / float Stopwatch.Frequency
    let flop (struct (_, _, m: int, n': int, k: int)) = 2.0 * float m * float n' * float k
    let letter t = if t = Transpose.Yes then "T" else "N"
    let shapes =
        timed.Spent
        |> Seq.sortByDescending (fun kv -> let struct (_, ticks) = kv.Value in ticks)
        |> Seq.map (fun kv ->
            let struct (ta, tb, m, n', k) = kv.Key
            let struct (calls, ticks) = kv.Value
            sprintf """{"trans":"%s%s","m":%d,"n":%d,"k":%d,"calls":%s,"ms":%s,"gflops":%s}""" (letter ta) (letter tb) m n' k
                (fmt (float calls / float n)) (fmt (1000.0 * secondsOf ticks / float n)) (fmt (float calls * flop kv.Key / secondsOf ticks / 1e9)))
    let gemmSeconds = timed.Spent.Values |> Seq.sumBy (fun (struct (_, ticks)) -> secondsOf ticks)
    let gemmFlop = timed.Spent |> Seq.sumBy (fun kv -> let struct (calls, _) = kv.Value in float calls * flop kv.Key)
    sprintf """{"name":"sac_update_shapes","obs":%d,"act":%d,"hidden":256,"batch":256,"threads":1,"updates":%d,"updates_per_sec":%s,"gemm_ms":%s,"other_ms":%s,"gemm_share":%s,"gemm_gflops":%s,"gflop_per_update":%s,"shapes":[%s],"provider":"managed"}"""
        obs act n (fmt (float n / total)) (fmt (1000.0 * gemmSeconds / float n)) (fmt (1000.0 * (total - gemmSeconds) / float n))
        (fmt (gemmSeconds / total)) (fmt (gemmFlop / gemmSeconds / 1e9)) (fmt (gemmFlop / float n / 1e9)) (String.Join(",", shapes))

/// The whole SAC update on a CUDA backend with and without CUDA graph capture (`CudaBackend.CaptureGraphs`), one
/// after the other from the same learner, as in `sacUpdateLine`: updates per second each way, their ratio, and how
/// often the graph was launched, instantiated and updated in place. Where the driver cannot capture graphs, the line
/// says it skipped and why.
let sacGraphLine (g: IGemm) seconds (replay: Sac.Core.Data.ReplayBuffer) (obs: int, act: int) (cfg: Sac.Core.Config.SacConfig)
                 (bk: Sac.Cuda.Backend.CudaBackend) =
    let head =
        sprintf """{"name":"sac_update_graph","obs":%d,"act":%d,"hidden":%d,"batch":%d,"device":"cuda",""" obs act
            cfg.HiddenSizes.[0] cfg.BatchSize
    if not bk.GraphsSupported then
        head + sprintf """"skipped":%s}""" (Text.Json.JsonSerializer.Serialize bk.GraphsUnsupportedReason)
    else
        let ctx = Sac.Fs.SacContext(cfg, obs, act, g)
        let key = PhiloxKey.FromSeed 8UL
        let batch = Sac.Core.Data.Batch(cfg.BatchSize, obs, act)
        let mutable draw = 0UL
        use dev = new Sac.Fs.DeviceSacContext(cfg, obs, act, bk)
        use learner = Sac.Fs.DeviceSac.upload dev (Sac.Fs.Sac.init ctx 9UL)
        let step () =
            sampleFor g replay key draw batch
            draw <- draw + 1UL
            Sac.Fs.DeviceSac.update dev batch learner |> ignore
        let plain = rate seconds step
        let before = bk.GraphCounts
        bk.CaptureGraphs <- true
        let graphed =
            try rate seconds step
            finally bk.CaptureGraphs <- false
        let after = bk.GraphCounts
        head + sprintf """"updates_per_sec":%s,"graph_updates_per_sec":%s,"speedup":%s,"graph_launches":%d,"graph_instantiations":%d,"graph_in_place_updates":%d}"""
            (fmt plain) (fmt graphed) (fmt (graphed / plain)) (after.Launches - before.Launches)
            (after.Instantiations - before.Instantiations) (after.Updates - before.Updates)

/// A short, fixed SAC run through the whole engine (acting, environment, replay, updates, a metrics callback): its
/// environment steps per second and each phase's share of the wall time. 1000 warm-up steps, then 2000 steps with one
/// update each, the environment's preset otherwise; MuJoCo tasks only where the library loads.
let private trainLoopLines (g: IGemm) (print: string -> unit) =
    let steps, warmup = 3000L, 1000
    for env in [ "Pendulum-v1"; "HalfCheetah-v4" ] do
        match Sac.Core.Environments.EnvironmentRegistry.IsAvailable env with
        | false, reason ->
            print (sprintf """{"name":"train_loop","env":"%s","skipped":%s}""" env (Text.Json.JsonSerializer.Serialize reason))
        | true, _ ->
            // The preset with the warm-up shortened and evaluation off (C# records have no F# copy-and-update).
            let json = (nonNull (Text.Json.Nodes.JsonNode.Parse(Sac.Core.Runs.ConfigJson.Serialize(Sac.Fs.Presets.forEnvironment env)))).AsObject()
            json["learningStarts"] <- Text.Json.Nodes.JsonValue.Create warmup
            json["evalInterval"] <- Text.Json.Nodes.JsonValue.Create 0
            let config = Sac.Core.Runs.ConfigJson.Deserialize(json.ToJsonString(), "train_loop")
            use trainer = new Sac.Fs.Trainer(env, config, g)
            let mutable rows = 0
            let clock = Diagnostics.Stopwatch.StartNew()
            trainer.RunTo(trainer.Start(), steps, [ Sac.Fs.Callback.ofRecord (fun _ -> rows <- rows + 1) ]) |> ignore
            let seconds = clock.Elapsed.TotalSeconds
            let shares = trainer.Timings.Shares |> List.map (fun (phase, share) -> sprintf "\"%s\":%s" phase (fmt share))
            print (sprintf """{"name":"train_loop","env":"%s","steps":%d,"learning_starts":%d,"threads":%d,"env_steps_per_sec":%s,"update_steps_per_sec":%s,"share":{%s},"provider":"%s"}"""
                       env steps warmup g.Threads (fmt (float steps / seconds))
                       (fmt (float (steps - int64 warmup) / trainer.Timings.Seconds Sac.Fs.TrainingPhase.Updating))
                       (String.Join(",", shares)) g.Name)

/// Milliseconds per call of `enqueue` on the backend's stream, timed with CUDA events over `reps` calls after warm-up.
let private eventMs (bk: Sac.Cuda.Backend.CudaBackend) (reps: int) (enqueue: unit -> unit) =
    for _ in 1 .. 3 do enqueue ()
    use start = bk.Context.CreateEvent()
    use stop = bk.Context.CreateEvent()
    start.Record bk.Stream
    for _ in 1 .. reps do enqueue ()
    stop.Record bk.Stream
    stop.Synchronize()
    float (Sac.Cuda.Driver.CudaEvent.ElapsedMilliseconds(start, stop)) / float reps

/// Device bandwidth lines: a device-to-device copy of 10M floats, then Polyak and Adam over 10M parameters, each as
/// GB/s of the bytes it must move (read plus written) and as a fraction of the copy's.
let private cudaBandwidthLines (bk: Sac.Cuda.Backend.CudaBackend) (wanted: string -> bool) (print: string -> unit) =
    let n = 10_000_000
    let reps = 20
    let ib = bk :> Sac.Cuda.Backend.ISacBackend
    use a = ib.Allocate n
    use b = ib.Allocate n
    use c = ib.Allocate n
    use d = ib.Allocate n
    let host = random n 11
    ib.Upload(ReadOnlySpan host, a.All)
    ib.Upload(ReadOnlySpan host, b.All)
    let gbps (bytesPerCall: float) ms = bytesPerCall / (ms * 1e-3) / 1e9
    let copyMs = eventMs bk reps (fun () -> ib.Copy(a.All, b.All))
    // A copy reads and writes each byte once.
    let copy = gbps (8.0 * float n) copyMs
    if wanted "copy_bandwidth" then
        print (sprintf """{"name":"copy_bandwidth","device":"cuda","bytes":%d,"gb_per_sec":%s}""" (4L * int64 n) (fmt copy))
    if wanted "polyak" then
        let ms = eventMs bk reps (fun () -> ib.Polyak(0.005f, a.All, b.All))
        let r = gbps (12.0 * float n) ms
        print (sprintf """{"name":"polyak","device":"cuda","params":%d,"gb_per_sec":%s,"fraction_of_copy":%s}""" n (fmt r) (fmt (r / copy)))
    if wanted "adam" then
        let cfg = Sac.Core.Optim.AdamConfig(3e-4f, 0.9f, 0.999f, 1e-8f, System.Nullable())
        let mutable step = 0L
        let ms = eventMs bk reps (fun () -> step <- step + 1L; ib.Adam(cfg, step, a.All, b.All, c.All, d.All))
        let r = gbps (28.0 * float n) ms
        print (sprintf """{"name":"adam","device":"cuda","params":%d,"gb_per_sec":%s,"fraction_of_copy":%s}""" n (fmt r) (fmt (r / copy)))

/// `mujoco-testspeed` (Debian's libmujoco-samples) on the same MJCF, one thread, as mj_step calls per second; None
/// when the tool is absent or its output cannot be read.
let private testspeed (xml: string) (steps: int) =
    let dir = IO.Directory.CreateTempSubdirectory("sac-testspeed-")
    try
        try
            let file = IO.Path.Combine(dir.FullName, "model.xml")
            IO.File.WriteAllText(file, xml)
            let psi = ProcessStartInfo("mujoco-testspeed", $"\"{file}\" {steps} 1 0.01", RedirectStandardOutput = true, UseShellExecute = false)
            use p = nonNull (Process.Start psi)
            let out = p.StandardOutput.ReadToEnd()
            p.WaitForExit()
            let line = out.Split('\n') |> Array.tryFind (fun l -> l.TrimStart().StartsWith "Steps per second")
            line |> Option.map (fun l -> float (l.Split(':').[1].Trim()))
        with _ -> None
    finally
        dir.Delete true

/// Environment steps per second of each available MuJoCo task on one thread (uniform random actions, resetting on
/// termination), with the mj_step rate that implies (times the frame skip) beside the C library's own
/// `mujoco-testspeed` on the same model.
let private envStepLines seconds (print: string -> unit) =
    let tasks =
        [ Sac.Core.Environments.MuJoCo.HalfCheetah.EnvironmentId, "half_cheetah"
          Sac.Core.Environments.MuJoCo.Hopper.EnvironmentId, "hopper"
          Sac.Core.Environments.MuJoCo.Walker2d.EnvironmentId, "walker2d"
          Sac.Core.Environments.MuJoCo.Ant.EnvironmentId, "ant"
          Sac.Core.Environments.MuJoCo.Humanoid.EnvironmentId, "humanoid" ]
    match Sac.Core.Environments.EnvironmentRegistry.IsAvailable(fst tasks.Head) with
    | false, reason -> print (sprintf """{"name":"env_step","skipped":%s}""" (Text.Json.JsonSerializer.Serialize reason))
    | true, _ ->
        for id, model in tasks do
            let env = Sac.Core.Environments.EnvironmentRegistry.Make id
            let inner = Sac.Core.Environments.MuJoCo.MuJoCoModel.BuiltIn model
            let frameSkip = match env with :? Sac.Core.Environments.TimeLimit as t -> (t.Inner :?> Sac.Core.Environments.MuJoCo.MuJoCoEnvironment).FrameSkip | _ -> 1
            let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
            let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
            let key = PhiloxKey.FromSeed 12UL
            let mutable draw = 0UL
            env.Reset(Nullable 0UL, Span obs)
            let perSec =
                rate seconds (fun () ->
                    Philox.FillUniform(key, draw, Span action)
                    draw <- draw + uint64 action.Length
                    for i in 0 .. action.Length - 1 do
                        action.[i] <- env.ActionSpace.Low.[i] + (env.ActionSpace.High.[i] - env.ActionSpace.Low.[i]) * action.[i]
                    let r = env.Step(ReadOnlySpan action, Span obs)
                    if r.Done then env.Reset(Nullable(), Span obs))
            let reference =
                match testspeed (Sac.Core.Environments.MuJoCo.MuJoCoModel.BuiltInXml model) (max 2000 (int (perSec * float frameSkip * seconds))) with
                | Some r -> fmt r
                | None -> "null"
            print (sprintf """{"name":"env_step","env":"%s","threads":1,"steps_per_sec":%s,"mj_steps_per_sec":%s,"testspeed_mj_steps_per_sec":%s,"nv":%d}"""
                       id (fmt perSec) (fmt (perSec * float frameSkip)) reference inner.Nv)

/// The name of every measurement `run` can print (`run` fails on a line whose name is not here).
let lineNames =
    [ "env_step"; "fma_peak"; "gemm"; "mlp_fwd_bwd"; "sac_update"; "train_loop"; "sac_update_stages"; "sac_update_shapes"
      "sac_update_scaling"; "copy_bandwidth"; "polyak"; "adam"; "sac_update_graph" ]

// The filter `cuda` selects every GPU line; any other selects the lines whose name contains it, in any case.
let private isCudaFilter (f: string) = String.Equals(f, "cuda", StringComparison.OrdinalIgnoreCase)
let private selects (f: string) (name: string) = name.Contains(f, StringComparison.OrdinalIgnoreCase)

/// Why `filter` selects no measurement (a typo, not an empty measurement), or None where it selects one.
let filterProblem (f: string) : string option =
    if isCudaFilter f || lineNames |> List.exists (selects f) then None
    else
        let names = String.Join(", ", lineNames)
        Some $"--filter {f}: no measurement's name contains it (the names: {names}; cuda selects every GPU line)"

/// Runs every measurement whose name contains the filter, printing one JSON line each as it completes; the filter
/// `cuda` selects every GPU line. Without a usable GPU, one `{"name":"cuda","skipped":…}` line stands for the GPU lines.
let run (opts: BenchOptions) (print: string -> unit) =
    let onlyCuda = opts.Filter |> Option.exists isCudaFilter
    let matches name = opts.Filter |> Option.forall (fun f -> selects f name)
    // Every line's name must be in lineNames, which the --filter check reads: a line missing there fails any bench run.
    let listed name = if not (List.contains name lineNames) then invalidOp $"the bench line {name} is missing from Bench.lineNames"
    let wanted name = listed name; not onlyCuda && matches name
    let wantedCuda name = listed name; onlyCuda || matches name
    if wanted "env_step" then envStepLines opts.Seconds print
    let replays = Collections.Generic.Dictionary<int * int, Sac.Core.Data.ReplayBuffer>()
    let replayOf shape =
        match replays.TryGetValue shape with
        | true, r -> r
        | _ ->
            let r = randomReplay shape
            replays.[shape] <- r
            r
    let sacShapes = [ (3, 1); (17, 6) ]
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
                for shape in sacShapes do print (sacUpdateLine g opts.Seconds (replayOf shape) shape 256 None)
                // The CPU at the large batch, to read the GPU's ratio from one run.
                for shape in sacShapes do print (sacUpdateLine g opts.Seconds (replayOf shape) shape 4096 None)
            if wanted "train_loop" then trainLoopLines g print
        if wanted "sac_update_stages" then
            for shape in sacShapes do print (sacStagesLine opts.Seconds (replayOf shape) shape t)
        for g in providers do
            match g with
            | :? IDisposable as d -> d.Dispose()
            | _ -> ()
    if wanted "sac_update_shapes" then
        for shape in sacShapes do print (sacShapesLine opts.Seconds (replayOf shape) shape)
    if wanted "sac_update_scaling" then
        for shape in sacShapes do print (sacScalingLine (2.0 * opts.Seconds) (replayOf shape, randomReplay shape) shape)
    if List.exists wantedCuda [ "copy_bandwidth"; "polyak"; "adam"; "sac_update"; "sac_update_graph" ] then
        match Sac.Cuda.Backend.CudaBackend.TryCreate 0 with
        | false, _, reason -> print (sprintf """{"name":"cuda","skipped":%s}""" (Text.Json.JsonSerializer.Serialize reason))
        | true, bk, _ ->
            use bk = nonNull bk
            cudaBandwidthLines bk wantedCuda print
            if wantedCuda "sac_update" then
                // The host side (replay sampling, the temperature step) runs on one thread beside the device.
                use g = new ManagedGemm(1)
                for shape in sacShapes do
                    for batch in [ 256; 4096 ] do
                        print (sacUpdateLine g opts.Seconds (replayOf shape) shape batch (Some(bk :> Sac.Cuda.Backend.ISacBackend)))
            if wantedCuda "sac_update_graph" then
                use g = new ManagedGemm(1)
                for shape in sacShapes do
                    for batch in [ 256; 4096 ] do
                        print (sacGraphLine g opts.Seconds (replayOf shape) shape (Sac.Core.Config.SacConfig(BatchSize = batch)) bk)
