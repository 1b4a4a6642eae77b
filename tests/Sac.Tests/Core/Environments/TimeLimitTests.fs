/// TimeLimit: truncation at the limit, together with termination when they coincide, and Reset restarting the count.
module TimeLimitTests

open System
open Xunit
open Expecto
open Sac.Core.Environments
open EnvironmentsKit

let ``TimeLimit sets truncated together with terminated when the limit coincides, and Reset restarts the count`` = testCase "TimeLimit sets truncated together with terminated when the limit coincides, and Reset restarts the count" <| fun () ->
    let inner = PointGoal()
    let env = TimeLimit(inner, 1)
    let obs = obsFor env
    reset env (Some 1UL) obs
    inner.SetState(0.15, 0.0, Span obs)
    let r = step env [| -1.0f; 0.0f |] obs
    Assert.True(r.Terminated)
    Assert.True(r.Truncated)
    // Past the limit every step reports truncated, as Gymnasium's TimeLimit does.
    Assert.True((step env [| 0.0f; 0.0f |] obs).Truncated)
    Assert.Equal(2, env.ElapsedSteps)
    reset env None obs
    Assert.Equal(0, env.ElapsedSteps)
    let long = TimeLimit(PointGoal(), 3)
    reset long (Some 2UL) obs
    let flags = [ for _ in 1 .. 3 -> (step long [| 0.0f; 0.0f |] obs).Truncated ]
    Assert.Equal<bool list>([ false; false; true ], flags)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> TimeLimit(PointGoal(), 0) |> ignore) |> ignore

let tests = testList "TimeLimit" [
    ``TimeLimit sets truncated together with terminated when the limit coincides, and Reset restarts the count``
]
