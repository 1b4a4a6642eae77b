namespace Sac.Fs

open System
open Sac.Core.Config
open Sac.Core.Optim
open Sac.Cuda.Backend

/// <summary>
/// The fixed parts of a SAC learner on a backend: the validated configuration, network shapes, optimizer settings,
/// and every backend array one update needs (batch, noise, activations, policy samples, gradients, loss terms,
/// metric sums), allocated once for <c>config.BatchSize</c> rows so <c>DeviceSac.update</c> allocates nothing.
/// </summary>
/// <param name="config">A valid SAC configuration (v2, or v1 with its state-value network).</param>
/// <param name="observationSize">Observation length |S|.</param>
/// <param name="actionSize">Action length |A|.</param>
/// <param name="backend">The backend that owns every array and runs every operation.</param>
[<Sealed>]
type DeviceSacContext(config: SacConfig, observationSize: int, actionSize: int, backend: ISacBackend) =
    do
        ArgumentNullException.ThrowIfNull config
        ArgumentNullException.ThrowIfNull backend
        config.ThrowIfInvalid() |> ignore
        if config.UseSde && backend.Name <> "host" then
            raise (NotSupportedException $"gSDE (UseSde) runs on the host backend only, not on '{backend.Name}'; train on the CPU.")
    let networks = SacNetworks(config, observationSize, actionSize)
    let adam (lr: float32) = AdamConfig(lr, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)
    let b = config.BatchSize
    let o, a = observationSize, actionSize
    let w = o + a
    let alloc n = backend.Allocate n
    let perRow n = Guard.product b n |> alloc
    let v1 = config.Variant = SacVariant.V1
    // Metric sums, one slot each, then log pi at s staged for the host's temperature step: one download per update.
    let slots = 6
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
    // Critic 2's loss terms, apart from critic 1's so the two critic steps can run side by side.
    let terms2 = keep (perRow 1)
    let actorGrad = keep (alloc networks.ActorParameters)
    let criticGrad = keep (alloc (2 * networks.CriticParameters))
    let actorOnObs = keep (new DeviceMlpWorkspace(backend, networks.Actor, b))
    let actorOnNext = keep (new DeviceMlpWorkspace(backend, networks.Actor, b))
    let critic1 = keep (new DeviceMlpWorkspace(backend, networks.Critic, b))
    let critic2 = keep (new DeviceMlpWorkspace(backend, networks.Critic, b))
    let policyOnObs = keep (new DevicePolicySample(backend, b, a))
    let policyOnNext = keep (new DevicePolicySample(backend, b, a))
    // SAC v1 only: V at s and at s', dL/dV, its parameter gradient, and zeros (reward and log pi of the backups that
    // the value targets are written as).
    let ifV1 (make: unit -> 'T) : 'T | null when 'T :> IDisposable and 'T : not struct and 'T : not null =
        if v1 then withNull (keep (make ())) else null
    let valueOnObs = ifV1 (fun () -> new DeviceMlpWorkspace(backend, networks.Value, b))
    let valueOnNext = ifV1 (fun () -> new DeviceMlpWorkspace(backend, networks.Value, b))
    let valueGrad = ifV1 (fun () -> perRow 1)
    let valueParameterGrad = ifV1 (fun () -> alloc networks.Value.ParameterCount)
    let zeros = ifV1 (fun () -> perRow 1)
    // gSDE only: eps, std and the exploration matrix E = std eps of the update (latent x |A| each).
    let gsdeArray () : DeviceArray option =
        if config.UseSde then
            let d = alloc (Guard.product networks.LatentSize actionSize)
            arrays.Add d
            Some d
        else None
    let gsdeLatentGrad = if config.UseSde then Some(keep (perRow networks.LatentSize)) else None
    let gsdeEps = gsdeArray ()
    let gsdeStd = gsdeArray ()
    let gsdeExploration = gsdeArray ()
    let ifGsdeArray (arr: DeviceArray option) : DeviceArray =
        match arr with
        | None -> invalidOp "The context was built without gSDE; it has no gSDE arrays."
        | Some a -> a
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
    /// <summary>The factor on every learning rate that the stages' optimizer steps use, staged by
    /// <c>DeviceSac.updateWith</c> (a schedule's, in [0, 1]; 1 by default).</summary>
    member val LearningRateFactor = 1.0f with get, set
    /// <summary>Adam settings of the v1 value network (the critic learning rate, as in SAC v1).</summary>
    member val ValueAdam = adam config.CriticLearningRate
    /// <summary>The target entropy H0 (-|A| unless configured).</summary>
    member val TargetEntropy = config.ResolvedTargetEntropy actionSize
    /// <summary>The actor's parameter gradient of the last update.</summary>
    member _.ActorGradient = actorGrad
    /// <summary>The twin critics' parameter gradient of the last update, Q1 then Q2.</summary>
    member _.CriticGradient = criticGrad
    /// <summary>The v1 value network's parameter gradient of the last update; null for SAC v2.</summary>
    member _.ValueGradient = valueParameterGrad

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
    /// <summary>The Q targets y of the last update (soft targets for v2, r + gamma (1 - terminated) V_target(s') for v1).</summary>
    member _.Targets = targets
    member internal _.Q1Grad = q1Grad
    member internal _.Q2Grad = q2Grad
    member internal _.LogPiGrad = logPiGrad
    member internal _.Terms = terms
    member internal _.Terms2 = terms2
    member internal _.ActorOnObs = actorOnObs
    member internal _.ActorOnNext = actorOnNext
    member internal _.Critic1 = critic1
    member internal _.Critic2 = critic2
    member internal _.PolicyOnObs = policyOnObs
    member internal _.PolicyOnNext = policyOnNext
    member internal _.ValueOnObs = valueOnObs
    member internal _.ValueOnNext = valueOnNext
    member internal _.ValueGrad = valueGrad
    member internal _.Zeros = zeros
    member internal _.GsdeEps : DeviceArray = ifGsdeArray gsdeEps
    member internal _.GsdeLatentGrad : DeviceArray = ifGsdeArray gsdeLatentGrad
    member internal _.GsdeStd : DeviceArray = ifGsdeArray gsdeStd
    member internal _.GsdeExploration : DeviceArray = ifGsdeArray gsdeExploration
    member internal _.Metrics = metrics
    member internal _.MetricSlots = slots
    /// Host copy of the metric array, filled by the update's one download.
    member val internal HostMetrics = Array.zeroCreate<float32> (slots + b)
    /// log alpha as a one-element parameter vector for Adam.
    member val internal HostLogAlpha = Array.zeroCreate<float32> 1
    /// d(temperature loss)/dlog alpha.
    member val internal HostLogAlphaGrad = Array.zeroCreate<float32> 1
    /// The stage the next pair of side-by-side branches runs, and the learner and batch rows it reads: set by
    /// DeviceSac before each <c>RunPair</c>, so the pair's work object is made once per context.
    member val internal PairStage = 0 with get, set
    member val internal PairLearner : DeviceLearner | null = null with get, set
    member val internal PairRows = 0 with get, set
    member val internal PairWork : IPairWork | null = null with get, set
    /// The actor's Adam step over one range of its parameters, taken by the backward pass as each range's gradient
    /// is complete; made once per context, like the pair's work object.
    member val internal ActorAdamRanges : IParameterRangeStep | null = null with get, set

    interface IDisposable with
        /// <summary>Releases the workspace's backend arrays (not the backend, which the caller owns).</summary>
        member _.Dispose() =
            for d in arrays do d.Dispose()

