namespace Sac.Fs

open System
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend

/// <summary>Backend arrays for one batch of tanh-Gaussian samples: what the forward kernel writes and the backward reads.</summary>
[<Sealed>]
type internal DevicePolicySample(backend: ISacBackend, maxBatch: int, actDim: int) =
    let n = Guard.product maxBatch actDim
    let action = backend.Allocate n
    let sigma = backend.Allocate n
    let logStdGrad = backend.Allocate n
    let logPi = backend.Allocate maxBatch
    member _.Action rows = action.Slice(0, rows * actDim)
    member _.Sigma rows = sigma.Slice(0, rows * actDim)
    member _.LogStdGrad rows = logStdGrad.Slice(0, rows * actDim)
    member _.LogPi rows = logPi.Slice(0, rows)
    interface IDisposable with
        member _.Dispose() =
            action.Dispose()
            sigma.Dispose()
            logStdGrad.Dispose()
            logPi.Dispose()

/// <summary>
/// A SAC v2 learner resident on a backend: actor, twin critics, target critics and the Adam moments of actor and
/// critics live in backend arrays; log alpha, its one-element Adam state, the optimizer step counts, the step and the
/// RNG key are host scalars. <c>DeviceSac.update</c> changes it in place (it is device state, not a value): keep a
/// snapshot with <c>DeviceSac.download</c>. Disposing it releases the arrays.
/// </summary>
[<Sealed>]
type DeviceLearner internal (actor: DeviceArray, critic: DeviceArray, targetCritic: DeviceArray,
                             actorM: DeviceArray, actorV: DeviceArray, criticM: DeviceArray, criticV: DeviceArray,
                             actorSteps: int64, criticSteps: int64, alphaOptimizer: AdamState, logAlpha: float32,
                             step: int64, key: PhiloxKey) =
    let mutable actorSteps = actorSteps
    let mutable criticSteps = criticSteps
    let mutable alphaOptimizer = alphaOptimizer
    let mutable logAlpha = logAlpha
    let mutable step = step

    /// <summary>Policy network parameters (flat <c>MlpSpec</c> layout).</summary>
    member _.Actor = actor
    /// <summary>Twin soft Q-network parameters, Q1 then Q2.</summary>
    member _.Critic = critic
    /// <summary>Polyak-averaged copy of <c>Critic</c>.</summary>
    member _.TargetCritic = targetCritic
    /// <summary>Adam first moment of the actor.</summary>
    member _.ActorFirstMoment = actorM
    /// <summary>Adam second moment of the actor.</summary>
    member _.ActorSecondMoment = actorV
    /// <summary>Adam first moment of the twin critics.</summary>
    member _.CriticFirstMoment = criticM
    /// <summary>Adam second moment of the twin critics.</summary>
    member _.CriticSecondMoment = criticV
    /// <summary>Adam steps the actor has taken.</summary>
    member _.ActorOptimizerStep with get () = actorSteps and internal set v = actorSteps <- v
    /// <summary>Adam steps the critics have taken.</summary>
    member _.CriticOptimizerStep with get () = criticSteps and internal set v = criticSteps <- v
    /// <summary>Adam state of log alpha (host, one element; its arrays belong to this learner).</summary>
    member _.AlphaOptimizer with get () = alphaOptimizer and internal set v = alphaOptimizer <- v
    /// <summary>Log of the entropy temperature alpha.</summary>
    member _.LogAlpha with get () = logAlpha and internal set v = logAlpha <- v
    /// <summary>Gradient steps taken.</summary>
    member _.Step with get () = step and internal set v = step <- v
    /// <summary>Root RNG key; each step derives its noise from it and <c>Step</c> as <c>Sac.update</c> does.</summary>
    member _.Key = key

    interface IDisposable with
        /// <summary>Releases the backend arrays.</summary>
        member _.Dispose() =
            for a in [| actor; critic; targetCritic; actorM; actorV; criticM; criticV |] do a.Dispose()

/// <summary>
/// The fixed parts of a SAC v2 learner on a backend: the validated configuration, network shapes, optimizer settings,
/// and every backend array one update needs (batch, noise, activations, policy samples, gradients, loss terms,
/// metric sums), allocated once for <c>config.BatchSize</c> rows so <c>DeviceSac.update</c> allocates nothing.
/// </summary>
/// <remarks>SAC v1 (the state-value network) is not supported on a backend; it is refused here.</remarks>
/// <param name="config">A valid SAC configuration with <c>Variant = V2</c>.</param>
/// <param name="observationSize">Observation length |S|.</param>
/// <param name="actionSize">Action length |A|.</param>
/// <param name="backend">The backend that owns every array and runs every operation.</param>
/// <exception cref="T:System.NotSupportedException">The configuration asks for SAC v1.</exception>
[<Sealed>]
type DeviceSacContext(config: SacConfig, observationSize: int, actionSize: int, backend: ISacBackend) =
    do
        ArgumentNullException.ThrowIfNull config
        ArgumentNullException.ThrowIfNull backend
        config.ThrowIfInvalid() |> ignore
        if config.Variant <> SacVariant.V2 then
            raise (NotSupportedException(
                $"SAC variant {config.Variant} is not supported by DeviceSac: the device update implements SAC v2 only " +
                "(twin critics with target critics). Use Variant = V2, or run SAC v1 on the CPU with Sac.update."))
    let networks = SacNetworks(config, observationSize, actionSize)
    let adam (lr: float32) = AdamConfig(lr, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)
    let b = config.BatchSize
    let o, a = observationSize, actionSize
    let w = o + a
    let alloc n = backend.Allocate n
    let perRow n = Guard.product b n |> alloc
    // Metric sums, one slot each, then log pi at s staged for the host's temperature step: one download per update.
    let slots = 5
    let metrics = alloc (slots + b)
    let arrays =
        ResizeArray<IDisposable>()

    let keep (d: 'T when 'T :> IDisposable) = arrays.Add d; d
    let observations = keep (perRow o)
    let actions = keep (perRow a)
    let rewards = keep (perRow 1)
    let nextObservations = keep (perRow o)
    let terminated = keep (perRow 1)
    let noiseObs = keep (perRow a)
    let noiseNext = keep (perRow a)
    let criticInput = keep (perRow w)
    let criticInputGrad1 = keep (perRow w)
    let criticInputGrad2 = keep (perRow w)
    let actionGrad = keep (perRow a)
    let actorOutputGrad = keep (perRow (2 * a))
    let targets = keep (perRow 1)
    let q1Grad = keep (perRow 1)
    let q2Grad = keep (perRow 1)
    let logPiGrad = keep (perRow 1)
    let terms = keep (perRow 1)
    let actorGrad = keep (alloc networks.Actor.ParameterCount)
    let criticGrad = keep (alloc (2 * networks.CriticParameters))
    let actorOnObs = keep (new DeviceMlpWorkspace(backend, networks.Actor, b))
    let actorOnNext = keep (new DeviceMlpWorkspace(backend, networks.Actor, b))
    let critic1 = keep (new DeviceMlpWorkspace(backend, networks.Critic, b))
    let critic2 = keep (new DeviceMlpWorkspace(backend, networks.Critic, b))
    let policyOnObs = keep (new DevicePolicySample(backend, b, a))
    let policyOnNext = keep (new DevicePolicySample(backend, b, a))
    do arrays.Add metrics

    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Network shapes.</summary>
    member _.Networks = networks
    /// <summary>The backend every array lives on.</summary>
    member _.Backend = backend
    /// <summary>The most rows an update may use.</summary>
    member _.BatchSize = b
    /// <summary>Adam settings of the actor.</summary>
    member val ActorAdam = adam config.ActorLearningRate
    /// <summary>Adam settings of the twin critics.</summary>
    member val CriticAdam = adam config.CriticLearningRate
    /// <summary>Adam settings of log alpha (never clipped: one scalar).</summary>
    member val AlphaAdam = AdamConfig(config.AlphaLearningRate)
    /// <summary>The target entropy H0 (-|A| unless configured).</summary>
    member val TargetEntropy = config.ResolvedTargetEntropy actionSize

    member internal _.Observations = observations
    member internal _.Actions = actions
    member internal _.Rewards = rewards
    member internal _.NextObservations = nextObservations
    member internal _.Terminated = terminated
    member internal _.NoiseObs = noiseObs
    member internal _.NoiseNext = noiseNext
    member internal _.CriticInput = criticInput
    member internal _.CriticInputGrad1 = criticInputGrad1
    member internal _.CriticInputGrad2 = criticInputGrad2
    member internal _.ActionGrad = actionGrad
    member internal _.ActorOutputGrad = actorOutputGrad
    member internal _.Targets = targets
    member internal _.Q1Grad = q1Grad
    member internal _.Q2Grad = q2Grad
    member internal _.LogPiGrad = logPiGrad
    member internal _.Terms = terms
    member internal _.ActorGrad = actorGrad
    member internal _.CriticGrad = criticGrad
    member internal _.ActorOnObs = actorOnObs
    member internal _.ActorOnNext = actorOnNext
    member internal _.Critic1 = critic1
    member internal _.Critic2 = critic2
    member internal _.PolicyOnObs = policyOnObs
    member internal _.PolicyOnNext = policyOnNext
    member internal _.Metrics = metrics
    member internal _.MetricSlots = slots
    /// Host copy of the metric array, filled by the update's one download.
    member val internal HostMetrics = Array.zeroCreate<float32> (slots + b)
    /// log alpha as a one-element parameter vector for Adam.
    member val internal HostLogAlpha = Array.zeroCreate<float32> 1
    /// d(temperature loss)/dlog alpha.
    member val internal HostLogAlphaGrad = Array.zeroCreate<float32> 1

    interface IDisposable with
        /// <summary>Releases the workspace's backend arrays (not the backend, which the caller owns).</summary>
        member _.Dispose() =
            for d in arrays do d.Dispose()

/// <summary>
/// Soft Actor-Critic v2 written once against <see cref="T:Sac.Cuda.Backend.ISacBackend"/>: the update of <c>Sac.update</c>
/// in the same order (policy sample at s; alpha read; temperature step; soft targets; critic step; actor step against
/// the updated critics; Polyak), with the learner's networks and moments resident on the backend. On the host
/// backend it reproduces <c>Sac.update</c>; on a GPU backend the whole update stays on the device but for one upload
/// of the batch and one download of the metrics.
/// </summary>
[<RequireQualifiedAccess>]
module DeviceSac =

    // Metric slots in the context's metric array; log pi at s follows them.
    [<Literal>]
    let private SumLogPi = 0
    [<Literal>]
    let private SumQ1 = 1
    [<Literal>]
    let private CriticLoss1 = 2
    [<Literal>]
    let private ActorLoss = 4

    let private slot (ctx: DeviceSacContext) (i: int) = ctx.Metrics.Slice(i, 1)

    let private criticSlice (ctx: DeviceSacContext) (parameters: DeviceArray) (i: int) =
        let p = ctx.Networks.CriticParameters
        parameters.Slice(i * p, p)

    let private checkLearner (ctx: DeviceSacContext) (learner: DeviceLearner) =
        ArgumentNullException.ThrowIfNull learner
        let n = ctx.Networks
        if learner.Actor.Length <> n.Actor.ParameterCount || learner.Critic.Length <> 2 * n.CriticParameters then
            invalidArg (nameof learner) $"The learner holds {learner.Actor.Length} actor and {learner.Critic.Length} critic parameters; the context needs {n.Actor.ParameterCount} and {2 * n.CriticParameters}."

    let private copyAdam (s: AdamState) = AdamState(s.Step, Array.copy s.FirstMoment, Array.copy s.SecondMoment)

    /// <summary>
    /// Copies a host learner onto the backend: every parameter vector and moment into new backend arrays, the
    /// scalars (and log alpha's one-element Adam state, copied) into the device learner. The host state is not kept.
    /// </summary>
    /// <param name="ctx">The context of the shapes the state must have.</param>
    /// <param name="state">A SAC v2 learner state (no value network).</param>
    [<CompiledName("Upload")>]
    let upload (ctx: DeviceSacContext) (state: LearnerState) : DeviceLearner =
        let n = ctx.Networks
        let p, cp = n.Actor.ParameterCount, 2 * n.CriticParameters
        let need (name: string) (expected: int) (arr: float32[]) =
            let length = match box arr with null -> 0 | _ -> arr.Length
            if length <> expected then
                invalidArg (nameof state) $"state.{name} must hold {expected} floats, got {length}."
        need "Actor" p state.Actor
        need "Critic" cp state.Critic
        need "TargetCritic" cp state.TargetCritic
        need "ActorOptimizer.FirstMoment" p state.ActorOptimizer.FirstMoment
        need "ActorOptimizer.SecondMoment" p state.ActorOptimizer.SecondMoment
        need "CriticOptimizer.FirstMoment" cp state.CriticOptimizer.FirstMoment
        need "CriticOptimizer.SecondMoment" cp state.CriticOptimizer.SecondMoment
        need "AlphaOptimizer.FirstMoment" 1 state.AlphaOptimizer.FirstMoment
        need "AlphaOptimizer.SecondMoment" 1 state.AlphaOptimizer.SecondMoment
        if not (isNull state.Value) then invalidArg (nameof state) "state holds a SAC v1 value network; DeviceSac runs SAC v2 only."
        let bk = ctx.Backend
        let put (host: float32[]) =
            let d = bk.Allocate host.Length
            bk.Upload(ReadOnlySpan host, d.All)
            d
        new DeviceLearner(
            put state.Actor, put state.Critic, put state.TargetCritic,
            put state.ActorOptimizer.FirstMoment, put state.ActorOptimizer.SecondMoment,
            put state.CriticOptimizer.FirstMoment, put state.CriticOptimizer.SecondMoment,
            state.ActorOptimizer.Step, state.CriticOptimizer.Step, copyAdam state.AlphaOptimizer,
            state.LogAlpha, state.Step, state.Key)

    /// <summary>
    /// A full host copy of a device learner (parameters, targets, every optimizer moment and step, log alpha, step,
    /// key): for checkpoints and for comparison with <c>Sac.update</c>. Waits for the backend's queued work.
    /// </summary>
    /// <param name="ctx">The learner's context.</param>
    /// <param name="learner">The device learner; unchanged.</param>
    [<CompiledName("Download")>]
    let download (ctx: DeviceSacContext) (learner: DeviceLearner) : LearnerState =
        checkLearner ctx learner
        let bk = ctx.Backend
        let get (d: DeviceArray) =
            let host = Array.zeroCreate<float32> d.Length
            bk.Download(d.All, Span host)
            host
        LearnerState(
            get learner.Actor, get learner.Critic, get learner.TargetCritic, null, null,
            AdamState(learner.ActorOptimizerStep, get learner.ActorFirstMoment, get learner.ActorSecondMoment),
            AdamState(learner.CriticOptimizerStep, get learner.CriticFirstMoment, get learner.CriticSecondMoment),
            copyAdam learner.AlphaOptimizer, Nullable(), learner.LogAlpha, learner.Step, learner.Key)

    /// <summary>
    /// Copies just the actor parameters into <paramref name="dest"/> (for acting in the environment between updates
    /// with <c>Policy</c>); allocates nothing.
    /// </summary>
    /// <param name="ctx">The learner's context.</param>
    /// <param name="learner">The device learner.</param>
    /// <param name="dest">Exactly as many floats as the actor has parameters.</param>
    [<CompiledName("DownloadActor")>]
    let downloadActor (ctx: DeviceSacContext) (learner: DeviceLearner) (dest: float32[]) : unit =
        checkLearner ctx learner
        ArgumentNullException.ThrowIfNull dest
        if dest.Length <> learner.Actor.Length then
            invalidArg (nameof dest) $"dest has {dest.Length} elements; the actor has {learner.Actor.Length} parameters."
        ctx.Backend.Download(learner.Actor.All, Span dest)

    // Policy sample (SAC v2, eq. 8): actor forward on obs, then a = tanh(mu + sigma eps) and log pi from its output rows.
    let private samplePolicy (ctx: DeviceSacContext) (learner: DeviceLearner) (net: DeviceMlpWorkspace) (rows: int)
                             (obs: DeviceSlice) (noise: DeviceSlice) (policy: DevicePolicySample) =
        let bk = ctx.Backend
        let cfg = ctx.Config
        let out = DeviceMlp.forward bk ctx.Networks.Actor learner.Actor.All obs rows net
        bk.TanhGaussianForward(cfg.LogStdBound, cfg.LogStdMin, cfg.LogStdMax, rows, ctx.Networks.ActionSize, out, noise,
                               policy.Action rows, policy.Sigma rows, policy.LogStdGrad rows, policy.LogPi rows)

    // Soft Q targets (SAC v2, eqs. 2-3): y = r + gamma (1 - terminated) (min(Q1', Q2')(s', a') - alpha log pi(a'|s')).
    let private softTargets (ctx: DeviceSacContext) (b: int) (alpha: float32) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let next = ctx.NextObservations.Slice(0, b * o)
        let policy = ctx.PolicyOnNext
        samplePolicy ctx learner ctx.ActorOnNext b next (ctx.NoiseNext.Slice(0, b * a)) policy
        let input = ctx.CriticInput.Slice(0, b * (o + a))
        bk.ConcatColumns(b, next, o, policy.Action b, a, input)
        let q1 = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.TargetCritic 0) input b ctx.Critic1
        let q2 = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.TargetCritic 1) input b ctx.Critic2
        bk.SoftTarget(ctx.Config.Gamma, alpha, ctx.Rewards.Slice(0, b), ctx.Terminated.Slice(0, b), q1, q2, policy.LogPi b, ctx.Targets.Slice(0, b))

    // Critic step (SAC v2, eq. 5): one Adam step of both critics on sum_i mean 0.5 (Q_i(s, a) - y)^2, y constant.
    let private criticStep (ctx: DeviceSacContext) (b: int) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let p = ctx.Networks.CriticParameters
        let input = ctx.CriticInput.Slice(0, b * (o + a))
        bk.ConcatColumns(b, ctx.Observations.Slice(0, b * o), o, ctx.Actions.Slice(0, b * a), a, input)
        let targets = ctx.Targets.Slice(0, b)
        let terms = ctx.Terms.Slice(0, b)
        for i in 0 .. 1 do
            let net = if i = 0 then ctx.Critic1 else ctx.Critic2
            let dq = (if i = 0 then ctx.Q1Grad else ctx.Q2Grad).Slice(0, b)
            let q = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.Critic i) input b net
            if i = 0 then bk.Sum(q, slot ctx SumQ1)
            bk.CriticLoss(q, targets, dq, terms)
            bk.Sum(terms, slot ctx (CriticLoss1 + i))
            DeviceMlp.backward bk ctx.Networks.Critic (criticSlice ctx learner.Critic i) net b dq (ValueSome (ctx.CriticGrad.Slice(i * p, p))) ValueNone
        learner.CriticOptimizerStep <- learner.CriticOptimizerStep + 1L
        bk.Adam(ctx.CriticAdam, learner.CriticOptimizerStep, learner.Critic.All, ctx.CriticGrad.All, learner.CriticFirstMoment.All, learner.CriticSecondMoment.All)

    // Actor step (SAC v2, eqs. 9-10): one Adam step of the policy on mean(alpha log pi - min(Q1, Q2)) at the
    // reparameterised sample at s, against the updated critics; they receive only dQ/da, never a parameter update.
    let private actorStep (ctx: DeviceSacContext) (b: int) (alpha: float32) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let w = o + a
        let policy = ctx.PolicyOnObs
        let input = ctx.CriticInput.Slice(0, b * w)
        bk.ConcatColumns(b, ctx.Observations.Slice(0, b * o), o, policy.Action b, a, input)
        let q1 = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.Critic 0) input b ctx.Critic1
        let q2 = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.Critic 1) input b ctx.Critic2
        let dq1, dq2, dLogPi = ctx.Q1Grad.Slice(0, b), ctx.Q2Grad.Slice(0, b), ctx.LogPiGrad.Slice(0, b)
        let terms = ctx.Terms.Slice(0, b)
        bk.ActorLoss(alpha, policy.LogPi b, q1, q2, dLogPi, dq1, dq2, terms)
        bk.Sum(terms, slot ctx ActorLoss)
        let g1, g2 = ctx.CriticInputGrad1.Slice(0, b * w), ctx.CriticInputGrad2.Slice(0, b * w)
        DeviceMlp.backward bk ctx.Networks.Critic (criticSlice ctx learner.Critic 0) ctx.Critic1 b dq1 ValueNone (ValueSome g1)
        DeviceMlp.backward bk ctx.Networks.Critic (criticSlice ctx learner.Critic 1) ctx.Critic2 b dq2 ValueNone (ValueSome g2)
        let da = ctx.ActionGrad.Slice(0, b * a)
        bk.SumColumnBlock(b, w, o, a, g1, g2, da)
        let dOut = ctx.ActorOutputGrad.Slice(0, b * 2 * a)
        bk.TanhGaussianBackward(b, a, policy.Action b, policy.Sigma b, ctx.NoiseObs.Slice(0, b * a), policy.LogStdGrad b, da, dLogPi, dOut)
        DeviceMlp.backward bk ctx.Networks.Actor learner.Actor.All ctx.ActorOnObs b dOut (ValueSome ctx.ActorGrad.All) ValueNone
        learner.ActorOptimizerStep <- learner.ActorOptimizerStep + 1L
        bk.Adam(ctx.ActorAdam, learner.ActorOptimizerStep, learner.Actor.All, ctx.ActorGrad.All, learner.ActorFirstMoment.All, learner.ActorSecondMoment.All)

    // Temperature step (SAC v2, eq. 18, on log alpha), on the host: one Adam step on -log alpha (log pi + H0) over
    // the batch's log pi at s, with Losses.temperature and Adam as Sac.temperatureStep uses them.
    let private temperatureStep (ctx: DeviceSacContext) (b: int) (logPi: ReadOnlySpan<float32>) (learner: DeviceLearner) : float32 =
        let struct (loss, grad) = Losses.temperature learner.LogAlpha ctx.TargetEntropy b logPi
        ctx.HostLogAlpha.[0] <- learner.LogAlpha
        ctx.HostLogAlphaGrad.[0] <- grad
        learner.AlphaOptimizer <- Adam.Update(ctx.AlphaAdam, learner.AlphaOptimizer, ReadOnlySpan ctx.HostLogAlphaGrad, Span ctx.HostLogAlpha)
        learner.LogAlpha <- ctx.HostLogAlpha.[0]
        loss

    // Polyak step: target <- tau online + (1 - tau) target every TargetUpdateInterval steps.
    let private targetStep (ctx: DeviceSacContext) (learner: DeviceLearner) =
        if (learner.Step + 1L) % int64 ctx.Config.TargetUpdateInterval = 0L then
            ctx.Backend.Polyak(ctx.Config.Tau, learner.Critic.All, learner.TargetCritic.All)

    /// <summary>
    /// One SAC v2 gradient step on <paramref name="batch"/>, in place on <paramref name="learner"/> (device state: the
    /// learner passed in is the learner afterwards), returning the step's metrics. The batch is uploaded once into the
    /// context's arrays; the metrics (and log pi at s, for the host's temperature step) come back in one download.
    /// Allocates nothing. Same noise and order as <c>Sac.update</c>: on the host backend, from the same state, the same
    /// parameters, moments and log alpha bit for bit; the critic and actor losses are reduced from per-row float32
    /// terms rather than in float64, so they agree to rounding.
    /// </summary>
    /// <param name="ctx">The context the learner was uploaded with.</param>
    /// <param name="batch">At most <c>ctx.BatchSize</c> transitions of the context's sizes.</param>
    /// <param name="learner">Updated in place.</param>
    [<CompiledName("Update")>]
    let update (ctx: DeviceSacContext) (batch: Batch) (learner: DeviceLearner) : SacMetrics =
        ArgumentNullException.ThrowIfNull batch
        checkLearner ctx learner
        let bk = ctx.Backend
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        if b > ctx.BatchSize then invalidArg (nameof batch) $"The batch has {b} rows but the learner was built for at most {ctx.BatchSize}."
        if batch.ObservationSize <> o || batch.ActionSize <> a then
            invalidArg (nameof batch) $"The batch holds observations of {batch.ObservationSize} and actions of {batch.ActionSize}; the learner needs {o} and {a}."
        bk.Upload(ReadOnlySpan(batch.Observations, 0, b * o), ctx.Observations.Slice(0, b * o))
        bk.Upload(ReadOnlySpan(batch.Actions, 0, b * a), ctx.Actions.Slice(0, b * a))
        bk.Upload(ReadOnlySpan(batch.Rewards, 0, b), ctx.Rewards.Slice(0, b))
        bk.Upload(ReadOnlySpan(batch.NextObservations, 0, b * o), ctx.NextObservations.Slice(0, b * o))
        bk.Upload(ReadOnlySpan(batch.Terminated, 0, b), ctx.Terminated.Slice(0, b))
        let key = Sac.stepKeyAt learner.Key learner.Step
        let n = b * a
        bk.FillNormal(key, 0UL, ctx.NoiseObs.Slice(0, n))
        bk.FillNormal(key, uint64 n, ctx.NoiseNext.Slice(0, n))
        samplePolicy ctx learner ctx.ActorOnObs b (ctx.Observations.Slice(0, b * o)) (ctx.NoiseObs.Slice(0, n)) ctx.PolicyOnObs
        let logPi = ctx.PolicyOnObs.LogPi b
        bk.Sum(logPi, slot ctx SumLogPi)
        // SB3 reads alpha before the temperature step and uses it for the targets and the actor loss.
        let alpha = MathF.Exp learner.LogAlpha
        // Temperature step: log alpha lives on the host, so its step needs log pi at s there. Nothing later in this
        // update reads the new log alpha, so log pi is staged beside the metrics now and the host half of the step
        // runs after the update's one download, with the same result as running it here.
        let auto = ctx.Config.AutoAlpha
        let slots = ctx.MetricSlots
        if auto then bk.Copy(logPi, ctx.Metrics.Slice(slots, b))
        softTargets ctx b alpha learner
        criticStep ctx b learner
        actorStep ctx b alpha learner
        targetStep ctx learner
        let count = if auto then slots + b else slots
        bk.Download(ctx.Metrics.Slice(0, count), Span(ctx.HostMetrics, 0, count))
        let m = ctx.HostMetrics
        let alphaLoss = if auto then temperatureStep ctx b (ReadOnlySpan(m, slots, b)) learner else 0.0f
        learner.Step <- learner.Step + 1L
        { CriticLoss = m.[CriticLoss1] + m.[CriticLoss1 + 1]
          ActorLoss = m.[ActorLoss]
          AlphaLoss = alphaLoss
          ValueLoss = 0.0f
          Alpha = alpha
          Entropy = -(m.[SumLogPi] / float32 b)
          MeanQ = m.[SumQ1] / float32 b }
