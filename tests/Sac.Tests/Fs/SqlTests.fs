module SqlTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs

// ---------- helpers ----------

let private gemm = ReferenceGemm.Instance :> IGemm
let private fsConfig = Config.QuickThrowOnFailure.WithMaxTest(100)

let private near (what: string) (tol: float) (expected: float) (actual: float) =
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.9g, got %.9g (|diff| %.3g > %.3g)" what expected actual (Math.Abs(actual - expected)) tol

/// The worst relative error of `grad` against central differences of `f` at `theta0` over every coordinate, each taken at
/// the best of a few step sizes: a ReLU kink within +-h of a pre-activation spoils the difference at that h only.
let private worstGradientError (f: float32[] -> float) (theta0: float32[]) (grad: float32[]) =
    let mutable worst = 0.0
    for i in 0 .. theta0.Length - 1 do
        let errorAt (h: float32) =
            let plus, minus = Array.copy theta0, Array.copy theta0
            plus.[i] <- plus.[i] + h
            minus.[i] <- minus.[i] - h
            let fd = (f plus - f minus) / (float plus.[i] - float minus.[i])
            abs (fd - float grad.[i]) / max 0.05 (abs fd)
        worst <- max worst ([ 3e-3f; 1e-3f; 3e-4f ] |> List.map errorAt |> List.min)
    worst

/// A fresh directory under the system temp folder, deleted when disposed.
type private TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "sac-sql-tests-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() = try Directory.Delete(path, true) with _ -> ()

let private step (env: IEnvironment) (action: float32[]) (obs: float32[]) =
    env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))

/// A small learner: |S| = 2, |A| = 2, hidden [8, 8], batch 5, 4 value samples, 3 fixed and 3 updated particles.
let private smallConfigWith (squash: bool) (tau: float32) (interval: int) =
    SqlConfig(HiddenSizes = [| 8; 8 |], SamplerHiddenSizes = [| 8; 8 |], BatchSize = 5, BufferSize = 100, ValueParticles = 4,
              KernelParticles = 6, TargetUpdateInterval = interval, Tau = tau, SquashCorrection = squash, Alpha = 0.7f, Seed = 3UL)

let private smallConfig () = smallConfigWith true 1.0f 3

/// A batch of random MultiGoal-like transitions (every third one terminated).
let private randomBatch (b: int) o a seed =
    let batch = Batch(b, o, a)
    let key = PhiloxKey.FromSeed seed
    Philox.FillNormal(key, 0UL, Span batch.Observations)
    Philox.FillNormal(key, 1000UL, Span batch.NextObservations)
    Philox.FillUniform(key, 2000UL, Span batch.Actions)
    for i in 0 .. batch.Actions.Length - 1 do batch.Actions.[i] <- 2.0f * batch.Actions.[i] - 1.0f
    Philox.FillNormal(key, 3000UL, Span batch.Rewards)
    for i in 0 .. b - 1 do batch.Terminated.[i] <- (if i % 3 = 0 then 1.0f else 0.0f)
    batch

let private setup (cfg: SqlConfig) =
    let ctx = SqlContext(cfg, 2, 2, gemm)
    ctx, SoftQLearning.init ctx 11UL, randomBatch cfg.BatchSize 2 2 7UL

/// Mean return and per-goal counts of `episodes` MultiGoal episodes (reset seeds 0..) under `policy obs t action`.
let private multiGoalRollouts (episodes: int) (policy: float32[] -> int -> float32[] -> unit) =
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

let private randomPolicy (seed: uint64) =
    let key = PhiloxKey.FromSeed seed
    fun (_: float32[]) (t: int) (a: float32[]) ->
        for i in 0 .. a.Length - 1 do a.[i] <- 2.0f * Philox.Uniform(key, uint64 (t * a.Length + i)) - 1.0f

// ---------- MultiGoal ----------

let ``MultiGoal step follows the reference dynamics and reward`` = testCase "MultiGoal step follows the reference dynamics and reward" <| fun () ->
    let env = MultiGoal()
    let obs = Array.zeroCreate<float32> 2
    // Not terminal: p' = (1, 0.5); nearest goal (5, 0) at squared distance 16.25; r = -30 * 1.25 - 16.25.
    env.SetState(0.0, 0.0, Span obs)
    let r = step env [| 1.0f; 0.5f |] obs
    Assert.Equal<float32[]>([| 1.0f; 0.5f |], obs)
    near "reward" 1e-4 -53.75 (float r.Reward)
    Assert.False(r.Terminated || r.Truncated)
    Assert.False(env.ReachedGoal.HasValue)
    // Clipped action (0.5, -2) -> (0.5, -1): p' = (4.7, -0.7), |p' - (5, 0)| = sqrt 0.58 < 1: terminal at goal 0.
    env.SetState(4.2, 0.3, Span obs)
    let r = step env [| 0.5f; -2.0f |] obs
    near "x" 1e-12 4.7 env.X
    near "y" 1e-12 -0.7 env.Y
    near "terminal reward" 1e-4 (-30.0 * 1.25 - 0.58 + 10.0) (float r.Reward)
    Assert.True(r.Terminated)
    Assert.Equal(Nullable 0, env.ReachedGoal)
    // The arena clips positions to [-7, 7].
    env.SetState(6.8, 0.0, Span obs)
    let r = step env [| 1.0f; 0.0f |] obs
    near "clipped x" 0.0 7.0 env.X
    near "clipped reward" 1e-4 (-30.0 - 4.0) (float r.Reward)
    // The threshold is strict: ending exactly at distance 1 does not terminate.
    env.SetState(3.0, 0.0, Span obs)
    let r = step env [| 1.0f; 0.0f |] obs
    Assert.False(r.Terminated)
    near "reward at distance 1" 1e-4 (-30.0 - 1.0) (float r.Reward)

let ``MultiGoal detects each of its four goals`` = testCase "MultiGoal detects each of its four goals" <| fun () ->
    let env = MultiGoal()
    let obs = Array.zeroCreate<float32> 2
    Assert.Equal(4, MultiGoal.GoalCount)
    for g in 0 .. MultiGoal.GoalCount - 1 do
        let struct (gx, gy) = MultiGoal.Goal g
        Assert.Equal(5.0, sqrt (gx * gx + gy * gy))
        // Start 1.4 short of the goal on the ray from the origin, move 1 toward it: 0.4 away.
        env.SetState(gx * 0.72, gy * 0.72, Span obs)
        let r = step env [| float32 (gx / 5.0); float32 (gy / 5.0) |] obs
        Assert.True(r.Terminated, sprintf "goal %d" g)
        Assert.Equal(Nullable g, env.ReachedGoal)
        near (sprintf "goal %d reward" g) 1e-4 (-30.0 - 0.16 + 10.0) (float r.Reward)
        // A reset forgets the goal.
        env.Reset(Nullable 1UL, Span obs)
        Assert.False(env.ReachedGoal.HasValue)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> MultiGoal.Goal 4 |> ignore) |> ignore

let ``MultiGoal starts near the origin, is deterministic by seed, and is found through wrappers`` = testCase "MultiGoal starts near the origin, is deterministic by seed, and is found through wrappers" <| fun () ->
    let run seed =
        let env = RescaleAction(EnvironmentRegistry.Make "MultiGoal-v0")
        let obs = Array.zeroCreate<float32> 2
        env.Reset(Nullable seed, Span obs)
        let key = PhiloxKey.FromSeed 9UL
        [ yield Array.copy obs
          for t in 0 .. 40 do
              let a = [| 2.0f * Philox.Uniform(key, uint64 (2 * t)) - 1.0f; 2.0f * Philox.Uniform(key, uint64 (2 * t + 1)) - 1.0f |]
              let r = step env a obs
              yield Array.append obs [| r.Reward; (if r.Terminated then 1.0f else 0.0f); (if r.Truncated then 1.0f else 0.0f) |] ]
    Assert.Equal<float32[] list>(run 42UL, run 42UL)
    Assert.NotEqual<float32[] list>(run 42UL, run 43UL)
    let env = EnvironmentRegistry.Make "MultiGoal-v0"
    Assert.Equal(Nullable 30, env.MaxEpisodeSteps)
    let mg = MultiGoal.Find(RescaleAction env)
    Assert.NotNull(mg)
    Assert.Null(MultiGoal.Find(EnvironmentRegistry.Make "PointGoal-v0"))
    let obs = Array.zeroCreate<float32> 2
    let mutable sumSq = 0.0
    for s in 0UL .. 999UL do
        env.Reset(Nullable s, Span obs)
        Assert.True(abs obs.[0] < 0.6f && abs obs.[1] < 0.6f, sprintf "start %A" obs)
        sumSq <- sumSq + float (obs.[0] * obs.[0] + obs.[1] * obs.[1])
    // E|p0|^2 = 2 sigma^2 = 0.02.
    near "start spread" 0.003 0.02 (sumSq / 1000.0)

let ``MultiGoal random, still and straight policies score as documented`` = testCase "MultiGoal random, still and straight policies score as documented" <| fun () ->
    let randomMean, randomGoals = multiGoalRollouts 1000 (randomPolicy 2024UL)
    let stillMean, stillGoals = multiGoalRollouts 1000 (fun _ _ a -> a.[0] <- 0.0f; a.[1] <- 0.0f)
    let straightMean, straightGoals = multiGoalRollouts 1000 (fun _ _ a -> a.[0] <- 1.0f; a.[1] <- 0.0f)
    Console.WriteLine(sprintf "MultiGoal-v0 over 1000 episodes: random %.1f %A, still %.1f, straight %.1f %A"
                          randomMean randomGoals stillMean straightMean straightGoals)
    Assert.InRange(randomMean, -950.0, -750.0)
    Assert.InRange(Array.sum randomGoals, 200, 400)
    Assert.True(randomGoals |> Array.forall (fun n -> n > 40))
    Assert.InRange(stillMean, -730.0, -700.0)
    Assert.Equal(0, Array.sum stillGoals)
    Assert.InRange(straightMean, -170.0, -140.0)
    Assert.Equal<int[]>([| 1000; 0; 0; 0 |], straightGoals)

let ``MultiGoal steps allocate nothing`` = testCase "MultiGoal steps allocate nothing" <| fun () ->
    let env = RescaleAction(EnvironmentRegistry.Make "MultiGoal-v0")
    let obs = Array.zeroCreate<float32> 2
    let action = Array.zeroCreate<float32> 2
    let key = PhiloxKey.FromSeed 5UL
    let run n =
        for t in 0 .. n - 1 do
            action.[0] <- 2.0f * Philox.Uniform(key, uint64 (2 * t)) - 1.0f
            action.[1] <- 2.0f * Philox.Uniform(key, uint64 (2 * t + 1)) - 1.0f
            let r = env.Step(ReadOnlySpan<float32>(action), Span<float32>(obs))
            if r.Done then env.Reset(Nullable(), Span<float32>(obs))
    env.Reset(Nullable 1UL, Span<float32>(obs))
    run 2000
    let before = GC.GetAllocatedBytesForCurrentThread()
    run 1000
    Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)

// ---------- SqlConfig ----------

let ``SqlConfig has the reference MultiGoal defaults and validates every field by name`` = testCase "SqlConfig has the reference MultiGoal defaults and validates every field by name" <| fun () ->
    let c = SqlConfig()
    Assert.Empty(c.Validate())
    Assert.Equal(3e-4f, c.QLearningRate)
    Assert.Equal(64, c.BatchSize)
    Assert.Equal(16, c.ValueParticles)
    Assert.Equal(32, c.KernelParticles)
    Assert.Equal(16, c.FixedParticles)
    Assert.Equal(16, c.UpdatedParticles)
    Assert.Equal(0.1f, c.RewardScale)
    Assert.Equal(1000, c.TargetUpdateInterval)
    Assert.Equal<int seq>([ 128; 128 ], c.HiddenSizes)
    let bad (f: unit -> SqlConfig) (field: string) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Contains(field, ex.Message)
    bad (fun () -> SqlConfig(QLearningRate = 0.0f)) "QLearningRate"
    bad (fun () -> SqlConfig(SamplerLearningRate = nanf)) "SamplerLearningRate"
    bad (fun () -> SqlConfig(Alpha = -1.0f)) "Alpha"
    bad (fun () -> SqlConfig(RewardScale = infinityf)) "RewardScale"
    bad (fun () -> SqlConfig(Tau = 0.0f)) "Tau"
    bad (fun () -> SqlConfig(ValueParticles = 0)) "ValueParticles"
    bad (fun () -> SqlConfig(KernelParticles = 1)) "KernelParticles"
    bad (fun () -> SqlConfig(KernelUpdateRatio = 1.0f)) "KernelUpdateRatio"
    bad (fun () -> SqlConfig(SamplerHiddenSizes = [||])) "SamplerHiddenSizes"
    bad (fun () -> SqlConfig(Gamma = 1.5f)) "Gamma"
    // Rules between fields: reported all at once by Validate, thrown by ThrowIfInvalid and by the context.
    let c = SqlConfig(BatchSize = 200, BufferSize = 100, KernelParticles = 3, KernelUpdateRatio = 0.2f)
    let problems = c.Validate()
    Assert.Equal(2, problems.Count)
    Assert.Contains("BatchSize", problems.[0])
    Assert.Contains("KernelUpdateRatio", problems.[1])
    Assert.ThrowsAny<ArgumentException>(fun () -> SqlContext(c, 2, 2, gemm) |> ignore) |> ignore
    Assert.Equal(SqlConfig(HiddenSizes = [| 4; 4 |]), SqlConfig(HiddenSizes = [| 4; 4 |]))

// ---------- soft value by importance sampling ----------

/// alpha log ∫_{-1}^{1} exp(Q(a)/alpha) da by composite Simpson's rule in float64.
let private integralValue (alpha: float) (q: float -> float) =
    let n = 20000
    let h = 2.0 / float n
    let f k = Math.Exp(q (-1.0 + float k * h) / alpha)
    let mutable s = f 0 + f n
    for k in 1 .. n - 1 do s <- s + (if k % 2 = 1 then 4.0 else 2.0) * f k
    alpha * Math.Log(s * h / 3.0)

let private testQ (a: float) = 1.5 * Math.Sin(3.0 * a) + 0.5 * a

/// One importance-sampled estimate with m uniform samples from draw `draw` of the key.
let private sampledValue (alpha: float32) (m: int) (key: PhiloxKey) (draw: uint64) =
    let u = Array.zeroCreate<float32> m
    Philox.FillUniform(key, draw * uint64 m, Span u)
    let q = u |> Array.map (fun x -> float32 (testQ (2.0 * float x - 1.0)))
    let v = Array.zeroCreate<float32> 1
    SoftQLearning.importanceSoftValue alpha 1 1 m (ReadOnlySpan q) (Span v)
    float v.[0]

let ``the importance-sampled soft value matches the numerical integral in 1-D`` = testCase "the importance-sampled soft value matches the numerical integral in 1-D" <| fun () ->
    let alpha = 0.4f
    let exact = integralValue (float alpha) testQ
    let estimate = sampledValue alpha 200_000 (PhiloxKey.FromSeed 1UL) 0UL
    near "V with 200000 samples" 0.01 exact estimate
    // A constant Q = c gives V = c + alpha |A| log 2 exactly (the box has volume 2^|A|), for every M.
    let v = Array.zeroCreate<float32> 2
    SoftQLearning.importanceSoftValue 0.5f 3 2 4 (ReadOnlySpan(Array.create 8 1.25f)) (Span v)
    near "constant Q" 1e-6 (1.25 + 0.5 * 3.0 * Math.Log 2.0) (float v.[0])
    near "constant Q, second row" 1e-6 (float v.[0]) (float v.[1])

let ``the sampled soft value rises toward the integral as M grows, from below (Jensen)`` = testCase "the sampled soft value rises toward the integral as M grows, from below (Jensen)" <| fun () ->
    let alpha = 0.4f
    let exact = integralValue (float alpha) testQ
    let key = PhiloxKey.FromSeed 2UL
    let meanOver (m: int) = Array.init 400 (fun r -> sampledValue alpha m key (uint64 r)) |> Array.average
    let v2, v8, v64, v1024 = meanOver 2, meanOver 8, meanOver 64, meanOver 1024
    Console.WriteLine(sprintf "soft value: exact %.4f; mean estimate M=2 %.4f, 8 %.4f, 64 %.4f, 1024 %.4f" exact v2 v8 v64 v1024)
    Assert.True(v2 < v8 && v8 < v64, sprintf "not increasing: %g %g %g" v2 v8 v64)
    Assert.True(v64 < exact, sprintf "M = 64 mean %g above the integral %g" v64 exact)
    near "M = 1024" 0.01 exact v1024

let ``the sampled soft value lies between max Q plus the sampling bounds`` =
    let gen = gen {
        let! m = Gen.choose (1, 40)
        let! a = Gen.choose (1, 4)
        let! alpha = Gen.elements [ 0.05f; 0.3f; 1.0f; 4.0f ]
        let! qs = Gen.arrayOfLength m (Gen.choose (-10000, 10000) |> Gen.map (fun k -> float32 k / 1000.0f))
        return m, a, alpha, qs }
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the sampled soft value lies between max Q plus the sampling bounds" (Prop.forAll (Arb.fromGen gen) (fun (m, a, alpha, qs) ->
        let v = Array.zeroCreate<float32> 1
        SoftQLearning.importanceSoftValue alpha a 1 m (ReadOnlySpan qs) (Span v)
        let mx = float (Array.max qs)
        let logBox = float a * Math.Log 2.0
        let lo = mx + float alpha * (logBox - Math.Log(float m))
        let hi = mx + float alpha * logBox
        let tol = 1e-5 * (1.0 + abs mx)
        float v.[0] >= lo - tol && float v.[0] <= hi + tol))

let ``Q targets bootstrap unless terminated, and a terminal target is the scaled reward alone`` = testCase "Q targets bootstrap unless terminated, and a terminal target is the scaled reward alone" <| fun () ->
    let rewards = [| 2.0f; -1.0f; 3.0f; 0.5f |]
    let terminated = [| 1.0f; 0.0f; 1.0f; 0.0f |]
    let values = [| nanf; 4.0f; 1e30f; -2.0f |]
    let y = Array.zeroCreate<float32> 4
    SoftQLearning.qTargets 0.9f 0.1f 4 (ReadOnlySpan rewards, ReadOnlySpan terminated, ReadOnlySpan values, Span y)
    Assert.Equal(0.2f, y.[0])
    Assert.Equal(0.1f * -1.0f + 0.9f * 4.0f, y.[1])
    Assert.Equal(0.3f, y.[2])
    Assert.Equal(0.1f * 0.5f + 0.9f * -2.0f, y.[3])

let ``soft targets come from the target network and every terminated row gets y = r_scale r`` = testCase "soft targets come from the target network and every terminated row gets y = r_scale r" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    // Make the online Q differ from the target: the targets must not depend on it.
    for i in 0 .. state.Q.Length - 1 do state.Q.[i] <- state.Q.[i] + 0.5f
    let key = PhiloxKey.FromSeed 4UL
    SoftQLearning.softTargets ctx batch key state
    let y1 = Array.copy ctx.Workspace.Targets
    for i in 0 .. state.Q.Length - 1 do state.Q.[i] <- state.Q.[i] - 1.0f
    SoftQLearning.softTargets ctx batch key state
    Assert.Equal<float32[]>(y1, ctx.Workspace.Targets)
    for i in 0 .. batch.Size - 1 do
        if batch.Terminated.[i] = 1.0f then Assert.Equal(cfg.RewardScale * batch.Rewards.[i], y1.[i])
        else Assert.NotEqual(cfg.RewardScale * batch.Rewards.[i], y1.[i])

// ---------- kernel and SVGD ----------

let private particles (seed: uint64) (n: int) =
    let x = Array.zeroCreate<float32> n
    Philox.FillUniform(PhiloxKey.FromSeed seed, 0UL, Span x)
    x |> Array.map (fun u -> 1.8f * u - 0.9f)

let ``the RBF kernel gradient matches finite differences`` =
    let gen = gen {
        let! kf = Gen.choose (1, 5)
        let! ku = Gen.choose (1, 5)
        let! dim = Gen.choose (1, 3)
        let! seed = Gen.choose (0, 100000)
        let! h = Gen.elements [ 0.05f; 0.3f; 1.0f ]
        return kf, ku, dim, uint64 seed, h }
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the RBF kernel gradient matches finite differences" (Prop.forAll (Arb.fromGen gen) (fun (kf, ku, dim, seed, h) ->
        let x = particles seed (kf * dim)
        let y = particles (seed + 7919UL) (ku * dim)
        let kernelOf (x: float32[]) =
            let d2 = Array.zeroCreate<float32> (kf * ku)
            let k = Array.zeroCreate<float32> (kf * ku)
            let g = Array.zeroCreate<float32> (kf * ku * dim)
            Svgd.squaredDistances kf ku dim (ReadOnlySpan x, ReadOnlySpan y, Span d2)
            Svgd.rbfKernel h kf ku dim (ReadOnlySpan x, ReadOnlySpan y, ReadOnlySpan d2, Span k, Span g)
            k, g
        let k, g = kernelOf x
        let step = 1e-3f
        let mutable ok = true
        for j in 0 .. kf - 1 do
            for i in 0 .. ku - 1 do
                // The value itself, against float64.
                let mutable s = 0.0
                for d in 0 .. dim - 1 do
                    let diff = float x.[j * dim + d] - float y.[i * dim + d]
                    s <- s + diff * diff
                if abs (float k.[j * ku + i] - Math.Exp(-s / float h)) > 1e-5 then ok <- false
                for d in 0 .. dim - 1 do
                    let plus, minus = Array.copy x, Array.copy x
                    plus.[j * dim + d] <- plus.[j * dim + d] + step
                    minus.[j * dim + d] <- minus.[j * dim + d] - step
                    let kp, _ = kernelOf plus
                    let km, _ = kernelOf minus
                    let fd = (float kp.[j * ku + i] - float km.[j * ku + i]) / (2.0 * float step)
                    let an = float g.[(j * ku + i) * dim + d]
                    if abs (fd - an) > 2e-3 + 2e-3 * abs an then ok <- false
        ok))

/// SVGD directions in float64 with plain loops: the median heuristic and eq. 13 written out.
let private referenceDirections (kf: int) (ku: int) (dim: int) (hMin: float) (x: float32[]) (y: float32[]) (scores: float32[]) =
    let d2 = Array.init (kf * ku) (fun p ->
        let j, i = p / ku, p % ku
        Seq.sum (seq { for d in 0 .. dim - 1 -> (float x.[j * dim + d] - float y.[i * dim + d]) ** 2.0 }))
    let sorted = Array.sort d2
    let n = sorted.Length
    let median = if n % 2 = 1 then sorted.[n / 2] else 0.5 * (sorted.[n / 2 - 1] + sorted.[n / 2])
    let h = max (median / Math.Log(float kf + 1.0)) hMin
    let out = Array.zeroCreate<float> (ku * dim)
    for i in 0 .. ku - 1 do
        for d in 0 .. dim - 1 do
            let mutable s = 0.0
            for j in 0 .. kf - 1 do
                let k = Math.Exp(-d2.[j * ku + i] / h)
                s <- s + k * float scores.[j * dim + d] + (-2.0 * (float x.[j * dim + d] - float y.[i * dim + d]) / h) * k
            out.[i * dim + d] <- s / float kf
    out, h

let ``the SVGD direction matches a plain reference implementation on random particles`` =
    let gen = gen {
        let! kf = Gen.choose (1, 8)
        let! ku = Gen.choose (1, 8)
        let! dim = Gen.choose (1, 4)
        let! seed = Gen.choose (0, 100000)
        return kf, ku, dim, uint64 seed }
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the SVGD direction matches a plain reference implementation on random particles" (Prop.forAll (Arb.fromGen gen) (fun (kf, ku, dim, seed) ->
        let x = particles seed (kf * dim)
        let y = particles (seed + 1UL) (ku * dim)
        let scores = Array.zeroCreate<float32> (kf * dim)
        Philox.FillNormal(PhiloxKey.FromSeed(seed + 2UL), 0UL, Span scores)
        let expected, hRef = referenceDirections kf ku dim 1e-3 x y scores
        let dest = Array.zeroCreate<float32> (ku * dim)
        let scratch n = Array.zeroCreate<float32> n
        let h =
            Svgd.svgdParticles 1e-3f kf ku dim
                (ReadOnlySpan x, ReadOnlySpan y, ReadOnlySpan scores,
                 Span(scratch (kf * ku)), Span(scratch (kf * ku)), Span(scratch (kf * ku)), Span(scratch (kf * ku * dim)), Span dest)
        abs (float h - hRef) <= 1e-5 * (1.0 + hRef)
        && Array.forall2 (fun (e: float) (a: float32) -> abs (e - float a) <= 1e-4 * (1.0 + abs e)) expected dest))

let ``free SVGD particles move toward a Gaussian target's mean and variance`` = testCase "free SVGD particles move toward a Gaussian target's mean and variance" <| fun () ->
    // Q/alpha = log N(a; mu, sigma^2) on [-1, 1] with alpha = 1 (the truncated mass is below 1e-6): score -(a - mu)/sigma^2.
    let mu, sigma = 0.3f, 0.2f
    let n = 50
    let a = Array.zeroCreate<float32> n
    Philox.FillNormal(PhiloxKey.FromSeed 8UL, 0UL, Span a)
    for i in 0 .. n - 1 do a.[i] <- -0.6f + 0.05f * a.[i]
    let stats () =
        let m = Array.average a
        m, (a |> Array.averageBy (fun x -> (x - m) * (x - m)))
    let m0, v0 = stats ()
    let scores = Array.zeroCreate<float32> n
    let dir = Array.zeroCreate<float32> n
    let copy = Array.zeroCreate<float32> n
    let scratch k = Array.zeroCreate<float32> k
    let d2, med, kern, kgrad = scratch (n * n), scratch (n * n), scratch (n * n), scratch (n * n)
    let eps = 0.1f * sigma * sigma
    for _ in 1 .. 500 do
        for i in 0 .. n - 1 do scores.[i] <- -(a.[i] - mu) / (sigma * sigma)
        Array.blit a 0 copy 0 n
        Svgd.svgdParticles 1e-6f n n 1
            (ReadOnlySpan copy, ReadOnlySpan copy, ReadOnlySpan scores, Span d2, Span med, Span kern, Span kgrad, Span dir) |> ignore
        for i in 0 .. n - 1 do a.[i] <- Math.Clamp(a.[i] + eps * dir.[i], -1.0f, 1.0f)
    let m1, v1 = stats ()
    Console.WriteLine(sprintf "SVGD free particles: mean %.3f -> %.3f (target %.3f), variance %.4f -> %.4f (target %.4f)" m0 m1 mu v0 v1 (sigma * sigma))
    Assert.True(abs (m1 - mu) < 0.03f, sprintf "mean %g" m1)
    Assert.True(v1 > 0.7f * sigma * sigma && v1 < 1.3f * sigma * sigma, sprintf "variance %g" v1)

// ---------- gradients of the stages ----------

let ``the Q-loss gradient matches finite differences and the target stays a constant`` = testCase "the Q-loss gradient matches finite differences and the target stays a constant" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    let ws = ctx.Workspace
    let targets = Array.init batch.Size (fun i -> float32 i * 0.3f - 0.5f)
    Array.blit targets 0 ws.Targets 0 batch.Size
    let theta0 = Array.copy state.Q
    let target0 = Array.copy state.TargetQ
    let sampler0 = Array.copy state.Sampler
    let struct (next, loss, _) = SoftQLearning.qStep ctx batch state
    let grad = Array.copy ws.QParameterGrad
    Assert.Equal<float32[]>(targets, Array.sub ws.Targets 0 batch.Size)
    Assert.Equal<float32[]>(target0, next.TargetQ)
    Assert.Equal<float32[]>(sampler0, next.Sampler)
    Assert.Equal(1L, next.QOptimizer.Step)
    Assert.Equal(0L, next.SamplerOptimizer.Step)
    let n = ctx.Networks
    let input = Array.zeroCreate<float32> (batch.Size * 4)
    Rows.concat batch.Size 2 2 (ReadOnlySpan batch.Observations) (ReadOnlySpan batch.Actions) (Span input)
    let lossAt (theta: float32[]) =
        let q = (Mlp.Forward(gemm, n.Q, ReadOnlySpan theta, ReadOnlySpan input, batch.Size, MlpWorkspace(n.Q, batch.Size))).ToArray()
        let mutable s = 0.0
        for i in 0 .. batch.Size - 1 do s <- s + 0.5 * (float q.[i] - float targets.[i]) ** 2.0
        s / float batch.Size
    near "loss" 1e-5 (lossAt theta0) (float loss)
    let worst = worstGradientError lossAt theta0 grad
    Assert.True(worst < 0.02, sprintf "worst relative error %g over %d Q parameters" worst theta0.Length)

let ``the SVGD scores are dQ/da over alpha (plus the squash term) and the sampler gradient matches finite differences`` = testCase "the SVGD scores are dQ/da over alpha (plus the squash term) and the sampler gradient matches finite differences" <| fun () ->
    for squash in [ false; true ] do
        let cfg = smallConfigWith squash 1.0f 3
        let ctx, state, batch = setup cfg
        let ws = ctx.Workspace
        let n = ctx.Networks
        let q0, target0, sampler0 = Array.copy state.Q, Array.copy state.TargetQ, Array.copy state.Sampler
        let struct (next, _) = SoftQLearning.samplerStep ctx batch (PhiloxKey.FromSeed 6UL) state
        Assert.Equal<float32[]>(q0, next.Q)
        Assert.Equal<float32[]>(target0, next.TargetQ)
        Assert.NotEqual<float32[]>(sampler0, next.Sampler)
        Assert.Equal(1L, next.SamplerOptimizer.Step)
        Assert.Equal(0L, next.QOptimizer.Step)
        // Scores against a finite difference of Q(s, a_j)/alpha in each action component.
        let kf = ws.FixedParticles
        let rows = batch.Size * kf
        let input = Array.sub ws.ParticleInput 0 (rows * 4)
        let qAt (inp: float32[]) = (Mlp.Forward(gemm, n.Q, ReadOnlySpan q0, ReadOnlySpan inp, rows, MlpWorkspace(n.Q, rows))).ToArray()
        let h = 1e-2f
        for d in 0 .. 1 do
            let plus, minus = Array.copy input, Array.copy input
            for r in 0 .. rows - 1 do
                plus.[r * 4 + 2 + d] <- plus.[r * 4 + 2 + d] + h
                minus.[r * 4 + 2 + d] <- minus.[r * 4 + 2 + d] - h
            let qp, qm = qAt plus, qAt minus
            for r in 0 .. rows - 1 do
                let a = ws.FixedActions.[r * 2 + d]
                let fd = (qp.[r] - qm.[r]) / (2.0f * h) / cfg.Alpha + (if squash then Svgd.squashScore a else 0.0f)
                Assert.True(abs (fd - ws.Scores.[r * 2 + d]) < 2e-3f + 2e-3f * abs fd, sprintf "score row %d dim %d: fd %g, analytic %g" r d fd ws.Scores.[r * 2 + d])
        // The sampler gradient is that of -(1/B) sum <Δ, f(xi; s)> with Δ held constant.
        let ku = ws.UpdatedParticles
        let urows = batch.Size * ku
        let direction = Array.sub ws.Direction 0 (urows * 2)
        let uinput = Array.sub ws.UpdatedInput 0 (urows * 4)
        let grad = Array.copy ws.SamplerParameterGrad
        let surrogateAt (theta: float32[]) =
            let f = (Mlp.Forward(gemm, n.Sampler, ReadOnlySpan theta, ReadOnlySpan uinput, urows, MlpWorkspace(n.Sampler, urows))).ToArray()
            -(Array.fold2 (fun s (dl: float32) (fv: float32) -> s + float dl * float fv) 0.0 direction f) / float batch.Size
        let worst = worstGradientError surrogateAt sampler0 grad
        Assert.True(worst < 0.02, sprintf "squash %b: worst relative error %g over %d sampler parameters" squash worst sampler0.Length)

let ``the target network is copied every TargetUpdateInterval steps and a whole update allocates nothing`` = testCase "the target network is copied every TargetUpdateInterval steps and a whole update allocates nothing" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    let initialTarget = Array.copy state.TargetQ
    let struct (s1, m) = SoftQLearning.update ctx batch state
    Assert.Equal(cfg.Alpha, m.Alpha)
    Assert.True(m.QLoss > 0.0f)
    let struct (s2, _) = SoftQLearning.update ctx batch s1
    Assert.Equal<float32[]>(initialTarget, s2.TargetQ)
    Assert.NotEqual<float32[]>(s2.Q, s2.TargetQ)
    let struct (s3, _) = SoftQLearning.update ctx batch s2
    Assert.Equal<float32[]>(s3.Q, s3.TargetQ) // tau = 1 at step 3: a copy
    Assert.Equal(3L, s3.Step)
    let mutable s = s3
    let before = GC.GetAllocatedBytesForCurrentThread()
    for _ in 1 .. 20 do
        let struct (n, _) = SoftQLearning.update ctx batch s
        s <- n
    Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)
    // Polyak averaging with tau < 1 at every step.
    let cfg = smallConfigWith true 0.25f 1
    let ctx, state, batch = setup cfg
    let before = Array.copy state.TargetQ
    let struct (next, _) = SoftQLearning.update ctx batch state
    for i in 0 .. before.Length - 1 do
        Assert.True(abs (next.TargetQ.[i] - (0.25f * next.Q.[i] + 0.75f * before.[i])) < 1e-6f)

let ``acting stays in the box, is reproducible by key, and the deterministic mode uses zero noise`` = testCase "acting stays in the box, is reproducible by key, and the deterministic mode uses zero noise" <| fun () ->
    let cfg = smallConfig ()
    let ctx, state, _ = setup cfg
    let ws = SqlPolicyWorkspace(ctx.Networks)
    let obs = [| 0.3f; -1.2f |]
    let act mode =
        let a = Array.zeroCreate<float32> 2
        SoftQLearning.act ctx ws state.Sampler mode (ReadOnlySpan obs) (Span a)
        a
    let key = PhiloxKey.FromSeed 1UL
    Assert.Equal<float32[]>(act (Stochastic(key, 5UL)), act (Stochastic(key, 5UL)))
    Assert.NotEqual<float32[]>(act (Stochastic(key, 5UL)), act (Stochastic(key, 6UL)))
    for i in 0UL .. 200UL do
        let a = act (Stochastic(key, i))
        Assert.True(a |> Array.forall (fun x -> x >= -1.0f && x <= 1.0f))
    let expected = (Mlp.Forward(gemm, ctx.Networks.Sampler, ReadOnlySpan state.Sampler, ReadOnlySpan [| 0.3f; -1.2f; 0.0f; 0.0f |], 1, MlpWorkspace(ctx.Networks.Sampler, 1))).ToArray()
    Assert.Equal<float32[]>(expected, act Deterministic)

// ---------- training ----------

let ``the same seed gives bitwise-identical SQL learners on one and two threads`` = testCase "the same seed gives bitwise-identical SQL learners on one and two threads" <| fun () ->
    let cfg = SqlConfig(HiddenSizes = [| 16; 16 |], SamplerHiddenSizes = [| 16; 16 |], BatchSize = 16, KernelParticles = 8,
                        ValueParticles = 8, LearningStarts = 50, EvalInterval = 0, Seed = 5UL)
    let run threads =
        use g = new ManagedGemm(threads)
        let trainer, final = SqlTraining.train g "MultiGoal-v0" cfg 200L ignore
        final.Learner, trainer.Evaluate(final, 5, 77UL)
    let (a, ea), (b, eb), (c, ec) = run 1, run 1, run 2
    Assert.Equal<float32[]>(a.Q, b.Q)
    Assert.Equal<float32[]>(a.Sampler, b.Sampler)
    Assert.Equal<float32[]>(a.Q, c.Q)
    Assert.Equal<float32[]>(a.Sampler, c.Sampler)
    Assert.Equal<float[]>(ea.Returns, ec.Returns)
    Assert.Equal<int[]>(ea.Goals, eb.Goals)
    Assert.Equal(150L, a.Step)

let ``SQL learns MultiGoal far beyond a random policy and reaches several goals`` = testCase "SQL learns MultiGoal far beyond a random policy and reaches several goals" <| fun () ->
    use g = new ManagedGemm(1)
    let cfg = SqlConfig(HiddenSizes = [| 64; 64 |], SamplerHiddenSizes = [| 64; 64 |], EvalInterval = 0, Seed = 1UL)
    let clock = Diagnostics.Stopwatch.StartNew()
    let mutable episodes = 0
    let trainer, final = SqlTraining.train g "MultiGoal-v0" cfg 2500L (fun r -> if r.EpisodeReturn.IsSome then episodes <- episodes + 1)
    let learned = trainer.Evaluate(final, 50, 4242UL)
    let randomMean, _ = multiGoalRollouts 50 (randomPolicy 4242UL)
    let reached = learned.Goals |> Array.filter (fun n -> n > 0) |> Array.length
    Console.WriteLine(sprintf "SQL MultiGoal after 2500 steps (%d episodes, %.1f s): mean %.1f (random %.1f), goals %A"
                          episodes clock.Elapsed.TotalSeconds learned.Mean randomMean learned.Goals)
    Assert.Equal(MultiGoal.GoalCount, learned.Goals.Length)
    Assert.True(learned.Mean > randomMean + 250.0, sprintf "mean %.1f vs random %.1f" learned.Mean randomMean)
    Assert.True(reached >= 2, sprintf "goals reached %A" learned.Goals)

let ``goal evaluation counts nothing on other environments`` = testCase "goal evaluation counts nothing on other environments" <| fun () ->
    let env = RescaleAction(EnvironmentRegistry.Make "PointGoal-v0")
    let r = Rollout.run env 3 0UL (RolloutPolicy(fun _ _ a -> a.[0] <- 0.0f; a.[1] <- 0.0f))
    Assert.Empty(r.Goals)
    Assert.Equal(3, r.Returns.Length)
    let mg = RescaleAction(EnvironmentRegistry.Make "MultiGoal-v0")
    let r = Rollout.run mg 4 0UL (RolloutPolicy(fun _ _ a -> a.[0] <- 0.0f; a.[1] <- -1.0f))
    Assert.Equal<int[]>([| 0; 0; 0; 4 |], r.Goals)

// ---------- checkpoints ----------

let private sqlHeader (cfg: SqlConfig) = SqlCheckpointHeader.For("MultiGoal-v0", 2, 2, cfg, 1234L)

let private trainedState () =
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    let mutable s = state
    for _ in 1 .. 4 do
        let struct (n, _) = SoftQLearning.update ctx batch s
        s <- n
    cfg, s

let private sameState (e: SqlLearnerState) (a: SqlLearnerState) =
    Assert.Equal<float32[]>(e.Q, a.Q)
    Assert.Equal<float32[]>(e.TargetQ, a.TargetQ)
    Assert.Equal<float32[]>(e.Sampler, a.Sampler)
    Assert.Equal(e.QOptimizer.Step, a.QOptimizer.Step)
    Assert.Equal<float32[]>(e.QOptimizer.FirstMoment, a.QOptimizer.FirstMoment)
    Assert.Equal<float32[]>(e.SamplerOptimizer.SecondMoment, a.SamplerOptimizer.SecondMoment)
    Assert.Equal(e.Step, a.Step)
    Assert.Equal(e.Key, a.Key)

let ``SQL checkpoints round-trip exactly, with and without a replay buffer`` = testCase "SQL checkpoints round-trip exactly, with and without a replay buffer" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let replay = ReplayBuffer(10, 2, 2)
    for i in 0 .. 13 do
        replay.Add(ReadOnlySpan [| float32 i; 1.0f |], ReadOnlySpan [| 0.5f; -0.5f |], float32 i, ReadOnlySpan [| 2.0f; float32 i |], i % 4 = 0, i % 5 = 0)
    for withReplay in [ false; true ] do
        let path = dir.File(sprintf "sql-%b.ckpt" withReplay)
        if withReplay then SqlCheckpoint.Save(path, sqlHeader cfg, state, replay) else SqlCheckpoint.Save(path, sqlHeader cfg, state)
        let struct (h, s, r) = SqlCheckpoint.Load path
        Assert.Equal(sqlHeader cfg, h)
        sameState state s
        Assert.Equal("sql", SqlCheckpoint.PeekAlgorithm path)
        if withReplay then
            let r = nonNull r
            Assert.Equal(replay.TotalAdded, r.TotalAdded)
            Assert.Equal<float32[]>(replay.Observations.ToArray(), r.Observations.ToArray())
        else Assert.Null(r)
    // A loaded learner trains on exactly as the original.
    let path = dir.File "sql-false.ckpt"
    let struct (_, loaded, _) = SqlCheckpoint.Load path
    let ctx, _, batch = setup cfg
    let struct (x, _) = SoftQLearning.update ctx batch (state.DeepCopy())
    let struct (y, _) = SoftQLearning.update ctx batch loaded
    sameState x y

let ``SQL checkpoint save checks the state against its header and the header validates its fields`` = testCase "SQL checkpoint save checks the state against its header and the header validates its fields" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let wrong = SqlCheckpointHeader("sql", "MultiGoal-v0", 2, 2, [| 8; 9 |], [| 8; 8 |], 0L)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> SqlCheckpoint.Save(dir.File "x.ckpt", wrong, state))
    Assert.Contains("state.Q", ex.Message)
    Assert.False(File.Exists(dir.File "x.ckpt"))
    let bad (f: unit -> SqlCheckpointHeader) (field: string) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Contains(field, ex.Message)
    bad (fun () -> SqlCheckpointHeader("sac", "MultiGoal-v0", 2, 2, [| 8 |], [| 8 |], 0L)) "Algorithm"
    bad (fun () -> SqlCheckpointHeader("sql", " ", 2, 2, [| 8 |], [| 8 |], 0L)) "EnvironmentId"
    bad (fun () -> SqlCheckpointHeader("sql", "MultiGoal-v0", 0, 2, [| 8 |], [| 8 |], 0L)) "ObservationSize"
    bad (fun () -> SqlCheckpointHeader("sql", "MultiGoal-v0", 2, 2, [| 8 |], [||], 0L)) "SamplerHiddenSizes"
    bad (fun () -> SqlCheckpointHeader("sql", "MultiGoal-v0", 2, 2, [| 8 |], [| 8 |], -1L)) "EnvironmentSteps"

// A checkpoint as a trainer writes it mid-run: progress in the header, the running episode's actions and a replay buffer.
let private saveTrainingCheckpoint (path: string) (cfg: SqlConfig) (state: SqlLearnerState) =
    let replay = ReplayBuffer(10, 2, 2)
    for i in 0 .. 12 do
        replay.Add(ReadOnlySpan [| float32 i; -1.0f |], ReadOnlySpan [| 0.25f; -0.75f |], float32 i * 0.5f, ReadOnlySpan [| 3.0f; float32 i |], i % 4 = 0, i % 5 = 0)
    let progress = TrainingProgress(400L, 3, -12.625, 5, 17UL, [| 0.5f; -2.0f; 0.7f; 3.25f |], CheckpointEvery = 100L)
    let header = SqlCheckpointHeader(SqlCheckpoint.AlgorithmName, "MultiGoal-v0", 2, 2, cfg.HiddenSizes, cfg.SamplerHiddenSizes, 95L, Progress = progress)
    let actions = Array.init 10 (fun i -> float32 i / 10.0f - 0.5f)
    SqlCheckpoint.Save(path, header, state, replay, ReadOnlyMemory actions)
    header, replay, actions

let ``SQL training checkpoints carry progress, the running episode and the replay buffer; learner-only ones load as before`` = testCase "SQL training checkpoints carry progress, the running episode and the replay buffer; learner-only ones load as before" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let path = dir.File "training.ckpt"
    let header, replay, actions = saveTrainingCheckpoint path cfg state
    let t = SqlCheckpoint.LoadTraining path
    // Progress holds its metrics as a list, which records compare by reference: compare the fields.
    let fields (h: SqlCheckpointHeader) = h.EnvironmentId, Seq.toList h.HiddenSizes, Seq.toList h.SamplerHiddenSizes, h.EnvironmentSteps
    Assert.Equal(fields header, fields t.Header)
    let p = nonNull t.Header.Progress
    Assert.Equal((3, 400L), (p.Episodes, p.TotalSteps))
    Assert.Equal((5, 17UL, -12.625, 100L), (p.EpisodeLength, p.Draws, p.EpisodeReturn, p.CheckpointEvery))
    Assert.Equal<float32[]>([| 0.5f; -2.0f; 0.7f; 3.25f |], Seq.toArray (nonNull p.LastMetrics))
    Assert.Equal<float32[]>(actions, t.EpisodeActions)
    sameState state t.State
    Assert.Equal<float32[]>(replay.Rewards.ToArray(), (nonNull t.Replay).Rewards.ToArray())
    // Load reads the same file, without the episode's actions.
    let struct (h, s, r) = SqlCheckpoint.Load path
    Assert.Equal(fields header, fields h)
    Assert.Equal(5, (nonNull h.Progress).EpisodeLength)
    sameState state s
    Assert.Equal(replay.TotalAdded, (nonNull r).TotalAdded)
    // A learner-only checkpoint has no progress and no actions.
    let plain = dir.File "plain.ckpt"
    SqlCheckpoint.Save(plain, sqlHeader cfg, state)
    let t = SqlCheckpoint.LoadTraining plain
    Assert.Null(t.Header.Progress)
    Assert.Empty(t.EpisodeActions)
    Assert.Null(t.Replay)
    // Actions must match the progress exactly, and need progress at all.
    let withProgress = SqlCheckpointHeader(SqlCheckpoint.AlgorithmName, "MultiGoal-v0", 2, 2, cfg.HiddenSizes, cfg.SamplerHiddenSizes, 95L,
                                           Progress = TrainingProgress(400L, 3, 0.0, 5, 0UL, null))
    let ex = Assert.Throws<ArgumentException>(fun () -> SqlCheckpoint.Save(dir.File "x.ckpt", withProgress, state, null, ReadOnlyMemory(Array.zeroCreate<float32> 8)))
    Assert.Contains("5 steps", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> SqlCheckpoint.Save(dir.File "x.ckpt", sqlHeader cfg, state, null, ReadOnlyMemory(Array.zeroCreate<float32> 2)))
    Assert.Contains("no Progress", ex.Message)
    Assert.False(File.Exists(dir.File "x.ckpt"))

let ``every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only`` (training: bool) =
    use dir = new TempDir()
    let good = dir.File "good.ckpt"
    let cfg, state = trainedState ()
    if training then saveTrainingCheckpoint good cfg state |> ignore
    else SqlCheckpoint.Save(good, sqlHeader cfg, state)
    let load (path: string) = if training then SqlCheckpoint.LoadTraining path |> ignore else SqlCheckpoint.Load path |> ignore
    let bytes = File.ReadAllBytes good
    let n = bytes.Length
    let probe = dir.File "probe.ckpt"
    let rejects (data: byte[]) =
        File.WriteAllBytes(probe, data)
        try
            load probe
            false
        with
        | :? CheckpointException as e -> e.Path = probe
    for length in 0 .. min (n - 1) 300 do
        Assert.True(rejects bytes.[0 .. length - 1], sprintf "truncation to %d bytes" length)
    Check.One(fsConfig.WithMaxTest(300), Prop.forAll (Arb.fromGen (Gen.choose (0, n - 1))) (fun length -> rejects bytes.[0 .. length - 1]))
    let flip = gen {
        let! position = Gen.choose (0, n - 1)
        let! mask = Gen.choose (1, 255)
        return position, byte mask }
    Check.One(fsConfig.WithMaxTest(300), Prop.forAll (Arb.fromGen flip) (fun (position, mask) ->
        let damaged = Array.copy bytes
        damaged.[position] <- damaged.[position] ^^^ mask
        rejects damaged))
    // Behind a recomputed checksum, overwritten bytes either load or fail as CheckpointException (never another exception).
    let reseal = TestProviders.resealCheckpoint
    let overwrite = gen {
        let! position = Gen.choose (0, n - 1)
        let! width = Gen.choose (1, 8)
        let! fill = Gen.elements [ 0uy; 0xFFuy; 0x41uy ]
        return position, width, fill }
    Check.One(fsConfig.WithMaxTest(300), Prop.forAll (Arb.fromGen overwrite) (fun (position, width, fill) ->
        let damaged = Array.copy bytes
        for i in position .. min (n - 1) (position + width - 1) do damaged.[i] <- fill
        File.WriteAllBytes(probe, reseal damaged)
        try
            load probe
            true
        with :? CheckpointException as e -> e.Path = probe && e.Reason <> CheckpointFailure.ChecksumMismatch))
    load good

let ``SQL and SAC checkpoints are told apart`` = testCase "SQL and SAC checkpoints are told apart" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let sqlPath = dir.File "sql.ckpt"
    SqlCheckpoint.Save(sqlPath, sqlHeader cfg, state)
    let sacCfg = SacConfig(HiddenSizes = [| 8 |], BatchSize = 4, BufferSize = 10)
    let sacCtx = SacContext(sacCfg, 2, 2, gemm)
    let sacPath = dir.File "sac.ckpt"
    Checkpoint.Save(sacPath, CheckpointHeader("sac", "MultiGoal-v0", 2, 2, [| 8 |], "V2", 0L), Sac.init sacCtx 1UL)
    Assert.Equal("sac", SqlCheckpoint.PeekAlgorithm sacPath)
    let ex = Assert.Throws<CheckpointException>(fun () -> SqlCheckpoint.Load sacPath |> ignore)
    Assert.Equal(CheckpointFailure.Malformed, ex.Reason)
    Assert.Contains("\"sac\" checkpoint", ex.Message)
    let ex = Assert.Throws<CheckpointException>(fun () -> Checkpoint.Load sqlPath |> ignore)
    Assert.Equal(CheckpointFailure.Malformed, ex.Reason)
    Assert.Contains("\"sql\" checkpoint, not a SAC one", ex.Message)
    Assert.Equal(CheckpointFailure.NotFound, (Assert.Throws<CheckpointException>(fun () -> SqlCheckpoint.Load(dir.File "none.ckpt") |> ignore)).Reason)
    File.WriteAllText(dir.File "text.ckpt", "not a checkpoint at all, really")
    let ex = Assert.Throws<CheckpointException>(fun () -> SqlCheckpoint.PeekAlgorithm(dir.File "text.ckpt") |> ignore)
    Assert.Equal(CheckpointFailure.BadMagic, ex.Reason)

let tests = testList "SoftQLearning" [
    ``MultiGoal step follows the reference dynamics and reward``
    ``MultiGoal detects each of its four goals``
    ``MultiGoal starts near the origin, is deterministic by seed, and is found through wrappers``
    ``MultiGoal random, still and straight policies score as documented``
    ``MultiGoal steps allocate nothing``
    ``SqlConfig has the reference MultiGoal defaults and validates every field by name``
    ``the importance-sampled soft value matches the numerical integral in 1-D``
    ``the sampled soft value rises toward the integral as M grows, from below (Jensen)``
    ``the sampled soft value lies between max Q plus the sampling bounds``
    ``Q targets bootstrap unless terminated, and a terminal target is the scaled reward alone``
    ``soft targets come from the target network and every terminated row gets y = r_scale r``
    ``the RBF kernel gradient matches finite differences``
    ``the SVGD direction matches a plain reference implementation on random particles``
    ``free SVGD particles move toward a Gaussian target's mean and variance``
    ``the Q-loss gradient matches finite differences and the target stays a constant``
    ``the SVGD scores are dQ/da over alpha (plus the squash term) and the sampler gradient matches finite differences``
    ``the target network is copied every TargetUpdateInterval steps and a whole update allocates nothing``
    ``acting stays in the box, is reproducible by key, and the deterministic mode uses zero noise``
    ``the same seed gives bitwise-identical SQL learners on one and two threads``
    ``SQL learns MultiGoal far beyond a random policy and reaches several goals``
    ``goal evaluation counts nothing on other environments``
    ``SQL checkpoints round-trip exactly, with and without a replay buffer``
    ``SQL checkpoint save checks the state against its header and the header validates its fields``
    ``SQL training checkpoints carry progress, the running episode and the replay buffer; learner-only ones load as before``
    testList "every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only" [
        testCase "training: false" <| fun () -> ``every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only`` (false)
        testCase "training: true" <| fun () -> ``every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only`` (true)
    ]
    ``SQL and SAC checkpoints are told apart``
]
