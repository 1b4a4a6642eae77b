namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random

/// <summary>
/// Soft Q-Learning (Haarnoja et al. 2017, "Reinforcement Learning with Deep Energy-Based Policies"): the
/// energy-based policy <c>pi(a|s) ∝ exp(Q(s, a) / alpha)</c>, its soft value by importance sampling, the soft Bellman
/// Q loss, and the amortised Stein variational gradient descent (SVGD) that trains a sampling network
/// <c>a = f(xi; s)</c> to draw from <c>pi</c>. Batch functions are pure over spans and allocate nothing; the stages
/// (<see cref="softTargets"/>, <see cref="qStep"/>, <see cref="samplerStep"/>, <see cref="targetStep"/>) compose into
/// <see cref="update"/>.
/// </summary>
/// <remarks>
/// Differences from the reference implementation, all documented where they occur: the Q step runs before the SVGD
/// step (the reference runs both on the same parameters in one session call); the kernel bandwidth divides by
/// <c>log(K_fixed + 1)</c> rather than <c>log K_fixed</c> (the SVGD authors' form, finite for one particle); the median
/// of an even count is the mean of the two middle values; the value samples are drawn per next state rather than
/// shared across the batch; and the SVGD surrogate is averaged over the batch's states (the reference sums; Adam makes
/// the scale immaterial up to its epsilon).
/// </remarks>
[<RequireQualifiedAccess>]
module SoftQLearning =

    let private ln2 = Math.Log 2.0

    /// <summary>
    /// Importance-sampled soft values over the action box <c>[-1, 1]^|A|</c> with a uniform proposal:
    /// <c>dest[i] = alpha (log sum_j exp(q[i, j] / alpha) - log M + |A| log 2)</c> for <paramref name="rows"/> rows of
    /// <paramref name="particles"/> (M) values <c>q[i, j] = Q(s_i, a_j)</c> at uniform actions <c>a_j</c>.
    /// </summary>
    /// <remarks>
    /// <c>|A| log 2</c> is the log-volume of the box, i.e. minus the log-density of the uniform proposal, so the
    /// estimate tends to <c>alpha log ∫ exp(Q(s, a) / alpha) da</c> as M grows; for any M it lies in
    /// <c>[max_j q + alpha (|A| log 2 - log M), max_j q + alpha |A| log 2]</c>, and (Jensen) its expectation is at most
    /// the true value. Computed with the maximum shifted out and the sum in float64. Allocates nothing.
    /// </remarks>
    /// <param name="alpha">Temperature, greater than zero.</param>
    /// <param name="actionSize">Action dimension |A|.</param>
    /// <param name="rows">Number of states.</param>
    /// <param name="particles">Samples per state M, at least 1.</param>
    /// <param name="q">The values, <c>[rows, particles]</c> row-major.</param>
    /// <param name="dest">Receives the soft values, at least <paramref name="rows"/> elements.</param>
    [<CompiledName("ImportanceSoftValue")>]
    let importanceSoftValue (alpha: float32) (actionSize: int) (rows: int) (particles: int) (q: ReadOnlySpan<float32>) (dest: Span<float32>) : unit =
        // SQL eq. 10: V(s) = alpha log E_{a~U}[exp(Q(s, a)/alpha) / q_U(a)] ≈ alpha (logsumexp_j(Q_j/alpha) - log M + |A| log 2)
        Guard.size "rows" rows
        if particles < 1 then raise (ArgumentOutOfRangeException(nameof particles, particles, "particles must be at least 1."))
        if not (alpha > 0.0f) then raise (ArgumentOutOfRangeException(nameof alpha, alpha, "alpha must be greater than zero."))
        Guard.atLeast "q" q.Length (Guard.product rows particles)
        Guard.atLeast "dest" dest.Length rows
        let offset = float actionSize * ln2 - Math.Log(float particles)
        for i in 0 .. rows - 1 do
            dest.[i] <- float32 (SoftMaximum.Of(q.Slice(i * particles, particles), float alpha, offset))

    /// <summary>
    /// Soft Q targets <c>dest[i] = rewardScale r[i] + gamma (1 - terminated[i]) v[i]</c>, with <c>v</c> the soft values
    /// of the next states under the target network: exactly the scaled reward when the transition terminated. The
    /// targets are constants of the Q loss: nothing flows back into <c>v</c>.
    /// </summary>
    /// <param name="gamma">Discount factor.</param>
    /// <param name="rewardScale">Factor applied to the rewards.</param>
    /// <param name="rows">Rows B.</param>
    /// <param name="rewards">Rewards r.</param>
    /// <param name="terminated">1 for terminal transitions, 0 otherwise (truncation is 0).</param>
    /// <param name="nextValues">V_target(s') from <see cref="importanceSoftValue"/>.</param>
    /// <param name="dest">Receives the targets.</param>
    [<CompiledName("QTargets")>]
    let qTargets (gamma: float32) (rewardScale: float32) (rows: int)
                 (rewards: ReadOnlySpan<float32>, terminated: ReadOnlySpan<float32>, nextValues: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // SQL eq. 11: Q_hat(s, a) = r_scale r + gamma (1 - terminated) V_target(s')
        Guard.size "rows" rows
        Guard.atLeast "rewards" rewards.Length rows
        Guard.atLeast "terminated" terminated.Length rows
        Guard.atLeast "nextValues" nextValues.Length rows
        Guard.atLeast "dest" dest.Length rows
        for i in 0 .. rows - 1 do
            let r = rewardScale * rewards.[i]
            // Terminal: y = r exactly, whatever V(s') holds.
            dest.[i] <- if terminated.[i] <> 0.0f then r else SoftBellman.target gamma r terminated.[i] nextValues.[i]

    /// <summary>
    /// The soft Bellman residual <c>mean_i 0.5 (q[i] - y[i])^2</c>; writes <c>dq[i] = (q[i] - y[i]) / B</c>. The targets
    /// are constants (no output exists for dL/dy).
    /// </summary>
    /// <param name="rows">Rows B.</param>
    /// <param name="q">Q(s, a) at the replayed pairs.</param>
    /// <param name="y">Targets from <see cref="qTargets"/>.</param>
    /// <param name="dq">Receives dL/dq.</param>
    [<CompiledName("QLoss")>]
    let qLoss (rows: int) (q: ReadOnlySpan<float32>, y: ReadOnlySpan<float32>, dq: Span<float32>) : float32 =
        // SQL eq. 11: J_Q = E[ 0.5 (Q_hat(s, a) - Q(s, a))^2 ]
        Losses.critic rows (q, y, dq)

    /// <summary>A fresh learner: PyTorch-default initialised Q and sampler, the target equal to Q, zero optimizer
    /// moments, step 0; every draw derived from <paramref name="seed"/>.</summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="seed">The seed.</param>
    [<CompiledName("Init")>]
    let init (ctx: SqlContext) (seed: uint64) : SqlLearnerState =
        let n = ctx.Networks
        let root = PhiloxKey.FromSeed seed
        let q = Mlp.InitParameters(n.Q, root.FoldIn 1u)
        let sampler = Mlp.InitParameters(n.Sampler, root.FoldIn 2u)
        SqlLearnerState(q, Array.copy q, sampler, Adam.Init q.Length, Adam.Init sampler.Length, 0L, root.FoldIn 3u)

    /// <summary>The key of step <c>state.Step</c>'s noise: independent per step, reproducible from the root key.</summary>
    /// <param name="state">The learner.</param>
    [<CompiledName("StepKey")>]
    let stepKey (state: SqlLearnerState) = state.Key.FoldIn(uint32 state.Step).FoldIn(uint32 (state.Step >>> 32))

    // Row (i * copies + j) of dest = [obs_i, act_(i * copies + j)].
    let private tileRows (rows: int) (copies: int) (o: int) (a: int) (obs: ReadOnlySpan<float32>) (act: ReadOnlySpan<float32>) (dest: Span<float32>) =
        let w = o + a
        for i in 0 .. rows - 1 do
            let s = obs.Slice(i * o, o)
            for j in 0 .. copies - 1 do
                let r = i * copies + j
                s.CopyTo(dest.Slice(r * w, o))
                act.Slice(r * a, a).CopyTo(dest.Slice(r * w + o, a))

    /// <summary>
    /// Soft Q targets (SQL eqs. 10-11): M uniform actions per next state from <paramref name="key"/>, the target
    /// Q-network on them, the importance-sampled soft value, then <c>y = r_scale r + gamma (1 - terminated) V(s')</c>
    /// into the workspace's Targets. No gradient.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="batch">The minibatch.</param>
    /// <param name="key">This step's key for the value samples.</param>
    /// <param name="state">The learner (its target Q is read).</param>
    [<CompiledName("SoftTargets")>]
    let softTargets (ctx: SqlContext) (batch: Batch) (key: PhiloxKey) (state: SqlLearnerState) : unit =
        let ws = ctx.Workspace
        let cfg = ctx.Config
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        let m = ws.ValueParticles
        let n = b * m * a
        let actions = Span(ws.ValueActions, 0, n)
        Philox.FillUniform(key, 0UL, actions)
        for i in 0 .. n - 1 do actions.[i] <- 2.0f * actions.[i] - 1.0f
        tileRows b m o a (ReadOnlySpan(batch.NextObservations, 0, b * o)) (ReadOnlySpan(ws.ValueActions, 0, n)) (Span ws.ValueInput)
        let q = Mlp.Forward(ctx.Gemm, ctx.Networks.Q, ReadOnlySpan state.TargetQ, ReadOnlySpan(ws.ValueInput, 0, b * m * (o + a)), b * m, ws.TargetQOnNext)
        importanceSoftValue cfg.Alpha a b m q (Span ws.NextValues)
        qTargets cfg.Gamma cfg.RewardScale b (ReadOnlySpan batch.Rewards, ReadOnlySpan batch.Terminated, ReadOnlySpan ws.NextValues, Span ws.Targets)

    /// <summary>
    /// Q step (SQL eq. 11): one Adam step of the Q-network on <c>mean 0.5 (Q(s, a) - y)^2</c> against the workspace's
    /// Targets, which are constants. Returns the next state, the loss and the mean Q(s, a).
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="batch">The minibatch.</param>
    /// <param name="state">The learner.</param>
    [<CompiledName("QStep")>]
    let qStep (ctx: SqlContext) (batch: Batch) (state: SqlLearnerState) : struct (SqlLearnerState * float32 * float32) =
        let ws = ctx.Workspace
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        Rows.concat b o a (ReadOnlySpan batch.Observations) (ReadOnlySpan batch.Actions) (Span ws.QInput)
        let q = Mlp.Forward(ctx.Gemm, ctx.Networks.Q, ReadOnlySpan state.Q, ReadOnlySpan(ws.QInput, 0, b * (o + a)), b, ws.QOnBatch)
        let meanQ = System.Numerics.Tensors.TensorPrimitives.Sum q / float32 b
        let loss = qLoss b (q, ReadOnlySpan(ws.Targets, 0, b), Span ws.QGrad)
        Mlp.Backward(ctx.Gemm, ctx.Networks.Q, ReadOnlySpan state.Q, ws.QOnBatch, b, ReadOnlySpan(ws.QGrad, 0, b), Span ws.QParameterGrad, Span<float32>.Empty)
        let opt = Adam.Update(ctx.QAdam, ws.LearningRateFactor, state.QOptimizer, ReadOnlySpan ws.QParameterGrad, Span state.Q)
        struct (state.WithOptimizers(opt, state.SamplerOptimizer), loss, meanQ)

    /// <summary>
    /// Sampler step (amortised SVGD, SQL eqs. 13-14 and appendix C): K particles per state <c>a = f(xi; s)</c> with
    /// <c>xi ~ N(0, I)</c> from <paramref name="key"/>, split into K_fixed fixed and K_updated updated ones; the score
    /// <c>grad_a Q(s, a_j) / alpha</c> (plus the squash correction's, when configured) at the fixed particles through
    /// the current Q-network (its parameters are read, never changed); per state the SVGD direction of every updated
    /// particle; then one Adam step of the sampler on the surrogate <c>-(1/B) sum &lt;Δ, f(xi; s)&gt;</c>.
    /// Returns the next state and the surrogate's value.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="batch">The minibatch (its observations are used).</param>
    /// <param name="key">This step's key for the sampler noise.</param>
    /// <param name="state">The learner.</param>
    [<CompiledName("SamplerStep")>]
    let samplerStep (ctx: SqlContext) (batch: Batch) (key: PhiloxKey) (state: SqlLearnerState) : struct (SqlLearnerState * float32) =
        let ws = ctx.Workspace
        let cfg = ctx.Config
        let n = ctx.Networks
        let b, o, a = batch.Size, n.ObservationSize, n.ActionSize
        let w = o + a
        let kf, ku = ws.FixedParticles, ws.UpdatedParticles
        let nf, nu = b * kf * a, b * ku * a
        let obs = ReadOnlySpan(batch.Observations, 0, b * o)
        Philox.FillNormal(key, 0UL, Span(ws.Noise, 0, nf + nu))
        tileRows b kf o a obs (ReadOnlySpan(ws.Noise, 0, nf)) (Span ws.FixedInput)
        tileRows b ku o a obs (ReadOnlySpan(ws.Noise, nf, nu)) (Span ws.UpdatedInput)
        let sampler = ReadOnlySpan state.Sampler
        let fixedOut = Mlp.Forward(ctx.Gemm, n.Sampler, sampler, ReadOnlySpan(ws.FixedInput, 0, b * kf * w), b * kf, ws.SamplerFixed)
        fixedOut.CopyTo(Span ws.FixedActions)
        let updatedOut = Mlp.Forward(ctx.Gemm, n.Sampler, sampler, ReadOnlySpan(ws.UpdatedInput, 0, b * ku * w), b * ku, ws.SamplerUpdated)
        updatedOut.CopyTo(Span ws.UpdatedActions)

        // Scores at the fixed particles: grad_a Q(s, a_j) / alpha through the Q-network's input (target log-density Q/alpha).
        tileRows b kf o a obs (ReadOnlySpan(ws.FixedActions, 0, nf)) (Span ws.ParticleInput)
        let q = ReadOnlySpan state.Q
        let _values = Mlp.Forward(ctx.Gemm, n.Q, q, ReadOnlySpan(ws.ParticleInput, 0, b * kf * w), b * kf, ws.QOnParticles)
        Span(ws.ParticleQGrad, 0, b * kf).Fill(1.0f / cfg.Alpha)
        Mlp.Backward(ctx.Gemm, n.Q, q, ws.QOnParticles, b * kf, ReadOnlySpan(ws.ParticleQGrad, 0, b * kf), Span<float32>.Empty, Span(ws.ParticleInputGrad, 0, b * kf * w))
        let squash = cfg.SquashCorrection
        for r in 0 .. b * kf - 1 do
            for d in 0 .. a - 1 do
                let g = ws.ParticleInputGrad.[r * w + o + d]
                ws.Scores.[r * a + d] <- if squash then g + Svgd.squashScore ws.FixedActions.[r * a + d] else g

        for i in 0 .. b - 1 do
            Svgd.svgdParticles cfg.KernelMinBandwidth kf ku a
                (ReadOnlySpan(ws.FixedActions, i * kf * a, kf * a), ReadOnlySpan(ws.UpdatedActions, i * ku * a, ku * a),
                 ReadOnlySpan(ws.Scores, i * kf * a, kf * a),
                 Span ws.SquaredDistances, Span ws.MedianScratch, Span ws.Kernel, Span ws.KernelGrad,
                 Span(ws.Direction, i * ku * a, ku * a))
            |> ignore

        let loss = Svgd.svgdSurrogate b nu (ReadOnlySpan ws.Direction, ReadOnlySpan ws.UpdatedActions, Span ws.SamplerOutputGrad)
        Mlp.Backward(ctx.Gemm, n.Sampler, sampler, ws.SamplerUpdated, b * ku, ReadOnlySpan(ws.SamplerOutputGrad, 0, nu), Span ws.SamplerParameterGrad, Span<float32>.Empty)
        let opt = Adam.Update(ctx.SamplerAdam, ws.LearningRateFactor, state.SamplerOptimizer, ReadOnlySpan ws.SamplerParameterGrad, Span state.Sampler)
        struct (state.WithOptimizers(state.QOptimizer, opt), loss)

    /// <summary>
    /// Target update: every <c>TargetUpdateInterval</c> gradient steps, <c>target &lt;- tau Q + (1 - tau) target</c>.
    /// With the defaults (<c>Tau = 1</c>, interval 1000) this is the reference's periodic hard copy; <c>Tau &lt; 1</c>
    /// with interval 1 gives SAC-style Polyak averaging.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="state">The learner, whose step count is the number of steps before this one.</param>
    [<CompiledName("TargetStep")>]
    let targetStep (ctx: SqlContext) (state: SqlLearnerState) : unit =
        if (state.Step + 1L) % int64 ctx.Config.TargetUpdateInterval = 0L then
            // Polyak: theta_target <- tau theta + (1 - tau) theta_target (tau = 1: copy)
            Polyak.Update(ctx.Config.Tau, ReadOnlySpan state.Q, Span state.TargetQ)

    /// <summary>
    /// One Soft Q-Learning gradient step on <paramref name="batch"/>: soft targets from the target network, the Q step,
    /// the SVGD sampler step against the updated Q, the target update. Returns the next state (owning the same,
    /// updated, arrays) and the step's metrics (the Q loss, the SVGD surrogate, the mean Q(s, a), the configured
    /// temperature). Allocates nothing.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="learningRateFactor">The factor on every optimizer's learning rate (a schedule's, in [0, 1]).</param>
    /// <param name="batch">The minibatch, at most the configured batch size.</param>
    /// <param name="state">The learner.</param>
    [<CompiledName("UpdateWith")>]
    let updateWith (ctx: SqlContext) (learningRateFactor: float32) (batch: Batch) (state: SqlLearnerState) : struct (SqlLearnerState * SqlMetrics) =
        Guard.learningRateFactor learningRateFactor
        let ws = ctx.Workspace
        ws.LearningRateFactor <- learningRateFactor
        let b, o, a = batch.Size, ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        if b > ws.BatchSize then invalidArg (nameof batch) $"The batch has {b} rows but the learner was built for at most {ws.BatchSize}."
        if batch.ObservationSize <> o || batch.ActionSize <> a then
            invalidArg (nameof batch) $"The batch holds observations of {batch.ObservationSize} and actions of {batch.ActionSize}; the learner needs {o} and {a}."
        let key = stepKey state
        softTargets ctx batch (key.FoldIn 1u) state
        let struct (state, qLossValue, meanQ) = qStep ctx batch state
        let struct (state, surrogate) = samplerStep ctx batch (key.FoldIn 2u) state
        targetStep ctx state
        let next = state.WithStep(state.Step + 1L)
        struct (next,
                { QLoss = qLossValue; SvgdLoss = surrogate; MeanQ = meanQ; Alpha = ctx.Config.Alpha })

    /// <summary>One gradient step at the configured learning rates: <c>updateWith ctx 1 batch state</c>.</summary>
    [<CompiledName("Update")>]
    let update (ctx: SqlContext) (batch: Batch) (state: SqlLearnerState) : struct (SqlLearnerState * SqlMetrics) = updateWith ctx 1.0f batch state

    // The sampler inputs [s_r, xi_r] of `rows` observations: xi_r from the mode's normal stream at index + r, or zeros.
    let private samplerInputs (ctx: SqlContext) (ws: SqlPolicyWorkspace) (mode: ActionMode) (rows: int) (observations: ReadOnlySpan<float32>) =
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        for r in 0 .. rows - 1 do
            let at = r * (o + a)
            observations.Slice(r * o, o).CopyTo(Span(ws.Input, at, o))
            match mode with
            | Deterministic -> Array.Clear(ws.Input, at + o, a)
            | Stochastic (key, index) -> Philox.FillNormal(key, (index + uint64 r) * uint64 a, Span(ws.Input, at + o, a))

    /// <summary>
    /// Writes the action for one observation: the policy IS the sampler, <c>a = f(xi; s)</c>. <c>Stochastic(key, index)</c>
    /// draws <c>xi ~ N(0, I)</c> from elements <c>index |A| ..</c> of the key's normal stream (a sample of pi);
    /// <c>Deterministic</c> uses <c>xi = 0</c>, a fixed, repeatable action that is NOT in general a mode of pi (the
    /// energy may have several). Allocates nothing.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="ws">Acting buffers.</param>
    /// <param name="sampler">Sampler parameters.</param>
    /// <param name="mode">How xi is chosen.</param>
    /// <param name="observation">The observation, |S| values.</param>
    /// <param name="action">Receives the action in <c>[-1, 1]^|A|</c>.</param>
    [<CompiledName("Act")>]
    let act (ctx: SqlContext) (ws: SqlPolicyWorkspace) (sampler: float32[]) (mode: ActionMode) (observation: ReadOnlySpan<float32>) (action: Span<float32>) =
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        if observation.Length <> o then invalidArg (nameof observation) $"The observation has {observation.Length} values; the sampler takes {o}."
        if action.Length <> a then invalidArg (nameof action) $"The action span has {action.Length} values; the sampler emits {a}."
        samplerInputs ctx ws mode 1 observation
        let out = Mlp.Forward(ctx.Gemm, ctx.Networks.Sampler, ReadOnlySpan sampler, ReadOnlySpan(ws.Input, 0, o + a), 1, ws.Net)
        out.CopyTo action

    /// <summary>
    /// The actions of <paramref name="rows"/> observations, row r drawing xi at the mode's index + r, from one pass of
    /// the sampler whose GEMMs run row by row (<paramref name="rowGemm"/>, a <see cref="T:Sac.Fs.RowGemm"/> over the
    /// context's provider), so each row's action is bitwise <c>act</c>'s for that row alone. Allocates nothing.
    /// </summary>
    /// <param name="ctx">The learner's fixed parts.</param>
    /// <param name="rowGemm">The context's GEMM, row by row.</param>
    /// <param name="ws">Acting buffers with room for <paramref name="rows"/> rows.</param>
    /// <param name="sampler">Sampler parameters.</param>
    /// <param name="mode">How xi is chosen, at row 0's index.</param>
    /// <param name="rows">The observations, from 1 to <c>ws.Rows</c>.</param>
    /// <param name="observations">rows x |S| values.</param>
    /// <param name="actions">Receives rows x |A| actions in <c>[-1, 1]</c>.</param>
    [<CompiledName("ActRows")>]
    let actRows (ctx: SqlContext) (rowGemm: IGemm) (ws: SqlPolicyWorkspace) (sampler: float32[]) (mode: ActionMode) (rows: int)
                (observations: ReadOnlySpan<float32>) (actions: Span<float32>) =
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        if rows < 1 || rows > ws.Rows then invalidArg (nameof rows) $"rows must be in [1, {ws.Rows}] (the workspace's rows), got {rows}."
        if observations.Length <> rows * o || actions.Length <> rows * a then
            invalidArg (nameof observations) $"Expected {rows} rows of {o} observation and {a} action values, got {observations.Length} and {actions.Length}."
        samplerInputs ctx ws mode rows observations
        let out = Mlp.Forward(rowGemm, ctx.Networks.Sampler, ReadOnlySpan sampler, ReadOnlySpan(ws.Input, 0, rows * (o + a)), rows, ws.Net)
        out.CopyTo actions
