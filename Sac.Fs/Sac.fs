namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend

/// <summary>
/// A SAC learner's fixed parts on the CPU: the validated configuration, network shapes, the GEMM provider, and the
/// host-backend context whose preallocated arrays one update uses. Everything that changes lives in
/// <see cref="LearnerState"/>.
/// </summary>
[<Sealed>]
type SacContext(config: SacConfig, observationSize: int, actionSize: int, gemm: IGemm) =
    do config.ThrowIfInvalid() |> ignore
    let device = new DeviceSacContext(config, observationSize, actionSize, new HostBackend(gemm))
    // The device learner over the last state's own arrays: rebuilt only when a state with other arrays comes in.
    let mutable bound : DeviceLearner option = None
    static let data (d: DeviceArray) = (d :?> HostArray).Data
    static let holds (d: DeviceArray) (a: float32[] | null) = obj.ReferenceEquals(data d, a)

    static let sameArrays (l: DeviceLearner) (s: LearnerState) =
        holds l.Actor s.Actor && holds l.Critic s.Critic && holds l.TargetCritic s.TargetCritic
        && holds l.ActorFirstMoment s.ActorOptimizer.FirstMoment && holds l.ActorSecondMoment s.ActorOptimizer.SecondMoment
        && holds l.CriticFirstMoment s.CriticOptimizer.FirstMoment && holds l.CriticSecondMoment s.CriticOptimizer.SecondMoment
        && (match l.Value with
            | null -> isNull s.Value
            | v ->
                s.ValueOptimizer.HasValue && holds v.Parameters s.Value && holds v.Target s.TargetValue
                && holds v.FirstMoment s.ValueOptimizer.Value.FirstMoment && holds v.SecondMoment s.ValueOptimizer.Value.SecondMoment)

    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Network shapes.</summary>
    member _.Networks = device.Networks
    /// <summary>The GEMM every network pass uses.</summary>
    member _.Gemm = gemm
    /// <summary>How the raw log-std output becomes log sigma.</summary>
    member val LogStd = LogStdRange.FromConfig config
    /// <summary>The target entropy H0 (-|A| unless configured).</summary>
    member _.TargetEntropy = device.TargetEntropy
    /// <summary>The update's context on the host backend: <c>DeviceSac</c>'s stages run on it.</summary>
    member _.Device = device
    /// <summary>The actor's parameter gradient of the last update.</summary>
    member _.ActorGradient : float32[] = data device.ActorGradient
    /// <summary>The twin critics' parameter gradient of the last update, Q1 then Q2.</summary>
    member _.CriticGradient : float32[] = data device.CriticGradient
    /// <summary>The v1 value network's parameter gradient of the last update; null for SAC v2.</summary>
    member _.ValueGradient : float32[] | null = match device.ValueGradient with null -> null | d -> data d

    /// <summary>
    /// The device learner that works on <paramref name="state"/>'s own arrays, with its scalars: the same object for
    /// every state that holds the same arrays, so the update loop allocates nothing.
    /// </summary>
    /// <param name="state">The learner state.</param>
    member _.Bind(state: LearnerState) : DeviceLearner =
        let learner =
            match bound with
            | Some l when sameArrays l state -> l
            | _ ->
                let l = DeviceSac.learnerOf device (fun a -> new HostArray(a)) state
                bound <- Some l
                l
        learner.ActorOptimizerStep <- state.ActorOptimizer.Step
        learner.CriticOptimizerStep <- state.CriticOptimizer.Step
        learner.AlphaOptimizer <- state.AlphaOptimizer
        learner.LogAlpha <- state.LogAlpha
        learner.Step <- state.Step
        learner.Key <- state.Key
        match learner.Value with
        | null -> ()
        | v -> v.OptimizerStep <- state.ValueOptimizer.Value.Step
        learner

/// <summary>
/// Soft Actor-Critic (Haarnoja et al. 2018) on the CPU: initialisation, and the one SAC update of
/// <c>DeviceSac.update</c> run on the host backend over the learner's own arrays.
/// </summary>
[<RequireQualifiedAccess>]
module Sac =

    /// <summary>A fresh learner: PyTorch-default initialised networks (with gSDE, the log-std matrix at LogStdInit), targets equal to the online networks,
    /// zero optimizer moments, log alpha = log(InitialAlpha), step 0; every draw derived from <paramref name="seed"/>.</summary>
    [<CompiledName("Init")>]
    let init (ctx: SacContext) (seed: uint64) : LearnerState =
        let n = ctx.Networks
        let root = PhiloxKey.FromSeed seed
        let actor = Array.zeroCreate<float32> n.ActorParameters
        Mlp.Init(n.Actor, root.FoldIn 1u, Span<float32>(actor, 0, n.Actor.ParameterCount))
        // gSDE: the log-std matrix after the MLP starts at LogStdInit everywhere (SB3's log_std_init).
        Array.fill actor n.Actor.ParameterCount n.LogStdParameters ctx.Config.LogStdInit
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

    /// <summary>The key of step <c>state.Step</c>'s noise, <c>DeviceSac.stepKeyAt state.Key state.Step</c>.</summary>
    [<CompiledName("StepKey")>]
    let stepKey (state: LearnerState) = DeviceSac.stepKeyAt state.Key state.Step

    /// <summary>
    /// The state after the device learner's scalars changed: the same arrays (updated in place) with the learner's
    /// optimizer steps, log alpha and step.
    /// </summary>
    let private after (state: LearnerState) (l: DeviceLearner) =
        let adam (s: AdamState) (step: int64) = AdamState(step, s.FirstMoment, s.SecondMoment)
        let value =
            match l.Value with
            | null -> state.ValueOptimizer
            | v -> Nullable(adam state.ValueOptimizer.Value v.OptimizerStep)
        state.WithOptimizers(adam state.ActorOptimizer l.ActorOptimizerStep, adam state.CriticOptimizer l.CriticOptimizerStep,
                             l.AlphaOptimizer, value, l.LogAlpha).WithStep(l.Step)

    /// <summary>
    /// One SAC gradient step on <paramref name="batch"/> (<c>DeviceSac.updateWith</c> on the host backend), every
    /// optimizer at its configured learning rate times <paramref name="learningRateFactor"/> (a schedule's, in [0, 1]):
    /// returns the next state (which owns the same, updated, arrays) and the step's metrics. Allocates nothing once the
    /// context has seen the state's arrays.
    /// </summary>
    [<CompiledName("UpdateWith")>]
    let updateWith (ctx: SacContext) (learningRateFactor: float32) (batch: Batch) (state: LearnerState) : struct (LearnerState * SacMetrics) =
        let learner = ctx.Bind state
        let metrics = DeviceSac.updateWith ctx.Device learningRateFactor batch learner
        struct (after state learner, metrics)

    /// <summary>One SAC gradient step at the configured learning rates: <c>updateWith ctx 1 batch state</c>.</summary>
    [<CompiledName("Update")>]
    let update (ctx: SacContext) (batch: Batch) (state: LearnerState) : struct (LearnerState * SacMetrics) = updateWith ctx 1.0f batch state
