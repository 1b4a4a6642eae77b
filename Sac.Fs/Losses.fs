namespace Sac.Fs

open System

/// <summary>
/// The SAC losses over a minibatch, each returning its value and writing exactly the gradients it owes.
/// </summary>
/// <remarks>
/// Every loss is a mean over the batch (the SB3 / PyTorch convention), so each per-row gradient carries a factor
/// <c>1/B</c>. Buffers hold at least <c>batch</c> elements; loss sums accumulate in float64 in row order. An empty
/// batch returns a loss of 0 and writes nothing. None of these functions allocates.
/// </remarks>
[<RequireQualifiedAccess>]
module Losses =

    // One row of the critic loss (SAC v2, eq. 5): the residual d = q - y and dL/dq = d / B.
    let inline private criticRow (b: float32) (q: float32) (y: float32) =
        let d = q - y
        struct (d, d / b)

    // One row of the actor loss (SAC v2, eq. 9): alpha logPi - min(q1, q2), and gMin = -1/B to the smaller critic
    // (q1 on ties), 0 to the other, as struct (term, dq1, dq2).
    let inline private actorRow (alpha: float32) (gMin: float32) (logPi: float32) (q1: float32) (q2: float32) =
        let term = alpha * logPi - MathF.Min(q1, q2)
        if q1 <= q2 then struct (term, gMin, 0.0f) else struct (term, 0.0f, gMin)

    /// <summary>The default target entropy for an <paramref name="actDim"/>-dimensional action: <c>-actDim</c>.</summary>
    /// <param name="actDim">Action dimension A.</param>
    [<CompiledName("DefaultTargetEntropy")>]
    let defaultTargetEntropy (actDim: int) : float32 =
        // SAC v2, sec. 5 / SB3: target entropy H0 = -dim(A)
        -(float32 actDim)

    /// <summary>
    /// The soft Q-function loss of one critic, <c>mean_i 0.5 * (q[i] - y[i])^2</c>; writes <c>dq[i] = (q[i] - y[i]) / B</c>.
    /// </summary>
    /// <remarks>
    /// The targets <c>y</c> are constants (from <c>SoftBellman.targetBatch</c> and the target networks): there is no
    /// output for <c>dL/dy</c>, so no gradient can reach them. Call once per critic.
    /// </remarks>
    /// <param name="batch">Rows B.</param>
    /// <param name="q">The critic's values at the replayed (s, a).</param>
    /// <param name="y">The soft Bellman targets.</param>
    /// <param name="dq">Receives <c>dL/dq</c>.</param>
    [<CompiledName("Critic")>]
    let critic (batch: int) (q: ReadOnlySpan<float32>, y: ReadOnlySpan<float32>, dq: Span<float32>) : float32 =
        // SAC v2, eq. 5: J_Q = E[ 0.5 * (Q(s, a) - y)^2 ]
        Guard.size "batch" batch
        Guard.atLeast "q" q.Length batch
        Guard.atLeast "y" y.Length batch
        Guard.atLeast "dq" dq.Length batch
        if batch = 0 then 0.0f
        else
            let b = float32 batch
            let mutable acc = 0.0
            for i in 0 .. batch - 1 do
                let struct (d, g) = criticRow b q.[i] y.[i]
                dq.[i] <- g
                acc <- acc + 0.5 * float d * float d
            float32 (acc / float batch)

    /// <summary>
    /// The critic loss of <c>critic</c> per row, for a caller that reduces elsewhere (a device backend):
    /// <c>dq[i] = (q[i] - y[i]) / B</c> exactly as <c>critic</c> writes it, and <c>terms[i] = 0.5 (q[i] - y[i])^2 / B</c>
    /// in float32, whose sum is <c>critic</c>'s loss up to rounding.
    /// </summary>
    /// <param name="batch">Rows B.</param>
    /// <param name="q">The critic's values at the replayed (s, a).</param>
    /// <param name="y">The soft Bellman targets (constants).</param>
    /// <param name="dq">Receives <c>dL/dq</c>.</param>
    /// <param name="terms">Receives the per-row loss terms.</param>
    [<CompiledName("CriticTerms")>]
    let criticTerms (batch: int) (q: ReadOnlySpan<float32>, y: ReadOnlySpan<float32>, dq: Span<float32>, terms: Span<float32>) : unit =
        // SAC v2, eq. 5 per row: 0.5 * (Q(s, a) - y)^2 / B
        Guard.size "batch" batch
        Guard.atLeast "q" q.Length batch
        Guard.atLeast "y" y.Length batch
        Guard.atLeast "dq" dq.Length batch
        Guard.atLeast "terms" terms.Length batch
        let b = float32 batch
        for i in 0 .. batch - 1 do
            let struct (d, g) = criticRow b q.[i] y.[i]
            dq.[i] <- g
            terms.[i] <- 0.5f * d * d / b

    /// <summary>
    /// The policy loss <c>mean_i (alpha * logPi[i] - min(q1[i], q2[i]))</c> at the reparameterised actions; writes
    /// <c>dLogPi[i] = alpha / B</c> and, for each row, <c>-1/B</c> to the critic achieving the minimum and 0 to the other.
    /// </summary>
    /// <remarks>
    /// Ties (<c>q1 = q2</c>) send the gradient to the first critic. The caller back-propagates <c>dq1</c>/<c>dq2</c>
    /// through each critic network to its action INPUT only (no critic parameter gradients: the policy step must not
    /// move the critics), adds the two action gradients, and passes them with <c>dLogPi</c> to
    /// <c>TanhGaussian.sampleBackward</c>. <c>alpha</c> is a constant here (the temperature has its own loss).
    /// </remarks>
    /// <param name="alpha">Entropy temperature.</param>
    /// <param name="batch">Rows B.</param>
    /// <param name="logPi">Log-densities of the reparameterised actions.</param>
    /// <param name="q1">First critic at (s, a~).</param>
    /// <param name="q2">Second critic at (s, a~).</param>
    /// <param name="dLogPi">Receives <c>dL/dlogPi</c>.</param>
    /// <param name="dq1">Receives <c>dL/dq1</c>.</param>
    /// <param name="dq2">Receives <c>dL/dq2</c>.</param>
    [<CompiledName("Actor")>]
    let actor (alpha: float32) (batch: int)
              (logPi: ReadOnlySpan<float32>, q1: ReadOnlySpan<float32>, q2: ReadOnlySpan<float32>,
               dLogPi: Span<float32>, dq1: Span<float32>, dq2: Span<float32>) : float32 =
        // SAC v2, eq. 9: J_pi = E[ alpha * log pi(f(eps; s)|s) - min(Q1, Q2)(s, f(eps; s)) ]
        Guard.size "batch" batch
        Guard.atLeast "logPi" logPi.Length batch
        Guard.atLeast "q1" q1.Length batch
        Guard.atLeast "q2" q2.Length batch
        Guard.atLeast "dLogPi" dLogPi.Length batch
        Guard.atLeast "dq1" dq1.Length batch
        Guard.atLeast "dq2" dq2.Length batch
        if batch = 0 then 0.0f
        else
            let b = float32 batch
            let gLogPi = alpha / b
            let gMin = -1.0f / b
            let mutable acc = 0.0
            for i in 0 .. batch - 1 do
                let struct (term, g1, g2) = actorRow alpha gMin logPi.[i] q1.[i] q2.[i]
                acc <- acc + float term
                dLogPi.[i] <- gLogPi
                dq1.[i] <- g1
                dq2.[i] <- g2
            float32 (acc / float batch)

    /// <summary>
    /// The policy loss of <c>actor</c> per row, for a caller that reduces elsewhere (a device backend): the same
    /// gradients <c>actor</c> writes, and <c>terms[i] = (alpha * logPi[i] - min(q1[i], q2[i])) / B</c> in float32,
    /// whose sum is <c>actor</c>'s loss up to rounding.
    /// </summary>
    /// <param name="alpha">Entropy temperature (a constant here).</param>
    /// <param name="batch">Rows B.</param>
    /// <param name="logPi">Log-densities of the reparameterised actions.</param>
    /// <param name="q1">First critic at (s, a~).</param>
    /// <param name="q2">Second critic at (s, a~).</param>
    /// <param name="dLogPi">Receives <c>dL/dlogPi</c>.</param>
    /// <param name="dq1">Receives <c>dL/dq1</c>.</param>
    /// <param name="dq2">Receives <c>dL/dq2</c>.</param>
    /// <param name="terms">Receives the per-row loss terms.</param>
    [<CompiledName("ActorTerms")>]
    let actorTerms (alpha: float32) (batch: int)
                   (logPi: ReadOnlySpan<float32>, q1: ReadOnlySpan<float32>, q2: ReadOnlySpan<float32>,
                    dLogPi: Span<float32>, dq1: Span<float32>, dq2: Span<float32>, terms: Span<float32>) : unit =
        // SAC v2, eq. 9 per row: (alpha * log pi(f(eps; s)|s) - min(Q1, Q2)(s, f(eps; s))) / B
        Guard.size "batch" batch
        Guard.atLeast "logPi" logPi.Length batch
        Guard.atLeast "q1" q1.Length batch
        Guard.atLeast "q2" q2.Length batch
        Guard.atLeast "dLogPi" dLogPi.Length batch
        Guard.atLeast "dq1" dq1.Length batch
        Guard.atLeast "dq2" dq2.Length batch
        Guard.atLeast "terms" terms.Length batch
        let b = float32 batch
        let gLogPi = alpha / b
        let gMin = -1.0f / b
        for i in 0 .. batch - 1 do
            let struct (term, g1, g2) = actorRow alpha gMin logPi.[i] q1.[i] q2.[i]
            dLogPi.[i] <- gLogPi
            dq1.[i] <- g1
            dq2.[i] <- g2
            terms.[i] <- term / b

    /// <summary>
    /// The temperature loss <c>mean_i(-logAlpha * (logPi[i] + targetEntropy))</c> and its gradient
    /// <c>dLogAlpha = -mean_i(logPi[i] + targetEntropy)</c>, as <c>struct (loss, dLogAlpha)</c>.
    /// </summary>
    /// <remarks>
    /// The temperature is optimised as <c>log alpha</c> (SB3, SAC v2); <c>logPi</c> is a constant here. When the
    /// policy's entropy <c>-logPi</c> is below the target, <c>logPi + targetEntropy &gt; 0</c>, the gradient is
    /// negative and a descent step raises alpha; above the target it lowers alpha.
    /// </remarks>
    /// <param name="logAlpha">Current log temperature.</param>
    /// <param name="targetEntropy">Target entropy H0 (default <c>-actDim</c>).</param>
    /// <param name="batch">Rows B.</param>
    /// <param name="logPi">Log-densities of fresh policy samples.</param>
    [<CompiledName("Temperature")>]
    let temperature (logAlpha: float32) (targetEntropy: float32) (batch: int)
                    (logPi: ReadOnlySpan<float32>) : struct (float32 * float32) =
        // SAC v2, eq. 18 with alpha = exp(log alpha): J(log alpha) = E[ -log alpha * (log pi(a|s) + H0) ]
        Guard.size "batch" batch
        Guard.atLeast "logPi" logPi.Length batch
        if batch = 0 then struct (0.0f, 0.0f)
        else
            let mutable acc = 0.0
            for i in 0 .. batch - 1 do
                acc <- acc + float (logPi.[i] + targetEntropy)
            let m = acc / float batch
            struct (float32 (-(float logAlpha) * m), float32 (-m))

    /// <summary>
    /// The SAC v1 state-value loss <c>mean_i 0.5 * (v[i] - (min(q1[i], q2[i]) - alpha * logPi[i]))^2</c>; writes
    /// <c>dv[i] = (v[i] - target[i]) / B</c>.
    /// </summary>
    /// <remarks>
    /// The target is <c>SoftBellman.sampledSoftValue</c> at a fresh action from the current policy, and is a constant: no
    /// gradient flows into the critics or the policy (there are no outputs for them).
    /// </remarks>
    /// <param name="alpha">Entropy temperature (1 in the original SAC v1, which scales the reward instead).</param>
    /// <param name="batch">Rows B.</param>
    /// <param name="v">The value network's outputs V(s).</param>
    /// <param name="q1">First critic at (s, a), a ~ pi(.|s).</param>
    /// <param name="q2">Second critic at (s, a).</param>
    /// <param name="logPi">Log-density of a.</param>
    /// <param name="dv">Receives <c>dL/dv</c>.</param>
    [<CompiledName("Value")>]
    let value (alpha: float32) (batch: int)
              (v: ReadOnlySpan<float32>, q1: ReadOnlySpan<float32>, q2: ReadOnlySpan<float32>,
               logPi: ReadOnlySpan<float32>, dv: Span<float32>) : float32 =
        // SAC v1, eq. 5: J_V = E[ 0.5 * (V(s) - E_a[ min(Q1, Q2)(s, a) - alpha * log pi(a|s) ])^2 ]
        Guard.size "batch" batch
        Guard.atLeast "v" v.Length batch
        Guard.atLeast "q1" q1.Length batch
        Guard.atLeast "q2" q2.Length batch
        Guard.atLeast "logPi" logPi.Length batch
        Guard.atLeast "dv" dv.Length batch
        if batch = 0 then 0.0f
        else
            let b = float32 batch
            let mutable acc = 0.0
            for i in 0 .. batch - 1 do
                let d = v.[i] - SoftBellman.sampledSoftValue alpha (q1.[i], q2.[i], logPi.[i])
                dv.[i] <- d / b
                acc <- acc + 0.5 * float d * float d
            float32 (acc / float batch)
