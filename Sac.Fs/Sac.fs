namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random

/// <summary>What one SAC update reports.</summary>
[<Struct>]
type SacMetrics =
    { /// <summary>Sum over both critics of the mean 0.5 (Q - y)^2.</summary>
      CriticLoss: float32
      /// <summary>Mean alpha log pi - min Q at the reparameterised action.</summary>
      ActorLoss: float32
      /// <summary>Temperature loss (0 with a fixed alpha).</summary>
      AlphaLoss: float32
      /// <summary>SAC v1 value loss (0 for v2).</summary>
      ValueLoss: float32
      /// <summary>The temperature this update used.</summary>
      Alpha: float32
      /// <summary>Policy entropy estimate, -mean log pi over the batch.</summary>
      Entropy: float32
      /// <summary>Mean Q1 over the batch's (s, a).</summary>
      MeanQ: float32 }

/// <summary>
/// A SAC learner's fixed parts: the validated configuration, network shapes, optimizer settings, the GEMM provider
/// and the preallocated workspace. Everything that changes lives in <see cref="LearnerState"/>.
/// </summary>
[<Sealed>]
type SacContext(config: SacConfig, observationSize: int, actionSize: int, gemm: IGemm) =
    do config.ThrowIfInvalid() |> ignore
    let networks = SacNetworks(config, observationSize, actionSize)
    let adam (lr: float32) = AdamConfig(lr, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)

    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Network shapes.</summary>
    member _.Networks = networks
    /// <summary>The GEMM every network pass uses.</summary>
    member _.Gemm = gemm
    /// <summary>Scratch buffers for one update.</summary>
    member val Workspace = SacWorkspace(networks, config.BatchSize)
    /// <summary>Adam settings of the actor.</summary>
    member val ActorAdam = adam config.ActorLearningRate
    /// <summary>Adam settings of the twin critics.</summary>
    member val CriticAdam = adam config.CriticLearningRate
    /// <summary>Adam settings of log alpha (never clipped: one scalar).</summary>
    member val AlphaAdam = AdamConfig(config.AlphaLearningRate)
    /// <summary>Adam settings of the v1 value network (the critic learning rate, as in SAC v1).</summary>
    member val ValueAdam = adam config.CriticLearningRate
    /// <summary>How the raw log-std output becomes log sigma.</summary>
    member val LogStd = LogStdRange.FromConfig config
    /// <summary>The target entropy H0 (-|A| unless configured).</summary>
    member val TargetEntropy = config.ResolvedTargetEntropy actionSize

/// <summary>
/// Soft Actor-Critic (Haarnoja et al. 2018): initialisation and one gradient step, v2 (twin Q, target critics,
/// automatic temperature) and v1 (state-value network with a target V). The step follows Stable-Baselines3's order:
/// sample the policy at s; temperature step (alpha read before it); soft targets; critic step; actor step against
/// the updated critics; Polyak.
/// </summary>
[<RequireQualifiedAccess>]
module Sac =

    let private criticSlice (ctx: SacContext) (parameters: float32[]) (i: int) =
        let p = ctx.Networks.CriticParameters
        ReadOnlySpan<float32>(parameters, i * p, p)

    /// <summary>A fresh learner: PyTorch-default initialised networks, targets equal to the online networks,
    /// zero optimizer moments, log alpha = log(InitialAlpha), step 0; every draw derived from <paramref name="seed"/>.</summary>
    [<CompiledName("Init")>]
    let init (ctx: SacContext) (seed: uint64) : LearnerState =
        let n = ctx.Networks
        let root = PhiloxKey.FromSeed seed
        let actor = Mlp.InitParameters(n.Actor, root.FoldIn 1u)
        let p = n.CriticParameters
        let critic = Array.zeroCreate<float32> (2 * p)
        Mlp.Init(n.Critic, root.FoldIn 2u, Span<float32>(critic, 0, p))
        Mlp.Init(n.Critic, root.FoldIn 3u, Span<float32>(critic, p, p))
        let v1 = ctx.Config.Variant = SacVariant.V1
        let value: float32[] | null = if v1 then Mlp.InitParameters(n.Value, root.FoldIn 4u) else null
        let targetValue: float32[] | null = match value with null -> null | v -> Array.copy v
        LearnerState(
            actor, critic, Array.copy critic,
            value, targetValue,
            Adam.Init actor.Length, Adam.Init critic.Length, Adam.Init 1,
            (match value with null -> Nullable() | v -> Nullable(Adam.Init v.Length)),
            MathF.Log ctx.Config.InitialAlpha, 0L, root.FoldIn 5u)

    /// <summary>Rows [s, a] of the critic input, written into <paramref name="dest"/>.</summary>
    [<CompiledName("ConcatRows")>]
    let concatRows (rows: int) (obsSize: int) (actSize: int) (obs: ReadOnlySpan<float32>) (act: ReadOnlySpan<float32>) (dest: Span<float32>) =
        let w = obsSize + actSize
        for i in 0 .. rows - 1 do
            obs.Slice(i * obsSize, obsSize).CopyTo(dest.Slice(i * w, obsSize))
            act.Slice(i * actSize, actSize).CopyTo(dest.Slice(i * w + obsSize, actSize))

    /// <summary>
    /// <c>dest[i, j] = x1[i, offset + j] + x2[i, offset + j]</c> for j &lt; cols: one column block of two row-major
    /// rows x width matrices, added (the actor's dL/da, summed over both critics' input gradients).
    /// </summary>
    [<CompiledName("SumColumnBlock")>]
    let sumColumnBlock (rows: int) (width: int) (offset: int) (cols: int) (x1: ReadOnlySpan<float32>) (x2: ReadOnlySpan<float32>) (dest: Span<float32>) =
        for i in 0 .. rows - 1 do
            for j in 0 .. cols - 1 do
                dest.[i * cols + j] <- x1.[i * width + offset + j] + x2.[i * width + offset + j]

    /// <summary>
    /// Policy sample (SAC v2, eq. 8): actor forward on <paramref name="obs"/> into <paramref name="net"/>, then the
    /// reparameterised a = tanh(mu + sigma eps) with the given noise, log pi included, into <paramref name="policy"/>.
    /// </summary>
    [<CompiledName("SamplePolicy")>]
    let samplePolicy (ctx: SacContext) (actor: float32[]) (net: MlpWorkspace) (rows: int) (obs: ReadOnlySpan<float32>) (noise: float32[]) (policy: TanhGaussianWorkspace) =
        let ws = ctx.Workspace
        let a = ctx.Networks.ActionSize
        let out = Mlp.Forward(ctx.Gemm, ctx.Networks.Actor, ReadOnlySpan actor, obs, rows, net)
        // The network emits [mean, raw log-std] per row; the policy head takes them as two matrices.
        for i in 0 .. rows - 1 do
            out.Slice(i * 2 * a, a).CopyTo(Span<float32>(ws.Mean, i * a, a))
            out.Slice(i * 2 * a + a, a).CopyTo(Span<float32>(ws.RawLogStd, i * a, a))
        TanhGaussian.sampleForward ctx.LogStd (rows, a) (ReadOnlySpan(ws.Mean, 0, rows * a), ReadOnlySpan(ws.RawLogStd, 0, rows * a), ReadOnlySpan(noise, 0, rows * a), policy)

    /// <summary>The key of step <paramref name="step"/>'s noise under the root <paramref name="key"/>: independent per step, reproducible from the root key.</summary>
    [<CompiledName("StepKeyAt")>]
    let stepKeyAt (key: PhiloxKey) (step: int64) = key.FoldIn(uint32 step).FoldIn(uint32 (step >>> 32))

    /// <summary>The key of step <c>state.Step</c>'s noise, <c>stepKeyAt state.Key state.Step</c>.</summary>
    [<CompiledName("StepKey")>]
    let stepKey (state: LearnerState) = stepKeyAt state.Key state.Step

    /// <summary>
    /// Temperature step (SAC v2, eq. 18, on log alpha): one Adam step on -log alpha (log pi + H0), averaged over the
    /// batch's policy samples. A no-op returning loss 0 when alpha is fixed.
    /// </summary>
    [<CompiledName("TemperatureStep")>]
    let temperatureStep (ctx: SacContext) (rows: int) (logPi: ReadOnlySpan<float32>) (state: LearnerState) : struct (LearnerState * float32) =
        if not ctx.Config.AutoAlpha then struct (state, 0.0f)
        else
            let ws = ctx.Workspace
            let struct (loss, grad) = Losses.temperature state.LogAlpha ctx.TargetEntropy rows logPi
            ws.LogAlpha.[0] <- state.LogAlpha
            ws.LogAlphaGrad.[0] <- grad
            let opt = Adam.Update(ctx.AlphaAdam, state.AlphaOptimizer, ReadOnlySpan ws.LogAlphaGrad, Span ws.LogAlpha)
            struct (state.WithOptimizers(state.ActorOptimizer, state.CriticOptimizer, opt, state.ValueOptimizer, ws.LogAlpha.[0]), loss)

    /// <summary>
    /// Soft Q targets (SAC v2, eqs. 2-3): y = r + gamma (1 - terminated) (min(Q1', Q2')(s', a') - alpha log pi(a'|s')),
    /// a' ~ pi(.|s') freshly sampled with <paramref name="noise"/>; written to the workspace's Targets. No gradient.
    /// </summary>
    [<CompiledName("SoftTargets")>]
    let softTargets (ctx: SacContext) (batch: Batch) (alpha: float32) (noise: float32[]) (state: LearnerState) : unit =
        let ws = ctx.Workspace
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let next = ReadOnlySpan(batch.NextObservations, 0, b * o)
        samplePolicy ctx state.Actor ws.ActorOnNext b next noise ws.PolicyOnNext
        concatRows b o a next ws.PolicyOnNext.Action (Span ws.CriticInput)
        let input = ReadOnlySpan(ws.CriticInput, 0, b * (o + a))
        let q1 = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.TargetCritic 0, input, b, ws.Critic1)
        let q2 = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.TargetCritic 1, input, b, ws.Critic2)
        SoftBellman.targetBatch ctx.Config.Gamma alpha b (ReadOnlySpan batch.Rewards, ReadOnlySpan batch.Terminated, q1, q2, ws.PolicyOnNext.LogPi, Span ws.Targets)

    /// <summary>
    /// Critic step (SAC v2, eq. 5): one Adam step of both critics on the sum of their mean 0.5 (Q(s, a) - y)^2 against
    /// the workspace's Targets, which are constants. Returns the loss and the mean Q1.
    /// </summary>
    [<CompiledName("CriticStep")>]
    let criticStep (ctx: SacContext) (batch: Batch) (state: LearnerState) : struct (LearnerState * float32 * float32) =
        let ws = ctx.Workspace
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let p = ctx.Networks.CriticParameters
        concatRows b o a (ReadOnlySpan batch.Observations) (ReadOnlySpan batch.Actions) (Span ws.CriticInput)
        let input = ReadOnlySpan(ws.CriticInput, 0, b * (o + a))
        let targets = ReadOnlySpan(ws.Targets, 0, b)
        let mutable loss = 0.0f
        let mutable meanQ = 0.0f
        for i in 0 .. 1 do
            let net = if i = 0 then ws.Critic1 else ws.Critic2
            let dq = if i = 0 then ws.Q1Grad else ws.Q2Grad
            let q = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic i, input, b, net)
            if i = 0 then meanQ <- System.Numerics.Tensors.TensorPrimitives.Sum q / float32 b
            loss <- loss + Losses.critic b (q, targets, Span dq)
            Mlp.Backward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic i, net, b, ReadOnlySpan(dq, 0, b), Span(ws.CriticParameterGrad, i * p, p), Span<float32>.Empty)
        let opt = Adam.Update(ctx.CriticAdam, state.CriticOptimizer, ReadOnlySpan ws.CriticParameterGrad, Span state.Critic)
        struct (state.WithOptimizers(state.ActorOptimizer, opt, state.AlphaOptimizer, state.ValueOptimizer, state.LogAlpha), loss, meanQ)

    /// <summary>
    /// Actor step (SAC v2, eqs. 9-10): one Adam step of the policy on mean(alpha log pi(f(eps; s)|s) - min(Q1, Q2)(s, f(eps; s)))
    /// through the reparameterised sample that the workspace's PolicyOnObs holds. The gradient reaches the critics
    /// only as dQ/da through their inputs: critic parameters are read, never changed.
    /// </summary>
    [<CompiledName("ActorStep")>]
    let actorStep (ctx: SacContext) (batch: Batch) (alpha: float32) (state: LearnerState) : struct (LearnerState * float32) =
        let ws = ctx.Workspace
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let w = o + a
        concatRows b o a (ReadOnlySpan batch.Observations) ws.PolicyOnObs.Action (Span ws.CriticInput)
        let input = ReadOnlySpan(ws.CriticInput, 0, b * w)
        let q1 = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic 0, input, b, ws.Critic1)
        let q2 = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic 1, input, b, ws.Critic2)
        let loss = Losses.actor alpha b (ws.PolicyOnObs.LogPi, q1, q2, Span ws.LogPiGrad, Span ws.Q1Grad, Span ws.Q2Grad)
        Mlp.Backward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic 0, ws.Critic1, b, ReadOnlySpan(ws.Q1Grad, 0, b), Span<float32>.Empty, Span(ws.CriticInputGrad1, 0, b * w))
        Mlp.Backward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic 1, ws.Critic2, b, ReadOnlySpan(ws.Q2Grad, 0, b), Span<float32>.Empty, Span(ws.CriticInputGrad2, 0, b * w))
        let da = ws.ActionGrad
        sumColumnBlock b w o a (ReadOnlySpan ws.CriticInputGrad1) (ReadOnlySpan ws.CriticInputGrad2) (Span da)
        TanhGaussian.sampleBackward (b, a) (ws.PolicyOnObs, ReadOnlySpan(da, 0, b * a), ReadOnlySpan(ws.LogPiGrad, 0, b), Span ws.MeanGrad, Span ws.RawLogStdGrad)
        let dOut = ws.ActorOutputGrad
        for i in 0 .. b - 1 do
            Span<float32>(ws.MeanGrad, i * a, a).CopyTo(Span<float32>(dOut, i * 2 * a, a))
            Span<float32>(ws.RawLogStdGrad, i * a, a).CopyTo(Span<float32>(dOut, i * 2 * a + a, a))
        Mlp.Backward(ctx.Gemm, ctx.Networks.Actor, ReadOnlySpan state.Actor, ws.ActorOnObs, b, ReadOnlySpan(dOut, 0, b * 2 * a), Span ws.ActorParameterGrad, Span<float32>.Empty)
        let opt = Adam.Update(ctx.ActorAdam, state.ActorOptimizer, ReadOnlySpan ws.ActorParameterGrad, Span state.Actor)
        struct (state.WithOptimizers(opt, state.CriticOptimizer, state.AlphaOptimizer, state.ValueOptimizer, state.LogAlpha), loss)

    /// <summary>
    /// SAC v1 value step (SAC v1, eq. 5): one Adam step of V_psi on mean 0.5 (V(s) - (min Q(s, a) - alpha log pi(a|s)))^2,
    /// a ~ pi(.|s) from PolicyOnObs, current critics; the target is a constant.
    /// </summary>
    [<CompiledName("ValueStep")>]
    let valueStep (ctx: SacContext) (batch: Batch) (alpha: float32) (state: LearnerState) : struct (LearnerState * float32) =
        let ws = ctx.Workspace
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let obs = ReadOnlySpan(batch.Observations, 0, b * o)
        concatRows b o a obs ws.PolicyOnObs.Action (Span ws.CriticInput)
        let input = ReadOnlySpan(ws.CriticInput, 0, b * (o + a))
        let q1 = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic 0, input, b, ws.Critic1)
        let q2 = Mlp.Forward(ctx.Gemm, ctx.Networks.Critic, criticSlice ctx state.Critic 1, input, b, ws.Critic2)
        let v = Mlp.Forward(ctx.Gemm, ctx.Networks.Value, ReadOnlySpan state.Value, obs, b, ws.ValueOnObs)
        let loss = Losses.value alpha b (v, q1, q2, ws.PolicyOnObs.LogPi, Span ws.ValueGrad)
        Mlp.Backward(ctx.Gemm, ctx.Networks.Value, ReadOnlySpan state.Value, ws.ValueOnObs, b, ReadOnlySpan(ws.ValueGrad, 0, b), Span ws.ValueParameterGrad, Span<float32>.Empty)
        let opt = Adam.Update(ctx.ValueAdam, state.ValueOptimizer.Value, ReadOnlySpan ws.ValueParameterGrad, Span state.Value)
        struct (state.WithOptimizers(state.ActorOptimizer, state.CriticOptimizer, state.AlphaOptimizer, (Nullable opt), state.LogAlpha), loss)

    /// <summary>SAC v1 Q targets (SAC v1, eq. 8): y = r + gamma (1 - terminated) V_target(s'), into the workspace's Targets.</summary>
    [<CompiledName("ValueTargets")>]
    let valueTargets (ctx: SacContext) (batch: Batch) (state: LearnerState) : unit =
        let ws = ctx.Workspace
        let b, o = batch.Size, ctx.Networks.ObservationSize
        let vNext = Mlp.Forward(ctx.Gemm, ctx.Networks.Value, ReadOnlySpan state.TargetValue, ReadOnlySpan(batch.NextObservations, 0, b * o), b, ws.ValueOnNext)
        let gamma = ctx.Config.Gamma
        for i in 0 .. b - 1 do
            ws.Targets.[i] <- SoftBellman.target gamma batch.Rewards.[i] batch.Terminated.[i] vNext.[i]

    /// <summary>Polyak step (SAC, target networks): target &lt;- tau online + (1 - tau) target every TargetUpdateInterval steps.</summary>
    [<CompiledName("TargetStep")>]
    let targetStep (ctx: SacContext) (state: LearnerState) : unit =
        if (state.Step + 1L) % int64 ctx.Config.TargetUpdateInterval = 0L then
            match ctx.Config.Variant with
            | SacVariant.V1 -> Polyak.Update(ctx.Config.Tau, ReadOnlySpan state.Value, Span state.TargetValue)
            | _ -> Polyak.Update(ctx.Config.Tau, ReadOnlySpan state.Critic, Span state.TargetCritic)

    /// <summary>
    /// One SAC gradient step on <paramref name="batch"/>: returns the next state (which owns the same, updated, arrays)
    /// and the step's metrics. Allocates nothing.
    /// </summary>
    [<CompiledName("Update")>]
    let update (ctx: SacContext) (batch: Batch) (state: LearnerState) : struct (LearnerState * SacMetrics) =
        let ws = ctx.Workspace
        let b, o = batch.Size, ctx.Networks.ObservationSize
        if b > ws.BatchSize then invalidArg (nameof batch) $"The batch has {b} rows but the learner was built for at most {ws.BatchSize}."
        if batch.ObservationSize <> o || batch.ActionSize <> ctx.Networks.ActionSize then
            invalidArg (nameof batch) $"The batch holds observations of {batch.ObservationSize} and actions of {batch.ActionSize}; the learner needs {o} and {ctx.Networks.ActionSize}."
        let key = stepKey state
        let n = b * ctx.Networks.ActionSize
        Philox.FillNormal(key, 0UL, Span(ws.NoiseObs, 0, n))
        Philox.FillNormal(key, uint64 n, Span(ws.NoiseNext, 0, n))
        samplePolicy ctx state.Actor ws.ActorOnObs b (ReadOnlySpan(batch.Observations, 0, b * o)) ws.NoiseObs ws.PolicyOnObs
        let entropy = -(System.Numerics.Tensors.TensorPrimitives.Sum ws.PolicyOnObs.LogPi / float32 b)
        // SB3 reads alpha before the temperature step and uses it for the targets and the actor loss.
        let alpha = MathF.Exp state.LogAlpha
        let struct (state, alphaLoss) = temperatureStep ctx b ws.PolicyOnObs.LogPi state
        let struct (state, valueLoss) =
            match ctx.Config.Variant with
            | SacVariant.V1 ->
                let r = valueStep ctx batch alpha state
                valueTargets ctx batch state
                r
            | _ ->
                softTargets ctx batch alpha ws.NoiseNext state
                struct (state, 0.0f)
        let struct (state, criticLoss, meanQ) = criticStep ctx batch state
        let struct (state, actorLoss) = actorStep ctx batch alpha state
        targetStep ctx state
        struct (state.WithStep(state.Step + 1L),
                { CriticLoss = criticLoss; ActorLoss = actorLoss; AlphaLoss = alphaLoss; ValueLoss = valueLoss
                  Alpha = alpha; Entropy = entropy; MeanQ = meanQ })
