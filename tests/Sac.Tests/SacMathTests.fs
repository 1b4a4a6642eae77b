/// The SAC maths of Sac.Fs (tanh-Gaussian head, soft Bellman targets, losses) against float64 twins of the
/// formulas, central finite differences, and the special cases the theory names.
module SacMathTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Sac.Fs

let private config = Config.QuickThrowOnFailure.WithMaxTest(100)

// ---------- helpers ----------

/// |actual - expected| <= rel * |expected| + abs, with a message naming what differs.
let private near (what: string) (rel: float) (abs': float) (expected: float) (actual: float) =
    let tol = rel * Math.Abs expected + abs'
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.9g, got %.9g (|diff| %.3g > tol %.3g)" what expected actual (Math.Abs(actual - expected)) tol

/// Uniform floats in [lo, hi) from a seeded generator, so each FsCheck case is reproducible from its seed.
let private uniform (rng: Random) (n: int) (lo: float) (hi: float) =
    Array.init n (fun _ -> float32 (lo + (hi - lo) * rng.NextDouble()))

/// A float32 in [lo, hi] on a grid of 1e-3, as an FsCheck generator.
let private floatIn (lo: float) (hi: float) =
    Gen.choose (int (lo * 1000.0), int (hi * 1000.0)) |> Gen.map (fun i -> float32 i / 1000.0f)

let private seeds = Arb.fromGen (Gen.choose (0, Int32.MaxValue))

let private ro (a: float32[]) = ReadOnlySpan<float32>(a)
let private rw (a: float32[]) = Span<float32>(a)

/// Central finite difference of f at x along coordinate k, in float64.
let private centralDiff (h: float) (f: float[] -> float) (x: float[]) (k: int) =
    let xp = Array.copy x
    let xm = Array.copy x
    xp.[k] <- x.[k] + h
    xm.[k] <- x.[k] - h
    (f xp - f xm) / (2.0 * h)

// ---------- float64 twins of the forward formulas ----------

let private logStd64 (bound: LogStdRange) (raw: float) =
    match bound with
    | LogStdRange.Clamp (lo, hi) -> Math.Clamp(raw, float lo, float hi)
    | LogStdRange.TanhRescale (lo, hi) -> float lo + 0.5 * (float hi - float lo) * (Math.Tanh raw + 1.0)

/// log(1 - tanh(u)^2) as written, in float64.
let private naiveSquash (u: float) = let t = Math.Tanh u in Math.Log(1.0 - t * t)

/// log(1 - tanh(u)^2) = -2 log cosh(u), in float64: accurate wherever cosh does not overflow (|u| below 700),
/// unlike the naive form, which loses digits once tanh(u) rounds near 1 (|u| above about 10).
let private logSech2 (u: float) = -2.0 * Math.Log(Math.Cosh u)

/// log(1 - tanh(u)^2) by the stable identity, in float64.
let private stableSquash64 (u: float) =
    let au = Math.Abs u
    2.0 * (Math.Log 2.0 - au - Math.Log(1.0 + Math.Exp(-2.0 * au)))

/// Gaussian log-density of u under N(mu, sigma^2).
let private gaussLogPdf (mu: float) (sigma: float) (u: float) =
    let z = (u - mu) / sigma
    -0.5 * z * z - Math.Log sigma - 0.5 * Math.Log(2.0 * Math.PI)

/// Forward pass in float64: (actions, log-probs) for a batch, with the noise fixed.
let private forward64 (bound: LogStdRange) (batch: int) (actDim: int) (mu: float[]) (raw: float[]) (eps: float[]) =
    let a = Array.zeroCreate<float> (batch * actDim)
    let lp = Array.zeroCreate<float> batch
    for i in 0 .. batch - 1 do
        for j in 0 .. actDim - 1 do
            let k = i * actDim + j
            let ls = logStd64 bound raw.[k]
            let u = mu.[k] + Math.Exp ls * eps.[k]
            a.[k] <- Math.Tanh u
            lp.[i] <- lp.[i] - 0.5 * eps.[k] * eps.[k] - ls - 0.5 * Math.Log(2.0 * Math.PI) - stableSquash64 u
    a, lp

// ---------- TanhGaussian: squash correction and density ----------

[<Fact>]
let ``squashCorrection matches the naive log(1 - tanh^2 u) for |u| up to 5`` () =
    Check.One(config, Prop.forAll (Arb.fromGen (floatIn -5.0 5.0)) (fun u ->
        near $"squash({u})" 1e-5 2e-6 (naiveSquash (float u)) (float (TanhGaussian.squashCorrection u))))

[<Fact>]
let ``squashCorrection stays finite and follows 2(log 2 - |u|) out to |u| = 50`` () =
    Check.One(config, Prop.forAll (Arb.fromGen (floatIn -50.0 50.0)) (fun u ->
        let c = TanhGaussian.squashCorrection u
        Assert.True(Single.IsFinite c, $"squash({u}) = {c}")
        near $"squash({u})" 1e-6 1e-5 (stableSquash64 (float u)) (float c)))
    // The naive form underflows to log(0) here; the stable one does not.
    Assert.True(Double.IsNegativeInfinity(naiveSquash 50.0))
    near "squash(50)" 1e-6 0.0 (2.0 * (Math.Log 2.0 - 50.0)) (float (TanhGaussian.squashCorrection 50.0f))
    near "squash(-50)" 1e-6 0.0 (2.0 * (Math.Log 2.0 - 50.0)) (float (TanhGaussian.squashCorrection -50.0f))

[<Fact>]
let ``log pi is the Gaussian log-density of u minus the log-Jacobian of tanh`` () =
    let bound = LogStdRange.Clamp(-20.0f, 2.0f)
    Check.One(config, Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let actDim = 1 + rng.Next 6
        let mu = uniform rng actDim -3.0 3.0
        let raw = uniform rng actDim -4.0 1.5
        let eps = uniform rng actDim -3.0 3.0
        let lp = TanhGaussian.logProb bound (mu, raw, eps)
        let mutable expected = 0.0
        for j in 0 .. actDim - 1 do
            let sigma = Math.Exp(float raw.[j])
            let u = float mu.[j] + sigma * float eps.[j]
            expected <- expected + gaussLogPdf (float mu.[j]) sigma u - logSech2 u
        near "log pi" 1e-5 1e-4 expected (float lp)))

/// The 1-D tanh-Gaussian density at action a, from a log-density function of (mu, log sigma, eps).
let private densityAt (logProb: float -> float -> float -> float) (mu: float) (sigma: float) (a: float) =
    let u = Math.Atanh a
    Math.Exp(logProb mu (Math.Log sigma) ((u - mu) / sigma))

let private logProb64 (mu: float) (ls: float) (eps: float) =
    let u = mu + Math.Exp ls * eps
    -0.5 * eps * eps - ls - 0.5 * Math.Log(2.0 * Math.PI) - stableSquash64 u

let private logProb32 (mu: float) (ls: float) (eps: float) =
    float (TanhGaussian.logProb (LogStdRange.Clamp(-20.0f, 2.0f)) ([| float32 mu |], [| float32 ls |], [| float32 eps |]))

[<Theory>]
[<InlineData(0.0, 1.0)>]
[<InlineData(0.5, 0.3)>]
[<InlineData(-1.0, 2.0)>]
[<InlineData(3.0, 0.05)>]
[<InlineData(-4.0, 0.5)>]
[<InlineData(0.2, 0.01)>]
let ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (mu: float, sigma: float) =
    // Midpoint rule in u on [mu - 10 sigma, mu + 10 sigma], with a = tanh(u) and da = (1 - tanh^2 u) du: the density is
    // evaluated at a (through atanh), so the Jacobian term of log pi must cancel da exactly for the sum to reach 1.
    let n = 200_000
    let lo = mu - 10.0 * sigma
    let du = 20.0 * sigma / float n
    let integrate logProb =
        let mutable total = 0.0
        for i in 0 .. n - 1 do
            let u = lo + (float i + 0.5) * du
            let a = Math.Tanh u
            if abs a < 1.0 then
                total <- total + densityAt logProb mu sigma a * Math.Exp(logSech2 u) * du
        total
    near "float64 twin" 0.0 1e-3 1.0 (integrate logProb64)
    near "TanhGaussian.logProb" 0.0 1e-3 1.0 (integrate logProb32)

[<Theory>]
[<InlineData(0.0, 1.0)>]
[<InlineData(0.5, 0.5)>]
[<InlineData(-0.3, 0.8)>]
let ``the 1-D density integrates to 1 on a plain grid in a`` (mu: float, sigma: float) =
    // Midpoint rule directly in a over (-1, 1), no change of variables.
    let n = 400_000
    let da = 2.0 / float n
    let mutable total = 0.0
    for i in 0 .. n - 1 do
        let a = -1.0 + (float i + 0.5) * da
        total <- total + densityAt logProb64 mu sigma a * da
    near "integral over a" 0.0 1e-3 1.0 total

[<Fact>]
let ``sampleForward agrees bitwise with the one-transition sample and logProb`` () =
    Check.One(config, Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 5
        let actDim = 1 + rng.Next 4
        let bound = if rng.Next 2 = 0 then LogStdRange.Clamp(-3.0f, 1.0f) else LogStdRange.TanhRescale(-5.0f, 2.0f)
        let n = batch * actDim
        let mu = uniform rng n -2.0 2.0
        let raw = uniform rng n -4.0 2.0
        let eps = uniform rng n -2.5 2.5
        let ws = TanhGaussianWorkspace(batch + 2, actDim)
        TanhGaussian.sampleForward bound (batch, actDim) (ro mu, ro raw, ro eps, ws)
        Assert.Equal(batch, ws.Batch)
        let actions = ws.Action.ToArray()
        let logPis = ws.LogPi.ToArray()
        for i in 0 .. batch - 1 do
            let row (x: float32[]) = Array.sub x (i * actDim) actDim
            let struct (a, lp) = TanhGaussian.sample bound (row mu, row raw, row eps)
            Assert.Equal<float32>(a, row actions)
            Assert.Equal(lp, logPis.[i])
            Assert.Equal(lp, TanhGaussian.logProb bound (row mu, row raw, row eps))
        // u, sigma and a are consistent with the twin.
        let a64, lp64 = forward64 bound batch actDim (Array.map float mu) (Array.map float raw) (Array.map float eps)
        for k in 0 .. n - 1 do
            near "action" 1e-5 1e-6 a64.[k] (float actions.[k])
            Assert.Equal(MathF.Tanh(ws.PreTanh.[k]), actions.[k])
        for i in 0 .. batch - 1 do
            near "logPi" 1e-5 1e-4 lp64.[i] (float logPis.[i])))

[<Fact>]
let ``deterministic action is tanh of the mean`` () =
    let mu = [| -30.0f; -1.0f; 0.0f; 0.5f; 4.0f; 30.0f |]
    let expected = Array.map MathF.Tanh mu
    Assert.Equal<float32>(expected, TanhGaussian.deterministicAction mu)
    let dest = Array.zeroCreate<float32> 6
    TanhGaussian.deterministicActionBatch (2, 3) (ro mu, rw dest)
    Assert.Equal<float32>(expected, dest)
    Assert.True(dest |> Array.forall (fun a -> a >= -1.0f && a <= 1.0f))

[<Fact>]
let ``log-std bounds: clamp saturates with zero gradient, tanh rescale stays inside`` () =
    let clamp = LogStdRange.Clamp(-20.0f, 2.0f)
    Assert.Equal(2.0f, TanhGaussian.logStd clamp 5.0f)
    Assert.Equal(-20.0f, TanhGaussian.logStd clamp -25.0f)
    Assert.Equal(0.3f, TanhGaussian.logStd clamp 0.3f)
    Assert.Equal(0.0f, TanhGaussian.logStdGrad clamp 5.0f)
    Assert.Equal(0.0f, TanhGaussian.logStdGrad clamp -25.0f)
    Assert.Equal(1.0f, TanhGaussian.logStdGrad clamp 2.0f)   // ends included, as torch.clamp
    Assert.Equal(1.0f, TanhGaussian.logStdGrad clamp 0.3f)
    let smooth = LogStdRange.TanhRescale(-5.0f, 2.0f)
    near "rescale(0)" 0.0 1e-6 -1.5 (float (TanhGaussian.logStd smooth 0.0f))
    near "rescale'(0)" 0.0 1e-6 3.5 (float (TanhGaussian.logStdGrad smooth 0.0f))
    for raw in [ -100.0f; -3.0f; 0.0f; 3.0f; 100.0f ] do
        let ls = TanhGaussian.logStd smooth raw
        Assert.True(ls >= -5.0f && ls <= 2.0f, $"{ls}")
    Assert.ThrowsAny<ArgumentException>(fun () -> TanhGaussian.logStd (LogStdRange.TanhRescale(1.0f, 1.0f)) 0.0f |> ignore) |> ignore

[<Fact>]
let ``the bound built from a SacConfig carries its kind and range`` () =
    let sb3 = Sac.Core.Config.SacConfig()
    Assert.Equal(LogStdRange.Clamp(-20.0f, 2.0f), LogStdRange.FromConfig sb3)
    Assert.Equal(LogStdRange.Default, LogStdRange.FromConfig sb3)
    let cleanRl = Sac.Core.Config.SacConfig(LogStdBound = Sac.Core.Config.LogStdBound.TanhRescale, LogStdMin = -5.0f)
    Assert.Equal(LogStdRange.TanhRescale(-5.0f, 2.0f), LogStdRange.FromConfig cleanRl)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> LogStdRange.Of(enum<Sac.Core.Config.LogStdBound> 7, -1.0f, 1.0f) |> ignore)
    Assert.Equal("kind", ex.ParamName)

// ---------- gradients against central finite differences ----------

/// sampleBackward against central differences of L = sum dA * a + sum dLogPi * logPi, computed with the float64 twin.
let private checkSampleBackward (bound: LogStdRange) (rawOf: Random -> int -> float32[]) =
    Check.One(config.WithMaxTest(60), Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 4
        let actDim = 1 + rng.Next 4
        let n = batch * actDim
        let mu = uniform rng n -2.0 2.0
        let raw = rawOf rng n
        let eps = uniform rng n -2.0 2.0
        let gA = uniform rng n -1.5 1.5
        let gL = uniform rng batch -1.5 1.5
        let ws = TanhGaussianWorkspace(batch, actDim)
        TanhGaussian.sampleForward bound (batch, actDim) (ro mu, ro raw, ro eps, ws)
        let dMu = Array.zeroCreate<float32> n
        let dRaw = Array.zeroCreate<float32> n
        TanhGaussian.sampleBackward (batch, actDim) (ws, ro gA, ro gL, rw dMu, rw dRaw)
        let mu64 = Array.map float mu
        let raw64 = Array.map float raw
        let eps64 = Array.map float eps
        let loss (m: float[]) (r: float[]) =
            let a, lp = forward64 bound batch actDim m r eps64
            let mutable s = 0.0
            for k in 0 .. n - 1 do s <- s + float gA.[k] * a.[k]
            for i in 0 .. batch - 1 do s <- s + float gL.[i] * lp.[i]
            s
        for k in 0 .. n - 1 do
            near $"dL/dmu[{k}]" 1e-3 1e-4 (centralDiff 1e-5 (fun m -> loss m raw64) mu64 k) (float dMu.[k])
            near $"dL/draw[{k}]" 1e-3 1e-4 (centralDiff 1e-5 (fun r -> loss mu64 r) raw64 k) (float dRaw.[k])))

[<Fact>]
let ``sampleBackward matches finite differences under the clamp bound`` () =
    // Raw outputs inside (-3, 1) and outside it, each at least 0.05 from a kink (h = 1e-5).
    let bound = LogStdRange.Clamp(-3.0f, 1.0f)
    checkSampleBackward bound (fun rng n ->
        Array.init n (fun _ ->
            match rng.Next 4 with
            | 0 -> float32 (-5.0 + 1.9 * rng.NextDouble())     // below: gradient 0
            | 1 -> float32 (1.05 + 1.0 * rng.NextDouble())     // above: gradient 0
            | _ -> float32 (-2.95 + 3.9 * rng.NextDouble())))  // inside

[<Fact>]
let ``sampleBackward matches finite differences under the tanh rescale bound`` () =
    checkSampleBackward (LogStdRange.TanhRescale(-5.0f, 1.0f)) (fun rng n -> uniform rng n -2.5 2.5)

[<Fact>]
let ``critic loss and gradient match finite differences`` () =
    Check.One(config, Prop.forAll seeds (fun seed ->
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

[<Fact>]
let ``actor loss and gradients match finite differences away from ties`` () =
    Check.One(config, Prop.forAll seeds (fun seed ->
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

[<Fact>]
let ``actor loss gives zero gradient to the non-minimal critic; ties go to the first`` () =
    let q1 = [| 1.0f; 5.0f; 2.0f; -3.0f |]
    let q2 = [| 4.0f; 2.0f; 2.0f; -7.0f |]
    let logPi = [| 0.5f; -1.0f; 0.0f; 2.0f |]
    let dLogPi, dq1, dq2 = Array.zeroCreate<float32> 4, Array.zeroCreate<float32> 4, Array.zeroCreate<float32> 4
    let l = Losses.actor 0.2f 4 (ro logPi, ro q1, ro q2, rw dLogPi, rw dq1, rw dq2)
    Assert.Equal<float32>([| -0.25f; 0.0f; -0.25f; 0.0f |], dq1)
    Assert.Equal<float32>([| 0.0f; -0.25f; 0.0f; -0.25f |], dq2)
    Assert.Equal<float32>(Array.create 4 0.05f, dLogPi)
    near "actor loss" 1e-6 0.0 ((0.2 * 1.5 - (1.0 + 2.0 + 2.0 - 7.0)) / 4.0) (float l)

[<Fact>]
let ``temperature loss and gradient match finite differences`` () =
    Check.One(config, Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let batch = 1 + rng.Next 9
        let logAlpha = float32 (-5.0 + 6.0 * rng.NextDouble())
        let h0 = Losses.defaultTargetEntropy (1 + rng.Next 6)
        let logPi = uniform rng batch -8.0 8.0
        let struct (l, g) = Losses.temperature logAlpha h0 batch (ro logPi)
        let f (x: float[]) = logPi |> Array.map (fun lp -> -x.[0] * (float lp + float h0)) |> Array.average
        near "temperature loss" 1e-5 1e-5 (f [| float logAlpha |]) (float l)
        near "dLogAlpha" 1e-4 1e-5 (centralDiff 1e-4 f [| float logAlpha |] 0) (float g)))

[<Fact>]
let ``temperature gradient step raises alpha when entropy is below target and lowers it above`` () =
    let lr = 0.01f
    Check.One(config, Prop.forAll (Arb.fromGen (Gen.zip (floatIn -3.0 1.0) (Gen.choose (1, 6)))) (fun (logAlpha, actDim) ->
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

[<Fact>]
let ``v1 value loss and gradient match finite differences`` () =
    Check.One(config, Prop.forAll seeds (fun seed ->
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

[<Fact>]
let ``target is the reward alone when terminated, whatever q, logPi and alpha`` () =
    Check.One(config, Prop.forAll (Arb.fromGen transition) (fun (gamma, alpha, r, q1, q2, logPi) ->
        Assert.Equal(r, targetOf gamma alpha r 1.0f q1 q2 logPi)
        Assert.Equal(r, targetBatchOf gamma alpha r 1.0f q1 q2 logPi)))

[<Fact>]
let ``target bootstraps when not terminated, truncated or not`` () =
    // Truncation is not an input at all: a time-limit transition is stored with terminated = 0 and bootstraps.
    Check.One(config, Prop.forAll (Arb.fromGen (Gen.zip transition (Gen.elements [ false; true ]))) (fun ((gamma, alpha, r, q1, q2, logPi), _truncated) ->
        let v = SoftBellman.sampledSoftValue alpha (q1, q2, logPi)
        Assert.Equal(r + gamma * v, targetOf gamma alpha r 0.0f q1 q2 logPi)
        Assert.Equal(r + gamma * v, targetBatchOf gamma alpha r 0.0f q1 q2 logPi)
        near "bootstrap" 1e-5 1e-4 (float r + float gamma * (min (float q1) (float q2) - float alpha * float logPi))
             (float (targetOf gamma alpha r 0.0f q1 q2 logPi))))

[<Fact>]
let ``target increases weakly with the reward and with the twin minimum`` () =
    let gen' = Gen.zip3 transition (Gen.elements [ 0.0f; 1.0f ]) (floatIn 0.0 50.0)
    Check.One(config, Prop.forAll (Arb.fromGen gen') (fun ((gamma, alpha, r, q1, q2, logPi), d, delta) ->
        let y = targetOf gamma alpha r d q1 q2 logPi
        Assert.True(targetOf gamma alpha (r + delta) d q1 q2 logPi >= y, "reward")
        Assert.True(targetOf gamma alpha r d (q1 + delta) q2 logPi >= y, "q1")
        Assert.True(targetOf gamma alpha r d q1 (q2 + delta) logPi >= y, "q2")
        Assert.True(targetOf gamma alpha r d (q1 + delta) (q2 + delta) logPi >= y, "both")))

[<Fact>]
let ``alpha = 0 gives the hard clipped double-Q target`` () =
    Check.One(config, Prop.forAll (Arb.fromGen (Gen.zip transition (Gen.elements [ 0.0f; 1.0f ]))) (fun ((gamma, _, r, q1, q2, logPi), d) ->
        let hard = r + gamma * (1.0f - d) * min q1 q2
        Assert.Equal(hard, targetOf gamma 0.0f r d q1 q2 logPi)
        Assert.Equal(hard, targetBatchOf gamma 0.0f r d q1 q2 logPi)))

[<Fact>]
let ``targetBatch and sampledSoftValueBatch equal the one-transition forms row by row`` () =
    Check.One(config, Prop.forAll seeds (fun seed ->
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

[<Fact>]
let ``batch functions reject buffers shorter than the batch`` () =
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

// ---------- allocation ----------

[<Fact>]
let ``batch functions allocate nothing after warm-up`` () =
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
    let before = GC.GetAllocatedBytesForCurrentThread()
    for _ in 1 .. 200 do run ()
    let after = GC.GetAllocatedBytesForCurrentThread()
    Assert.Equal(0L, after - before)
    Assert.True(Single.IsFinite sink)
