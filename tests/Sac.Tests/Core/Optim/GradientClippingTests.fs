/// GradientClipping: the global norm, the scale factor and clipping in place.
module GradientClippingTests

open System
open Xunit
open Expecto
open Sac.Core.Optim
open OptimKit

let ``GradientClipping computes the global norm and clips in place`` = testCase "GradientClipping computes the global norm and clips in place" <| fun () ->
    Assert.Equal(5.0f, GradientClipping.GlobalNorm(ReadOnlySpan [| 3.0f; 0.0f; -4.0f |]))
    Assert.Equal(0.0f, GradientClipping.GlobalNorm(ReadOnlySpan<float32>.Empty))
    let big = vector 3 1001 10.0f
    let expected = sqrt (big |> Array.sumBy (fun x -> float x * float x))
    near "norm of 1001 elements" 1e-7 0.0 expected (float (GradientClipping.GlobalNorm(ReadOnlySpan big)))
    Assert.Equal(1.0f, GradientClipping.ScaleFactor(10.0f, 5.0f))
    near "scale" 1e-7 0.0 (0.5 / (5.0 + 1e-6)) (float (GradientClipping.ScaleFactor(0.5f, 5.0f)))
    let g = [| 3.0f; 0.0f; -4.0f |]
    let before = GradientClipping.ClipInPlace(Span g, 1.0f)
    Assert.Equal(5.0f, before)
    near "clipped norm" 1e-6 0.0 1.0 (float (GradientClipping.GlobalNorm(ReadOnlySpan g)))
    throwsNaming "maxNorm" (fun () -> GradientClipping.ScaleFactor(0.0f, 1.0f) |> ignore)

let tests = testList "GradientClipping" [
    ``GradientClipping computes the global norm and clips in place``
]
