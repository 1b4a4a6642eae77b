/// Box (bounds, containment, infinite observation bounds) and StepResult's Done.
module BoxTests

open System
open Xunit
open Expecto
open Sac.Core.Environments

let ``Box validates its bounds and allows infinite observation bounds`` = testCase "Box validates its bounds and allows infinite observation bounds" <| fun () ->
    Assert.Throws<ArgumentException>(fun () -> Box([| 0.0f |], [| 1.0f; 2.0f |]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([||], [||]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([| 1.0f |], [| 0.0f |]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([| nanf |], [| 0.0f |]) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Box([| infinityf |], [| infinityf |]) |> ignore) |> ignore
    let b = Box([| -infinityf; 0.0f |], [| infinityf; 1.0f |])
    Assert.Equal(2, b.Dimension)
    Assert.False(b.IsBounded)
    Assert.True(b.Contains(ReadOnlySpan [| 1e30f; 0.5f |]))
    Assert.True(b.Contains(ReadOnlySpan [| 0.0f; 1.0f |]))
    Assert.False(b.Contains(ReadOnlySpan [| 0.0f; 1.5f |]))
    Assert.False(b.Contains(ReadOnlySpan [| nanf; 0.5f |]))
    Assert.False(b.Contains(ReadOnlySpan [| 0.0f |]))
    Assert.Equal(Box.Uniform(2, -1.0f, 1.0f), Box([| -1.0f; -1.0f |], [| 1.0f; 1.0f |]))
    Assert.True(StepResult(0.0f, false, true).Done)
    Assert.False(StepResult(0.0f, false, false).Done)

let tests = testList "Box" [
    ``Box validates its bounds and allows infinite observation bounds``
]
