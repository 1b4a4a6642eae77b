namespace Sac.Fs

open System
open System.Diagnostics
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random

/// <summary>What one DQN-family gradient step reports.</summary>
[<Struct>]
type DqnMetrics =
    { /// <summary>The mean TD loss (Huber or half squared error) over the batch, before the step.</summary>
      TdLoss: float32
      /// <summary>Mean Q(s, a) over the batch's taken actions, before the step.</summary>
      MeanQ: float32
      /// <summary>Mean TD target y over the batch.</summary>
      MeanTarget: float32
      /// <summary>Soft DQN: mean entropy of the Boltzmann policy softmax(Q(s, .) / alpha) over the batch's states; 0 for the others.</summary>
      Entropy: float32 }

/// <summary>How a Q-network picks an action.</summary>
[<Struct>]
type DqnActionMode =
    /// <summary>argmax_a Q(s, a), the first maximiser on ties: the evaluation policy of every variant.</summary>
    | Greedy
    /// <summary>
    /// With probability epsilon a uniformly random action, otherwise greedy (DQN, Double DQN). The coin is the uniform
    /// at <c>index</c> of the key's stream and the random action <c>Philox.UniformInt(key, index, |A|)</c>.
    /// </summary>
    | EpsilonGreedy of epsilon: float32 * key: PhiloxKey * index: uint64
    /// <summary>A draw from softmax(Q(s, .) / temperature) by inverting its CDF at the uniform at <c>index</c> of the key's stream (soft DQN).</summary>
    | Boltzmann of temperature: float32 * key: PhiloxKey * index: uint64

/// <summary>
/// Every buffer one DQN update needs, allocated once for the configured batch size so the update loop allocates
/// nothing. Holds no learner state.
/// </summary>
[<Sealed>]
type DqnWorkspace(spec: MlpSpec, batchSize: int) =
    let floats n = Array.zeroCreate<float32> n

    /// <summary>Rows per update.</summary>
    member _.BatchSize = batchSize
    /// <summary>Online network activations on the batch's observations s (kept for the backward pass).</summary>
    member val OnObs = MlpWorkspace(spec, batchSize)
    /// <summary>Online network on the next observations s' (Double DQN's action selection).</summary>
    member val OnlineOnNext = MlpWorkspace(spec, batchSize)
    /// <summary>Target network on the next observations s'.</summary>
    member val TargetOnNext = MlpWorkspace(spec, batchSize)
    /// <summary>TD targets y.</summary>
    member val Targets = floats batchSize
    /// <summary>dL/dQ(s, .), nonzero only in the taken action's column.</summary>
    member val OutputGrad = floats (batchSize * spec.OutputSize)
    /// <summary>Parameter gradient of the online network.</summary>
    member val ParameterGrad = floats spec.ParameterCount

/// <summary>
/// A DQN-family learner's fixed parts: the validated configuration, the Q-network shape
/// <c>[observation, hidden..., |A|]</c> (ReLU hidden layers, linear output), the Adam settings, the GEMM provider and the
/// preallocated workspace. Everything that changes lives in <see cref="DqnLearnerState"/>.
/// </summary>
[<Sealed>]
type DqnContext(config: DqnConfig, observationSize: int, actionCount: int, gemm: IGemm) =
    do
        config.ThrowIfInvalid() |> ignore
        if observationSize < 1 then invalidArg (nameof observationSize) $"observationSize must be at least 1, got {observationSize}."
        if actionCount < 1 then invalidArg (nameof actionCount) $"actionCount must be at least 1, got {actionCount}."
    let spec = MlpSpec(Array.concat [ [| observationSize |]; Seq.toArray config.HiddenSizes; [| actionCount |] ], Activation.Relu, Activation.Identity)

    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Observation length |S|.</summary>
    member _.ObservationSize = observationSize
    /// <summary>Number of actions |A|, the network's outputs.</summary>
    member _.ActionCount = actionCount
    /// <summary>The Q-network shape.</summary>
    member _.Spec = spec
    /// <summary>The GEMM every network pass uses.</summary>
    member _.Gemm = gemm
    /// <summary>Adam settings: the learning rate, PyTorch's betas and epsilon, gradient-norm clipping at MaxGradNorm.</summary>
    member val Adam = AdamConfig(config.LearningRate, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)
    /// <summary>Scratch buffers for one update.</summary>
    member val Workspace = DqnWorkspace(spec, config.BatchSize)

/// <summary>
/// The DQN family as pure functions and named stages (seed 004: Q-learning, DQN, Double DQN, soft): TD targets for
/// one transition and for a batch, the TD loss with its gradient, the behaviour policies, initialisation and one
/// gradient step.
/// </summary>
/// <remarks>
/// Naming follows one transition <c>(s, a, r, s')</c>: <c>qNextTarget</c> holds the target network's values
/// Q'(s', .) for every action, <c>qNextOnline</c> the online network's Q(s', .). <c>terminated</c> is 1 for a true end
/// (no bootstrap) and 0 otherwise, folded into the discount as <c>gamma * (1 - terminated)</c>; truncation is not an
/// input (a truncated transition still bootstraps). Targets are constants for the loss: nothing here differentiates
/// through them. The three targets are computed the same way, in float64 from the float32 inputs and rounded once,
/// so for the same networks double &lt;= hard &lt;= soft holds exactly.
/// </remarks>
[<RequireQualifiedAccess>]
module Dqn =

    // ---------- values over the action set ----------

    /// <summary>The first index of the largest value (argmax_a q[a]); NaNs never win.</summary>
    /// <param name="q">One row of action values, at least one.</param>
    [<CompiledName("Argmax")>]
    let argmax (q: ReadOnlySpan<float32>) : int =
        let mutable best = 0
        for j in 1 .. q.Length - 1 do
            if q.[j] > q.[best] || Single.IsNaN q.[best] then best <- j
        best

    /// <summary>The hard state value max_a q[a].</summary>
    /// <param name="q">One row of action values, at least one.</param>
    [<CompiledName("MaxValue")>]
    let maxValue (q: ReadOnlySpan<float32>) : float32 = q.[argmax q]

    let private softValue64 (alpha: float32) (q: ReadOnlySpan<float32>) : float =
        let m = float (maxValue q)
        if alpha = 0.0f then m
        else
            let a = float alpha
            let mutable sum = 0.0
            for j in 0 .. q.Length - 1 do
                sum <- sum + Math.Exp((float q.[j] - m) / a)
            // The max's own term is exp(0) = 1, so sum >= 1 and the value never falls below max q.
            m + a * Math.Log sum

    /// <summary>
    /// The soft state value <c>alpha * logsumexp(q / alpha)</c>, computed as <c>m + alpha * log(sum_a exp((q_a - m) / alpha))</c>
    /// with <c>m = max q</c> in float64 so it never overflows; it lies in <c>[max q, max q + alpha log |A|]</c> and
    /// tends to <c>max q</c> as alpha falls to 0 (alpha = 0 gives <c>max q</c> exactly).
    /// </summary>
    /// <param name="alpha">Temperature, at least 0.</param>
    /// <param name="q">One row of action values, at least one.</param>
    [<CompiledName("SoftValue")>]
    let softValue (alpha: float32) (q: ReadOnlySpan<float32>) : float32 =
        // Soft Q-learning over a discrete set: V(s) = alpha * log sum_a exp(Q(s, a) / alpha)
        float32 (softValue64 alpha q)

    // r + gamma (1 - terminated) v, in float64 and rounded once, so every target orders as its next-state value does.
    let private bootstrap (gamma: float32) (r: float32) (terminated: float32) (v: float) : float32 =
        float32 (float r + float (SoftBellman.discount gamma terminated) * v)

    // ---------- targets for one transition ----------

    /// <summary>The DQN target for one transition: <c>r + gamma * (1 - terminated) * max_a Q'(s', a)</c>.</summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="r">Reward.</param>
    /// <param name="terminated">1 for a true terminal transition, 0 otherwise.</param>
    /// <param name="qNextTarget">The target network's Q'(s', .), one value per action.</param>
    [<CompiledName("DqnTarget")>]
    let dqnTarget (gamma: float32) (r: float32, terminated: float32, qNextTarget: ReadOnlySpan<float32>) : float32 =
        // DQN (Mnih et al. 2015): y = r + gamma * (1 - terminated) * max_a' Q'(s', a')
        bootstrap gamma r terminated (float (maxValue qNextTarget))

    /// <summary>
    /// The Double DQN target for one transition: the online network selects <c>a* = argmax_a Q(s', a)</c>, the target
    /// network evaluates it, <c>r + gamma * (1 - terminated) * Q'(s', a*)</c>. Never above <see cref="dqnTarget"/>.
    /// </summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="r">Reward.</param>
    /// <param name="terminated">1 for a true terminal transition, 0 otherwise.</param>
    /// <param name="qNextOnline">The online network's Q(s', .).</param>
    /// <param name="qNextTarget">The target network's Q'(s', .).</param>
    [<CompiledName("DoubleDqnTarget")>]
    let doubleDqnTarget (gamma: float32) (r: float32, terminated: float32, qNextOnline: ReadOnlySpan<float32>, qNextTarget: ReadOnlySpan<float32>) : float32 =
        // Double DQN (van Hasselt et al. 2016): y = r + gamma * (1 - terminated) * Q'(s', argmax_a' Q(s', a'))
        bootstrap gamma r terminated (float qNextTarget.[argmax qNextOnline])

    /// <summary>
    /// The soft DQN target for one transition: <c>r + gamma * (1 - terminated) * alpha * logsumexp(Q'(s', .) / alpha)</c>.
    /// Lies in <c>[dqnTarget, dqnTarget + gamma * (1 - terminated) * alpha * log |A|]</c>, and equals
    /// <see cref="dqnTarget"/> at alpha = 0.
    /// </summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="alpha">Temperature, at least 0.</param>
    /// <param name="r">Reward.</param>
    /// <param name="terminated">1 for a true terminal transition, 0 otherwise.</param>
    /// <param name="qNextTarget">The target network's Q'(s', .).</param>
    [<CompiledName("SoftDqnTarget")>]
    let softDqnTarget (gamma: float32) (alpha: float32) (r: float32, terminated: float32, qNextTarget: ReadOnlySpan<float32>) : float32 =
        // Soft Bellman backup over a discrete set: y = r + gamma * (1 - terminated) * alpha * logsumexp(Q'(s', .) / alpha)
        bootstrap gamma r terminated (softValue64 alpha qNextTarget)

    // ---------- targets for a batch ----------

    let private checkTargetArgs (batch: int) (actionCount: int) (r: int) (terminated: int) (q: int) (dest: int) =
        Guard.size "batch" batch
        if actionCount < 1 then invalidArg (nameof actionCount) $"actionCount must be at least 1, got {actionCount}."
        Guard.atLeast "r" r batch
        Guard.atLeast "terminated" terminated batch
        Guard.atLeast "q" q (Guard.product batch actionCount)
        Guard.atLeast "dest" dest batch

    /// <summary>
    /// DQN targets for a batch: <c>dest[i] = dqnTarget gamma (r[i], terminated[i], row i of qNextTarget)</c>, the rows
    /// of <paramref name="qNextTarget"/> being <c>[batch, actionCount]</c> row-major. Allocates nothing.
    /// </summary>
    [<CompiledName("DqnTargetBatch")>]
    let dqnTargetBatch (gamma: float32) (batch: int) (actionCount: int)
                       (r: ReadOnlySpan<float32>, terminated: ReadOnlySpan<float32>, qNextTarget: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // DQN: y_i = r_i + gamma * (1 - terminated_i) * max_a' Q'(s'_i, a')
        checkTargetArgs batch actionCount r.Length terminated.Length qNextTarget.Length dest.Length
        for i in 0 .. batch - 1 do
            dest.[i] <- dqnTarget gamma (r.[i], terminated.[i], qNextTarget.Slice(i * actionCount, actionCount))

    /// <summary>
    /// Double DQN targets for a batch: <c>dest[i] = doubleDqnTarget gamma (r[i], terminated[i], row i of qNextOnline, row i of qNextTarget)</c>.
    /// Allocates nothing.
    /// </summary>
    [<CompiledName("DoubleDqnTargetBatch")>]
    let doubleDqnTargetBatch (gamma: float32) (batch: int) (actionCount: int)
                             (r: ReadOnlySpan<float32>, terminated: ReadOnlySpan<float32>, qNextOnline: ReadOnlySpan<float32>,
                              qNextTarget: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // Double DQN: y_i = r_i + gamma * (1 - terminated_i) * Q'(s'_i, argmax_a' Q(s'_i, a'))
        checkTargetArgs batch actionCount r.Length terminated.Length qNextTarget.Length dest.Length
        Guard.atLeast "qNextOnline" qNextOnline.Length (Guard.product batch actionCount)
        for i in 0 .. batch - 1 do
            let row = i * actionCount
            dest.[i] <- doubleDqnTarget gamma (r.[i], terminated.[i], qNextOnline.Slice(row, actionCount), qNextTarget.Slice(row, actionCount))

    /// <summary>
    /// Soft DQN targets for a batch: <c>dest[i] = softDqnTarget gamma alpha (r[i], terminated[i], row i of qNextTarget)</c>.
    /// Allocates nothing.
    /// </summary>
    [<CompiledName("SoftDqnTargetBatch")>]
    let softDqnTargetBatch (gamma: float32) (alpha: float32) (batch: int) (actionCount: int)
                           (r: ReadOnlySpan<float32>, terminated: ReadOnlySpan<float32>, qNextTarget: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // Soft DQN: y_i = r_i + gamma * (1 - terminated_i) * alpha * logsumexp(Q'(s'_i, .) / alpha)
        checkTargetArgs batch actionCount r.Length terminated.Length qNextTarget.Length dest.Length
        for i in 0 .. batch - 1 do
            dest.[i] <- softDqnTarget gamma alpha (r.[i], terminated.[i], qNextTarget.Slice(i * actionCount, actionCount))

    // ---------- the TD loss ----------

    /// <summary>
    /// The TD loss over a batch, <c>mean_i l(Q(s_i, a_i) - y_i)</c> with <c>l</c> the Huber loss (threshold 1, PyTorch's
    /// <c>smooth_l1_loss</c>) or half the squared error; writes <c>dq = dL/dQ(s, .)</c>, which is
    /// <c>clamp(d_i, -1, 1) / B</c> (Huber) or <c>d_i / B</c> (squared) in row i's taken-action column and 0 in every
    /// other column: only the taken action's output receives gradient. The targets are constants.
    /// </summary>
    /// <param name="loss">Which loss.</param>
    /// <param name="batch">Rows B.</param>
    /// <param name="actionCount">Columns |A| of <paramref name="q"/> and <paramref name="dq"/>.</param>
    /// <param name="q">The online network's Q(s, .), <c>[batch, actionCount]</c> row-major.</param>
    /// <param name="actions">The taken action indices as floats (as the replay buffer stores them), one per row.</param>
    /// <param name="y">The TD targets.</param>
    /// <param name="dq">Receives dL/dQ, <c>[batch, actionCount]</c>.</param>
    /// <returns>The mean loss (0 for an empty batch).</returns>
    /// <exception cref="ArgumentException">A buffer is too short, or an action is not an integer in <c>[0, actionCount)</c>.</exception>
    [<CompiledName("TdLoss")>]
    let tdLoss (loss: TdLoss) (batch: int) (actionCount: int)
               (q: ReadOnlySpan<float32>, actions: ReadOnlySpan<float32>, y: ReadOnlySpan<float32>, dq: Span<float32>) : float32 =
        // DQN loss: L = mean_i huber(Q(s_i, a_i) - y_i); dL/dQ(s_i, a) = [a = a_i] * clamp(d_i, -1, 1) / B
        Guard.size "batch" batch
        if actionCount < 1 then invalidArg (nameof actionCount) $"actionCount must be at least 1, got {actionCount}."
        let cells = Guard.product batch actionCount
        Guard.atLeast "q" q.Length cells
        Guard.atLeast "actions" actions.Length batch
        Guard.atLeast "y" y.Length batch
        Guard.atLeast "dq" dq.Length cells
        if batch = 0 then 0.0f
        else
            let b = float32 batch
            let huber = (loss = TdLoss.Huber)
            let mutable acc = 0.0
            dq.Slice(0, cells).Clear()
            for i in 0 .. batch - 1 do
                let af = actions.[i]
                let a = int af
                if not (float32 a = af && a >= 0 && a < actionCount) then
                    invalidArg (nameof actions) $"actions[{i}] is {af}; an action must be an integer index in [0, {actionCount})."
                let d = q.[i * actionCount + a] - y.[i]
                let ad = abs d
                if huber then
                    // smooth L1 (beta = 1): 0.5 d^2 for |d| < 1, |d| - 0.5 otherwise
                    acc <- acc + (if ad < 1.0f then 0.5 * float d * float d else float ad - 0.5)
                    dq.[i * actionCount + a] <- Math.Clamp(d, -1.0f, 1.0f) / b
                else
                    acc <- acc + 0.5 * float d * float d
                    dq.[i * actionCount + a] <- d / b
            float32 (acc / float batch)

    // ---------- behaviour policies ----------

    /// <summary>
    /// SB3's linear exploration schedule (<c>get_linear_fn</c>): with progress <c>p = step / TotalTimesteps</c>,
    /// epsilon is <c>initial + p * (final - initial) / ExplorationFraction</c> until <c>p</c> passes the fraction, and
    /// <c>final</c> after (a fraction of 0 gives <c>final</c> throughout).
    /// </summary>
    /// <param name="config">Supplies the initial and final epsilon, the fraction and the total.</param>
    /// <param name="step">Environment steps taken before the action is chosen.</param>
    [<CompiledName("ExplorationRate")>]
    let explorationRate (config: DqnConfig) (step: int64) : float32 =
        // epsilon(t) = eps0 + min(1, t / (fraction * T)) * (eps1 - eps0)
        let progress = float step / float config.TotalTimesteps
        let fraction = float config.ExplorationFraction
        if fraction = 0.0 || progress > fraction then config.ExplorationFinalEps
        else
            let e0, e1 = float config.ExplorationInitialEps, float config.ExplorationFinalEps
            float32 (e0 + progress * (e1 - e0) / fraction)

    /// <summary>
    /// The entropy of an epsilon-greedy policy over <paramref name="actionCount"/> actions (no ties): the greedy action
    /// has probability <c>1 - eps + eps / |A|</c>, each other <c>eps / |A|</c>.
    /// </summary>
    [<CompiledName("EpsilonGreedyEntropy")>]
    let epsilonGreedyEntropy (epsilon: float32) (actionCount: int) : float32 =
        // H = -sum_a pi(a) log pi(a), with 0 log 0 = 0
        let n = float actionCount
        let pOther = float epsilon / n
        let pGreedy = 1.0 - float epsilon + pOther
        let term p = if p > 0.0 then -p * Math.Log p else 0.0
        float32 (term pGreedy + (n - 1.0) * term pOther)

    /// <summary>The Boltzmann policy softmax(q / alpha) of one row, written into <paramref name="dest"/> (alpha &gt; 0).</summary>
    [<CompiledName("BoltzmannProbabilities")>]
    let boltzmannProbabilities (alpha: float32) (q: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // pi(a|s) = exp(Q(s, a) / alpha) / sum_b exp(Q(s, b) / alpha)
        Guard.atLeast "dest" dest.Length q.Length
        let m = float (maxValue q)
        let a = float alpha
        let mutable z = 0.0
        for j in 0 .. q.Length - 1 do
            z <- z + Math.Exp((float q.[j] - m) / a)
        for j in 0 .. q.Length - 1 do
            dest.[j] <- float32 (Math.Exp((float q.[j] - m) / a) / z)

    /// <summary>The entropy of the Boltzmann policy softmax(q / alpha) of one row (alpha &gt; 0), in nats.</summary>
    [<CompiledName("BoltzmannEntropy")>]
    let boltzmannEntropy (alpha: float32) (q: ReadOnlySpan<float32>) : float32 =
        // H = log Z - sum_a pi(a) (Q(a) - m) / alpha, with Z = sum_a exp((Q(a) - m) / alpha)
        let m = float (maxValue q)
        let a = float alpha
        let mutable z = 0.0
        let mutable weighted = 0.0
        for j in 0 .. q.Length - 1 do
            let x = (float q.[j] - m) / a
            let w = Math.Exp x
            z <- z + w
            weighted <- weighted + w * x
        float32 (Math.Log z - weighted / z)

    /// <summary>The action whose CDF interval under softmax(q / alpha) holds <paramref name="u"/> in (0, 1).</summary>
    [<CompiledName("SampleBoltzmann")>]
    let sampleBoltzmann (alpha: float32) (q: ReadOnlySpan<float32>) (u: float32) : int =
        let m = float (maxValue q)
        let a = float alpha
        let mutable z = 0.0
        for j in 0 .. q.Length - 1 do
            z <- z + Math.Exp((float q.[j] - m) / a)
        let threshold = float u * z
        let mutable cumulative = 0.0
        let mutable chosen = -1
        let mutable last = 0
        for j in 0 .. q.Length - 1 do
            let w = Math.Exp((float q.[j] - m) / a)
            if w > 0.0 then last <- j
            cumulative <- cumulative + w
            if chosen < 0 && threshold < cumulative then chosen <- j
        // Rounding can leave u * z a hair above the final sum; the last action with weight takes it.
        if chosen < 0 then last else chosen

    /// <summary>The online network's Q(s, .) for one observation, using a one-row workspace.</summary>
    [<CompiledName("QValues")>]
    let qValues (ctx: DqnContext) (ws: MlpWorkspace) (parameters: float32[]) (observation: ReadOnlySpan<float32>) : ReadOnlySpan<float32> =
        if observation.Length <> ctx.ObservationSize then
            invalidArg (nameof observation) $"The observation has {observation.Length} values; the Q-network takes {ctx.ObservationSize}."
        Mlp.Forward(ctx.Gemm, ctx.Spec, ReadOnlySpan parameters, observation, 1, ws)

    /// <summary>The action index for one observation under <paramref name="mode"/>. Allocates nothing.</summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="ws">A workspace for the Q-network with room for one row.</param>
    /// <param name="parameters">The Q-network parameters.</param>
    /// <param name="mode">Greedy, epsilon-greedy or Boltzmann.</param>
    /// <param name="observation">The observation.</param>
    [<CompiledName("Act")>]
    let act (ctx: DqnContext) (ws: MlpWorkspace) (parameters: float32[]) (mode: DqnActionMode) (observation: ReadOnlySpan<float32>) : int =
        let q = qValues ctx ws parameters observation
        match mode with
        | Greedy -> argmax q
        | EpsilonGreedy (epsilon, key, index) ->
            // SB3 DQN.predict: a random action with probability epsilon, otherwise argmax_a Q(s, a)
            if Philox.Uniform(key, index) < epsilon then Philox.UniformInt(key, index, ctx.ActionCount) else argmax q
        | Boltzmann (temperature, key, index) ->
            // Soft Q-learning behaviour: a ~ softmax(Q(s, .) / alpha)
            sampleBoltzmann temperature q (Philox.Uniform(key, index))

    // ---------- the learner ----------

    /// <summary>A fresh learner: a PyTorch-default initialised Q-network, the target equal to it, zero Adam moments, step 0.</summary>
    [<CompiledName("Init")>]
    let init (ctx: DqnContext) (seed: uint64) : DqnLearnerState =
        let root = PhiloxKey.FromSeed seed
        let q = Mlp.InitParameters(ctx.Spec, root.FoldIn 1u)
        DqnLearnerState(q, Array.copy q, Adam.Init q.Length, 0L, root.FoldIn 2u)

    /// <summary>
    /// TD targets (the variant's backup) for the batch from the target network (and, for Double DQN, the online
    /// network) at s', into the workspace's Targets. No gradient.
    /// </summary>
    [<CompiledName("Targets")>]
    let targets (ctx: DqnContext) (batch: Batch) (state: DqnLearnerState) : unit =
        let ws = ctx.Workspace
        let cfg = ctx.Config
        let b, o, n = batch.Size, ctx.ObservationSize, ctx.ActionCount
        let next = ReadOnlySpan(batch.NextObservations, 0, b * o)
        let r = ReadOnlySpan(batch.Rewards, 0, b)
        let d = ReadOnlySpan(batch.Terminated, 0, b)
        let y = Span(ws.Targets, 0, b)
        let qTarget = Mlp.Forward(ctx.Gemm, ctx.Spec, ReadOnlySpan state.TargetQNetwork, next, b, ws.TargetOnNext)
        match cfg.Variant with
        | DqnVariant.Dqn -> dqnTargetBatch cfg.Gamma b n (r, d, qTarget, y)
        | DqnVariant.DoubleDqn ->
            let qOnline = Mlp.Forward(ctx.Gemm, ctx.Spec, ReadOnlySpan state.QNetwork, next, b, ws.OnlineOnNext)
            doubleDqnTargetBatch cfg.Gamma b n (r, d, qOnline, qTarget, y)
        | _ -> softDqnTargetBatch cfg.Gamma cfg.Temperature b n (r, d, qTarget, y)

    /// <summary>
    /// TD step: the online network on s, the TD loss against the workspace's Targets with its gradient in the taken
    /// actions' outputs only, back-propagation, and one Adam step (the gradient clipped to MaxGradNorm). Returns the
    /// state, the loss, the mean Q(s, a) and (soft DQN) the mean Boltzmann entropy, all from before the step.
    /// </summary>
    [<CompiledName("TdStep")>]
    let tdStep (ctx: DqnContext) (batch: Batch) (state: DqnLearnerState) : struct (DqnLearnerState * float32 * float32 * float32) =
        let ws = ctx.Workspace
        let cfg = ctx.Config
        let b, o, n = batch.Size, ctx.ObservationSize, ctx.ActionCount
        let q = Mlp.Forward(ctx.Gemm, ctx.Spec, ReadOnlySpan state.QNetwork, ReadOnlySpan(batch.Observations, 0, b * o), b, ws.OnObs)
        let actions = ReadOnlySpan(batch.Actions, 0, b)
        let loss = tdLoss cfg.Loss b n (q, actions, ReadOnlySpan(ws.Targets, 0, b), Span(ws.OutputGrad, 0, b * n))
        let mutable sumQ = 0.0
        let mutable sumH = 0.0
        let soft = (cfg.Variant = DqnVariant.SoftDqn)
        for i in 0 .. b - 1 do
            let row = q.Slice(i * n, n)
            sumQ <- sumQ + float row.[int actions.[i]]
            if soft then sumH <- sumH + float (boltzmannEntropy cfg.Temperature row)
        Mlp.Backward(ctx.Gemm, ctx.Spec, ReadOnlySpan state.QNetwork, ws.OnObs, b, ReadOnlySpan(ws.OutputGrad, 0, b * n), Span ws.ParameterGrad, Span<float32>.Empty)
        let opt = Adam.Update(ctx.Adam, state.Optimizer, ReadOnlySpan ws.ParameterGrad, Span state.QNetwork)
        struct (DqnLearnerState(state.QNetwork, state.TargetQNetwork, opt, state.Step, state.Key), loss, float32 (sumQ / float b), float32 (sumH / float b))

    /// <summary>
    /// Target update (DQN's periodic copy): <c>target &lt;- tau * online + (1 - tau) * target</c> when
    /// <paramref name="environmentSteps"/> is a multiple of TargetUpdateInterval; with SB3's tau = 1 a hard copy. Called
    /// once per environment step, as SB3 counts the interval. Returns whether it updated.
    /// </summary>
    [<CompiledName("SyncTarget")>]
    let syncTarget (ctx: DqnContext) (environmentSteps: int64) (state: DqnLearnerState) : bool =
        if environmentSteps % int64 ctx.Config.TargetUpdateInterval = 0L then
            // theta^- <- tau * theta + (1 - tau) * theta^-  (tau = 1: theta^- <- theta)
            Polyak.Update(ctx.Config.Tau, ReadOnlySpan state.QNetwork, Span state.TargetQNetwork)
            true
        else false

    /// <summary>
    /// One gradient step on <paramref name="batch"/> (whose actions are indices, one per row): the variant's targets,
    /// then the TD step. Returns the next state (owning the same, updated, arrays) and the step's metrics. The target
    /// network is not touched here: <see cref="syncTarget"/> copies it on the environment-step schedule. Allocates nothing.
    /// </summary>
    [<CompiledName("Update")>]
    let update (ctx: DqnContext) (batch: Batch) (state: DqnLearnerState) : struct (DqnLearnerState * DqnMetrics) =
        let ws = ctx.Workspace
        let b = batch.Size
        if b > ws.BatchSize then invalidArg (nameof batch) $"The batch has {b} rows but the learner was built for at most {ws.BatchSize}."
        if batch.ObservationSize <> ctx.ObservationSize || batch.ActionSize <> 1 then
            invalidArg (nameof batch) $"The batch holds observations of {batch.ObservationSize} and actions of {batch.ActionSize}; the learner needs {ctx.ObservationSize} and 1 (an action index)."
        targets ctx batch state
        let mutable sumY = 0.0
        for i in 0 .. b - 1 do
            sumY <- sumY + float ws.Targets.[i]
        let struct (next, loss, meanQ, entropy) = tdStep ctx batch state
        struct (DqnLearnerState(next.QNetwork, next.TargetQNetwork, next.Optimizer, next.Step + 1L, next.Key),
                { TdLoss = loss; MeanQ = meanQ; MeanTarget = float32 (sumY / float b); Entropy = entropy })

    /// <summary>
    /// Greedy evaluation: <paramref name="episodes"/> episodes acting argmax_a Q(s, a); episode k is reset with seed
    /// <c>seed + k</c>, so evaluations are reproducible and comparable across checkpoints.
    /// </summary>
    [<CompiledName("Evaluate")>]
    let evaluate (ctx: DqnContext) (ws: MlpWorkspace) (parameters: float32[]) (env: IEnvironment) (episodes: int) (seed: uint64) : EvaluationResult =
        if episodes < 1 then invalidArg (nameof episodes) $"episodes must be at least 1, got {episodes}."
        let obs = Array.zeroCreate<float32> env.ObservationSpace.Dimension
        let action = Array.zeroCreate<float32> 1
        let returns =
            Array.init episodes (fun k ->
                env.Reset(Nullable(seed + uint64 k), Span obs)
                let mutable total = 0.0
                let mutable fin = false
                while not fin do
                    action.[0] <- float32 (act ctx ws parameters Greedy (ReadOnlySpan obs))
                    let r = env.Step(ReadOnlySpan action, Span obs)
                    total <- total + float r.Reward
                    fin <- r.Terminated || r.Truncated
                total)
        Evaluation.ofReturns returns

/// <summary>The explicit state the DQN training loop folds over (the replay buffer and environments are the trainer's
/// preallocated, mutable workspace).</summary>
[<Struct>]
type DqnTrainingState =
    { /// <summary>The learner.</summary>
      Learner: DqnLearnerState
      /// <summary>Environment steps taken.</summary>
      EnvSteps: int64
      /// <summary>Episodes finished.</summary>
      Episodes: int
      /// <summary>Return accumulated in the running episode.</summary>
      EpisodeReturn: float
      /// <summary>Steps in the running episode.</summary>
      EpisodeLength: int
      /// <summary>Replay draws made (each draw fills one batch).</summary>
      Draws: uint64
      /// <summary>Latest update's metrics.</summary>
      LastMetrics: DqnMetrics voption }

/// <summary>
/// The mutable workspace of a DQN-family training run on a discrete-action environment: training and evaluation
/// environments, replay buffer (actions stored as indices), a minibatch, acting buffers and the RNG keys, built from a
/// validated configuration. Mirrors <see cref="Trainer"/>: Start, Step, Run, RunTo, Evaluate, and training checkpoints
/// with Save, Resume and CheckpointEvery.
/// </summary>
/// <remarks>
/// Everything random in a run is a function of the seed and a counter held in <see cref="DqnTrainingState"/> (acting
/// and warm-up draws by environment step, minibatches by draw, environment resets by episode), so <see cref="Save"/>
/// and <see cref="Resume"/> continue a run exactly: with the replay buffer saved, the resumed run's records and
/// parameters are bitwise those of the uninterrupted one.
/// </remarks>
/// <exception cref="ArgumentException">The environment id is unknown, or the environment's actions are continuous.</exception>
[<Sealed>]
type DqnTrainer(environmentId: string, config: DqnConfig, gemm: IGemm) =
    do config.ThrowIfInvalid() |> ignore
    let env = EnvironmentRegistry.MakeChecked environmentId
    let evalEnv = EnvironmentRegistry.MakeChecked environmentId
    let n = DiscreteActions.ActionCount env
    let o = env.ObservationSpace.Dimension
    let ctx = DqnContext(config, o, n, gemm)
    let root = PhiloxKey.FromSeed config.Seed
    // Distinct streams for behaviour actions, warm-up actions and replay sampling, all from the run's seed.
    let actKey = root.FoldIn 0x41435430u
    let warmupKey = root.FoldIn 0x57524d55u
    let sampleKey = root.FoldIn 0x53414d50u
    let mutable replay = ReplayBuffer(config.BufferSize, o, 1)
    let batch = Batch(config.BatchSize, o, 1)
    let actWs = MlpWorkspace(ctx.Spec, 1)
    let obs = Array.zeroCreate<float32> o
    let nextObs = Array.zeroCreate<float32> o
    let action = Array.zeroCreate<float32> 1
    let soft = (config.Variant = DqnVariant.SoftDqn)
    let algorithm = Sac.Core.Runs.DqnCheckpoint.AlgorithmName config.Variant
    let tape = EpisodeTape.For env
    let mutable checkpointEvery = 0L
    let clock = TrainingClock()
    // Updates wait for LearningStarts transitions: true of a fresh run by construction, and what makes a run resumed
    // without its replay buffer refill it before learning again.
    let enoughData () = replay.Count > 0 && replay.Count >= min config.LearningStarts replay.Capacity

    // The order DqnCheckpoint.MetricNames documents.
    let metricsArray (m: DqnMetrics) = [| m.TdLoss; m.MeanQ; m.MeanTarget; m.Entropy |]

    let metricsOf (values: Collections.Generic.IReadOnlyList<float32>) =
        { TdLoss = values.[0]; MeanQ = values.[1]; MeanTarget = values.[2]; Entropy = values.[3] }

    /// <summary>The learner's fixed parts.</summary>
    member _.Context = ctx
    /// <summary>The environment id.</summary>
    member _.EnvironmentId = environmentId
    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Number of actions.</summary>
    member _.ActionCount = n
    /// <summary>The replay buffer (a fresh one at <see cref="Start"/>; replaced by <see cref="Resume"/>).</summary>
    member _.Replay = replay
    /// <summary>The training environment.</summary>
    member _.Environment = env
    /// <summary>The evaluation environment.</summary>
    member _.EvaluationEnvironment = evalEnv
    /// <summary>The one-row Q-network workspace used for acting and evaluation.</summary>
    member _.ActingWorkspace = actWs
    /// <summary>Seed of evaluation episodes: far from training's, fixed per run.</summary>
    member _.EvaluationSeed = config.Seed + 1_000_000UL

    /// <summary>Epsilon of the behaviour policy before environment step <paramref name="step"/> (DQN, Double DQN).</summary>
    member _.ExplorationRate(step: int64) = Dqn.explorationRate config step

    /// <summary>A fresh learner, an empty replay buffer and the first observation (the environment reset with the run's seed).</summary>
    member _.Start() : DqnTrainingState =
        env.Reset(Nullable config.Seed, Span obs)
        tape.Clear()
        if replay.TotalAdded > 0L then replay <- ReplayBuffer(config.BufferSize, o, 1)
        clock.Restart()
        { Learner = Dqn.init ctx config.Seed; EnvSteps = 0L; Episodes = 0; EpisodeReturn = 0.0; EpisodeLength = 0
          Draws = 0UL; LastMetrics = ValueNone }

    /// <summary>
    /// One environment step: act (uniformly random before LearningStarts; then epsilon-greedy, or Boltzmann for soft
    /// DQN), store the transition, reset at episode end, update the target network every TargetUpdateInterval steps,
    /// run GradientSteps updates every TrainFrequency steps once learning has started and the replay buffer holds
    /// LearningStarts transitions (each update checked for NaN and infinity, see <see cref="NumericalCheck.dqnUpdate"/>),
    /// and evaluate greedily every EvalInterval steps. Returns the next state and the record of this step, if an episode
    /// ended or an evaluation ran.
    /// </summary>
    /// <exception cref="T:Sac.Core.Runs.NumericalFaultException">An update produced a NaN or infinite target, loss, gradient or parameter.</exception>
    member _.Step(state: DqnTrainingState) : struct (DqnTrainingState * TrainingRecord option) =
        let t = state.EnvSteps
        let index =
            if t < int64 config.LearningStarts then Philox.UniformInt(warmupKey, uint64 t, n)
            elif soft then Dqn.act ctx actWs state.Learner.QNetwork (Boltzmann(config.Temperature, actKey, uint64 t)) (ReadOnlySpan obs)
            else Dqn.act ctx actWs state.Learner.QNetwork (EpsilonGreedy(Dqn.explorationRate config t, actKey, uint64 t)) (ReadOnlySpan obs)
        action.[0] <- float32 index
        let r = env.Step(ReadOnlySpan action, Span nextObs)
        tape.Record(ReadOnlySpan action)
        // The true next observation is stored even on truncation: the target bootstraps from it.
        replay.Add(ReadOnlySpan obs, ReadOnlySpan action, r.Reward, ReadOnlySpan nextObs, r.Terminated, r.Truncated)
        let episodeReturn = state.EpisodeReturn + float r.Reward
        let episodeLength = state.EpisodeLength + 1
        let ended = r.Terminated || r.Truncated
        if ended then
            env.Reset(Nullable(), Span obs)
            tape.Clear()
        else Array.blit nextObs 0 obs 0 o
        let steps = t + 1L
        // SB3 order: the per-step callback (target update) runs before the training phase that ends the rollout.
        Dqn.syncTarget ctx steps state.Learner |> ignore
        let mutable learner = state.Learner
        let mutable draws = state.Draws
        let mutable last = state.LastMetrics
        if steps > int64 config.LearningStarts && steps % int64 config.TrainFrequency = 0L && enoughData () then
            let t0 = Stopwatch.GetTimestamp()
            for _ in 1 .. config.GradientSteps do
                replay.Sample(sampleKey, draws, batch)
                draws <- draws + 1UL
                let struct (next, m) = Dqn.update ctx batch learner
                NumericalCheck.dqnUpdate steps next (m.MeanTarget, m.TdLoss, m.MeanQ, m.Entropy) (ReadOnlySpan ctx.Workspace.ParameterGrad)
                learner <- next
                last <- ValueSome m
            clock.AddUpdates(config.GradientSteps, t0)
        let evaluation =
            if config.EvalInterval > 0 && steps % int64 config.EvalInterval = 0L then
                Some(Dqn.evaluate ctx actWs learner.QNetwork evalEnv config.EvalEpisodes (config.Seed + 1_000_000UL))
            else None
        let next =
            { Learner = learner; EnvSteps = steps; Episodes = (if ended then state.Episodes + 1 else state.Episodes)
              EpisodeReturn = (if ended then 0.0 else episodeReturn); EpisodeLength = (if ended then 0 else episodeLength)
              Draws = draws; LastMetrics = last }
        let losses =
            if ended || evaluation.IsSome then
                match last with
                | ValueSome m ->
                    ValueSome
                        { CriticLoss = m.TdLoss; ActorLoss = 0.0f; AlphaLoss = 0.0f; ValueLoss = 0.0f
                          Alpha = (if soft then config.Temperature else 0.0f)
                          Entropy = (if soft then m.Entropy else Dqn.epsilonGreedyEntropy (Dqn.explorationRate config steps) n)
                          MeanQ = m.MeanQ }
                | ValueNone -> ValueNone
            else ValueNone
        let record =
            clock.Record(steps, next.Episodes, ended, episodeReturn, episodeLength,
                         evaluation |> Option.map (fun e -> e.Mean, e.Std), losses)
        struct (next, record)

    /// <summary>
    /// Writes a training checkpoint: the learner, the loop's progress toward <paramref name="totalSteps"/> (its last
    /// metrics in the order of <see cref="T:Sac.Core.Runs.DqnCheckpoint"/>'s MetricNames), the running episode's
    /// actions and, with <paramref name="includeReplay"/>, the replay buffer (needed for an exact resume). Atomic: a
    /// crash while saving leaves the previous file at <paramref name="path"/> intact.
    /// </summary>
    member _.Save(path: string, state: DqnTrainingState, totalSteps: int64, includeReplay: bool) =
        let progress =
            Resuming.progress totalSteps state.Episodes state.EpisodeReturn state.EpisodeLength state.Draws
                (ValueOption.map metricsArray state.LastMetrics) checkpointEvery
        let header =
            Sac.Core.Runs.DqnCheckpointHeader(algorithm, environmentId, o, n, config.HiddenSizes, state.EnvSteps, Progress = progress)
        Sac.Core.Runs.DqnCheckpoint.Save(path, header, state.Learner, (if includeReplay then (replay: ReplayBuffer | null) else null), tape.Actions,
                                         Collections.Generic.Dictionary(dict [ Sac.Core.Runs.Checkpoint.ConfigMetadataKey, Sac.Core.Runs.ConfigJson.Serialize config ]))

    /// <summary>
    /// The state a training checkpoint describes, with this trainer's environment and replay buffer brought to the
    /// same point: the environment is reset as often as the saved run reset it and the running episode's actions are
    /// replayed, so the next step continues exactly where the saved run was. Without a saved replay buffer the
    /// buffer starts empty and updates wait until it holds LearningStarts transitions again.
    /// </summary>
    /// <exception cref="T:System.ArgumentException">The checkpoint is not a training checkpoint of this variant,
    /// environment and network shape (the message names what differs), or replaying its episode does not reproduce its return.</exception>
    member _.Resume(checkpoint: Sac.Core.Runs.DqnTrainingCheckpoint) : DqnTrainingState =
        let h = checkpoint.Header
        if h.Algorithm <> algorithm then Resuming.fail $"it was written by '{h.Algorithm}', the configuration asks for '{algorithm}'"
        Resuming.requireEnvironment environmentId h.EnvironmentId
        if h.ObservationSize <> o || h.ActionCount <> n then
            Resuming.fail $"its sizes (observation {h.ObservationSize}, actions {h.ActionCount}) differ from {environmentId}'s ({o}, {n})"
        Resuming.requireSizes "hidden sizes" config.HiddenSizes h.HiddenSizes
        let progress = Resuming.requireProgress h.Progress
        let lastMetrics = Resuming.lastMetrics "DQN-family" 4 metricsOf progress
        replay <- Resuming.replay config.BufferSize (fun () -> ReplayBuffer(config.BufferSize, o, 1)) checkpoint.Replay
        tape.Rebuild(env, config.Seed, progress.Episodes, checkpoint.EpisodeActions, progress.EpisodeReturn, obs)
        clock.Restart()
        { Learner = checkpoint.State; EnvSteps = h.EnvironmentSteps; Episodes = progress.Episodes
          EpisodeReturn = progress.EpisodeReturn; EpisodeLength = progress.EpisodeLength; Draws = progress.Draws
          LastMetrics = lastMetrics }

    /// <summary>Runs <paramref name="steps"/> environment steps from <paramref name="state"/>, passing every record to
    /// <paramref name="onRecord"/>; returns the final state.</summary>
    member this.Run(state: DqnTrainingState, steps: int64, onRecord: Action<TrainingRecord>) : DqnTrainingState =
        TrainingLoop.run this.Step state steps onRecord

    /// <summary>Steps from <paramref name="state"/> until <paramref name="totalSteps"/> environment steps have been
    /// taken or a callback stops the run.</summary>
    member this.RunTo(state: DqnTrainingState, totalSteps: int64, callbacks: seq<ITrainingCallback<DqnTrainingState>>) : RunOutcome<DqnTrainingState> =
        TrainingLoop.runUntil this.Step (fun s -> s.EnvSteps) state totalSteps (List.ofSeq callbacks)

    /// <summary>A callback that writes a training checkpoint to <paramref name="path"/> every
    /// <paramref name="interval"/> environment steps (atomically replacing the previous one); the interval is stored
    /// in the checkpoints' progress so a resumed run can keep it.</summary>
    member this.CheckpointEvery(interval: int64, path: string, totalSteps: int64, includeReplay: bool) : ITrainingCallback<DqnTrainingState> =
        let callback = Callback.every interval (fun _ s -> this.Save(path, s, totalSteps, includeReplay))
        checkpointEvery <- interval
        callback

    /// <summary>Greedy evaluation of the current Q-network over <paramref name="episodes"/> episodes (episode k seeded <c>seed + k</c>).</summary>
    member _.Evaluate(state: DqnTrainingState, episodes: int, seed: uint64) =
        Dqn.evaluate ctx actWs state.Learner.QNetwork evalEnv episodes seed

/// <summary>DQN-family training entry points for scripts: one call from a configuration to a trained learner.</summary>
[<RequireQualifiedAccess>]
module DqnTraining =

    /// <summary>Trains the configured DQN variant on <paramref name="environmentId"/> for <paramref name="steps"/> environment steps.</summary>
    [<CompiledName("Train")>]
    let train (gemm: IGemm) (environmentId: string) (config: DqnConfig) (steps: int64) (onRecord: TrainingRecord -> unit) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        let trainer = DqnTrainer(environmentId, config, gemm)
        let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
        trainer, final
