/// Polyak averaging: bounds, the tau = 0 and tau = 1 ends, geometric convergence and the vector body against the scalar tail.
module PolyakTests

open System
open Xunit
open Expecto
open FsCheck.FSharp
open Sac.Core.Optim
open OptimKit

/// Finite float32 values spread over many magnitudes, including exact zeros and repeats.
let private genValue =
    Gen.oneof
        [ Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun k -> float32 k / 1000.0f)
          Gen.choose (-30, 30) |> Gen.map (fun e -> float32 (10.0 ** float e))
          Gen.constant 0.0f ]

let private genTau =
    Gen.oneof [ Gen.constant 0.0f; Gen.constant 1.0f; Gen.choose (0, 1_000_000) |> Gen.map (fun k -> float32 k / 1e6f) ]

/// (tau, online, target) with equal lengths; some targets start equal to their online value.
let private genPolyak =
    gen {
        let! tau = genTau
        let! n = Gen.choose (0, 45)
        let! online = Gen.arrayOfLength n genValue
        let! target = Gen.arrayOfLength n genValue
        let! same = Gen.arrayOfLength n (Gen.frequency [ 4, Gen.constant false; 1, Gen.constant true ])
        let target = Array.init n (fun i -> if same.[i] then online.[i] else target.[i])
        return tau, online, target
    }

let ``Polyak keeps every target element between its old value and the online value`` =
    let prop (tau: float32, online: float32[], target: float32[]) =
        let updated = Array.copy target
        Polyak.Update(tau, ReadOnlySpan online, Span updated)
        Array.forall id (Array.init online.Length (fun i ->
            let lo = min online.[i] target.[i]
            let hi = max online.[i] target.[i]
            lo <= updated.[i] && updated.[i] <= hi))
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Polyak keeps every target element between its old value and the online value" (Prop.forAll (Arb.fromGen genPolyak) prop)

let ``Polyak with tau 0 keeps the target and with tau 1 copies the online values`` =
    let prop (_: float32, online: float32[], target: float32[]) =
        let kept = Array.copy target
        Polyak.Update(0.0f, ReadOnlySpan online, Span kept)
        let copied = Array.copy target
        Polyak.Update(1.0f, ReadOnlySpan online, Span copied)
        kept = target && copied = online
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Polyak with tau 0 keeps the target and with tau 1 copies the online values" (Prop.forAll (Arb.fromGen genPolyak) prop)

let ``Repeated Polyak with fixed online values converges geometrically`` =
    let genCase =
        gen {
            let! tauK = Gen.choose (10, 1000)
            let! steps = Gen.choose (1, 60)
            let! n = Gen.choose (1, 40)
            let! online = Gen.arrayOfLength n (Gen.choose (-100_000, 100_000) |> Gen.map (fun k -> float32 k / 100.0f))
            let! target = Gen.arrayOfLength n (Gen.choose (-100_000, 100_000) |> Gen.map (fun k -> float32 k / 100.0f))
            return float32 tauK / 1000.0f, steps, online, target
        }
    let prop (tau: float32, steps: int, online: float32[], target0: float32[]) =
        let target = Array.copy target0
        for _ in 1 .. steps do Polyak.Update(tau, ReadOnlySpan online, Span target)
        let contraction = (1.0 - float tau) ** float steps
        Array.forall id (Array.init online.Length (fun i ->
            // |t_n - o| <= (1 - tau)^n |t_0 - o|, plus a few float32 roundings of the operands per step.
            let scale = max (abs (float online.[i])) (abs (float target0.[i]))
            let slack = float steps * 4.0 * float Single.Epsilon + float steps * 3.0 * 1.2e-7 * scale
            abs (float target.[i] - float online.[i]) <= contraction * abs (float target0.[i] - float online.[i]) + slack))
    testPropertyWithConfig (Properties.ofFsCheck fsCheckConfig) "Repeated Polyak with fixed online values converges geometrically" (Prop.forAll (Arb.fromGen genCase) prop)

let ``Polyak vector body and scalar tail give bit-identical results`` = testCase "Polyak vector body and scalar tail give bit-identical results" <| fun () ->
    let n = 37
    let online = vector 4 n 5.0f
    let target = vector 5 n 5.0f
    let single = Array.copy target
    Polyak.Update(0.005f, ReadOnlySpan online, Span target)
    for i in 0 .. n - 1 do
        Polyak.Update(0.005f, ReadOnlySpan [| online.[i] |], Span(single, i, 1))
    Assert.Equal<float32[]>(single, target)

let tests = testList "Polyak" [
    ``Polyak keeps every target element between its old value and the online value``
    ``Polyak with tau 0 keeps the target and with tau 1 copies the online values``
    ``Repeated Polyak with fixed online values converges geometrically``
    ``Polyak vector body and scalar tail give bit-identical results``
]
