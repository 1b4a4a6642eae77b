module EnvironmentCheckTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Random
open Sac.Core.Environments

// ---------- a fake environment that emits whatever a test asks for ----------

/// An environment whose observation element i after step t (t = 0: the reset) is observe t i and whose reward at step
/// t is reward t. It writes as many elements as the caller's span holds (it never checks the length, as a careless
/// environment would not), counts the steps it was given and keeps the last action.
type private FakeEnv(observationSize: int, actionSpace: Box, observe: int -> int -> float32, reward: int -> float32) =
    let mutable steps = 0
    let mutable lastAction: float32[] = [||]
    member _.InnerSteps = steps
    member _.LastAction = lastAction
    interface IEnvironment with
        member _.Id = "Fake-v0"
        member _.ObservationSpace = Box.Uniform(observationSize, -infinityf, infinityf)
        member _.ActionSpace = actionSpace
        member _.MaxEpisodeSteps = Nullable<int>()
        member _.Reset(_seed: Nullable<uint64>, observation: Span<float32>) =
            steps <- 0
            for i in 0 .. observation.Length - 1 do observation.[i] <- observe 0 i
        member _.Step(action: ReadOnlySpan<float32>, observation: Span<float32>) =
            steps <- steps + 1
            lastAction <- action.ToArray()
            for i in 0 .. observation.Length - 1 do observation.[i] <- observe steps i
            StepResult(reward steps, false, false)

let private fine (t: int) (i: int) = float32 t + 0.25f * float32 i

let private unitBox n = Box.Uniform(n, -1.0f, 1.0f)

let private expectCheck (f: unit -> unit) : EnvironmentCheckException =
    Assert.Throws<EnvironmentCheckException>(fun () -> f ())

let private sameFloat (expected: float) (actual: float) =
    (Double.IsNaN expected && Double.IsNaN actual) || expected = actual

let private nonFinite = Gen.elements [ nanf; infinityf; -infinityf ]

let private describe (v: float32) = if Single.IsNaN v then "NaN" elif v > 0.0f then "+inf" else "-inf"

let private config = Config.QuickThrowOnFailure.WithMaxTest(200)

// ---------- observations and rewards ----------

let ``A non-finite observation element raises with the environment, step, element and value`` =
    let gen =
        gen {
            let! dim = Gen.choose (1, 6)
            let! index = Gen.choose (0, dim - 1)
            let! badStep = Gen.choose (0, 40)
            let! bad = nonFinite
            return dim, index, badStep, bad
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "A non-finite observation element raises with the environment, step, element and value" (Prop.forAll (Arb.fromGen gen) (fun (dim, index, badStep, bad) ->
        let observe t i = if t = badStep && i = index then bad else fine t i
        let env = CheckedEnvironment(FakeEnv(dim, unitBox 1, observe, (fun _ -> 0.0f)))
        let obs = Array.zeroCreate<float32> dim
        let action = [| 0.5f |]
        let e =
            expectCheck (fun () ->
                env.Reset(Nullable 0UL, Span obs)
                for _ in 1 .. 100 do env.Step(ReadOnlySpan action, Span obs) |> ignore)
        Assert.Equal("Fake-v0", e.EnvironmentId)
        Assert.Equal(int64 badStep, e.Step)
        Assert.Equal((badStep = 0), e.AtReset)
        Assert.Equal("observation", e.Quantity)
        Assert.Equal(index, e.Index)
        Assert.True(sameFloat (float bad) e.Value, $"value {e.Value}, expected {bad}")
        let where = if badStep = 0 then "step 0 (reset)" else $"step {badStep}"
        Assert.Equal($"Fake-v0, {where}: observation[{index}] is {describe bad}", e.Message)))

let ``A non-finite reward raises with quantity reward and index -1`` =
    let gen = Gen.zip (Gen.choose (1, 40)) nonFinite
    testPropertyWithConfig (Properties.ofFsCheck config) "A non-finite reward raises with quantity reward and index -1" (Prop.forAll (Arb.fromGen gen) (fun (badStep, bad) ->
        let fake = FakeEnv(3, unitBox 2, fine, (fun t -> if t = badStep then bad else -float32 t))
        let env = CheckedEnvironment(fake)
        let obs = Array.zeroCreate<float32> 3
        let action = [| 0.0f; -1.0f |]
        env.Reset(Nullable(), Span obs)
        let e = expectCheck (fun () -> for _ in 1 .. 100 do env.Step(ReadOnlySpan action, Span obs) |> ignore)
        Assert.Equal(int64 badStep, e.Step)
        Assert.False(e.AtReset)
        Assert.Equal("reward", e.Quantity)
        Assert.Equal(-1, e.Index)
        Assert.True(sameFloat (float bad) e.Value)
        Assert.Equal($"Fake-v0, step {badStep}: reward is {describe bad}", e.Message)
        // The inner environment did take the step, so it counts.
        Assert.Equal(int64 badStep, env.StepCount)
        Assert.Equal(badStep, fake.InnerSteps)))

let ``An observation span of the wrong length raises before the inner environment sees it`` = testCase "An observation span of the wrong length raises before the inner environment sees it" <| fun () ->
    let fake = FakeEnv(3, unitBox 1, fine, (fun _ -> 1.0f))
    let env = CheckedEnvironment(fake)
    let e = expectCheck (fun () -> env.Reset(Nullable 1UL, Span(Array.zeroCreate<float32> 2)))
    Assert.Equal(("observation", -1, 2.0, true, 0L), (e.Quantity, e.Index, e.Value, e.AtReset, e.Step))
    Assert.Equal("Fake-v0, step 0 (reset): observation has length 2, but the observation space has dimension 3", e.Message)
    let obs = Array.zeroCreate<float32> 3
    env.Reset(Nullable 1UL, Span obs)
    env.Step(ReadOnlySpan [| 0.0f |], Span obs) |> ignore
    let e = expectCheck (fun () -> env.Step(ReadOnlySpan [| 0.0f |], Span(Array.zeroCreate<float32> 4)) |> ignore)
    Assert.Equal(("observation", -1, 4.0, false, 2L), (e.Quantity, e.Index, e.Value, e.AtReset, e.Step))
    Assert.Equal(1, fake.InnerSteps)
    Assert.Equal(1L, env.StepCount)

// ---------- actions ----------

/// The plain reference of the action check: the first component that is not finite or lies outside
/// [low - tol max(1, |low|), high + tol max(1, |high|)], computed in float64.
let private firstBadComponent (tol: float) (low: float32[]) (high: float32[]) (action: float32[]) =
    let mutable found = -1
    for i in action.Length - 1 .. -1 .. 0 do
        let x = float action.[i]
        let lo = float low.[i] - tol * max 1.0 (abs (float low.[i]))
        let hi = float high.[i] + tol * max 1.0 (abs (float high.[i]))
        if Double.IsNaN x || Double.IsInfinity x || x < lo || x > hi then found <- i
    found

/// A component near the box edges: well inside, within or beyond the tolerance past a bound, far beyond, or non-finite.
let private componentGen (lo: float32) (hi: float32) =
    let scale (b: float32) = max 1.0f (abs b)
    let tol = CheckedEnvironment.DefaultActionTolerance
    Gen.oneof
        [ Gen.choose (0, 1000) |> Gen.map (fun k -> lo + (hi - lo) * float32 k / 1000.0f)
          // Eighths of the tolerance past either bound: inside it up to 8/8, beyond it after.
          Gen.zip (Gen.choose (1, 24)) (Gen.elements [ true; false ])
          |> Gen.map (fun (k, up) ->
              let d = float32 k / 8.0f * tol
              if up then hi + d * scale hi else lo - d * scale lo)
          Gen.choose (1, 1000) |> Gen.map (fun k -> if k % 2 = 0 then hi + float32 k else lo - float32 k)
          nonFinite ]

let ``Actions are refused exactly where a plain reference check refuses them, before the inner step`` =
    let gen =
        gen {
            let! dim = Gen.choose (1, 4)
            let! bounds =
                Gen.arrayOfLength dim (Gen.zip (Gen.choose (-300, 100)) (Gen.choose (0, 300)))
            let low = bounds |> Array.map (fun (l, _) -> float32 l / 100.0f)
            let high = bounds |> Array.map (fun (l, w) -> float32 (l + w) / 100.0f)
            let! action = Array.init dim (fun i -> componentGen low.[i] high.[i]) |> Gen.sequenceToArray
            return low, high, action
        }
    testPropertyWithConfig (Properties.ofFsCheck (config.WithMaxTest(500))) "Actions are refused exactly where a plain reference check refuses them, before the inner step" (Prop.forAll (Arb.fromGen gen) (fun (low, high, action) ->
        let fake = FakeEnv(2, Box(low, high), fine, (fun _ -> 0.0f))
        let env = CheckedEnvironment(fake)
        let obs = Array.zeroCreate<float32> 2
        env.Reset(Nullable(), Span obs)
        let expected = firstBadComponent (float CheckedEnvironment.DefaultActionTolerance) low high action
        if expected < 0 then
            env.Step(ReadOnlySpan action, Span obs) |> ignore
            Assert.Equal(1, fake.InnerSteps)
            // Passed on bit for bit.
            Assert.Equal<int[]>(Array.map BitConverter.SingleToInt32Bits action, Array.map BitConverter.SingleToInt32Bits fake.LastAction)
        else
            let e = expectCheck (fun () -> env.Step(ReadOnlySpan action, Span obs) |> ignore)
            Assert.Equal(("action", expected, 1L, false), (e.Quantity, e.Index, e.Step, e.AtReset))
            Assert.True(sameFloat (float action.[expected]) e.Value)
            Assert.StartsWith($"Fake-v0, step 1: action[{expected}] ", e.Message)
            Assert.Equal(0, fake.InnerSteps)
            Assert.Equal(0L, env.StepCount)))

let ``Action messages name the value and the bounds, and a wrong length names the dimension`` = testCase "Action messages name the value and the bounds, and a wrong length names the dimension" <| fun () ->
    let env = EnvironmentRegistry.MakeChecked "Pendulum-v1"
    let obs = Array.zeroCreate<float32> 3
    env.Reset(Nullable 3UL, Span obs)
    for _ in 1 .. 5 do env.Step(ReadOnlySpan [| 1.5f |], Span obs) |> ignore
    let e = expectCheck (fun () -> env.Step(ReadOnlySpan [| 2.5f |], Span obs) |> ignore)
    Assert.Equal("Pendulum-v1, step 6: action[0] = 2.5 is outside the action space [-2, 2]", e.Message)
    Assert.Equal(("Pendulum-v1", 6L, "action", 0, 2.5), (e.EnvironmentId, e.Step, e.Quantity, e.Index, e.Value))
    let e = expectCheck (fun () -> env.Step(ReadOnlySpan [| 0.0f; 0.0f |], Span obs) |> ignore)
    Assert.Equal("Pendulum-v1, step 6: action has length 2, but the action space has dimension 1", e.Message)
    Assert.Equal(("action", -1, 2.0), (e.Quantity, e.Index, e.Value))
    let e = expectCheck (fun () -> env.Step(ReadOnlySpan [| nanf |], Span obs) |> ignore)
    Assert.Equal("Pendulum-v1, step 6: action[0] is NaN", e.Message)
    // Nothing refused was counted: the next good step is step 6.
    env.Step(ReadOnlySpan [| 2.0f |], Span obs) |> ignore
    Assert.Equal(6L, env.StepCount)

let ``The tolerance is relative to the bound and zero tolerance checks the exact box`` = testCase "The tolerance is relative to the bound and zero tolerance checks the exact box" <| fun () ->
    let fake = FakeEnv(1, Box([| -1000.0f |], [| 1.0f |]), fine, (fun _ -> 0.0f))
    let obs = [| 0.0f |]
    let env = CheckedEnvironment(fake)
    env.Reset(Nullable(), Span obs)
    // 1000 * 1e-5 = 0.01 of slack below -1000, but only 1e-5 above 1.
    env.Step(ReadOnlySpan [| -1000.005f |], Span obs) |> ignore
    env.Step(ReadOnlySpan [| 1.000005f |], Span obs) |> ignore
    expectCheck (fun () -> env.Step(ReadOnlySpan [| -1000.02f |], Span obs) |> ignore) |> ignore
    expectCheck (fun () -> env.Step(ReadOnlySpan [| 1.00002f |], Span obs) |> ignore) |> ignore
    let exact = CheckedEnvironment(fake, 0.0f)
    exact.Reset(Nullable(), Span obs)
    exact.Step(ReadOnlySpan [| 1.0f |], Span obs) |> ignore
    let e = expectCheck (fun () -> exact.Step(ReadOnlySpan [| MathF.BitIncrement 1.0f |], Span obs) |> ignore)
    Assert.Equal(0, e.Index)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> CheckedEnvironment(fake, -1e-3f) |> ignore) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> CheckedEnvironment(fake, nanf) |> ignore) |> ignore
    Assert.Throws<ArgumentNullException>(fun () -> CheckedEnvironment(Unchecked.defaultof<IEnvironment>) |> ignore) |> ignore

let ``CartPole's action index must be 0 or 1, and the checked environment stays discrete`` = testCase "CartPole's action index must be 0 or 1, and the checked environment stays discrete" <| fun () ->
    let env = EnvironmentRegistry.MakeChecked "CartPole-v1"
    Assert.Equal(Nullable 2, DiscreteActions.TryGetActionCount env)
    Assert.Equal(2, DiscreteActions.ActionCount env)
    let obs = Array.zeroCreate<float32> 4
    env.Reset(Nullable 0UL, Span obs)
    env.Step(ReadOnlySpan [| 0.0f |], Span obs) |> ignore
    env.Step(ReadOnlySpan [| 1.0f |], Span obs) |> ignore
    for bad in [ 2.0f; -1.0f; 0.5f; MathF.BitIncrement 0.0f; nanf; infinityf ] do
        let e = expectCheck (fun () -> env.Step(ReadOnlySpan [| bad |], Span obs) |> ignore)
        Assert.Equal(("CartPole-v1", 3L, "action", 0), (e.EnvironmentId, e.Step, e.Quantity, e.Index))
        Assert.True(sameFloat (float bad) e.Value)
    let e = expectCheck (fun () -> env.Step(ReadOnlySpan [| 2.0f |], Span obs) |> ignore)
    Assert.Equal("CartPole-v1, step 3: action[0] = 2 is not an action index (an integer in 0..1)", e.Message)
    Assert.Equal(2L, env.StepCount)

let ``MakeChecked wraps the registered environment with its spaces and limit`` = testCase "MakeChecked wraps the registered environment with its spaces and limit" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        let plain = EnvironmentRegistry.Make id
        let env = EnvironmentRegistry.MakeChecked id
        Assert.Equal(id, env.Id)
        Assert.Equal(plain.ObservationSpace, env.ObservationSpace)
        Assert.Equal(plain.ActionSpace, env.ActionSpace)
        Assert.Equal(plain.MaxEpisodeSteps, env.MaxEpisodeSteps)
        Assert.IsType<TimeLimit>(env.Inner) |> ignore
    Assert.Throws<ArgumentException>(fun () -> EnvironmentRegistry.MakeChecked "Nope-v0" |> ignore) |> ignore

// ---------- valid environments pass through unchanged ----------

/// The view an agent acts through: native indices for a discrete environment, [-1, 1]^n through RescaleAction
/// otherwise; checked or not.
let private view (id: string) (checkedView: bool) : IEnvironment =
    let env = EnvironmentRegistry.Make id
    let acting = if (DiscreteActions.TryGetActionCount env).HasValue then env else RescaleAction(env) :> IEnvironment
    if checkedView then CheckedEnvironment(acting) :> IEnvironment else acting

let private fillAction (env: IEnvironment) (key: PhiloxKey) (t: int) (action: float32[]) =
    let count = DiscreteActions.TryGetActionCount env
    if count.HasValue then action.[0] <- float32 (Philox.UniformInt(key, uint64 t, count.Value))
    else
        for i in 0 .. action.Length - 1 do
            action.[i] <- 2.0f * Philox.Uniform(key, uint64 (t * action.Length + i)) - 1.0f

let ``Valid environments pass through bit for bit over thousands of random steps`` =
    let gen = Gen.zip (Gen.elements (TestProviders.availableEnvironmentIds ())) (Gen.choose (0, Int32.MaxValue))
    testPropertyWithConfig (Properties.ofFsCheck (Config.QuickThrowOnFailure.WithMaxTest(25))) "Valid environments pass through bit for bit over thousands of random steps" (Prop.forAll (Arb.fromGen gen) (fun (id, seed) ->
        let plain = view id false
        let checkedEnv = view id true
        let o = plain.ObservationSpace.Dimension
        let obsA, obsB = Array.zeroCreate<float32> o, Array.zeroCreate<float32> o
        let action = Array.zeroCreate<float32> plain.ActionSpace.Dimension
        let key = PhiloxKey.FromSeed(uint64 seed)
        let bits (x: float32[]) = Array.map BitConverter.SingleToInt32Bits x
        plain.Reset(Nullable(uint64 seed), Span obsA)
        checkedEnv.Reset(Nullable(uint64 seed), Span obsB)
        Assert.Equal<int[]>(bits obsA, bits obsB)
        for t in 0 .. 1999 do
            fillAction plain key t action
            let ra = plain.Step(ReadOnlySpan action, Span obsA)
            let rb = checkedEnv.Step(ReadOnlySpan action, Span obsB)
            if bits obsA <> bits obsB || BitConverter.SingleToInt32Bits ra.Reward <> BitConverter.SingleToInt32Bits rb.Reward
               || ra.Terminated <> rb.Terminated || ra.Truncated <> rb.Truncated then
                failwithf "%s seed %d step %d: %A %A vs %A %A" id seed t obsA ra obsB rb
            if ra.Done then
                plain.Reset(Nullable(), Span obsA)
                checkedEnv.Reset(Nullable(), Span obsB)
                Assert.Equal<int[]>(bits obsA, bits obsB)
        Assert.Equal(2000L, (checkedEnv :?> CheckedEnvironment).StepCount)))

let ``Checked steps allocate nothing for every registered environment`` = testCase "Checked steps allocate nothing for every registered environment" <| fun () ->
    for id in TestProviders.availableEnvironmentIds () do
        for env in [ view id true; EnvironmentRegistry.MakeChecked id :> IEnvironment ] do
            let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
            let action = Array.zeroCreate<float32> env.ActionSpace.Dimension
            let key = PhiloxKey.FromSeed 11UL
            // Native actions for the unrescaled continuous view: the middle of the box is always valid.
            let native = not (env :? CheckedEnvironment && ((env :?> CheckedEnvironment).Inner :? RescaleAction))
                         && not (DiscreteActions.TryGetActionCount env).HasValue
            let run n =
                for t in 0 .. n - 1 do
                    if native then
                        for i in 0 .. action.Length - 1 do
                            action.[i] <- 0.5f * (env.ActionSpace.Low.[i] + env.ActionSpace.High.[i])
                    else fillAction env key t action
                    let r = env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))
                    if r.Done then env.Reset(Nullable(), Span<float32>(obs))
            env.Reset(Nullable 1UL, Span<float32>(obs))
            run 2000 // warm up past tiered JIT
            let before = GC.GetAllocatedBytesForCurrentThread()
            run 1000
            let allocated = GC.GetAllocatedBytesForCurrentThread() - before
            Assert.True((allocated = 0L), sprintf "%s: %d bytes allocated over 1000 checked steps" id allocated)

let tests = testList "EnvironmentChecks" [
    ``A non-finite observation element raises with the environment, step, element and value``
    ``A non-finite reward raises with quantity reward and index -1``
    ``An observation span of the wrong length raises before the inner environment sees it``
    ``Actions are refused exactly where a plain reference check refuses them, before the inner step``
    ``Action messages name the value and the bounds, and a wrong length names the dimension``
    ``The tolerance is relative to the bound and zero tolerance checks the exact box``
    ``CartPole's action index must be 0 or 1, and the checked environment stays discrete``
    ``MakeChecked wraps the registered environment with its spaces and limit``
    ``Valid environments pass through bit for bit over thousands of random steps``
    ``Checked steps allocate nothing for every registered environment``
]
