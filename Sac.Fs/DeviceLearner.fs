namespace Sac.Fs

open System
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend

/// <summary>Backend arrays for one batch of tanh-Gaussian samples: what the forward kernel writes and the backward reads.</summary>
/// <param name="backend">The backend that owns the arrays.</param>
/// <param name="maxBatch">The most rows a sample holds.</param>
/// <param name="actDim">Action length |A|.</param>
[<Sealed>]
type DevicePolicySample(backend: ISacBackend, maxBatch: int, actDim: int) =
    let n = Guard.product maxBatch actDim
    let action = backend.Allocate n
    let sigma = backend.Allocate n
    let logStdGrad = backend.Allocate n
    let logPi = backend.Allocate maxBatch
    /// <summary>The squashed actions a = tanh(u) of the first <paramref name="rows"/> rows.</summary>
    member _.Action rows = action.Slice(0, rows * actDim)
    /// <summary>The standard deviations sigma of the first rows (kept for the backward pass).</summary>
    member _.Sigma rows = sigma.Slice(0, rows * actDim)
    /// <summary>d log sigma / d raw log-std of the first rows (kept for the backward pass).</summary>
    member _.LogStdGrad rows = logStdGrad.Slice(0, rows * actDim)
    /// <summary>With gSDE: the variance sigma^2 of the first rows (the array <c>Sigma</c> holds without gSDE).</summary>
    member _.Variance rows = sigma.Slice(0, rows * actDim)
    /// <summary>With gSDE: the noise phi(s) E of the first rows (the array <c>LogStdGrad</c> holds without gSDE).</summary>
    member _.Noise rows = logStdGrad.Slice(0, rows * actDim)
    /// <summary>log pi(a|s) of the first rows.</summary>
    member _.LogPi rows = logPi.Slice(0, rows)
    interface IDisposable with
        /// <summary>Releases the arrays.</summary>
        member _.Dispose() =
            action.Dispose()
            sigma.Dispose()
            logStdGrad.Dispose()
            logPi.Dispose()

/// <summary>
/// SAC v1's state-value network on a backend: parameters, their Polyak target and Adam moments; the Adam step count is
/// a host scalar.
/// </summary>
[<Sealed>]
type DeviceValueNetwork internal (parameters: DeviceArray, target: DeviceArray, firstMoment: DeviceArray, secondMoment: DeviceArray, steps: int64) =
    let mutable steps = steps
    /// <summary>V_psi's parameters (flat <c>MlpSpec</c> layout).</summary>
    member _.Parameters = parameters
    /// <summary>The Polyak-averaged target V.</summary>
    member _.Target = target
    /// <summary>Adam first moment.</summary>
    member _.FirstMoment = firstMoment
    /// <summary>Adam second moment.</summary>
    member _.SecondMoment = secondMoment
    /// <summary>Adam steps taken.</summary>
    member _.OptimizerStep with get () = steps and internal set v = steps <- v
    interface IDisposable with
        /// <summary>Releases the backend arrays.</summary>
        member _.Dispose() =
            for a in [| parameters; target; firstMoment; secondMoment |] do a.Dispose()

/// <summary>
/// A SAC learner resident on a backend: actor, twin critics, target critics and the Adam moments of actor and
/// critics live in backend arrays; log alpha, its one-element Adam state, the optimizer step counts, the step and the
/// RNG key are host scalars. <c>DeviceSac.update</c> changes it in place (it is device state, not a value): keep a
/// snapshot with <c>DeviceSac.download</c>. Disposing it releases the arrays.
/// </summary>
[<Sealed>]
type DeviceLearner internal (actor: DeviceArray, critic: DeviceArray, targetCritic: DeviceArray,
                             actorM: DeviceArray, actorV: DeviceArray, criticM: DeviceArray, criticV: DeviceArray,
                             value: DeviceValueNetwork | null,
                             actorSteps: int64, criticSteps: int64, alphaOptimizer: AdamState, logAlpha: float32,
                             step: int64, key: PhiloxKey) =
    let mutable actorSteps = actorSteps
    let mutable criticSteps = criticSteps
    let mutable alphaOptimizer = alphaOptimizer
    let mutable logAlpha = logAlpha
    let mutable step = step
    let mutable key = key

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
    /// <summary>Root RNG key; each step derives its noise from it and <c>Step</c> (<c>DeviceSac.stepKeyAt</c>).</summary>
    member _.Key with get () = key and internal set v = key <- v
    /// <summary>The SAC v1 state-value network with its target and Adam state; null for SAC v2.</summary>
    member _.Value = value

    interface IDisposable with
        /// <summary>Releases the backend arrays.</summary>
        member _.Dispose() =
            for a in [| actor; critic; targetCritic; actorM; actorV; criticM; criticV |] do a.Dispose()
            match value with null -> () | v -> (v :> IDisposable).Dispose()

