/// What the Sac.Core.Optim tests share: tolerances, argument checks, seeded vectors and an ill-conditioned quadratic.
module OptimKit

open System
open Xunit
open FsCheck

/// |actual - expected| <= rel * |expected| + abs, with a message naming what differs.
let near (what: string) (rel: float) (abs': float) (expected: float) (actual: float) =
    let tol = rel * Math.Abs expected + abs'
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.9g, got %.9g (|diff| %.3g > tol %.3g)" what expected actual (Math.Abs(actual - expected)) tol

let throwsNaming (field: string) (f: unit -> unit) =
    let ex = Assert.ThrowsAny<ArgumentException>(Action f)
    Assert.Equal(field, ex.ParamName)

/// A deterministic pseudo-random vector in [-scale, scale], so the tests need no seeds from the clock.
let vector (seed: int) (n: int) (scale: float32) =
    let rng = Random(seed)
    Array.init n (fun _ -> scale * (2.0f * float32 (rng.NextDouble()) - 1.0f))

let fsCheckConfig = Config.QuickThrowOnFailure.WithMaxTest(200)

let quadC = [| 1.0f; 10.0f; 100.0f; 0.5f |]
let quadT = [| 1.0f; -2.0f; 0.5f; 3.0f |]

/// Gradient of sum_i c_i (x_i - t_i)^2.
let quadGrad (p: float32[]) (g: float32[]) =
    for i in 0 .. p.Length - 1 do g.[i] <- 2.0f * quadC.[i] * (p.[i] - quadT.[i])

let maxError (p: float32[]) (t: float32[]) = Array.map2 (fun a b -> abs (a - b)) p t |> Array.max
