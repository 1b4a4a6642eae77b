namespace Sac.Fs

open System
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend

/// <summary>
/// Soft Actor-Critic (Haarnoja et al. 2018) written once, against <see cref="T:Sac.Cuda.Backend.ISacBackend"/>: v2
/// (twin Q, target critics, automatic temperature) and v1 (adds a state-value network with a target V). One update, in
/// Stable-Baselines3's order: sample the policy at s; alpha read; temperature step; v1 value step and value targets, or
/// v2 soft targets; critic step; actor step against the updated critics; Polyak. <c>Sac.update</c> is this update on
/// the host backend over the learner's own arrays; on a GPU backend the whole update stays on the device but for one
/// upload of the batch and one download of the metrics.
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
    [<Literal>]
    let private ValueLoss = 5

    let private slot (ctx: DeviceSacContext) (i: int) = ctx.Metrics.Slice(i, 1)

    let private criticSlice (ctx: DeviceSacContext) (parameters: DeviceArray) (i: int) =
        let p = ctx.Networks.CriticParameters
        parameters.Slice(i * p, p)

    // The context's SAC v1 arrays, present when its configuration is v1.
    let private v1 (arr: 'T | null) : 'T =
        match arr with
        | null -> invalidOp "The context was built for SAC v2; it has no value-network arrays."
        | a -> a

    let private valueOf (learner: DeviceLearner) =
        match learner.Value with
        | null -> invalidOp "The configuration is SAC v1, but the learner has no value network."
        | v -> v

    let private checkLearner (ctx: DeviceSacContext) (learner: DeviceLearner) =
        ArgumentNullException.ThrowIfNull learner
        let n = ctx.Networks
        if learner.Actor.Length <> n.ActorParameters || learner.Critic.Length <> 2 * n.CriticParameters then
            invalidArg (nameof learner) $"The learner holds {learner.Actor.Length} actor and {learner.Critic.Length} critic parameters; the context needs {n.ActorParameters} and {2 * n.CriticParameters}."
        if (ctx.Config.Variant = SacVariant.V1) = isNull learner.Value then
            let has = if isNull learner.Value then "has no" else "has a"
            invalidArg (nameof learner) $"The learner {has} value network, but the configuration is SAC {ctx.Config.Variant}."

    let private copyAdam (s: AdamState) = AdamState(s.Step, Array.copy s.FirstMoment, Array.copy s.SecondMoment)

    /// <summary>
    /// Checks that a host learner has the context's shapes: every array present with the length the networks imply,
    /// and the value network present exactly for SAC v1 (an <see cref="T:System.ArgumentException"/> naming the field).
    /// </summary>
    /// <param name="ctx">The context whose shapes the state must have.</param>
    /// <param name="state">The learner state.</param>
    [<CompiledName("CheckState")>]
    let checkState (ctx: DeviceSacContext) (state: LearnerState) =
        let n = ctx.Networks
        let p, cp = n.ActorParameters, 2 * n.CriticParameters
        let need (name: string) (expected: int) (arr: float32[] | null) =
            let length = match arr with null -> 0 | a -> a.Length
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
        if ctx.Config.Variant = SacVariant.V1 then
            let vp = n.Value.ParameterCount
            need "Value" vp state.Value
            need "TargetValue" vp state.TargetValue
            if not state.ValueOptimizer.HasValue then invalidArg (nameof state) "state.ValueOptimizer must be set for SAC v1."
            need "ValueOptimizer.FirstMoment" vp state.ValueOptimizer.Value.FirstMoment
            need "ValueOptimizer.SecondMoment" vp state.ValueOptimizer.Value.SecondMoment
        elif not (isNull state.Value) then
            invalidArg (nameof state) "state holds a SAC v1 value network, but the configuration is SAC v2."

    /// <summary>
    /// A device learner over backend arrays that <paramref name="put"/> makes from each of the state's arrays (copies
    /// on a device; the arrays themselves on the host backend), with the state's scalars.
    /// </summary>
    let internal learnerOf (ctx: DeviceSacContext) (put: float32[] -> DeviceArray) (state: LearnerState) : DeviceLearner =
        checkState ctx state
        let value =
            match state.Value, state.TargetValue with
            | null, _ | _, null -> null
            | v, t ->
                let o = state.ValueOptimizer.Value
                new DeviceValueNetwork(put v, put t, put o.FirstMoment, put o.SecondMoment, o.Step)
        new DeviceLearner(
            put state.Actor, put state.Critic, put state.TargetCritic,
            put state.ActorOptimizer.FirstMoment, put state.ActorOptimizer.SecondMoment,
            put state.CriticOptimizer.FirstMoment, put state.CriticOptimizer.SecondMoment, value,
            state.ActorOptimizer.Step, state.CriticOptimizer.Step, state.AlphaOptimizer,
            state.LogAlpha, state.Step, state.Key)

    /// <summary>
    /// Copies a host learner onto the backend: every parameter vector and moment into new backend arrays, the
    /// scalars (and log alpha's one-element Adam state, copied) into the device learner. The host state is not kept.
    /// </summary>
    /// <param name="ctx">The context of the shapes the state must have.</param>
    /// <param name="state">A learner state of the context's variant.</param>
    [<CompiledName("Upload")>]
    let upload (ctx: DeviceSacContext) (state: LearnerState) : DeviceLearner =
        let bk = ctx.Backend
        let put (host: float32[]) =
            let d = bk.Allocate host.Length
            bk.Upload(ReadOnlySpan host, d.All)
            d
        let learner = learnerOf ctx put state
        learner.AlphaOptimizer <- copyAdam state.AlphaOptimizer
        learner

    /// <summary>
    /// A full host copy of a device learner (parameters, targets, every optimizer moment and step, log alpha, step,
    /// key): for checkpoints and for comparison. Waits for the backend's queued work.
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
        let value, target, valueAdam =
            match learner.Value with
            | null -> (null: float32[] | null), (null: float32[] | null), Nullable()
            | v -> get v.Parameters, get v.Target, Nullable(AdamState(v.OptimizerStep, get v.FirstMoment, get v.SecondMoment))
        LearnerState(
            get learner.Actor, get learner.Critic, get learner.TargetCritic, value, target,
            AdamState(learner.ActorOptimizerStep, get learner.ActorFirstMoment, get learner.ActorSecondMoment),
            AdamState(learner.CriticOptimizerStep, get learner.CriticFirstMoment, get learner.CriticSecondMoment),
            copyAdam learner.AlphaOptimizer, valueAdam, learner.LogAlpha, learner.Step, learner.Key)

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

    /// <summary>The key of step <paramref name="step"/>'s noise under the root <paramref name="key"/>: independent per step, reproducible from the root key.</summary>
    [<CompiledName("StepKeyAt")>]
    let stepKeyAt (key: PhiloxKey) (step: int64) = key.FoldIn(uint32 step).FoldIn(uint32 (step >>> 32))

    /// <summary>The stream, under a step's key, of the update's gSDE noise matrix eps.</summary>
    [<Literal>]
    let GsdeStream = 0x47534445u

    // The actor's MLP parameters and, with gSDE, its log-std matrix after them.
    let private actorMlp (ctx: DeviceSacContext) (actor: DeviceSlice) = actor.Slice(0, ctx.Networks.Actor.ParameterCount)
    let private actorLogStd (ctx: DeviceSacContext) (actor: DeviceSlice) =
        actor.Slice(ctx.Networks.Actor.ParameterCount, ctx.Networks.LogStdParameters)

    // phi(s): the actor's last hidden activations of the last forward pass on the workspace.
    let private latentOf (ctx: DeviceSacContext) (net: DeviceMlpWorkspace) = net.Output(ctx.Networks.Actor.LayerCount - 2)

    // Policy sample (SAC v2, eq. 8): actor forward on obs, then a = tanh(mu + sigma eps) and log pi from its output
    // rows; with gSDE (Raffin et al. 2021) a = tanh(clip(mu) + phi(s) E) with the update's exploration matrix E.
    let private samplePolicy (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (net: DeviceMlpWorkspace)
                             (rows: int) (obs: DeviceSlice) (noise: DeviceSlice) (policy: DevicePolicySample) =
        let cfg = ctx.Config
        let n = ctx.Networks
        let out = DeviceMlp.forward lane n.Actor (actorMlp ctx learner.Actor.All) obs rows net
        if n.Gsde then
            lane.GsdeForward(rows, n.LatentSize, n.ActionSize, latentOf ctx net, out, ctx.GsdeStd.All, ctx.GsdeExploration.All,
                             policy.Action rows, policy.Noise rows, policy.Variance rows, policy.LogPi rows)
        else
            lane.TanhGaussianForward(cfg.LogStdBound, cfg.LogStdMin, cfg.LogStdMax, rows, n.ActionSize, out, noise,
                                     policy.Action rows, policy.Sigma rows, policy.LogStdGrad rows, policy.LogPi rows)

    // The policy sample at s (for the actor step, the temperature and SAC v1's value step).
    let private sampleAtObs (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (b: int) =
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        // Step learner.Step's normals 0 .. b*a-1 (gSDE draws its exploration matrix instead, when loading the batch).
        if not ctx.Networks.Gsde then lane.FillNormal(stepKeyAt learner.Key learner.Step, 0UL, ctx.NoiseObs.Slice(0, b * a))
        samplePolicy ctx lane learner ctx.ActorOnObs b (ctx.Observations.Slice(0, b * o)) (ctx.NoiseObs.Slice(0, b * a)) ctx.PolicyOnObs

    // The fresh policy sample at s' (for the soft targets).
    let private sampleAtNext (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (b: int) =
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        // Step learner.Step's normals b*a .. 2*b*a-1.
        if not ctx.Networks.Gsde then lane.FillNormal(stepKeyAt learner.Key learner.Step, uint64 (b * a), ctx.NoiseNext.Slice(0, b * a))
        samplePolicy ctx lane learner ctx.ActorOnNext b (ctx.NextObservations.Slice(0, b * o)) (ctx.NoiseNext.Slice(0, b * a)) ctx.PolicyOnNext

    // Critic i's own arrays: its workspace, dL/dQ_i, its loss terms and its input gradient.
    let private criticNet (ctx: DeviceSacContext) (i: int) = if i = 0 then ctx.Critic1 else ctx.Critic2
    let private qGrad (ctx: DeviceSacContext) (i: int) = if i = 0 then ctx.Q1Grad else ctx.Q2Grad
    let private criticTerms (ctx: DeviceSacContext) (i: int) = if i = 0 then ctx.Terms else ctx.Terms2
    let private criticInputGrad (ctx: DeviceSacContext) (i: int) = if i = 0 then ctx.CriticInputGrad1 else ctx.CriticInputGrad2

    // Q_i (online or target parameters) at the context's critic input, into critic i's workspace.
    let private criticValues (ctx: DeviceSacContext) (lane: ISacBackend) (parameters: DeviceArray) (i: int) (b: int) =
        let input = ctx.CriticInput.Slice(0, b * (ctx.Networks.ObservationSize + ctx.Networks.ActionSize))
        DeviceMlp.forward lane ctx.Networks.Critic (criticSlice ctx parameters i) input b (criticNet ctx i)

    // One Adam step over elements [offset, offset + length) of a parameter vector with its gradient and moments. Adam
    // is element-wise, so parts stepped apart equal one step over the whole, unless a global gradient norm couples them.
    let private adamRange (lane: ISacBackend) (cfg: AdamConfig) (factor: float32) (step: int64) (parameters: DeviceArray)
                          (gradient: DeviceArray) (firstMoment: DeviceArray) (secondMoment: DeviceArray) (offset: int) (length: int) =
        let part (d: DeviceArray) = d.Slice(offset, length)
        lane.Adam(cfg, step, part parameters, part gradient, part firstMoment, part secondMoment, factor)

    let private steppedApart (cfg: AdamConfig) = not cfg.MaxGradNorm.HasValue

    let private criticAdam (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (offset: int) (length: int) =
        adamRange lane ctx.CriticAdam ctx.LearningRateFactor learner.CriticOptimizerStep learner.Critic ctx.CriticGradient
                  learner.CriticFirstMoment learner.CriticSecondMoment offset length

    let private actorAdam (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (offset: int) (length: int) =
        adamRange lane ctx.ActorAdam ctx.LearningRateFactor learner.ActorOptimizerStep learner.Actor ctx.ActorGradient
                  learner.ActorFirstMoment learner.ActorSecondMoment offset length

    // Q_i of the last forward pass on critic i's workspace.
    let private criticOutput (ctx: DeviceSacContext) (i: int) =
        let net = criticNet ctx i
        net.Output(net.Spec.LayerCount - 1)

    // Critic i's half of the critic step (SAC v2, eq. 5): Q_i(s, a), its loss against the targets, its gradient, and
    // its Adam step when the critics step apart.
    let private criticStepOf (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (i: int) (b: int) =
        let p = ctx.Networks.CriticParameters
        let dq, terms = (qGrad ctx i).Slice(0, b), (criticTerms ctx i).Slice(0, b)
        let q = criticValues ctx lane learner.Critic i b
        if i = 0 then lane.Sum(q, slot ctx SumQ1)
        lane.CriticLoss(q, ctx.Targets.Slice(0, b), dq, terms)
        lane.Sum(terms, slot ctx (CriticLoss1 + i))
        DeviceMlp.backward lane ctx.Networks.Critic (criticSlice ctx learner.Critic i) (criticNet ctx i) b dq (ValueSome (ctx.CriticGradient.Slice(i * p, p))) ValueNone
        if steppedApart ctx.CriticAdam then criticAdam ctx lane learner (i * p) p

    // dQ_i/d(s, a) at the actor step's input, from dL/dQ_i; critic i's parameters are read, never changed.
    let private criticInputGradientOf (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (i: int) (b: int) =
        let w = ctx.Networks.ObservationSize + ctx.Networks.ActionSize
        DeviceMlp.backward lane ctx.Networks.Critic (criticSlice ctx learner.Critic i) (criticNet ctx i) b ((qGrad ctx i).Slice(0, b)) ValueNone (ValueSome ((criticInputGrad ctx i).Slice(0, b * w)))

    // The stages whose two branches are independent: the policy samples at s and s', and the twin critics' passes.
    [<Literal>]
    let private SamplePolicies = 0
    [<Literal>]
    let private TargetValues = 1
    [<Literal>]
    let private CriticSteps = 2
    [<Literal>]
    let private ActorValues = 3
    [<Literal>]
    let private ActorInputGradients = 4
    [<Literal>]
    let private PolyakPerCritic = 5
    [<Literal>]
    let private CriticStepsThenPolyak = 6

    // Polyak step of critic i's target (SAC, target networks).
    let private polyakOf (ctx: DeviceSacContext) (lane: ISacBackend) (learner: DeviceLearner) (i: int) =
        lane.Polyak(ctx.Config.Tau, criticSlice ctx learner.Critic i, criticSlice ctx learner.TargetCritic i)

    [<Sealed>]
    type private Pairs(ctx: DeviceSacContext) =
        interface IPairWork with
            member _.Execute(lane, i) =
                let learner, b = nonNull ctx.PairLearner, ctx.PairRows
                match ctx.PairStage with
                | SamplePolicies -> if i = 0 then sampleAtObs ctx lane learner b else sampleAtNext ctx lane learner b
                | TargetValues -> criticValues ctx lane learner.TargetCritic i b |> ignore
                | CriticSteps -> criticStepOf ctx lane learner i b
                | CriticStepsThenPolyak ->
                    // Nothing later in the update reads the target critics, so each averages on its own lane.
                    criticStepOf ctx lane learner i b
                    polyakOf ctx lane learner i
                | ActorValues -> criticValues ctx lane learner.Critic i b |> ignore
                | ActorInputGradients -> criticInputGradientOf ctx lane learner i b
                | PolyakPerCritic -> polyakOf ctx lane learner i
                | stage -> invalidOp $"Unknown pair stage {stage}."

    // The actor's Adam step over a range of its parameters, on the lane the backward pass gives it.
    [<Sealed>]
    type private ActorAdamRanges(ctx: DeviceSacContext) =
        interface IParameterRangeStep with
            member _.Step(lane, offset, length) = actorAdam ctx lane (nonNull ctx.PairLearner) offset length

    // Runs a stage's two branches through the backend, side by side where it can.
    let private pair (ctx: DeviceSacContext) (stage: int) (learner: DeviceLearner) (b: int) =
        let work =
            match ctx.PairWork with
            | null ->
                let w = Pairs ctx :> IPairWork
                ctx.PairWork <- w
                w
            | w -> w
        ctx.PairStage <- stage
        ctx.PairLearner <- learner
        ctx.PairRows <- b
        ctx.Backend.RunPair work

    // Uploads the batch (and with gSDE draws step learner.Step's exploration matrix); returns the batch rows. The
    // per-row normals are drawn by the two policy samples, each its own half, so they can run side by side.
    let private load (ctx: DeviceSacContext) (batch: Batch) (learner: DeviceLearner) : int =
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
        let nets = ctx.Networks
        if nets.Gsde then
            // SB3 draws one exploration matrix per gradient step, shared by the samples at s and at s'.
            bk.FillNormal((stepKeyAt learner.Key learner.Step).FoldIn GsdeStream, 0UL, ctx.GsdeEps.All)
            bk.GsdeExploration(ctx.Config.FullStd, ctx.Config.UseExpln, nets.LatentSize, a, actorLogStd ctx learner.Actor.All,
                               ctx.GsdeEps.All, ctx.GsdeStd.All, ctx.GsdeExploration.All)
        b

    /// <summary>
    /// The update's first stage: uploads <paramref name="batch"/> into the context, draws step <c>learner.Step</c>'s
    /// noise, and samples the policy at s (SAC v2, eq. 8), whose actions and log pi the later stages read.
    /// </summary>
    /// <param name="ctx">The learner's context.</param>
    /// <param name="batch">At most <c>ctx.BatchSize</c> transitions of the context's sizes.</param>
    /// <param name="learner">The learner; unchanged.</param>
    [<CompiledName("Prepare")>]
    let prepare (ctx: DeviceSacContext) (batch: Batch) (learner: DeviceLearner) : unit =
        let b = load ctx batch learner
        sampleAtObs ctx ctx.Backend learner b

    // Soft Q targets from the policy sample at s' already drawn: the twin target critics side by side, then the backup.
    let private targetsFromNextSample (ctx: DeviceSacContext) (b: int) (alpha: float32) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let policy = ctx.PolicyOnNext
        bk.ConcatColumns(b, ctx.NextObservations.Slice(0, b * o), o, policy.Action b, a, ctx.CriticInput.Slice(0, b * (o + a)))
        pair ctx TargetValues learner b
        bk.SoftTarget(ctx.Config.Gamma, alpha, ctx.Rewards.Slice(0, b), ctx.Terminated.Slice(0, b), criticOutput ctx 0,
                      criticOutput ctx 1, policy.LogPi b, ctx.Targets.Slice(0, b))

    /// <summary>
    /// Soft Q targets (SAC v2, eqs. 2-3): y = r + gamma (1 - terminated) (min(Q1', Q2')(s', a') - alpha log pi(a'|s')),
    /// a' ~ pi(.|s') freshly sampled; into the context's targets. No gradient.
    /// </summary>
    [<CompiledName("SoftTargets")>]
    let softTargets (ctx: DeviceSacContext) (b: int) (alpha: float32) (learner: DeviceLearner) =
        sampleAtNext ctx ctx.Backend learner b
        targetsFromNextSample ctx b alpha learner

    /// <summary>
    /// SAC v1 value step (SAC v1, eq. 5): one Adam step of V_psi on mean 0.5 (V(s) - (min Q(s, a) - alpha log pi(a|s)))^2,
    /// a ~ pi(.|s) from the policy sample at s, current critics; the target, written as a soft backup with reward 0 and
    /// gamma 1, is a constant.
    /// </summary>
    [<CompiledName("ValueStep")>]
    let valueStep (ctx: DeviceSacContext) (b: int) (alpha: float32) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let value = valueOf learner
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let obs = ctx.Observations.Slice(0, b * o)
        let policy = ctx.PolicyOnObs
        let input = ctx.CriticInput.Slice(0, b * (o + a))
        bk.ConcatColumns(b, obs, o, policy.Action b, a, input)
        let q1 = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.Critic 0) input b ctx.Critic1
        let q2 = DeviceMlp.forward bk ctx.Networks.Critic (criticSlice ctx learner.Critic 1) input b ctx.Critic2
        let v = DeviceMlp.forward bk ctx.Networks.Value value.Parameters.All obs b (v1 ctx.ValueOnObs)
        let zeros, y = (v1 ctx.Zeros).Slice(0, b), ctx.Targets.Slice(0, b)
        bk.SoftTarget(1.0f, alpha, zeros, zeros, q1, q2, policy.LogPi b, y)
        let dv, terms = (v1 ctx.ValueGrad).Slice(0, b), ctx.Terms.Slice(0, b)
        bk.CriticLoss(v, y, dv, terms)
        bk.Sum(terms, slot ctx ValueLoss)
        DeviceMlp.backward bk ctx.Networks.Value value.Parameters.All (v1 ctx.ValueOnObs) b dv (ValueSome (v1 ctx.ValueGradient).All) ValueNone
        value.OptimizerStep <- value.OptimizerStep + 1L
        bk.Adam(ctx.ValueAdam, value.OptimizerStep, value.Parameters.All, (v1 ctx.ValueGradient).All, value.FirstMoment.All, value.SecondMoment.All, ctx.LearningRateFactor)

    /// <summary>
    /// SAC v1 Q targets (SAC v1, eq. 8): y = r + gamma (1 - terminated) V_target(s'), the soft backup of
    /// <c>SoftTarget</c> with both values V_target(s') and alpha 0; into the context's targets.
    /// </summary>
    [<CompiledName("ValueTargets")>]
    let valueTargets (ctx: DeviceSacContext) (b: int) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let value = valueOf learner
        let next = ctx.NextObservations.Slice(0, b * ctx.Networks.ObservationSize)
        let vNext = DeviceMlp.forward bk ctx.Networks.Value value.Target.All next b (v1 ctx.ValueOnNext)
        bk.SoftTarget(ctx.Config.Gamma, 0.0f, ctx.Rewards.Slice(0, b), ctx.Terminated.Slice(0, b), vNext, vNext, (v1 ctx.Zeros).Slice(0, b), ctx.Targets.Slice(0, b))

    // The critic step as `stage`: CriticSteps, or CriticStepsThenPolyak where each critic's target follows it.
    let private criticStepAs (stage: int) (ctx: DeviceSacContext) (b: int) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        bk.ConcatColumns(b, ctx.Observations.Slice(0, b * o), o, ctx.Actions.Slice(0, b * a), a, ctx.CriticInput.Slice(0, b * (o + a)))
        learner.CriticOptimizerStep <- learner.CriticOptimizerStep + 1L
        pair ctx stage learner b
        if not (steppedApart ctx.CriticAdam) then criticAdam ctx bk learner 0 (2 * ctx.Networks.CriticParameters)

    /// <summary>
    /// Critic step (SAC v2, eq. 5): one Adam step of both critics on the sum of their mean 0.5 (Q(s, a) - y)^2 against
    /// the context's targets, which are constants. The two critics' passes are independent and run side by side where
    /// the backend can.
    /// </summary>
    [<CompiledName("CriticStep")>]
    let criticStep (ctx: DeviceSacContext) (b: int) (learner: DeviceLearner) = criticStepAs CriticSteps ctx b learner

    /// <summary>
    /// Actor step (SAC v2, eqs. 9-10): one Adam step of the policy on mean(alpha log pi(f(eps; s)|s) - min(Q1, Q2)(s, f(eps; s)))
    /// through the reparameterised sample at s. The gradient reaches the critics only as dQ/da through their inputs:
    /// critic parameters are read, never changed.
    /// </summary>
    [<CompiledName("ActorStep")>]
    let actorStep (ctx: DeviceSacContext) (b: int) (alpha: float32) (learner: DeviceLearner) =
        let bk = ctx.Backend
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let w = o + a
        let policy = ctx.PolicyOnObs
        bk.ConcatColumns(b, ctx.Observations.Slice(0, b * o), o, policy.Action b, a, ctx.CriticInput.Slice(0, b * w))
        pair ctx ActorValues learner b
        let q1, q2 = criticOutput ctx 0, criticOutput ctx 1
        let dLogPi, terms = ctx.LogPiGrad.Slice(0, b), ctx.Terms.Slice(0, b)
        bk.ActorLoss(alpha, policy.LogPi b, q1, q2, dLogPi, ctx.Q1Grad.Slice(0, b), ctx.Q2Grad.Slice(0, b), terms)
        bk.Sum(terms, slot ctx ActorLoss)
        pair ctx ActorInputGradients learner b
        let da = ctx.ActionGrad.Slice(0, b * a)
        bk.SumColumnBlock(b, w, o, a, ctx.CriticInputGrad1.Slice(0, b * w), ctx.CriticInputGrad2.Slice(0, b * w), da)
        let n = ctx.Networks
        let mlp = actorMlp ctx learner.Actor.All
        // Without a global gradient norm, the backward pass steps each range of parameters once its gradient is complete.
        learner.ActorOptimizerStep <- learner.ActorOptimizerStep + 1L
        let apart = steppedApart ctx.ActorAdam
        let adam : IParameterRangeStep | null =
            if not apart then null
            else
                ctx.PairLearner <- learner
                match ctx.ActorAdamRanges with
                | null ->
                    let r = ActorAdamRanges ctx :> IParameterRangeStep
                    ctx.ActorAdamRanges <- r
                    r
                | r -> r
        if n.Gsde then
            // gSDE: the mean head's gradient into the MLP (with SB3's learn_features, phi's too, at the last hidden
            // layer); the log-std's straight into its slots after the MLP's.
            let dOut = ctx.ActorOutputGrad.Slice(0, b * a)
            let dPhi = ctx.GsdeLatentGrad.Slice(0, b * n.LatentSize)
            bk.GsdeBackward(b, n.LatentSize, a, ctx.Config.FullStd, ctx.Config.UseExpln, latentOf ctx ctx.ActorOnObs,
                            ctx.ActorOnObs.Output(n.Actor.LayerCount - 1), actorLogStd ctx learner.Actor.All, ctx.GsdeEps.All,
                            ctx.GsdeStd.All, policy.Action b, policy.Noise b, policy.Variance b, da, dLogPi, dOut,
                            actorLogStd ctx ctx.ActorGradient.All, dPhi)
            let hidden = if ctx.Config.SdeLearnFeatures then ValueSome dPhi else ValueNone
            DeviceMlp.backwardStepping adam bk n.Actor mlp ctx.ActorOnObs b dOut hidden (ValueSome (actorMlp ctx ctx.ActorGradient.All)) ValueNone
            // The log-std matrix's gradient was complete before the MLP's.
            if apart then actorAdam ctx bk learner n.Actor.ParameterCount n.LogStdParameters
        else
            let dOut = ctx.ActorOutputGrad.Slice(0, b * 2 * a)
            bk.TanhGaussianBackward(b, a, policy.Action b, policy.Sigma b, ctx.NoiseObs.Slice(0, b * a), policy.LogStdGrad b, da, dLogPi, dOut)
            DeviceMlp.backwardStepping adam bk n.Actor mlp ctx.ActorOnObs b dOut ValueNone (ValueSome ctx.ActorGradient.All) ValueNone
        if not apart then actorAdam ctx bk learner 0 learner.Actor.Length

    // Temperature step (SAC v2, eq. 18, on log alpha), on the host: one Adam step on -log alpha (log pi + H0) over
    // the batch's log pi at s.
    let private temperatureStep (ctx: DeviceSacContext) (b: int) (logPi: ReadOnlySpan<float32>) (learner: DeviceLearner) : float32 =
        let struct (loss, grad) = Losses.temperature learner.LogAlpha ctx.TargetEntropy b logPi
        ctx.HostLogAlpha.[0] <- learner.LogAlpha
        ctx.HostLogAlphaGrad.[0] <- grad
        learner.AlphaOptimizer <- Adam.Update(ctx.AlphaAdam, ctx.LearningRateFactor, learner.AlphaOptimizer, ReadOnlySpan ctx.HostLogAlphaGrad, Span ctx.HostLogAlpha)
        learner.LogAlpha <- ctx.HostLogAlpha.[0]
        loss

    // Whether this update's step averages the targets: every TargetUpdateInterval steps.
    let private targetUpdateDue (ctx: DeviceSacContext) (learner: DeviceLearner) =
        (learner.Step + 1L) % int64 ctx.Config.TargetUpdateInterval = 0L

    /// <summary>Polyak step (SAC, target networks): target &lt;- tau online + (1 - tau) target every TargetUpdateInterval
    /// steps, of the critics (v2) or of V (v1).</summary>
    [<CompiledName("TargetStep")>]
    let targetStep (ctx: DeviceSacContext) (learner: DeviceLearner) =
        if targetUpdateDue ctx learner then
            match ctx.Config.Variant with
            | SacVariant.V1 ->
                let value = valueOf learner
                ctx.Backend.Polyak(ctx.Config.Tau, value.Parameters.All, value.Target.All)
            | _ -> pair ctx PolyakPerCritic learner 0

    /// <summary>
    /// <c>update</c> with every optimizer (actor, critics, temperature, v1 value) at its configured learning rate times
    /// <paramref name="learningRateFactor"/>: a learning-rate schedule's factor for this update (1: <c>update</c>).
    /// </summary>
    /// <param name="ctx">The context the learner was uploaded with.</param>
    /// <param name="learningRateFactor">The factor, in [0, 1].</param>
    /// <param name="batch">At most <c>ctx.BatchSize</c> transitions of the context's sizes.</param>
    /// <param name="learner">Updated in place.</param>
    [<CompiledName("UpdateWith")>]
    let updateWith (ctx: DeviceSacContext) (learningRateFactor: float32) (batch: Batch) (learner: DeviceLearner) : SacMetrics =
        Guard.learningRateFactor learningRateFactor
        ctx.LearningRateFactor <- learningRateFactor
        let b = load ctx batch learner
        let bk = ctx.Backend
        let v1 = ctx.Config.Variant = SacVariant.V1
        // The policy samples at s and s' are independent (v1 needs only the one at s).
        if v1 then sampleAtObs ctx bk learner b else pair ctx SamplePolicies learner b
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
        if v1 then
            valueStep ctx b alpha learner
            valueTargets ctx b learner
        else targetsFromNextSample ctx b alpha learner
        // SAC v2 whose critics step apart: each critic's Polyak step follows its critic step on the same lane.
        let polyakInCriticLanes = not v1 && steppedApart ctx.CriticAdam
        if polyakInCriticLanes && targetUpdateDue ctx learner then criticStepAs CriticStepsThenPolyak ctx b learner
        else criticStep ctx b learner
        actorStep ctx b alpha learner
        if not polyakInCriticLanes then targetStep ctx learner
        let count = if auto then slots + b else slots
        bk.Download(ctx.Metrics.Slice(0, count), Span(ctx.HostMetrics, 0, count))
        let m = ctx.HostMetrics
        let alphaLoss = if auto then temperatureStep ctx b (ReadOnlySpan(m, slots, b)) learner else 0.0f
        learner.Step <- learner.Step + 1L
        { CriticLoss = m.[CriticLoss1] + m.[CriticLoss1 + 1]
          ActorLoss = m.[ActorLoss]
          AlphaLoss = alphaLoss
          ValueLoss = (if v1 then m.[ValueLoss] else 0.0f)
          Alpha = alpha
          Entropy = -(m.[SumLogPi] / float32 b)
          MeanQ = m.[SumQ1] / float32 b }

    /// <summary>
    /// One SAC gradient step on <paramref name="batch"/>, in place on <paramref name="learner"/> (device state: the
    /// learner passed in is the learner afterwards), returning the step's metrics. The batch is uploaded once into the
    /// context's arrays; the metrics (and log pi at s, for the host's temperature step) come back in one download.
    /// Allocates nothing. The losses are reduced from per-row float32 terms.
    /// </summary>
    /// <param name="ctx">The context the learner was uploaded with.</param>
    /// <param name="batch">At most <c>ctx.BatchSize</c> transitions of the context's sizes.</param>
    /// <param name="learner">Updated in place.</param>
    [<CompiledName("Update")>]
    let update (ctx: DeviceSacContext) (batch: Batch) (learner: DeviceLearner) : SacMetrics = updateWith ctx 1.0f batch learner
