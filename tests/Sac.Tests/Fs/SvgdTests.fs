/// Svgd: the RBF kernel and its gradient, the SVGD direction against a plain reference, and free particles fitting a Gaussian.
module SvgdTests

open System
open Xunit
open Expecto
open FsCheck.FSharp
open Sac.Core.Random
open Sac.Fs
open SqlKit

let private particles (seed: uint64) (n: int) =
    let x = Array.zeroCreate<float32> n
    Philox.FillUniform(PhiloxKey.FromSeed seed, 0UL, Span x)
    x |> Array.map (fun u -> 1.8f * u - 0.9f)

let ``the RBF kernel gradient matches finite differences`` =
    let gen = gen {
        let! kf = Gen.choose (1, 5)
        let! ku = Gen.choose (1, 5)
        let! dim = Gen.choose (1, 3)
        let! seed = Gen.choose (0, 100000)
        let! h = Gen.elements [ 0.05f; 0.3f; 1.0f ]
        return kf, ku, dim, uint64 seed, h }
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the RBF kernel gradient matches finite differences" (Prop.forAll (Arb.fromGen gen) (fun (kf, ku, dim, seed, h) ->
        let x = particles seed (kf * dim)
        let y = particles (seed + 7919UL) (ku * dim)
        let kernelOf (x: float32[]) =
            let d2 = Array.zeroCreate<float32> (kf * ku)
            let k = Array.zeroCreate<float32> (kf * ku)
            let g = Array.zeroCreate<float32> (kf * ku * dim)
            Svgd.squaredDistances kf ku dim (ReadOnlySpan x, ReadOnlySpan y, Span d2)
            Svgd.rbfKernel h kf ku dim (ReadOnlySpan x, ReadOnlySpan y, ReadOnlySpan d2, Span k, Span g)
            k, g
        let k, g = kernelOf x
        let step = 1e-3f
        let mutable ok = true
        for j in 0 .. kf - 1 do
            for i in 0 .. ku - 1 do
                // The value itself, against float64.
                let mutable s = 0.0
                for d in 0 .. dim - 1 do
                    let diff = float x.[j * dim + d] - float y.[i * dim + d]
                    s <- s + diff * diff
                if abs (float k.[j * ku + i] - Math.Exp(-s / float h)) > 1e-5 then ok <- false
                for d in 0 .. dim - 1 do
                    let plus, minus = Array.copy x, Array.copy x
                    plus.[j * dim + d] <- plus.[j * dim + d] + step
                    minus.[j * dim + d] <- minus.[j * dim + d] - step
                    let kp, _ = kernelOf plus
                    let km, _ = kernelOf minus
                    let fd = (float kp.[j * ku + i] - float km.[j * ku + i]) / (2.0 * float step)
                    let an = float g.[(j * ku + i) * dim + d]
                    if abs (fd - an) > 2e-3 + 2e-3 * abs an then ok <- false
        ok))

/// SVGD directions in float64 with plain loops: the median heuristic and eq. 13 written out.
let private referenceDirections (kf: int) (ku: int) (dim: int) (hMin: float) (x: float32[]) (y: float32[]) (scores: float32[]) =
    let d2 = Array.init (kf * ku) (fun p ->
        let j, i = p / ku, p % ku
        Seq.sum (seq { for d in 0 .. dim - 1 -> (float x.[j * dim + d] - float y.[i * dim + d]) ** 2.0 }))
    let sorted = Array.sort d2
    let n = sorted.Length
    let median = if n % 2 = 1 then sorted.[n / 2] else 0.5 * (sorted.[n / 2 - 1] + sorted.[n / 2])
    let h = max (median / Math.Log(float kf + 1.0)) hMin
    let out = Array.zeroCreate<float> (ku * dim)
    for i in 0 .. ku - 1 do
        for d in 0 .. dim - 1 do
            let mutable s = 0.0
            for j in 0 .. kf - 1 do
                let k = Math.Exp(-d2.[j * ku + i] / h)
                s <- s + k * float scores.[j * dim + d] + (-2.0 * (float x.[j * dim + d] - float y.[i * dim + d]) / h) * k
            out.[i * dim + d] <- s / float kf
    out, h

let ``the SVGD direction matches a plain reference implementation on random particles`` =
    let gen = gen {
        let! kf = Gen.choose (1, 8)
        let! ku = Gen.choose (1, 8)
        let! dim = Gen.choose (1, 4)
        let! seed = Gen.choose (0, 100000)
        return kf, ku, dim, uint64 seed }
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the SVGD direction matches a plain reference implementation on random particles" (Prop.forAll (Arb.fromGen gen) (fun (kf, ku, dim, seed) ->
        let x = particles seed (kf * dim)
        let y = particles (seed + 1UL) (ku * dim)
        let scores = Array.zeroCreate<float32> (kf * dim)
        Philox.FillNormal(PhiloxKey.FromSeed(seed + 2UL), 0UL, Span scores)
        let expected, hRef = referenceDirections kf ku dim 1e-3 x y scores
        let dest = Array.zeroCreate<float32> (ku * dim)
        let scratch n = Array.zeroCreate<float32> n
        let h =
            Svgd.svgdParticles 1e-3f kf ku dim
                (ReadOnlySpan x, ReadOnlySpan y, ReadOnlySpan scores,
                 Span(scratch (kf * ku)), Span(scratch (kf * ku)), Span(scratch (kf * ku)), Span(scratch (kf * ku * dim)), Span dest)
        abs (float h - hRef) <= 1e-5 * (1.0 + hRef)
        && Array.forall2 (fun (e: float) (a: float32) -> abs (e - float a) <= 1e-4 * (1.0 + abs e)) expected dest))

let ``free SVGD particles move toward a Gaussian target's mean and variance`` = testCase "free SVGD particles move toward a Gaussian target's mean and variance" <| fun () ->
    // Q/alpha = log N(a; mu, sigma^2) on [-1, 1] with alpha = 1 (the truncated mass is below 1e-6): score -(a - mu)/sigma^2.
    let mu, sigma = 0.3f, 0.2f
    let n = 50
    let a = Array.zeroCreate<float32> n
    Philox.FillNormal(PhiloxKey.FromSeed 8UL, 0UL, Span a)
    for i in 0 .. n - 1 do a.[i] <- -0.6f + 0.05f * a.[i]
    let stats () =
        let m = Array.average a
        m, (a |> Array.averageBy (fun x -> (x - m) * (x - m)))
    let m0, v0 = stats ()
    let scores = Array.zeroCreate<float32> n
    let dir = Array.zeroCreate<float32> n
    let copy = Array.zeroCreate<float32> n
    let scratch k = Array.zeroCreate<float32> k
    let d2, med, kern, kgrad = scratch (n * n), scratch (n * n), scratch (n * n), scratch (n * n)
    let eps = 0.1f * sigma * sigma
    for _ in 1 .. 500 do
        for i in 0 .. n - 1 do scores.[i] <- -(a.[i] - mu) / (sigma * sigma)
        Array.blit a 0 copy 0 n
        Svgd.svgdParticles 1e-6f n n 1
            (ReadOnlySpan copy, ReadOnlySpan copy, ReadOnlySpan scores, Span d2, Span med, Span kern, Span kgrad, Span dir) |> ignore
        for i in 0 .. n - 1 do a.[i] <- Math.Clamp(a.[i] + eps * dir.[i], -1.0f, 1.0f)
    let m1, v1 = stats ()
    Console.WriteLine(sprintf "SVGD free particles: mean %.3f -> %.3f (target %.3f), variance %.4f -> %.4f (target %.4f)" m0 m1 mu v0 v1 (sigma * sigma))
    Assert.True(abs (m1 - mu) < 0.03f, sprintf "mean %g" m1)
    Assert.True(v1 > 0.7f * sigma * sigma && v1 < 1.3f * sigma * sigma, sprintf "variance %g" v1)

let tests = testList "Svgd" [
    ``the RBF kernel gradient matches finite differences``
    ``the SVGD direction matches a plain reference implementation on random particles``
    ``free SVGD particles move toward a Gaussian target's mean and variance``
]
