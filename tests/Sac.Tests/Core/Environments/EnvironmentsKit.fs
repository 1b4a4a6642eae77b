/// What the environment tests share: stepping and resetting on arrays, seeded actions, tolerances and MultiGoal rollouts.
module EnvironmentsKit

open System
open FsCheck
open Sac.Core.Random
open Sac.Core.Environments

let near (what: string) (tol: float) (expected: float) (actual: float) =
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.12g, got %.12g (|diff| %.3g > %.3g)" what expected actual (Math.Abs(actual - expected)) tol

let step (env: IEnvironment) (action: float32[]) (obs: float32[]) =
    env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))

let reset (env: IEnvironment) (seed: uint64 option) (obs: float32[]) =
    env.Reset(Option.toNullable seed, Span<float32>(obs))

let obsFor (env: IEnvironment) = Array.zeroCreate<float32> env.ObservationSpace.Dimension

/// A deterministic action in [-1, 1]^n for step t of a run keyed by key (no clock, no System.Random).
let fillAction (key: PhiloxKey) (t: int) (action: float32[]) =
    for i in 0 .. action.Length - 1 do
        action.[i] <- 2.0f * Philox.Uniform(key, uint64 (t * action.Length + i)) - 1.0f

let fsCheckConfig = Config.QuickThrowOnFailure.WithMaxTest(100)

/// Mean return and per-goal counts of `episodes` MultiGoal episodes (reset seeds 0..) under `policy obs t action`.
let multiGoalRollouts (episodes: int) (policy: float32[] -> int -> float32[] -> unit) =
    let env = EnvironmentRegistry.Make "MultiGoal-v0"
    let mg = nonNull (MultiGoal.Find env)
    let obs = Array.zeroCreate<float32> 2
    let action = Array.zeroCreate<float32> 2
    let goals = Array.zeroCreate<int> 4
    let mutable total = 0.0
    let mutable t = 0
    for e in 0 .. episodes - 1 do
        env.Reset(Nullable(uint64 e), Span obs)
        let mutable r = StepResult()
        while not r.Done do
            policy obs t action
            t <- t + 1
            r <- step env action obs
            total <- total + float r.Reward
        if r.Terminated then goals.[mg.ReachedGoal.Value] <- goals.[mg.ReachedGoal.Value] + 1
    total / float episodes, goals

let randomPolicy (seed: uint64) =
    let key = PhiloxKey.FromSeed seed
    fun (_: float32[]) (t: int) (a: float32[]) ->
        for i in 0 .. a.Length - 1 do a.[i] <- 2.0f * Philox.Uniform(key, uint64 (t * a.Length + i)) - 1.0f
