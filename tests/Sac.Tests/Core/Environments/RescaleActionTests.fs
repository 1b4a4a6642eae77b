/// RescaleAction: [-1, 1] onto the inner bounds, clipping, monotonicity, and refusing an unbounded action space.
module RescaleActionTests

open System
open Xunit
open Expecto
open FsCheck
open Sac.Core.Environments
open EnvironmentsKit

/// An environment that records the last action it was given, with bounds [0, 10] x [-3, -1].
type private Recorder() =
    let space = Box([| 0.0f; -3.0f |], [| 10.0f; -1.0f |])
    member val Last = Array.zeroCreate<float32> 2
    interface IEnvironment with
        member _.Id = "Recorder-v0"
        member _.ObservationSpace = Box.Uniform(1, -1.0f, 1.0f)
        member _.ActionSpace = space
        member _.MaxEpisodeSteps = Nullable()
        member _.Reset(_seed, observation) = observation.[0] <- 0.0f
        member this.Step(action, observation) =
            action.CopyTo(Span this.Last)
            observation.[0] <- 0.0f
            StepResult(0.0f, false, false)

let ``RescaleAction maps -1 and 1 to the inner bounds and clips out-of-range actions`` = testCase "RescaleAction maps -1 and 1 to the inner bounds and clips out-of-range actions" <| fun () ->
    let inner = Recorder()
    let env = RescaleAction(inner)
    Assert.Equal(Box.Uniform(2, -1.0f, 1.0f), env.ActionSpace)
    let obs = obsFor env
    reset env (Some 0UL) obs
    let check (a: float32[]) (expected: float32[]) =
        step env a obs |> ignore
        Assert.Equal<float32[]>(expected, inner.Last)
    check [| -1.0f; -1.0f |] [| 0.0f; -3.0f |]
    check [| 1.0f; 1.0f |] [| 10.0f; -1.0f |]
    check [| 0.0f; 0.5f |] [| 5.0f; -1.5f |]
    check [| -7.0f; 3.0f |] [| 0.0f; -1.0f |]
    check [| infinityf; -infinityf |] [| 10.0f; -3.0f |]
    // Pendulum: [-1, 1] -> [-2, 2].
    let p = RescaleAction(Pendulum())
    let native = Array.zeroCreate<float32> 1
    for a, e in [ -1.0f, -2.0f; 1.0f, 2.0f; 0.25f, 0.5f; 1.5f, 2.0f; -9.0f, -2.0f ] do
        p.ToNative(ReadOnlySpan [| a |], Span native)
        Assert.Equal(e, native.[0])
    // Property: any action lands inside the inner box, and monotonically.
    let prop (a: float32) (b: float32) =
        let na, nb = Array.zeroCreate<float32> 1, Array.zeroCreate<float32> 1
        p.ToNative(ReadOnlySpan [| a |], Span na)
        p.ToNative(ReadOnlySpan [| b |], Span nb)
        (Single.IsNaN a || Pendulum().ActionSpace.Contains(ReadOnlySpan na))
        && (Single.IsNaN a || Single.IsNaN b || (a <= b) = (na.[0] <= nb.[0]) || na.[0] = nb.[0])
    Check.One(fsCheckConfig, prop)
    let unbounded =
        { new IEnvironment with
            member _.Id = "Unbounded-v0"
            member _.ObservationSpace = Box.Uniform(1, -1.0f, 1.0f)
            member _.ActionSpace = Box([| -infinityf |], [| infinityf |])
            member _.MaxEpisodeSteps = Nullable()
            member _.Reset(_, _) = ()
            member _.Step(_, _) = StepResult() }
    let ex = Assert.Throws<ArgumentException>(fun () -> RescaleAction(unbounded) |> ignore)
    Assert.Contains("Unbounded-v0", ex.Message)

let tests = testList "RescaleAction" [
    ``RescaleAction maps -1 and 1 to the inner bounds and clips out-of-range actions``
]
