/// The IEnvironment contract on every built-in environment: seeded resets, errors naming the id, and steps allocating nothing.
module IEnvironmentTests

open System
open Xunit
open Expecto
open Sac.Core.Random
open Sac.Core.Environments
open EnvironmentsKit

/// The environment an agent acts on: discrete-action environments take their indices natively, continuous ones act
/// in [-1, 1]^n through RescaleAction.
let private agentView (env: IEnvironment) : IEnvironment =
    if (DiscreteActions.TryGetActionCount env).HasValue then env else RescaleAction(env) :> IEnvironment

/// A deterministic action for step t that the agent view accepts: a uniform index for a discrete environment,
/// fillAction's [-1, 1]^n otherwise.
let private fillAgentAction (env: IEnvironment) (key: PhiloxKey) (t: int) (action: float32[]) =
    let count = DiscreteActions.TryGetActionCount env
    if count.HasValue then action.[0] <- float32 (Philox.UniformInt(key, uint64 t, count.Value))
    else fillAction key t action

let private trajectory (env: IEnvironment) (seed: uint64 option) (steps: int) =
    let obs = obsFor env
    let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
    let key = PhiloxKey.FromSeed 99UL
    reset env seed obs
    [ yield Array.copy obs
      for t in 0 .. steps - 1 do
          fillAgentAction env key t action
          let r = step env action obs
          yield Array.append obs [| r.Reward; (if r.Terminated then 1.0f else 0.0f) |] ]

let ``Same seed gives identical trajectories, different seeds different starts, and Reset(null) continues the stream`` = testCase "Same seed gives identical trajectories, different seeds different starts, and Reset(null) continues the stream" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let a = trajectory (agentView (EnvironmentRegistry.Make id)) (Some 42UL) 60
        let b = trajectory (agentView (EnvironmentRegistry.Make id)) (Some 42UL) 60
        Assert.Equal<float32[] list>(a, b)
        let starts = [ for s in 0UL .. 9UL -> (trajectory (EnvironmentRegistry.Make id) (Some s) 0).Head ]
        Assert.Equal(10, starts |> List.distinct |> List.length)
        // Seed then two unseeded resets: the two continue the stream (differ), and repeat after reseeding.
        let env = EnvironmentRegistry.Make id
        let run () =
            let o0, o1, o2 = obsFor env, obsFor env, obsFor env
            reset env (Some 7UL) o0
            reset env None o1
            reset env None o2
            o0, o1, o2
        let (x0, x1, x2), (y0, y1, y2) = run (), run ()
        Assert.NotEqual<float32[]>(x1, x2)
        Assert.NotEqual<float32[]>(x0, x1)
        Assert.Equal<float32[]>(x0, y0)
        Assert.Equal<float32[]>(x1, y1)
        Assert.Equal<float32[]>(x2, y2)
        // Never seeded: Reset(null) still works (entropy seed) and later resets continue from it.
        let fresh = EnvironmentRegistry.Make id
        let f1, f2 = obsFor fresh, obsFor fresh
        reset fresh None f1
        reset fresh None f2
        Assert.NotEqual<float32[]>(f1, f2)

let ``Bad inputs throw with the environment id in the message`` = testCase "Bad inputs throw with the environment id in the message" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let variants: IEnvironment list =
            [ EnvironmentRegistry.Make id; RescaleAction(EnvironmentRegistry.Make id)
              (match id with
               | "Pendulum-v1" -> Pendulum() :> IEnvironment
               | "MountainCarContinuous-v0" -> MountainCarContinuous()
               | "CartPole-v1" -> CartPole()
               | "MultiGoal-v0" -> MultiGoal()
               | "PointGoal-v0" -> PointGoal()
               | _ -> (EnvironmentRegistry.Make id :?> TimeLimit).Inner) ]
        for env in variants do
            let obs = obsFor env
            let act = Array.zeroCreate<float32> env.ActionSpace.Dimension
            let ex = Assert.Throws<InvalidOperationException>(fun () -> step env act obs |> ignore)
            Assert.Contains(id, ex.Message)
            let ex = Assert.Throws<ArgumentException>(fun () -> reset env (Some 0UL) (Array.zeroCreate (obs.Length + 1)))
            Assert.Contains(id, ex.Message)
            reset env (Some 0UL) obs
            let ex = Assert.Throws<ArgumentException>(fun () -> step env (Array.zeroCreate (act.Length + 1)) obs |> ignore)
            Assert.Contains(id, ex.Message)
            Assert.Contains("action", ex.Message)
            let ex = Assert.Throws<ArgumentException>(fun () -> step env act (Array.zeroCreate (obs.Length - 1)) |> ignore)
            Assert.Contains(id, ex.Message)
            Assert.Contains("observation", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> EnvironmentRegistry.Make "NoSuchEnv-v0" |> ignore)
    Assert.Contains("NoSuchEnv-v0", ex.Message)
    for id in EnvironmentRegistry.Ids do Assert.Contains(id, ex.Message)
    Assert.Equal<string list>(
        [ "Pendulum-v1"; "MountainCarContinuous-v0"; "PointGoal-v0"; "CartPole-v1"; "MultiGoal-v0"
          "HalfCheetah-v4"; "HalfCheetah-v5"; "Hopper-v4"; "Walker2d-v4"; "Ant-v4"; "Ant-v5"; "Humanoid-v4"; "Humanoid-v5" ],
        EnvironmentRegistry.Ids |> Seq.filter EnvironmentRegistry.IsBuiltIn |> List.ofSeq)

let ``Step allocates nothing for every environment through Make and RescaleAction`` = testCase "Step allocates nothing for every environment through Make and RescaleAction" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let env = agentView (EnvironmentRegistry.Make id)
        let obs = obsFor env
        let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
        let key = PhiloxKey.FromSeed 5UL
        let run n =
            for t in 0 .. n - 1 do
                fillAgentAction env key t action
                let r = env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))
                if r.Done then env.Reset(Nullable(), Span<float32>(obs))
        env.Reset(Nullable 1UL, Span<float32>(obs))
        run 2000 // warm up past tiered JIT
        let allocated = Allocation.leastAllocated (fun () -> run 1000)
        Assert.True((allocated = 0L), sprintf "%s: %d bytes allocated over 1000 steps" id allocated)

let tests = testList "IEnvironment" [
    ``Same seed gives identical trajectories, different seeds different starts, and Reset(null) continues the stream``
    ``Bad inputs throw with the environment id in the message``
    ``Step allocates nothing for every environment through Make and RescaleAction``
]
