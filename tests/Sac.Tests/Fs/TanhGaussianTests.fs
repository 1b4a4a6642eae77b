/// TanhGaussian against float64 twins of the formulas and central finite differences: squash correction, density, sampling and its gradient, log-std bounds.
module TanhGaussianTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Fs
open SacMathKit

// ---------- TanhGaussian: squash correction and density ----------

let ``squashCorrection matches the naive log(1 - tanh^2 u) for |u| up to 5`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "squashCorrection matches the naive log(1 - tanh^2 u) for |u| up to 5" (Prop.forAll (Arb.fromGen (floatIn -5.0 5.0)) (fun u ->
        near $"squash({u})" 1e-5 2e-6 (naiveSquash (float u)) (float (TanhGaussian.squashCorrection u))))

let ``squashCorrection stays finite and follows 2(log 2 - |u|) out to |u| = 50`` = testCase "squashCorrection stays finite and follows 2(log 2 - |u|) out to |u| = 50" <| fun () ->
    Check.One(config, Prop.forAll (Arb.fromGen (floatIn -50.0 50.0)) (fun u ->
        let c = TanhGaussian.squashCorrection u
        Assert.True(Single.IsFinite c, $"squash({u}) = {c}")
        near $"squash({u})" 1e-6 1e-5 (stableSquash64 (float u)) (float c)))
    // The naive form underflows to log(0) here; the stable one does not.
    Assert.True(Double.IsNegativeInfinity(naiveSquash 50.0))
    near "squash(50)" 1e-6 0.0 (2.0 * (Math.Log 2.0 - 50.0)) (float (TanhGaussian.squashCorrection 50.0f))
    near "squash(-50)" 1e-6 0.0 (2.0 * (Math.Log 2.0 - 50.0)) (float (TanhGaussian.squashCorrection -50.0f))

let ``log pi is the Gaussian log-density of u minus the log-Jacobian of tanh`` =
    let bound = LogStdRange.Clamp(-20.0f, 2.0f)
    testPropertyWithConfig (Properties.ofFsCheck config) "log pi is the Gaussian log-density of u minus the log-Jacobian of tanh" (Prop.forAll seeds (fun seed ->
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

let ``the 1-D density integrates to 1 on a plain grid in a`` (mu: float, sigma: float) =
    // Midpoint rule directly in a over (-1, 1), no change of variables.
    let n = 400_000
    let da = 2.0 / float n
    let mutable total = 0.0
    for i in 0 .. n - 1 do
        let a = -1.0 + (float i + 0.5) * da
        total <- total + densityAt logProb64 mu sigma a * da
    near "integral over a" 0.0 1e-3 1.0 total

let ``sampleForward agrees bitwise with the one-transition sample and logProb`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "sampleForward agrees bitwise with the one-transition sample and logProb" (Prop.forAll seeds (fun seed ->
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

let ``deterministic action is tanh of the mean`` = testCase "deterministic action is tanh of the mean" <| fun () ->
    let mu = [| -30.0f; -1.0f; 0.0f; 0.5f; 4.0f; 30.0f |]
    let expected = Array.map MathF.Tanh mu
    Assert.Equal<float32>(expected, TanhGaussian.deterministicAction mu)
    let dest = Array.zeroCreate<float32> 6
    TanhGaussian.deterministicActionBatch (2, 3) (ro mu, rw dest)
    Assert.Equal<float32>(expected, dest)
    Assert.True(dest |> Array.forall (fun a -> a >= -1.0f && a <= 1.0f))

let ``log-std bounds: clamp saturates with zero gradient, tanh rescale stays inside`` = testCase "log-std bounds: clamp saturates with zero gradient, tanh rescale stays inside" <| fun () ->
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

let ``the bound built from a SacConfig carries its kind and range`` = testCase "the bound built from a SacConfig carries its kind and range" <| fun () ->
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

let ``sampleBackward matches finite differences under the clamp bound`` = testCase "sampleBackward matches finite differences under the clamp bound" <| fun () ->
    // Raw outputs inside (-3, 1) and outside it, each at least 0.05 from a kink (h = 1e-5).
    let bound = LogStdRange.Clamp(-3.0f, 1.0f)
    checkSampleBackward bound (fun rng n ->
        Array.init n (fun _ ->
            match rng.Next 4 with
            | 0 -> float32 (-5.0 + 1.9 * rng.NextDouble())     // below: gradient 0
            | 1 -> float32 (1.05 + 1.0 * rng.NextDouble())     // above: gradient 0
            | _ -> float32 (-2.95 + 3.9 * rng.NextDouble())))  // inside

let ``sampleBackward matches finite differences under the tanh rescale bound`` = testCase "sampleBackward matches finite differences under the tanh rescale bound" <| fun () ->
    checkSampleBackward (LogStdRange.TanhRescale(-5.0f, 1.0f)) (fun rng n -> uniform rng n -2.5 2.5)

let tests = testList "TanhGaussian" [
    ``squashCorrection matches the naive log(1 - tanh^2 u) for |u| up to 5``
    ``squashCorrection stays finite and follows 2(log 2 - |u|) out to |u| = 50``
    ``log pi is the Gaussian log-density of u minus the log-Jacobian of tanh``
    testList "the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)" [
        testCase "mu: 0.0, sigma: 1.0" <| fun () -> ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (0.0, 1.0)
        testCase "mu: 0.5, sigma: 0.3" <| fun () -> ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (0.5, 0.3)
        testCase "mu: -1.0, sigma: 2.0" <| fun () -> ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (-1.0, 2.0)
        testCase "mu: 3.0, sigma: 0.05" <| fun () -> ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (3.0, 0.05)
        testCase "mu: -4.0, sigma: 0.5" <| fun () -> ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (-4.0, 0.5)
        testCase "mu: 0.2, sigma: 0.01" <| fun () -> ``the 1-D tanh-Gaussian density integrates to 1 over (-1, 1)`` (0.2, 0.01)
    ]
    testList "the 1-D density integrates to 1 on a plain grid in a" [
        testCase "mu: 0.0, sigma: 1.0" <| fun () -> ``the 1-D density integrates to 1 on a plain grid in a`` (0.0, 1.0)
        testCase "mu: 0.5, sigma: 0.5" <| fun () -> ``the 1-D density integrates to 1 on a plain grid in a`` (0.5, 0.5)
        testCase "mu: -0.3, sigma: 0.8" <| fun () -> ``the 1-D density integrates to 1 on a plain grid in a`` (-0.3, 0.8)
    ]
    ``sampleForward agrees bitwise with the one-transition sample and logProb``
    ``deterministic action is tanh of the mean``
    ``log-std bounds: clamp saturates with zero gradient, tanh rescale stays inside``
    ``the bound built from a SacConfig carries its kind and range``
    ``sampleBackward matches finite differences under the clamp bound``
    ``sampleBackward matches finite differences under the tanh rescale bound``
]
