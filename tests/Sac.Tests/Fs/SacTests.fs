module SacTests

open System
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Fs

let private gemm = ReferenceGemm.Instance :> IGemm

let private smallConfig variant =
    SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 5, BufferSize = 100, Variant = variant, Seed = 3UL)

/// A batch of random transitions (every third one terminated).
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

let private setup variant =
    let cfg = smallConfig variant
    let ctx = SacContext(cfg, 3, 2, gemm)
    ctx, Sac.init ctx 11UL, randomBatch 5 3 2 7UL

let ``the actor step never changes critic or target parameters`` = testCase "the actor step never changes critic or target parameters" <| fun () ->
    let ctx, state, batch = setup SacVariant.V2
    let ws = ctx.Workspace
    Philox.FillNormal(PhiloxKey.FromSeed 1UL, 0UL, Span ws.NoiseObs)
    Sac.samplePolicy ctx state.Actor ws.ActorOnObs batch.Size (ReadOnlySpan batch.Observations) ws.NoiseObs ws.PolicyOnObs
    let critic, target, actor = Array.copy state.Critic, Array.copy state.TargetCritic, Array.copy state.Actor
    let struct (next, _) = Sac.actorStep ctx batch 0.2f state
    Assert.Equal<float32[]>(critic, next.Critic)
    Assert.Equal<float32[]>(target, next.TargetCritic)
    Assert.NotEqual<float32[]>(actor, next.Actor)
    Assert.Equal(1L, next.ActorOptimizer.Step)
    Assert.Equal(0L, next.CriticOptimizer.Step)

let ``the critic step changes only the critics`` = testCase "the critic step changes only the critics" <| fun () ->
    let ctx, state, batch = setup SacVariant.V2
    Array.fill ctx.Workspace.Targets 0 5 1.5f
    let actor, target, critic = Array.copy state.Actor, Array.copy state.TargetCritic, Array.copy state.Critic
    let struct (next, loss, _) = Sac.criticStep ctx batch state
    Assert.Equal<float32[]>(actor, next.Actor)
    Assert.Equal<float32[]>(target, next.TargetCritic)
    Assert.NotEqual<float32[]>(critic, next.Critic)
    Assert.True(loss > 0.0f)

/// The actor loss at parameters `theta`, recomputed from public pieces with the same noise and critics.
let private actorLossAt (ctx: SacContext) (critic: float32[]) (batch: Batch) (noise: float32[]) (alpha: float32) (theta: float32[]) =
    let n = ctx.Networks
    let b, o, a = batch.Size, n.ObservationSize, n.ActionSize
    let out = (Mlp.Forward(gemm, n.Actor, ReadOnlySpan theta, ReadOnlySpan batch.Observations, b, MlpWorkspace(n.Actor, b))).ToArray()
    let mu = Array.init (b * a) (fun k -> out.[(k / a) * 2 * a + k % a])
    let raw = Array.init (b * a) (fun k -> out.[(k / a) * 2 * a + a + k % a])
    let head = TanhGaussianWorkspace(b, a)
    TanhGaussian.sampleForward ctx.LogStd (b, a) (ReadOnlySpan mu, ReadOnlySpan raw, ReadOnlySpan noise, head)
    let input = Array.zeroCreate (b * (o + a))
    Sac.concatRows b o a (ReadOnlySpan batch.Observations) head.Action (Span input)
    let p = n.CriticParameters
    let q i = (Mlp.Forward(gemm, n.Critic, ReadOnlySpan(critic, i * p, p), ReadOnlySpan input, b, MlpWorkspace(n.Critic, b))).ToArray()
    let scratch () = Array.zeroCreate<float32> b
    Losses.actor alpha b (head.LogPi, ReadOnlySpan(q 0), ReadOnlySpan(q 1), Span(scratch ()), Span(scratch ()), Span(scratch ()))

let ``the actor gradient through the critics and the tanh-Gaussian matches finite differences`` = testCase "the actor gradient through the critics and the tanh-Gaussian matches finite differences" <| fun () ->
    for variant in [ SacVariant.V2 ] do
        let ctx, state, batch = setup variant
        let ws = ctx.Workspace
        Philox.FillNormal(PhiloxKey.FromSeed 5UL, 0UL, Span ws.NoiseObs)
        let noise = Array.sub ws.NoiseObs 0 (batch.Size * 2)
        let theta0 = Array.copy state.Actor
        let alpha = 0.3f
        Sac.samplePolicy ctx state.Actor ws.ActorOnObs batch.Size (ReadOnlySpan batch.Observations) ws.NoiseObs ws.PolicyOnObs
        let analytic = ws.ActorParameterGrad
        Sac.actorStep ctx batch alpha state |> ignore
        let grad = Array.copy analytic
        // Small enough that no ReLU kink lies within +-h of any pre-activation here, large enough for float32.
        let h = 1e-3f
        let mutable worst = 0.0f
        for i in 0 .. theta0.Length - 1 do
            let plus, minus = Array.copy theta0, Array.copy theta0
            plus.[i] <- plus.[i] + h
            minus.[i] <- minus.[i] - h
            let fd = (actorLossAt ctx state.Critic batch noise alpha plus - actorLossAt ctx state.Critic batch noise alpha minus) / (2.0f * h)
            let err = abs (fd - grad.[i]) / max 0.05f (abs fd)
            worst <- max worst err
        Assert.True(worst < 0.02f, sprintf "worst relative error %g over %d actor parameters" worst theta0.Length)

let ``a whole update allocates nothing once warm`` = testCase "a whole update allocates nothing once warm" <| fun () ->
    for variant in [ SacVariant.V2; SacVariant.V1 ] do
        let ctx, state, batch = setup variant
        let mutable s = state
        for _ in 1 .. 5 do
            let struct (n, _) = Sac.update ctx batch s
            s <- n
        let before = GC.GetAllocatedBytesForCurrentThread()
        for _ in 1 .. 20 do
            let struct (n, _) = Sac.update ctx batch s
            s <- n
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)
        Assert.Equal(25L, s.Step)

let ``the temperature rises when the policy's entropy is below target`` = testCase "the temperature rises when the policy's entropy is below target" <| fun () ->
    // A near-deterministic policy (log-std clamped at its floor) has entropy far below -|A|.
    let cfg = SacConfig(HiddenSizes = [| 8 |], BatchSize = 5, BufferSize = 100, LogStdMin = -20f, LogStdMax = -19f)
    let ctx = SacContext(cfg, 3, 2, gemm)
    let state = Sac.init ctx 1UL
    let batch = randomBatch 5 3 2 2UL
    let struct (next, m) = Sac.update ctx batch state
    Assert.True(m.Entropy < ctx.TargetEntropy)
    Assert.True(next.LogAlpha > state.LogAlpha, sprintf "log alpha %g -> %g" state.LogAlpha next.LogAlpha)

let ``a fixed temperature stays fixed`` = testCase "a fixed temperature stays fixed" <| fun () ->
    let cfg = SacConfig(HiddenSizes = [| 8 |], BatchSize = 5, BufferSize = 100, AutoAlpha = false, InitialAlpha = 0.2f)
    let ctx = SacContext(cfg, 3, 2, gemm)
    let batch = randomBatch 5 3 2 2UL
    let struct (next, m) = Sac.update ctx batch (Sac.init ctx 1UL)
    Assert.Equal(MathF.Log 0.2f, next.LogAlpha)
    Assert.Equal(0.0f, m.AlphaLoss)

let ``Polyak moves the target critic by tau toward the online critic (v2) and the target value (v1)`` = testCase "Polyak moves the target critic by tau toward the online critic (v2) and the target value (v1)" <| fun () ->
    for variant in [ SacVariant.V2; SacVariant.V1 ] do
        let ctx, state, batch = setup variant
        let before = if variant = SacVariant.V2 then Array.copy state.TargetCritic else Array.copy (nonNull state.TargetValue)
        let struct (next, _) = Sac.update ctx batch state
        let online = if variant = SacVariant.V2 then next.Critic else nonNull next.Value
        let after = if variant = SacVariant.V2 then next.TargetCritic else nonNull next.TargetValue
        let tau = ctx.Config.Tau
        for i in 0 .. after.Length - 1 do
            Assert.True(abs (after.[i] - (tau * online.[i] + (1.0f - tau) * before.[i])) < 1e-6f)

let private trainPointGoal (g: IGemm) variant steps =
    let cfg = Presets.forEnvironment "PointGoal-v0"
    let cfg = SacConfig(HiddenSizes = cfg.HiddenSizes, ActorLearningRate = cfg.ActorLearningRate, CriticLearningRate = cfg.CriticLearningRate,
                        AlphaLearningRate = cfg.AlphaLearningRate, BufferSize = cfg.BufferSize, BatchSize = cfg.BatchSize,
                        LearningStarts = cfg.LearningStarts, EvalInterval = 0, Seed = 1UL, Variant = variant)
    Training.train g "PointGoal-v0" cfg steps ignore

let ``the same seed gives bitwise-identical learners on one and two threads`` = testCase "the same seed gives bitwise-identical learners on one and two threads" <| fun () ->
    let run threads =
        use g = new ManagedGemm(threads)
        let _, s = trainPointGoal g SacVariant.V2 800L
        s.Learner
    let a, b, c = run 1, run 1, run 2
    Assert.Equal<float32[]>(a.Actor, b.Actor)
    Assert.Equal<float32[]>(a.Critic, b.Critic)
    Assert.Equal<float32[]>(a.Actor, c.Actor)
    Assert.Equal<float32[]>(a.Critic, c.Critic)
    Assert.Equal(a.LogAlpha, c.LogAlpha)

let ``SAC learns PointGoal within a few thousand steps, far beyond any random policy`` = testCase "SAC learns PointGoal within a few thousand steps, far beyond any random policy" <| fun () ->
    use g = new ManagedGemm(1)
    for variant, steps in [ SacVariant.V2, 4000L; SacVariant.V1, 5000L ] do
        let trainer, final = trainPointGoal g variant steps
        let learned = trainer.Evaluate(final, 20, 500UL)
        // A uniform random policy averages about -38 here (PointGoal's docs), the straight-line policy about -1.5.
        Assert.True(learned.Mean > -8.0, sprintf "%A: mean eval return %.2f after %d steps" variant learned.Mean steps)

let ``a saved learner names its algorithm, and a damaged file is rejected before loading`` = testCase "a saved learner names its algorithm, and a damaged file is rejected before loading" <| fun () ->
    let ctx, state, _ = setup SacVariant.V2
    let dir = IO.Directory.CreateTempSubdirectory("sac-ckpt-")
    try
        let path = IO.Path.Combine(dir.FullName, "final.ckpt")
        let header = Sac.Core.Runs.CheckpointHeader("sac", "PointGoal-v0", 3, 2, ctx.Config.HiddenSizes, "V2", 0L)
        Sac.Core.Runs.Checkpoint.Save(path, header, state)
        Assert.Equal("sac", Sac.Core.Runs.Checkpoint.ReadAlgorithm path)
        let bytes = IO.File.ReadAllBytes path
        let cut = IO.Path.Combine(dir.FullName, "cut.ckpt")
        IO.File.WriteAllBytes(cut, bytes.[.. bytes.Length / 2])
        Assert.Throws<Sac.Core.Runs.CheckpointException>(fun () -> Sac.Core.Runs.Checkpoint.ReadAlgorithm cut |> ignore) |> ignore
        Assert.Throws<Sac.Core.Runs.CheckpointException>(fun () -> Sac.Core.Runs.Checkpoint.ReadAlgorithm(IO.Path.Combine(dir.FullName, "none.ckpt")) |> ignore) |> ignore
    finally
        dir.Delete true

let tests = testList "Sac" [
    ``the actor step never changes critic or target parameters``
    ``the critic step changes only the critics``
    ``the actor gradient through the critics and the tanh-Gaussian matches finite differences``
    ``a whole update allocates nothing once warm``
    ``the temperature rises when the policy's entropy is below target``
    ``a fixed temperature stays fixed``
    ``Polyak moves the target critic by tau toward the online critic (v2) and the target value (v1)``
    ``the same seed gives bitwise-identical learners on one and two threads``
    ``SAC learns PointGoal within a few thousand steps, far beyond any random policy``
    ``a saved learner names its algorithm, and a damaged file is rejected before loading``
]
