/// gSDE (Raffin et al. 2021) as SB3 defines it: the distribution against plain float64 code, its gradients against
/// central differences, expln, the exploration-matrix schedule, the actor step, acting, export, config and checkpoints.
module GsdeTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Microsoft.ML.OnnxRuntime
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs
open SacMathKit
open TrainingKit

let private gemm = ReferenceGemm.Instance :> IGemm

/// One random gSDE case: B rows, L latent features, A actions, phi >= 0 (ReLU features), log-std, eps, raw means.
type private Case =
    { B: int; L: int; A: int; Full: bool; Expln: bool
      Phi: float32[]; MeanRaw: float32[]; LogStd: float32[]; Eps: float32[] }

let private caseOf (seed: int) (full: bool) (expln: bool) (meanLo: float) (meanHi: float) =
    let rng = Random(seed)
    let b, l, a = 1 + rng.Next 5, 1 + rng.Next 6, 1 + rng.Next 3
    { B = b; L = l; A = a; Full = full; Expln = expln
      // Features away from 0, where sigma^2 ~ phi^2 std^2 curves too fast for a central difference of step 1e-3.
      Phi = uniform rng (b * l) 0.1 1.5
      MeanRaw = uniform rng (b * a) meanLo meanHi
      LogStd = uniform rng (if full then l * a else l) -1.5 1.0
      Eps = uniform rng (l * a) -2.0 2.0 }

/// std of one log-std entry in float64: exp, or expln (exp below 0, log1p + 1 above).
let private std64 (expln: bool) (x: float) = if expln && x > 0.0 then Math.Log(1.0 + x) + 1.0 else Math.Exp x

/// Plain float64 gSDE: per row, u_j = clip(mu_j) + sum_k phi_k std_kj eps_kj, sigma_j^2 = sum_k phi_k^2 std_kj^2 + 1e-6,
/// log pi = sum_j log N(u_j; mu_j, sigma_j) - log(1 - tanh(u_j)^2 + 1e-6). Optionally phi fixed for the noise and sigma
/// (`detached`), as SB3's learn_features=False.
let private reference (c: Case) (meanRaw: float32[]) (logStd: float32[]) (detached: float32[]) =
    let actions = Array.zeroCreate<float> (c.B * c.A)
    let variance = Array.zeroCreate<float> (c.B * c.A)
    let logPi = Array.zeroCreate<float> c.B
    for i in 0 .. c.B - 1 do
        for j in 0 .. c.A - 1 do
            let mutable n, v = 0.0, 0.0
            for k in 0 .. c.L - 1 do
                let s = std64 c.Expln (float logStd.[if c.Full then k * c.A + j else k])
                let phi = float detached.[i * c.L + k]
                n <- n + phi * s * float c.Eps.[k * c.A + j]
                v <- v + phi * phi * s * s
            v <- v + 1e-6
            let mu = Math.Clamp(float meanRaw.[i * c.A + j], -2.0, 2.0)
            let u = mu + n
            let t = Math.Tanh u
            actions.[i * c.A + j] <- t
            variance.[i * c.A + j] <- v
            logPi.[i] <- logPi.[i] + gaussLogPdf mu (Math.Sqrt v) u - Math.Log(1.0 - t * t + 1e-6)
    actions, variance, logPi

/// The library's forward pass of a case: std, E, then the rows.
let private forward (c: Case) =
    let la = c.L * c.A
    let std, e = Array.zeroCreate<float32> la, Array.zeroCreate<float32> la
    Gsde.exploration c.Full c.Expln c.L c.A (ro c.LogStd) (ro c.Eps) (rw std) (rw e)
    let action, noise, variance = Array.zeroCreate<float32> (c.B * c.A), Array.zeroCreate<float32> (c.B * c.A), Array.zeroCreate<float32> (c.B * c.A)
    let logPi = Array.zeroCreate<float32> c.B
    Gsde.forwardRows c.B c.L c.A (ro c.Phi) (ro c.MeanRaw) (ro std) (ro e) (rw action) (rw noise) (rw variance) (rw logPi)
    std, e, action, noise, variance, logPi

let private combos = [ for full in [ true; false ] do for expln in [ false; true ] -> full, expln ]

let ``log pi is the per-dimension Normal log density of u minus the tanh correction`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "log pi is the per-dimension Normal log density of u minus the tanh correction" (Prop.forAll seeds (fun seed ->
        for full, expln in combos do
            let c = caseOf seed full expln -3.0 3.0
            let _, _, action, _, _, logPi = forward c
            let ra, _, rl = reference c c.MeanRaw c.LogStd c.Phi
            for i in 0 .. c.B - 1 do near $"log pi row {i}" 1e-4 1e-4 rl.[i] (float logPi.[i])
            for k in 0 .. action.Length - 1 do near $"action {k}" 1e-5 1e-6 ra.[k] (float action.[k])))

let ``the variance is phi^2 std^2 + 1e-6 and the noise is phi (std eps)`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "the variance is phi^2 std^2 + 1e-6 and the noise is phi (std eps)" (Prop.forAll seeds (fun seed ->
        for full, expln in combos do
            let c = caseOf seed full expln -1.0 1.0
            let std, e, _, noise, variance, _ = forward c
            let _, rv, _ = reference c c.MeanRaw c.LogStd c.Phi
            for k in 0 .. variance.Length - 1 do near $"variance {k}" 1e-5 1e-9 rv.[k] (float variance.[k])
            for i in 0 .. c.B - 1 do
                for j in 0 .. c.A - 1 do
                    let mutable n = 0.0
                    for k in 0 .. c.L - 1 do
                        let s = std64 expln (float c.LogStd.[if full then k * c.A + j else k])
                        near "std" 1e-6 0.0 s (float std.[k * c.A + j])
                        near "E" 1e-6 1e-9 (s * float c.Eps.[k * c.A + j]) (float e.[k * c.A + j])
                        n <- n + float c.Phi.[i * c.L + k] * s * float c.Eps.[k * c.A + j]
                    near "noise" 1e-5 1e-6 n (float noise.[i * c.A + j])))

let ``gradients to the mean head and log-std match central differences (full and diagonal std, expln on and off)`` =
    testPropertyWithConfig (Properties.ofFsCheck (config.WithMaxTest 40)) "gradients to the mean head and log-std match central differences (full and diagonal std, expln on and off)" (Prop.forAll seeds (fun seed ->
        for full, expln in combos do
            // Means on both sides of the clip at +-2, but not within 0.05 of it, where the difference would straddle the kink.
            let c0 = caseOf seed full expln -2.5 2.5
            let c = { c0 with MeanRaw = c0.MeanRaw |> Array.map (fun m -> if abs (abs m - 2.0f) < 0.05f then m * 0.9f else m) }
            let rng = Random(seed + 1)
            let da = uniform rng (c.B * c.A) -1.0 1.0
            let dl = uniform rng c.B -0.5 0.5
            let objectiveAt (mean: float32[]) (logStd: float32[]) (phi: float32[]) =
                let a, _, lp = reference c mean logStd phi
                Array.fold2 (fun s (w: float32) x -> s + float w * x) 0.0 da a + Array.fold2 (fun s (w: float32) x -> s + float w * x) 0.0 dl lp
            let objective mean logStd = objectiveAt mean logStd c.Phi
            let std, _, action, noise, variance, _ = forward c
            let meanGrad, logStdGrad = Array.zeroCreate<float32> (c.B * c.A), Array.zeroCreate<float32> c.LogStd.Length
            let latentGrad = Array.zeroCreate<float32> (c.B * c.L)
            Gsde.backwardRows c.B c.L c.A full expln (ro c.Phi) (ro c.MeanRaw) (ro c.LogStd) (ro c.Eps) (ro std) (ro action)
                (ro noise) (ro variance) (ro da) (ro dl) (rw meanGrad) (rw logStdGrad) (rw latentGrad)
            let h = 1e-3f
            let fd (f: float32[] -> float) (x: float32[]) k =
                let p, m = Array.copy x, Array.copy x
                p.[k] <- p.[k] + h
                m.[k] <- m.[k] - h
                (f p - f m) / float (2.0f * (p.[k] - x.[k]))
            for k in 0 .. meanGrad.Length - 1 do
                let expected = fd (fun m -> objective m c.LogStd) c.MeanRaw k
                near $"dmean {k} (full {full}, expln {expln}, raw {c.MeanRaw.[k]})" 2e-3 2e-4 expected (float meanGrad.[k])
                if abs c.MeanRaw.[k] > 2.0f then Assert.Equal(0.0f, meanGrad.[k])
            for k in 0 .. logStdGrad.Length - 1 do
                let expected = fd (fun s -> objective c.MeanRaw s) c.LogStd k
                near $"dlog_std {k} (full {full}, expln {expln})" 2e-3 2e-4 expected (float logStdGrad.[k])
            // phi through the noise and the variance (the mean is an input here).
            for k in 0 .. latentGrad.Length - 1 do
                let expected = fd (fun phi -> objectiveAt c.MeanRaw c.LogStd phi) c.Phi k
                near $"dphi {k} (full {full}, expln {expln})" 2e-3 2e-4 expected (float latentGrad.[k])))

let ``expln std is positive, continuous at 0 with a continuous derivative, and exp below 0`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "expln std is positive, continuous at 0 with a continuous derivative, and exp below 0" (Prop.forAll (Arb.fromGen (floatIn -20.0 20.0)) (fun x ->
        let s = Gsde.std true x
        Assert.True(s > 0.0f && Single.IsFinite s, $"std({x}) = {s}")
        near $"expln std({x})" 1e-6 0.0 (std64 true (float x)) (float s)
        if x <= 0.0f then Assert.Equal(MathF.Exp x, s)
        Assert.True(Gsde.stdDerivative true x > 0.0f)
        // At 0 both branches give std 1 and slope 1.
        for d in [ 1e-3f; 1e-5f ] do
            near "std across 0" 0.0 (3.0 * float d) (float (Gsde.std true -d)) (float (Gsde.std true d))
            near "slope across 0" 0.0 (4.0 * float d) (float (Gsde.stdDerivative true -d)) (float (Gsde.stdDerivative true d))))

/// SB3's collect loop, written out: a draw at the start of every train_freq-step phase and, with sde_sample_freq > 0,
/// whenever the phase's collected-step count is a multiple of it. The step of the draw in use at each step.
let private sb3Schedule (trainFreq: int) (sampleFreq: int) (steps: int) =
    let drawnAt = Array.zeroCreate<int64> steps
    let mutable last = 0L
    let mutable t = 0
    while t < steps do
        last <- int64 t
        let mutable collected = 0
        while collected < trainFreq && t < steps do
            if sampleFreq > 0 && collected % sampleFreq = 0 then last <- int64 t
            drawnAt.[t] <- last
            collected <- collected + 1
            t <- t + 1
    drawnAt

let ``the acting matrix is drawn at each collection phase and every sde_sample_freq steps, as SB3's loop`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "the acting matrix is drawn at each collection phase and every sde_sample_freq steps, as SB3's loop" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let tf = 1 + rng.Next 40
        let sf = if rng.Next 2 = 0 then -1 else 1 + rng.Next 50
        let expected = sb3Schedule tf sf 300
        for t in 0 .. 299 do Assert.Equal(expected.[t], Gsde.resampleStep tf sf (int64 t))))

let ``resampleStep on RL Zoo's MountainCar schedule`` = testCase "resampleStep on RL Zoo's MountainCar schedule" <| fun () ->
    Assert.Equal(0L, Gsde.resampleStep 32 -1 31L)
    Assert.Equal(32L, Gsde.resampleStep 32 -1 32L)
    Assert.Equal(32L, Gsde.resampleStep 32 -1 63L)
    Assert.Equal(30L, Gsde.resampleStep 32 5 31L)
    Assert.Equal(32L, Gsde.resampleStep 32 5 36L)
    Assert.Equal(37L, Gsde.resampleStep 32 5 37L)
    Assert.ThrowsAny<ArgumentException>(fun () -> Gsde.resampleStep 0 -1 3L |> ignore) |> ignore

let private gsdeConfig (full: bool) (expln: bool) (learnFeatures: bool) =
    SacConfig(HiddenSizes = [| 8; 6 |], BatchSize = 5, BufferSize = 100, Seed = 3UL, UseSde = true, FullStd = full,
              UseExpln = expln, LogStdInit = -0.7f, SdeLearnFeatures = learnFeatures)

/// The actor loss at actor parameters theta with the update's eps and critics; phi in the noise and sigma follows theta
/// too, or with `detached` stays at `phi0` (SB3's learn_features=False) while the mean follows theta.
let private actorLossAt (ctx: SacContext) (critic: float32[]) (batch: Batch) (eps: float32[]) (detached: float32[] option) (alpha: float32) (theta: float32[]) =
    let n = ctx.Networks
    let b, o, a, l = batch.Size, n.ObservationSize, n.ActionSize, n.LatentSize
    let mlp = n.Actor.ParameterCount
    let ws = MlpWorkspace(n.Actor, b)
    let mean = (Mlp.Forward(gemm, n.Actor, ReadOnlySpan(theta, 0, mlp), ReadOnlySpan batch.Observations, b, ws)).ToArray()
    let phi0 = match detached with Some p -> p | None -> ws.LayerOutput(n.Actor.LayerCount - 2).ToArray()
    let std, e = Array.zeroCreate<float32> (l * a), Array.zeroCreate<float32> (l * a)
    Gsde.exploration ctx.Config.FullStd ctx.Config.UseExpln l a (ReadOnlySpan(theta, mlp, n.LogStdParameters)) (ro eps) (rw std) (rw e)
    let action, noise, variance, logPi = Array.zeroCreate (b * a), Array.zeroCreate (b * a), Array.zeroCreate (b * a), Array.zeroCreate b
    Gsde.forwardRows b l a (ro phi0) (ro mean) (ro std) (ro e) (rw action) (rw noise) (rw variance) (rw logPi)
    let input = Array.zeroCreate (b * (o + a))
    Rows.concat b o a (ReadOnlySpan batch.Observations) (ro action) (Span input)
    let p = n.CriticParameters
    let q i = (Mlp.Forward(gemm, n.Critic, ReadOnlySpan(critic, i * p, p), ReadOnlySpan input, b, MlpWorkspace(n.Critic, b))).ToArray()
    let scratch () = Array.zeroCreate<float32> b
    Losses.actor alpha b (ro logPi, ReadOnlySpan(q 0), ReadOnlySpan(q 1), Span(scratch ()), Span(scratch ()), Span(scratch ()))

let ``the actor step's gradient to trunk, mean head and log-std matches finite differences, features learned or detached`` = testCase "the actor step's gradient to trunk, mean head and log-std matches finite differences, features learned or detached" <| fun () ->
    for (full, expln), learn in List.allPairs combos [ true; false ] do
        let cfg = gsdeConfig full expln learn
        let ctx = SacContext(cfg, 3, 2, gemm)
        let state = Sac.init ctx 11UL
        let batch = randomBatch 5 3 2 7UL
        let n = ctx.Networks
        Assert.Equal(n.Actor.ParameterCount + 6 * (if full then 2 else 1), state.Actor.Length)
        Assert.True(state.Actor.[n.Actor.ParameterCount..] |> Array.forall ((=) -0.7f))
        let learner = ctx.Bind state
        DeviceSac.prepare ctx.Device batch learner
        let eps = Array.zeroCreate<float32> (n.LatentSize * 2)
        Philox.FillNormal((DeviceSac.stepKeyAt state.Key state.Step).FoldIn DeviceSac.GsdeStream, 0UL, Span eps)
        let theta0 = Array.copy state.Actor
        let ws = MlpWorkspace(n.Actor, batch.Size)
        let _ = Mlp.Forward(gemm, n.Actor, ReadOnlySpan(theta0, 0, n.Actor.ParameterCount), ReadOnlySpan batch.Observations, batch.Size, ws)
        let phi0 = ws.LayerOutput(n.Actor.LayerCount - 2).ToArray()
        let alpha = 0.3f
        DeviceSac.actorStep ctx.Device batch.Size alpha learner
        let grad = Array.copy ctx.ActorGradient
        let h = 1e-3f
        let mutable worst = 0.0f
        for i in 0 .. theta0.Length - 1 do
            let plus, minus = Array.copy theta0, Array.copy theta0
            plus.[i] <- plus.[i] + h
            minus.[i] <- minus.[i] - h
            let f = actorLossAt ctx state.Critic batch eps (if learn then None else Some phi0) alpha
            let fd = (f plus - f minus) / (2.0f * h)
            worst <- max worst (abs (fd - grad.[i]) / max 0.05f (abs fd))
        Assert.True(worst < 0.02f, sprintf "full %b, expln %b, learn features %b: worst relative error %g over %d actor parameters" full expln learn worst theta0.Length)
        // The log-std is trained: its gradient is not all zero.
        Assert.Contains(grad.[n.Actor.ParameterCount..], fun g -> g <> 0.0f)

let ``a gSDE update on the host backend allocates nothing once warm`` = testCase "a gSDE update on the host backend allocates nothing once warm" <| fun () ->
    let cfg = gsdeConfig true false true
    let ctx = SacContext(cfg, 3, 2, gemm)
    let batch = randomBatch 5 3 2 9UL
    let mutable state = Sac.init ctx 3UL
    for _ in 1 .. 3 do state <- (let struct (s, _) = Sac.update ctx batch state in s)
    let before = GC.GetAllocatedBytesForCurrentThread()
    for _ in 1 .. 10 do state <- (let struct (s, _) = Sac.update ctx batch state in s)
    Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)
    Assert.Equal(13L, state.Step)

let ``acting keeps one exploration matrix per phase and sde_sample_freq, and the deterministic action is tanh(clip(mu))`` = testCase "acting keeps one exploration matrix per phase and sde_sample_freq, and the deterministic action is tanh(clip(mu))" <| fun () ->
    for sampleFreq in [ -1; 3 ] do
        let cfg = SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 5, BufferSize = 100, LearningStarts = 0, TrainFrequency = 8,
                            UseSde = true, SdeSampleFrequency = sampleFreq, LogStdInit = 0.0f)
        use algo = new SacAlgorithm(cfg, 3, 2, gemm, null)
        let alg = algo :> IOffPolicyAlgorithm<LearnerState, SacMetrics>
        let learner = alg.Init()
        let obs = [| 0.3f; -0.2f; 0.5f |]
        let act t = let a = Array.zeroCreate<float32> 2 in alg.Act(learner, t, ReadOnlySpan obs, Span a); a
        for t in 0L .. 23L do
            let drawn = Gsde.resampleStep 8 sampleFreq t
            Assert.Equal<float32[]>(act drawn, act t)
            if t > 0L && drawn = t then Assert.NotEqual<float32[]>(act (t - 1L), act t)
        // SB3's deterministic action: tanh of the clipped mean.
        let ws = MlpWorkspace(algo.Context.Networks.Actor, 1)
        let out = Mlp.Forward(gemm, algo.Context.Networks.Actor, ReadOnlySpan(learner.Actor, 0, algo.Context.Networks.Actor.ParameterCount), ReadOnlySpan obs, 1, ws)
        let mean = out.ToArray()
        let det = Array.zeroCreate<float32> 2
        alg.Policy(learner, Deterministic, ReadOnlySpan obs, Span det)
        Assert.Equal<float32[]>(mean |> Array.map (fun m -> MathF.Tanh(Math.Clamp(m, -2.0f, 2.0f))), det)

let ``the ONNX export of a gSDE actor is tanh(clip(mu)), clip active or not`` = testCase "the ONNX export of a gSDE actor is tanh(clip(mu)), clip active or not" <| fun () ->
    let cfg = SacConfig(HiddenSizes = [| 8; 8 |], UseSde = true)
    let ctx = SacContext(cfg, 3, 2, gemm)
    let state = Sac.init ctx 5UL
    let spec = ctx.Networks.Actor
    // A large output layer drives some means past the clip at +-2.
    let w = spec.WeightOffset(spec.LayerCount - 1)
    for k in w .. w + 2 * 8 - 1 do state.Actor.[k] <- state.Actor.[k] * 30.0f
    use session = new InferenceSession(OnnxExport.SacGsdePolicy(spec, state.Actor, [| -1.0f; -1.0f |], [| 1.0f; 1.0f |], null, null))
    let rows = 16
    let rng = Random(4)
    let obs = uniform rng (rows * 3) -2.0 2.0
    use input = OrtValue.CreateTensorValueFromMemory<float32>(obs, [| int64 rows; 3L |])
    use options = new RunOptions()
    use results = session.Run(options, [ "observation" ], [ input ], [ "action" ])
    let actual = results.[0].GetTensorDataAsSpan<float32>().ToArray()
    let ws = PolicyWorkspace(ctx.Networks)
    let mutable clipped = 0
    for i in 0 .. rows - 1 do
        let expected = Array.zeroCreate<float32> 2
        Policy.act ctx ws state.Actor Deterministic (ReadOnlySpan(obs, 3 * i, 3)) (Span expected)
        for j in 0 .. 1 do
            if abs expected.[j] >= MathF.Tanh 2.0f - 1e-6f then clipped <- clipped + 1
            Assert.InRange(abs (expected.[j] - actual.[2 * i + j]), 0.0f, 1e-5f)
    Assert.True(clipped > 0, "no mean reached the clip")

let ``gSDE config: validation, JSON keys only when on, and the MountainCar preset`` = testCase "gSDE config: validation, JSON keys only when on, and the MountainCar preset" <| fun () ->
    for bad in [ 0; -2 ] do
        let e = Assert.ThrowsAny<ArgumentException>(fun () -> SacConfig(SdeSampleFrequency = bad) |> ignore)
        Assert.Contains("SdeSampleFrequency", e.Message)
    Assert.ThrowsAny<ArgumentException>(fun () -> SacConfig(LogStdInit = nanf) |> ignore) |> ignore
    let plain = ConfigJson.Serialize(SacConfig())
    for key in [ "useSde"; "sdeSampleFrequency"; "logStdInit"; "fullStd"; "useExpln"; "useSdeAtWarmup"; "sdeLearnFeatures" ] do
        Assert.DoesNotContain($"\"{key}\"", plain)
    let on = SacConfig(UseSde = true, SdeSampleFrequency = 4, LogStdInit = -2.5f, FullStd = false, UseExpln = true, UseSdeAtWarmup = true,
                       SdeLearnFeatures = false)
    let json = ConfigJson.Serialize on
    Assert.Contains("\"sdeSampleFrequency\": 4", json)
    Assert.Equal(on, (ConfigJson.Deserialize(json, "test") : SacConfig))
    Assert.Equal(SacConfig(), (ConfigJson.Deserialize(plain, "test") : SacConfig))
    let preset = Presets.forEnvironment "MountainCarContinuous-v0"
    Assert.True(preset.UseSde)
    Assert.Equal(-3.67f, preset.LogStdInit)
    Assert.Equal((-1, true, false, false, true), (preset.SdeSampleFrequency, preset.FullStd, preset.UseExpln, preset.UseSdeAtWarmup, preset.SdeLearnFeatures))
    Assert.Equal((512, 50_000, 32, 32, 0, 0.9999f, 0.01f, false, 0.1f), (preset.BatchSize, preset.BufferSize, preset.TrainFrequency, preset.GradientSteps,
                                                                      preset.LearningStarts, preset.Gamma, preset.Tau, preset.AutoAlpha, preset.InitialAlpha))

let ``a gSDE checkpoint round-trips, a plain header has no gSDE key, and a mismatched resume is refused`` = testCase "a gSDE checkpoint round-trips, a plain header has no gSDE key, and a mismatched resume is refused" <| fun () ->
    withTempDir (fun dir ->
        let cfg = SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 8, BufferSize = 200, LearningStarts = 20, TrainFrequency = 4,
                            GradientSteps = 2, EvalInterval = 0, UseSde = true, FullStd = false, Seed = 2UL)
        use t = new Trainer("Pendulum-v1", cfg, gemm)
        let s = t.RunTo(t.Start(), 45L, []).State
        let path = Path.Combine(dir, "g.ckpt")
        t.Save(path, s, 45L, true)
        let loaded = Checkpoint.LoadTraining path
        Assert.Equal(Nullable 1, loaded.Header.GsdeLogStdColumns)
        Assert.Equal<float32[]>(s.Learner.Actor, loaded.State.Actor)
        let headerText = Text.Encoding.UTF8.GetString(File.ReadAllBytes path)
        Assert.Contains("gsdeLogStdColumns", headerText)
        // The same run without gSDE: no gSDE key anywhere in the file.
        use plain = new Trainer("Pendulum-v1", SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 8, BufferSize = 200, LearningStarts = 20, EvalInterval = 0), gemm)
        let plainPath = Path.Combine(dir, "p.ckpt")
        plain.Save(plainPath, plain.RunTo(plain.Start(), 25L, []).State, 25L, true)
        let plainText = Text.Encoding.UTF8.GetString(File.ReadAllBytes plainPath)
        for key in [ "gsde"; "Gsde"; "useSde"; "logStdInit" ] do Assert.DoesNotContain(key, plainText)
        // A configuration without gSDE cannot continue the gSDE run.
        use other = new Trainer("Pendulum-v1", SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 8, BufferSize = 200, LearningStarts = 20,
                                                         TrainFrequency = 4, GradientSteps = 2, EvalInterval = 0), gemm)
        let e = Assert.ThrowsAny<ArgumentException>(fun () -> other.Resume(other.Load path) |> ignore)
        Assert.Contains("its actor has gSDE with 1 log-std column(s), the configuration asks for no gSDE", e.Message))

let ``a gSDE context refuses a backend other than the host's`` = testCase "a gSDE context refuses a backend other than the host's" <| fun () ->
    let host = new HostBackend(gemm) :> Sac.Cuda.Backend.ISacBackend
    let renamed = new BackendKit.ForwardingBackend(host, "cuda") :> Sac.Cuda.Backend.ISacBackend
    let e = Assert.Throws<NotSupportedException>(fun () -> new DeviceSacContext(SacConfig(UseSde = true), 3, 1, renamed) |> ignore)
    Assert.Contains("gSDE", e.Message)
    // Without gSDE the same backend is accepted.
    (new DeviceSacContext(SacConfig(), 3, 1, renamed) :> IDisposable).Dispose()

let tests = testList "Gsde" [
    ``log pi is the per-dimension Normal log density of u minus the tanh correction``
    ``the variance is phi^2 std^2 + 1e-6 and the noise is phi (std eps)``
    ``gradients to the mean head and log-std match central differences (full and diagonal std, expln on and off)``
    ``expln std is positive, continuous at 0 with a continuous derivative, and exp below 0``
    ``the acting matrix is drawn at each collection phase and every sde_sample_freq steps, as SB3's loop``
    ``resampleStep on RL Zoo's MountainCar schedule``
    ``the actor step's gradient to trunk, mean head and log-std matches finite differences, features learned or detached``
    ``a gSDE update on the host backend allocates nothing once warm``
    ``acting keeps one exploration matrix per phase and sde_sample_freq, and the deterministic action is tanh(clip(mu))``
    ``the ONNX export of a gSDE actor is tanh(clip(mu)), clip active or not``
    ``gSDE config: validation, JSON keys only when on, and the MountainCar preset``
    ``a gSDE checkpoint round-trips, a plain header has no gSDE key, and a mismatched resume is refused``
    ``a gSDE context refuses a backend other than the host's``
]
