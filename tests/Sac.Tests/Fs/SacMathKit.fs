/// What the tests of the SAC maths share: tolerances, generators, central differences and float64 twins of the forward formulas.
module SacMathKit

open System
open FsCheck
open FsCheck.FSharp
open Sac.Fs

let config = Config.QuickThrowOnFailure.WithMaxTest(100)

/// |actual - expected| <= rel * |expected| + abs, with a message naming what differs.
let near (what: string) (rel: float) (abs': float) (expected: float) (actual: float) =
    let tol = rel * Math.Abs expected + abs'
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.9g, got %.9g (|diff| %.3g > tol %.3g)" what expected actual (Math.Abs(actual - expected)) tol

/// Uniform floats in [lo, hi) from a seeded generator, so each FsCheck case is reproducible from its seed.
let uniform (rng: Random) (n: int) (lo: float) (hi: float) =
    Array.init n (fun _ -> float32 (lo + (hi - lo) * rng.NextDouble()))

/// A float32 in [lo, hi] on a grid of 1e-3, as an FsCheck generator.
let floatIn (lo: float) (hi: float) =
    Gen.choose (int (lo * 1000.0), int (hi * 1000.0)) |> Gen.map (fun i -> float32 i / 1000.0f)

let seeds = Arb.fromGen (Gen.choose (0, Int32.MaxValue))

let ro (a: float32[]) = ReadOnlySpan<float32>(a)
let rw (a: float32[]) = Span<float32>(a)

/// Central finite difference of f at x along coordinate k, in float64.
let centralDiff (h: float) (f: float[] -> float) (x: float[]) (k: int) =
    let xp = Array.copy x
    let xm = Array.copy x
    xp.[k] <- x.[k] + h
    xm.[k] <- x.[k] - h
    (f xp - f xm) / (2.0 * h)

let logStd64 (bound: LogStdRange) (raw: float) =
    match bound with
    | LogStdRange.Clamp (lo, hi) -> Math.Clamp(raw, float lo, float hi)
    | LogStdRange.TanhRescale (lo, hi) -> float lo + 0.5 * (float hi - float lo) * (Math.Tanh raw + 1.0)

/// log(1 - tanh(u)^2) as written, in float64.
let naiveSquash (u: float) = let t = Math.Tanh u in Math.Log(1.0 - t * t)

/// log(1 - tanh(u)^2) = -2 log cosh(u), in float64: accurate wherever cosh does not overflow (|u| below 700),
/// unlike the naive form, which loses digits once tanh(u) rounds near 1 (|u| above about 10).
let logSech2 (u: float) = -2.0 * Math.Log(Math.Cosh u)

/// log(1 - tanh(u)^2) by the stable identity, in float64.
let stableSquash64 (u: float) =
    let au = Math.Abs u
    2.0 * (Math.Log 2.0 - au - Math.Log(1.0 + Math.Exp(-2.0 * au)))

/// Gaussian log-density of u under N(mu, sigma^2).
let gaussLogPdf (mu: float) (sigma: float) (u: float) =
    let z = (u - mu) / sigma
    -0.5 * z * z - Math.Log sigma - 0.5 * Math.Log(2.0 * Math.PI)

/// Forward pass in float64: (actions, log-probs) for a batch, with the noise fixed.
let forward64 (bound: LogStdRange) (batch: int) (actDim: int) (mu: float[]) (raw: float[]) (eps: float[]) =
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
