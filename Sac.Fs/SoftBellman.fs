namespace Sac.Fs

open System

/// <summary>
/// Soft Bellman backups for SAC: the soft state value under twin (clipped double) Q-functions and the one-step
/// target <c>y = r + gamma * (1 - terminated) * V(s')</c>.
/// </summary>
/// <remarks>
/// Naming follows one transition <c>(s, a, r, s')</c>: <c>q1Next</c>, <c>q2Next</c> and <c>logPiNext</c> are the
/// target critics and the policy's log-density at <c>(s', a')</c> with <c>a' ~ pi(.|s')</c> freshly sampled.
/// <c>terminated</c> is 1 for a true end of the episode (no bootstrap) and 0 otherwise; it is a float so it can come
/// straight from a replay buffer, and values between act as a weight. Truncation (a time limit) is deliberately not
/// an input: a truncated transition still bootstraps, so it reaches these functions with <c>terminated = 0</c>.
/// Targets are constants for the critic loss: nothing here has a gradient.
/// </remarks>
[<RequireQualifiedAccess>]
module SoftBellman =

    /// <summary>
    /// The soft state value from one sampled action, <c>min(q1, q2) - alpha * logPi</c> (NaN if either Q is NaN).
    /// </summary>
    /// <param name="alpha">Entropy temperature, at least 0; 0 gives the hard clipped double-Q value.</param>
    /// <param name="q1">First critic's value at the sampled action.</param>
    /// <param name="q2">Second critic's value at the sampled action.</param>
    /// <param name="logPi">The policy's log-density of the sampled action.</param>
    [<CompiledName("SampledSoftValue")>]
    let sampledSoftValue (alpha: float32) (q1: float32, q2: float32, logPi: float32) : float32 =
        // SAC v2, eq. 3 with the twin-min: V(s) = min(Q1, Q2)(s, a) - alpha * log pi(a|s)
        MathF.Min(q1, q2) - alpha * logPi

    /// <summary>The discount applied to the next state's value: <c>gamma * (1 - terminated)</c>.</summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="terminated">1 for a true terminal transition, 0 otherwise (truncation is 0).</param>
    [<CompiledName("Discount")>]
    let discount (gamma: float32) (terminated: float32) : float32 =
        // termination folded into the discount: discount_t = gamma * (1 - terminated_t)
        gamma * (1.0f - terminated)

    /// <summary>
    /// The one-step soft target <c>r + gamma * (1 - terminated) * v</c> for one transition: the reward alone when
    /// the episode terminated, the reward plus the discounted next value otherwise (truncated or not).
    /// </summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="r">Reward of the transition.</param>
    /// <param name="terminated">1 for a true terminal transition, 0 otherwise.</param>
    /// <param name="v">Soft value of the next state, e.g. <c>sampledSoftValue alpha (q1Next, q2Next, logPiNext)</c>.</param>
    [<CompiledName("Target")>]
    let target (gamma: float32) (r: float32) (terminated: float32) (v: float32) : float32 =
        // SAC v2, eq. 2 (soft Bellman backup): y = r + gamma * (1 - terminated) * V(s')
        r + discount gamma terminated * v

    /// <summary>
    /// Soft values <c>dest[i] = min(q1[i], q2[i]) - alpha * logPi[i]</c> for a batch. Allocates nothing.
    /// </summary>
    /// <param name="alpha">Entropy temperature.</param>
    /// <param name="batch">Rows B; every buffer holds at least B elements.</param>
    /// <param name="q1">First critic's values.</param>
    /// <param name="q2">Second critic's values.</param>
    /// <param name="logPi">Log-densities of the sampled actions.</param>
    /// <param name="dest">Receives the soft values; may alias an input.</param>
    [<CompiledName("SampledSoftValueBatch")>]
    let sampledSoftValueBatch (alpha: float32) (batch: int)
                       (q1: ReadOnlySpan<float32>, q2: ReadOnlySpan<float32>, logPi: ReadOnlySpan<float32>,
                        dest: Span<float32>) : unit =
        // SAC v2, eq. 3 with the twin-min: V(s) = min(Q1, Q2)(s, a) - alpha * log pi(a|s)
        Guard.size "batch" batch
        Guard.atLeast "q1" q1.Length batch
        Guard.atLeast "q2" q2.Length batch
        Guard.atLeast "logPi" logPi.Length batch
        Guard.atLeast "dest" dest.Length batch
        for i in 0 .. batch - 1 do
            dest.[i] <- sampledSoftValue alpha (q1.[i], q2.[i], logPi.[i])

    /// <summary>
    /// The critic targets for a batch, fused:
    /// <c>dest[i] = r[i] + gamma * (1 - terminated[i]) * (min(q1Next[i], q2Next[i]) - alpha * logPiNext[i])</c>.
    /// Bitwise equal to <c>target gamma r terminated (sampledSoftValue alpha (q1, q2, logPi))</c> per row. Allocates nothing.
    /// </summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="alpha">Entropy temperature; 0 gives the hard clipped double-Q target.</param>
    /// <param name="batch">Rows B; every buffer holds at least B elements.</param>
    /// <param name="r">Rewards.</param>
    /// <param name="terminated">1 for true terminal transitions, 0 otherwise (truncation is 0).</param>
    /// <param name="q1Next">First target critic at (s', a').</param>
    /// <param name="q2Next">Second target critic at (s', a').</param>
    /// <param name="logPiNext">Log-density of a' ~ pi(.|s').</param>
    /// <param name="dest">Receives the targets y; may alias an input.</param>
    [<CompiledName("TargetBatch")>]
    let targetBatch (gamma: float32) (alpha: float32) (batch: int)
                    (r: ReadOnlySpan<float32>, terminated: ReadOnlySpan<float32>, q1Next: ReadOnlySpan<float32>,
                     q2Next: ReadOnlySpan<float32>, logPiNext: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // SAC v2, eqs. 2-3 and 5 (target): y = r + gamma * (1 - terminated) * (min(Q1', Q2') - alpha * log pi(a'|s'))
        Guard.size "batch" batch
        Guard.atLeast "r" r.Length batch
        Guard.atLeast "terminated" terminated.Length batch
        Guard.atLeast "q1Next" q1Next.Length batch
        Guard.atLeast "q2Next" q2Next.Length batch
        Guard.atLeast "logPiNext" logPiNext.Length batch
        Guard.atLeast "dest" dest.Length batch
        for i in 0 .. batch - 1 do
            dest.[i] <- target gamma r.[i] terminated.[i] (sampledSoftValue alpha (q1Next.[i], q2Next.[i], logPiNext.[i]))
