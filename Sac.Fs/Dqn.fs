namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random


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
        bootstrap gamma r terminated (SoftMaximum.Of(qNextTarget, float alpha))

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

    // One row's action index from its Q values under the mode.
    let private choose (ctx: DqnContext) (mode: DqnActionMode) (q: ReadOnlySpan<float32>) : int =
        match mode with
        | Greedy -> argmax q
        | EpsilonGreedy (epsilon, key, index) ->
            // SB3 DQN.predict: a random action with probability epsilon, otherwise argmax_a Q(s, a)
            if Philox.Uniform(key, index) < epsilon then Philox.UniformInt(key, index, ctx.ActionCount) else argmax q
        | Boltzmann (temperature, key, index) ->
            // Soft Q-learning behaviour: a ~ softmax(Q(s, .) / alpha)
            sampleBoltzmann temperature q (Philox.Uniform(key, index))

    /// <summary>The action index for one observation under <paramref name="mode"/>. Allocates nothing.</summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="ws">A workspace for the Q-network with room for one row.</param>
    /// <param name="parameters">The Q-network parameters.</param>
    /// <param name="mode">Greedy, epsilon-greedy or Boltzmann.</param>
    /// <param name="observation">The observation.</param>
    [<CompiledName("Act")>]
    let act (ctx: DqnContext) (ws: MlpWorkspace) (parameters: float32[]) (mode: DqnActionMode) (observation: ReadOnlySpan<float32>) : int =
        choose ctx mode (qValues ctx ws parameters observation)

    /// <summary>
    /// The action indices of <paramref name="rows"/> observations under <paramref name="mode"/>, row r drawing at the
    /// mode's index + r, from one forward pass whose GEMMs run row by row (<paramref name="rowGemm"/>, a
    /// <see cref="T:Sac.Fs.RowGemm"/> over the context's provider), so each row's index is bitwise <c>act</c>'s for
    /// that row alone. Allocates nothing.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="rowGemm">The context's GEMM, row by row.</param>
    /// <param name="ws">A Q-network workspace with room for <paramref name="rows"/> rows.</param>
    /// <param name="parameters">The Q-network parameters.</param>
    /// <param name="mode">Greedy, epsilon-greedy or Boltzmann, at row 0's index.</param>
    /// <param name="rows">The observations, at least 1.</param>
    /// <param name="observations">rows x |S| values.</param>
    /// <param name="indices">Receives the rows' action indices, as floats (the replay buffer's action).</param>
    [<CompiledName("ActRows")>]
    let actRows (ctx: DqnContext) (rowGemm: IGemm) (ws: MlpWorkspace) (parameters: float32[]) (mode: DqnActionMode) (rows: int)
                (observations: ReadOnlySpan<float32>) (indices: Span<float32>) =
        if observations.Length <> rows * ctx.ObservationSize || indices.Length <> rows then
            invalidArg (nameof observations) $"Expected {rows} rows of {ctx.ObservationSize} values and {rows} indices, got {observations.Length} and {indices.Length}."
        let q = Mlp.Forward(rowGemm, ctx.Spec, ReadOnlySpan parameters, observations, rows, ws)
        let n = ctx.ActionCount
        for r in 0 .. rows - 1 do
            let rowMode =
                match mode with
                | Greedy -> Greedy
                | EpsilonGreedy (epsilon, key, index) -> EpsilonGreedy(epsilon, key, index + uint64 r)
                | Boltzmann (temperature, key, index) -> Boltzmann(temperature, key, index + uint64 r)
            indices.[r] <- float32 (choose ctx rowMode (q.Slice(r * n, n)))

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
        let opt = Adam.Update(ctx.Adam, ws.LearningRateFactor, state.Optimizer, ReadOnlySpan ws.ParameterGrad, Span state.QNetwork)
        struct (state.WithOptimizer opt, loss, float32 (sumQ / float b), float32 (sumH / float b))

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
    /// The target update of a run that steps <paramref name="environments"/> environments together, after the
    /// vectorised step that brought the run to <paramref name="environmentSteps"/>: Stable-Baselines3's DQN with
    /// n_envs updates the target every <c>max(TargetUpdateInterval / n, 1)</c> vectorised steps; with one environment
    /// this is <see cref="syncTarget"/>. Returns whether it updated.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="environmentSteps">Environment steps taken, a multiple of <paramref name="environments"/>.</param>
    /// <param name="environments">Environments stepped together, at least 1.</param>
    /// <param name="state">The learner whose target network is updated in place.</param>
    [<CompiledName("SyncTargetVectorised")>]
    let syncTargetVectorised (ctx: DqnContext) (environmentSteps: int64) (environments: int) (state: DqnLearnerState) : bool =
        if environments < 1 then invalidArg (nameof environments) $"environments must be at least 1, got {environments}."
        if environments = 1 then syncTarget ctx environmentSteps state
        else
            let every = max (int64 ctx.Config.TargetUpdateInterval / int64 environments) 1L
            if (environmentSteps / int64 environments) % every = 0L then
                Polyak.Update(ctx.Config.Tau, ReadOnlySpan state.QNetwork, Span state.TargetQNetwork)
                true
            else false

    /// <summary>
    /// One gradient step on <paramref name="batch"/> (whose actions are indices, one per row): the variant's targets,
    /// then the TD step. Returns the next state (owning the same, updated, arrays) and the step's metrics. The target
    /// network is not touched here: <see cref="syncTarget"/> copies it on the environment-step schedule. Allocates nothing.
    /// </summary>
    [<CompiledName("UpdateWith")>]
    let updateWith (ctx: DqnContext) (learningRateFactor: float32) (batch: Batch) (state: DqnLearnerState) : struct (DqnLearnerState * DqnMetrics) =
        Guard.learningRateFactor learningRateFactor
        let ws = ctx.Workspace
        ws.LearningRateFactor <- learningRateFactor
        let b = batch.Size
        if b > ws.BatchSize then invalidArg (nameof batch) $"The batch has {b} rows but the learner was built for at most {ws.BatchSize}."
        if batch.ObservationSize <> ctx.ObservationSize || batch.ActionSize <> 1 then
            invalidArg (nameof batch) $"The batch holds observations of {batch.ObservationSize} and actions of {batch.ActionSize}; the learner needs {ctx.ObservationSize} and 1 (an action index)."
        targets ctx batch state
        let mutable sumY = 0.0
        for i in 0 .. b - 1 do
            sumY <- sumY + float ws.Targets.[i]
        let struct (next, loss, meanQ, entropy) = tdStep ctx batch state
        struct (next.WithStep(next.Step + 1L),
                { TdLoss = loss; MeanQ = meanQ; MeanTarget = float32 (sumY / float b); Entropy = entropy })

    /// <summary>One gradient step at the configured learning rates: <c>updateWith ctx 1 batch state</c>.</summary>
    [<CompiledName("Update")>]
    let update (ctx: DqnContext) (batch: Batch) (state: DqnLearnerState) : struct (DqnLearnerState * DqnMetrics) = updateWith ctx 1.0f batch state

    /// <summary>
    /// Greedy evaluation: <paramref name="episodes"/> episodes acting argmax_a Q(s, a) (see <see cref="Rollout.run"/>);
    /// episode k is reset with seed <c>seed + k</c>, so evaluations are reproducible and comparable across checkpoints.
    /// </summary>
    [<CompiledName("Evaluate")>]
    let evaluate (ctx: DqnContext) (ws: MlpWorkspace) (parameters: float32[]) (env: IEnvironment) (episodes: int) (seed: uint64) : EvaluationResult =
        Rollout.run env episodes seed
            (RolloutPolicy(fun _ obs action -> action.[0] <- float32 (act ctx ws parameters Greedy (ReadOnlySpan obs))))
