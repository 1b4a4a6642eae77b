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
open TrainingKit

let private gemm = ReferenceGemm.Instance :> IGemm

let private smallConfig variant =
    SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 5, BufferSize = 100, Variant = variant, Seed = 3UL)

let private setup variant =
    let cfg = smallConfig variant
    let ctx = SacContext(cfg, 3, 2, gemm)
    ctx, Sac.init ctx 11UL, randomBatch 5 3 2 7UL

/// A learner on the host backend over the state's own arrays, its batch prepared: uploaded, noise drawn, policy sampled at s.
let private prepared variant =
    let ctx, state, batch = setup variant
    let learner = ctx.Bind state
    DeviceSac.prepare ctx.Device batch learner
    ctx, state, batch, learner

let ``the actor step never changes critic or target parameters`` = testCase "the actor step never changes critic or target parameters" <| fun () ->
    let ctx, state, batch, learner = prepared SacVariant.V2
    let critic, target, actor = Array.copy state.Critic, Array.copy state.TargetCritic, Array.copy state.Actor
    DeviceSac.actorStep ctx.Device batch.Size 0.2f learner
    // The stages update the state's arrays in place.
    Assert.Equal<float32[]>(critic, state.Critic)
    Assert.Equal<float32[]>(target, state.TargetCritic)
    Assert.NotEqual<float32[]>(actor, state.Actor)
    Assert.Equal(1L, learner.ActorOptimizerStep)
    Assert.Equal(0L, learner.CriticOptimizerStep)

let ``the critic step changes only the critics`` = testCase "the critic step changes only the critics" <| fun () ->
    let ctx, state, batch, learner = prepared SacVariant.V2
    DeviceSac.softTargets ctx.Device batch.Size 0.2f learner
    let actor, target, critic = Array.copy state.Actor, Array.copy state.TargetCritic, Array.copy state.Critic
    DeviceSac.criticStep ctx.Device batch.Size learner
    Assert.Equal<float32[]>(actor, state.Actor)
    Assert.Equal<float32[]>(target, state.TargetCritic)
    Assert.NotEqual<float32[]>(critic, state.Critic)
    Assert.Equal(1L, learner.CriticOptimizerStep)
    Assert.Equal(0L, learner.ActorOptimizerStep)

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
    Rows.concat b o a (ReadOnlySpan batch.Observations) head.Action (Span input)
    let p = n.CriticParameters
    let q i = (Mlp.Forward(gemm, n.Critic, ReadOnlySpan(critic, i * p, p), ReadOnlySpan input, b, MlpWorkspace(n.Critic, b))).ToArray()
    let scratch () = Array.zeroCreate<float32> b
    Losses.actor alpha b (head.LogPi, ReadOnlySpan(q 0), ReadOnlySpan(q 1), Span(scratch ()), Span(scratch ()), Span(scratch ()))

let ``the actor gradient through the critics and the tanh-Gaussian matches finite differences`` = testCase "the actor gradient through the critics and the tanh-Gaussian matches finite differences" <| fun () ->
    for variant in [ SacVariant.V2 ] do
        let ctx, state, batch, learner = prepared variant
        // The noise the update drew for the sample at s.
        let noise = Array.zeroCreate<float32> (batch.Size * 2)
        Philox.FillNormal(DeviceSac.stepKeyAt state.Key state.Step, 0UL, Span noise)
        let theta0 = Array.copy state.Actor
        let alpha = 0.3f
        DeviceSac.actorStep ctx.Device batch.Size alpha learner
        let grad = Array.copy ctx.ActorGradient
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

/// The policy sample at s that an update of `state` draws, recomputed from public pieces: actions and log pi.
let private policyAtObservations (ctx: SacContext) (state: LearnerState) (batch: Batch) =
    let n = ctx.Networks
    let b, a = batch.Size, n.ActionSize
    let noise = Array.zeroCreate<float32> (b * a)
    Philox.FillNormal(DeviceSac.stepKeyAt state.Key state.Step, 0UL, Span noise)
    let out = (Mlp.Forward(gemm, n.Actor, ReadOnlySpan state.Actor, ReadOnlySpan batch.Observations, b, MlpWorkspace(n.Actor, b))).ToArray()
    let mu = Array.init (b * a) (fun k -> out.[(k / a) * 2 * a + k % a])
    let raw = Array.init (b * a) (fun k -> out.[(k / a) * 2 * a + a + k % a])
    let head = TanhGaussianWorkspace(b, a)
    TanhGaussian.sampleForward ctx.LogStd (b, a) (ReadOnlySpan mu, ReadOnlySpan raw, ReadOnlySpan noise, head)
    head.Action.ToArray(), head.LogPi.ToArray()

let ``SAC v1 on the seam: the value step's gradient is Losses.value's, and the Q targets are r + gamma (1 - terminated) V_target(s')`` = testCase "SAC v1 on the seam: the value step's gradient is Losses.value's, and the Q targets are r + gamma (1 - terminated) V_target(s')" <| fun () ->
    let ctx, state, batch, learner = prepared SacVariant.V1
    let n = ctx.Networks
    let b, o, a = batch.Size, n.ObservationSize, n.ActionSize
    let alpha = 0.3f
    let actions, logPi = policyAtObservations ctx state batch
    let input = Array.zeroCreate<float32> (b * (o + a))
    Rows.concat b o a (ReadOnlySpan batch.Observations) (ReadOnlySpan actions) (Span input)
    let p = n.CriticParameters
    let q i = (Mlp.Forward(gemm, n.Critic, ReadOnlySpan(state.Critic, i * p, p), ReadOnlySpan input, b, MlpWorkspace(n.Critic, b))).ToArray()
    let q1, q2 = q 0, q 1
    let valueLossAt (psi: float32[]) =
        let v = (Mlp.Forward(gemm, n.Value, ReadOnlySpan psi, ReadOnlySpan batch.Observations, b, MlpWorkspace(n.Value, b))).ToArray()
        Losses.value alpha b (ReadOnlySpan v, ReadOnlySpan q1, ReadOnlySpan q2, ReadOnlySpan logPi, Span(Array.zeroCreate<float32> b))
    let psi0 = Array.copy (nonNull state.Value)
    DeviceSac.valueStep ctx.Device b alpha learner
    let grad = Array.copy (nonNull ctx.ValueGradient)
    let h = 1e-3f
    let mutable worst = 0.0f
    for i in 0 .. psi0.Length - 1 do
        let plus, minus = Array.copy psi0, Array.copy psi0
        plus.[i] <- plus.[i] + h
        minus.[i] <- minus.[i] - h
        let fd = (valueLossAt plus - valueLossAt minus) / (2.0f * h)
        worst <- max worst (abs (fd - grad.[i]) / max 0.05f (abs fd))
    Assert.True(worst < 0.02f, sprintf "worst relative error %g over %d value parameters" worst psi0.Length)
    Assert.NotEqual<float32[]>(psi0, nonNull state.Value)
    // Q targets from the target V, exactly as SoftBellman.target forms them.
    DeviceSac.valueTargets ctx.Device b learner
    let vNext = (Mlp.Forward(gemm, n.Value, ReadOnlySpan(nonNull state.TargetValue), ReadOnlySpan batch.NextObservations, b, MlpWorkspace(n.Value, b))).ToArray()
    let expected = Array.init b (fun i -> SoftBellman.target ctx.Config.Gamma batch.Rewards.[i] batch.Terminated.[i] vNext.[i])
    Assert.Equal<float32[]>(expected, (HostBackend.Span(ctx.Device.Targets.Slice(0, b))).ToArray())

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
    ``SAC v1 on the seam: the value step's gradient is Losses.value's, and the Q targets are r + gamma (1 - terminated) V_target(s')``
    ``a whole update allocates nothing once warm``
    ``the temperature rises when the policy's entropy is below target``
    ``a fixed temperature stays fixed``
    ``Polyak moves the target critic by tau toward the online critic (v2) and the target value (v1)``
    ``the same seed gives bitwise-identical learners on one and two threads``
    ``SAC learns PointGoal within a few thousand steps, far beyond any random policy``
    ``a saved learner names its algorithm, and a damaged file is rejected before loading``
]
