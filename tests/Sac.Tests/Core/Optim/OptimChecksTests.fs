/// The optimizers' shared argument checks: a buffer whose length differs from the parameters', named in the exception.
module OptimChecksTests

open System
open Expecto
open Sac.Core.Optim
open OptimKit

let ``Mismatched lengths throw naming the span`` = testCase "Mismatched lengths throw naming the span" <| fun () ->
    let cfg = AdamConfig()
    throwsNaming "gradients" (fun () -> Adam.Update(cfg, Adam.Init 3, ReadOnlySpan(Array.zeroCreate 2), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state.FirstMoment" (fun () -> Adam.Update(cfg, Adam.Init 4, ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state.SecondMoment" (fun () ->
        Adam.Update(cfg, AdamState(0L, Array.zeroCreate 3, Array.zeroCreate 2), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state" (fun () -> Adam.Update(cfg, AdamState(), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "parameterCount" (fun () -> Adam.Init -1 |> ignore)
    let sgd = SgdConfig(0.1f, 0.9f)
    throwsNaming "gradients" (fun () -> Sgd.Update(sgd, Sgd.Init(sgd, 3), ReadOnlySpan(Array.zeroCreate 4), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state.Velocity" (fun () -> Sgd.Update(sgd, Sgd.Init(sgd, 2), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "state" (fun () -> Sgd.Update(sgd, SgdState(0L, null), ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)) |> ignore)
    throwsNaming "online" (fun () -> Polyak.Update(0.5f, ReadOnlySpan(Array.zeroCreate 2), Span(Array.zeroCreate 3)))
    throwsNaming "tau" (fun () -> Polyak.Update(1.5f, ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)))
    throwsNaming "tau" (fun () -> Polyak.Update(Single.NaN, ReadOnlySpan(Array.zeroCreate 3), Span(Array.zeroCreate 3)))

let tests = testList "OptimChecks" [
    ``Mismatched lengths throw naming the span``
]
