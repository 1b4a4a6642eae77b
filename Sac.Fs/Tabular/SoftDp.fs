namespace Sac.Fs.Tabular

open System
open Sac.Core.Compute

/// <summary>
/// The answer of an exact soft dynamic-programming solver on a finite MDP.
/// </summary>
/// <remarks>
/// <c>V[s] = alpha * log sum_a exp(Q[s][a] / alpha)</c> and <c>Policy[s][a] = exp((Q[s][a] - V[s]) / alpha)</c>,
/// both computed from the returned <c>Q</c>; with <c>alpha = 0</c>, <c>V[s] = max_a Q[s][a]</c> and the policy is
/// uniform over the actions whose value ties with that maximum (the greedy policy, ties shared; a tie is a value
/// within <c>SoftDp.TieTolerance * max(1, |max|)</c> = 1e-12 relative of the maximum).
/// </remarks>
type SolveResult =
    { /// <summary><c>Q[s][a]</c>: the soft action values.</summary>
      Q: float[][]
      /// <summary><c>V[s]</c>: the soft state values of <c>Q</c>.</summary>
      V: float[]
      /// <summary><c>Policy[s][a]</c>: the Boltzmann (alpha = 0: greedy) policy of <c>Q</c>; every row sums to 1.</summary>
      Policy: float[][]
      /// <summary>Backups applied (soft Q-iteration) or improvement rounds (soft policy iteration).</summary>
      Iterations: int
      /// <summary>Whether the stopping test was met before the iteration cap.</summary>
      Converged: bool }

/// <summary>
/// Exact maximum-entropy dynamic programming on a <see cref="T:Sac.Fs.Tabular.FiniteMdp"/>, in float64: the soft
/// value, the soft Bellman optimality operator and soft Q-iteration (SQL, Thm. 3), soft policy evaluation
/// (SAC, Lemma 1), soft policy improvement (SAC, Lemma 2) and soft policy iteration (SAC, Thm. 1).
/// </summary>
/// <remarks>
/// <para>Arguments: <c>alpha</c> is the entropy temperature, at least 0 and finite (0 gives the standard, hard
/// Bellman equations); <c>gamma</c> is the discount in [0, 1); <c>tol</c> (greater than 0) stops an iteration once
/// the sup-norm change of one sweep falls below it, which bounds the distance to the fixed point by
/// <c>tol * gamma / (1 - gamma)</c>; <c>maxIter</c> (at least 1) caps the sweeps. Anything else throws an
/// <see cref="T:System.ArgumentException"/> naming the argument.</para>
/// <para>Action values are indexed <c>q[s][a]</c> and policies <c>pi[s][a]</c>, with the MDP's |S| and |A|.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module SoftDp =

    /// <summary>
    /// With <c>alpha = 0</c>, the greedy policy treats actions whose value is within
    /// <c>TieTolerance * max(1, |max_a q[a]|)</c> of the maximum as tied, and shares the probability equally among
    /// them: values that are equal in exact arithmetic often differ in the last bits after many sweeps.
    /// </summary>
    [<Literal>]
    let TieTolerance = 1e-12

    let private isNullRef (x: 'T) = obj.ReferenceEquals(x, null)

    let private checkAlpha (alpha: float) =
        if not (alpha >= 0.0 && Double.IsFinite alpha) then
            invalidArg "alpha" $"alpha must be finite and at least 0, got {alpha}."

    let private checkGamma (gamma: float) =
        if not (gamma >= 0.0 && gamma < 1.0) then
            invalidArg "gamma" $"gamma must be in [0, 1), got {gamma}."

    let private checkLoop (tol: float) (maxIter: int) =
        if not (tol > 0.0) then invalidArg "tol" $"tol must be greater than 0, got {tol}."
        if maxIter < 1 then invalidArg "maxIter" $"maxIter must be at least 1, got {maxIter}."

    let private checkMdp (mdp: FiniteMdp) =
        if isNullRef mdp then raise (ArgumentNullException(nameof mdp))

    /// Throws unless table is |S| rows of |A| values.
    let private checkTable (name: string) (mdp: FiniteMdp) (table: float[][]) =
        if isNullRef table then raise (ArgumentNullException name)
        if table.Length <> mdp.StateCount then
            invalidArg name $"{name} has {table.Length} states, but the MDP has {mdp.StateCount}."
        for s in 0 .. table.Length - 1 do
            if isNullRef table.[s] then invalidArg name $"{name}[{s}] (state {s}) is null."
            if table.[s].Length <> mdp.ActionCount then
                invalidArg name $"{name}[{s}] (state {s}) has {table.[s].Length} actions, but the MDP has {mdp.ActionCount}."

    /// max of a non-empty array, NaN if any element is NaN.
    let private maxOf (q: float[]) =
        let mutable m = Double.NegativeInfinity
        let mutable nan = false
        for x in q do
            if Double.IsNaN x then nan <- true
            elif x > m then m <- x
        if nan then Double.NaN else m

    let private supDiff (a: float[][]) (b: float[][]) =
        let mutable d = 0.0
        for s in 0 .. a.Length - 1 do
            for i in 0 .. a.[s].Length - 1 do
                let e = Math.Abs(a.[s].[i] - b.[s].[i])
                // NaN compares false, so write it through explicitly: a NaN change never looks converged.
                if not (e <= d) then d <- e
        d

    // The soft maximum alpha * logsumexp(q / alpha), max-shifted (alpha = 0: the max; a NaN gives NaN).
    let private value (alpha: float) (q: float[]) = SoftMaximum.Of(ReadOnlySpan q, alpha)

    let private boltzmann (alpha: float) (q: float[]) =
        let m = maxOf q
        if alpha = 0.0 then
            // greedy: actions within TieTolerance * max(1, |max|) of the max share the mass (rounding-level ties)
            let floor = m - TieTolerance * Math.Max(1.0, Math.Abs m)
            let ties = q |> Array.sumBy (fun x -> if x >= floor then 1 else 0)
            q |> Array.map (fun x -> if x >= floor then 1.0 / float ties else 0.0)
        else
            let w = q |> Array.map (fun x -> Math.Exp((x - m) / alpha))
            let sum = Array.sum w
            w |> Array.map (fun x -> x / sum)

    /// Q(s,a) = R(s,a) + gamma * sum_s' P(s'|s,a) v(s').
    let private backup (gamma: float) (mdp: FiniteMdp) (v: float[]) =
        Array.init mdp.StateCount (fun s ->
            Array.init mdp.ActionCount (fun a ->
                let row = mdp.Transitions.[s].[a]
                let mutable ev = 0.0
                for s' in 0 .. row.Length - 1 do
                    ev <- ev + row.[s'] * v.[s']
                mdp.Rewards.[s].[a] + gamma * ev))

    /// <summary>
    /// The soft value <c>alpha * log sum_a exp(q[a] / alpha)</c> of one state's action values, computed with the
    /// max shifted out so that it neither overflows nor underflows for any <c>alpha &gt; 0</c>, however small;
    /// <c>alpha = 0</c> gives the hard value <c>max_a q[a]</c>.
    /// </summary>
    /// <param name="alpha">Temperature, finite and at least 0.</param>
    /// <param name="q">The action values of one state, at least one; a NaN gives NaN.</param>
    /// <returns>A value in <c>[max q, max q + alpha * log |q|]</c>.</returns>
    [<CompiledName("SoftValue")>]
    let softValue (alpha: float) (q: float[]) : float =
        // SQL Thm. 1 (discrete actions): V(s) = alpha * log sum_a exp(Q(s,a) / alpha)
        checkAlpha alpha
        if isNullRef q then raise (ArgumentNullException(nameof q))
        if q.Length = 0 then invalidArg "q" "q must hold at least one action value."
        value alpha q

    /// <summary>
    /// One application of the soft Bellman optimality operator T:
    /// <c>(T q)(s, a) = R(s, a) + gamma * sum_s' P(s' | s, a) * softValue alpha q[s']</c>.
    /// </summary>
    /// <param name="alpha">Temperature, finite and at least 0 (0: the hard operator with max).</param>
    /// <param name="gamma">Discount in [0, 1).</param>
    /// <param name="mdp">The MDP.</param>
    /// <param name="q">Action values <c>q[s][a]</c>, |S| rows of |A|.</param>
    /// <returns>A new table <c>T q</c>; <c>q</c> is not changed.</returns>
    [<CompiledName("SoftBellman")>]
    let softBellman (alpha: float) (gamma: float) (mdp: FiniteMdp) (q: float[][]) : float[][] =
        // SQL Thm. 2/3: (T Q)(s,a) = r(s,a) + gamma * E_{s'}[ alpha * log sum_a' exp(Q(s',a') / alpha) ]
        checkAlpha alpha
        checkGamma gamma
        checkMdp mdp
        checkTable "q" mdp q
        backup gamma mdp (Array.map (value alpha) q)

    /// <summary>
    /// Soft policy improvement for a finite action set: <c>pi_new(a | s) = exp(q[s][a] / alpha) / Z(s)</c>,
    /// the Boltzmann policy of <c>q</c>, computed with the max shifted out. With <c>alpha = 0</c> it is the greedy
    /// policy, uniform over the actions whose value ties with the state's maximum (within <c>TieTolerance</c>,
    /// relative).
    /// </summary>
    /// <param name="alpha">Temperature, finite and at least 0.</param>
    /// <param name="q">Action values <c>q[s][a]</c>; every state needs at least one action.</param>
    /// <returns>The new policy <c>pi[s][a]</c>; every row sums to 1.</returns>
    [<CompiledName("SoftPolicyImprovement")>]
    let softPolicyImprovement (alpha: float) (q: float[][]) : float[][] =
        // SAC Lemma 2: pi_new(.|s) = argmin_pi KL(pi(.|s) || exp(Q(s,.) / alpha) / Z(s)) = exp(Q(s,.) / alpha) / Z(s)
        checkAlpha alpha
        if isNullRef q then raise (ArgumentNullException(nameof q))
        q
        |> Array.mapi (fun s row ->
            if isNullRef row || row.Length = 0 then invalidArg "q" $"q[{s}] (state {s}) must hold at least one action value."
            boltzmann alpha row)

    /// Throws unless policy is a distribution over the MDP's actions in every state.
    let private checkPolicy (mdp: FiniteMdp) (policy: float[][]) =
        checkTable "policy" mdp policy
        for s in 0 .. policy.Length - 1 do
            let row = policy.[s]
            for a in 0 .. row.Length - 1 do
                if not (Double.IsFinite row.[a] && row.[a] >= 0.0) then
                    invalidArg "policy" $"policy[{s}][{a}] (state {s}, action {a}) is {row.[a]}; probabilities must be finite and non-negative."
            let sum = Array.sum row
            if not (Math.Abs(sum - 1.0) <= FiniteMdp.RowSumTolerance) then
                invalidArg "policy" $"policy[{s}] (state {s}) sums to {sum}; it must sum to 1 within {FiniteMdp.RowSumTolerance}."

    /// Iterates Q <- r + gamma * P (pi Q + alpha H(pi)) from q0; returns (Q, sweeps, converged).
    let private evaluateFrom (alpha: float) (gamma: float) (tol: float) (maxIter: int) (policy: float[][]) (mdp: FiniteMdp)
                             (q0: float[][]) =
        // alpha * H(pi(.|s)) = -alpha * sum_a pi log pi, with 0 * log 0 = 0 (zero-probability actions are skipped)
        let bonus =
            policy
            |> Array.map (fun row ->
                let mutable h = 0.0
                for p in row do
                    if p > 0.0 then h <- h - p * Math.Log p
                alpha * h)
        let softV (q: float[][]) =
            Array.init mdp.StateCount (fun s ->
                let row = policy.[s]
                let mutable ev = 0.0
                for a in 0 .. row.Length - 1 do
                    if row.[a] > 0.0 then ev <- ev + row.[a] * q.[s].[a]
                ev + bonus.[s])
        let mutable q = q0
        let mutable sweeps = 0
        let mutable converged = false
        while not converged && sweeps < maxIter do
            let next = backup gamma mdp (softV q)
            let change = supDiff q next
            q <- next
            sweeps <- sweeps + 1
            converged <- change < tol
        q, sweeps, converged

    let private zeros (mdp: FiniteMdp) = Array.init mdp.StateCount (fun _ -> Array.zeroCreate<float> mdp.ActionCount)

    let private result (alpha: float) (q: float[][]) (iterations: int) (converged: bool) =
        { Q = q
          V = Array.map (value alpha) q
          Policy = Array.map (boltzmann alpha) q
          Iterations = iterations
          Converged = converged }

    /// <summary>
    /// Soft Q-iteration: applies <c>softBellman</c> from <c>Q = 0</c> until
    /// the sup-norm change of one application falls below <c>tol</c> or <c>maxIter</c> applications are done.
    /// With <c>alpha = 0</c> this is (hard) value iteration.
    /// </summary>
    /// <param name="alpha">Temperature, finite and at least 0.</param>
    /// <param name="gamma">Discount in [0, 1).</param>
    /// <param name="tol">Stopping threshold on the sup-norm change, greater than 0.</param>
    /// <param name="maxIter">Most applications of the operator, at least 1.</param>
    /// <param name="mdp">The MDP.</param>
    /// <returns>The last iterate with its soft values and Boltzmann policy; <c>Iterations</c> counts the
    /// applications, <c>Converged</c> says whether the change fell below <c>tol</c>.</returns>
    [<CompiledName("SoftQIteration")>]
    let softQIteration (alpha: float) (gamma: float) (tol: float) (maxIter: int) (mdp: FiniteMdp) : SolveResult =
        // SQL Thm. 3: soft Q-iteration Q <- r + gamma * E_{s'}[V(s')], V(s) <- alpha * log sum_a exp(Q(s,a) / alpha)
        checkAlpha alpha
        checkGamma gamma
        checkLoop tol maxIter
        checkMdp mdp
        let mutable q = zeros mdp
        let mutable iterations = 0
        let mutable converged = false
        while not converged && iterations < maxIter do
            let next = backup gamma mdp (Array.map (value alpha) q)
            let change = supDiff q next
            q <- next
            iterations <- iterations + 1
            converged <- change < tol
        result alpha q iterations converged

    /// <summary>
    /// Soft policy evaluation: iterates
    /// <c>Q(s, a) &lt;- R(s, a) + gamma * sum_s' P(s' | s, a) * sum_a' pi(a' | s') * (Q(s', a') - alpha * log pi(a' | s'))</c>
    /// from <c>Q = 0</c> until the sup-norm change falls below <c>tol</c> or <c>maxIter</c> sweeps are done, and
    /// returns the last iterate (it does not throw at the cap). Actions with <c>pi = 0</c> contribute nothing
    /// (<c>0 * log 0 = 0</c>).
    /// </summary>
    /// <param name="alpha">Temperature, finite and at least 0.</param>
    /// <param name="gamma">Discount in [0, 1).</param>
    /// <param name="tol">Stopping threshold on the sup-norm change, greater than 0.</param>
    /// <param name="maxIter">Most sweeps, at least 1.</param>
    /// <param name="policy">The policy <c>pi[s][a]</c>: |S| rows of |A| finite non-negative probabilities,
    /// each row summing to 1 within 1e-9.</param>
    /// <param name="mdp">The MDP.</param>
    /// <returns>The soft action values <c>Q^pi[s][a]</c>.</returns>
    [<CompiledName("SoftPolicyEvaluation")>]
    let softPolicyEvaluation (alpha: float) (gamma: float) (tol: float) (maxIter: int) (policy: float[][]) (mdp: FiniteMdp)
                             : float[][] =
        // SAC Lemma 1: Q <- r + gamma * E_{s'}[ E_{a'~pi}[ Q(s',a') - alpha * log pi(a'|s') ] ]
        checkAlpha alpha
        checkGamma gamma
        checkLoop tol maxIter
        checkMdp mdp
        checkPolicy mdp policy
        let q, _, _ = evaluateFrom alpha gamma tol maxIter policy mdp (zeros mdp)
        q

    /// <summary>
    /// Soft policy iteration: from the uniform policy, alternates soft policy evaluation and soft policy
    /// improvement until the improved policy differs from the evaluated one by less than <c>tol</c> in every entry.
    /// </summary>
    /// <remarks>
    /// Each evaluation starts from the previous round's Q (a warm start; the fixed point does not depend on it) and
    /// runs to the same <c>tol</c> and <c>maxIter</c>. The result's <c>Q</c> is <c>Q^pi</c> of the last evaluated
    /// policy and its <c>Policy</c> the improvement of that Q, so <c>Policy = exp((Q - V) / alpha)</c> holds as for
    /// soft Q-iteration. <c>Iterations</c> counts improvement rounds; <c>Converged</c> requires the last evaluation
    /// to have converged too. With <c>alpha = 0</c> it is (hard) policy iteration with greedy, tie-sharing policies;
    /// there, actions whose values differ by more than the tie tolerance but less than the evaluation error can
    /// make the greedy policy flip between rounds and run to the cap (Converged = false).
    /// </remarks>
    /// <param name="alpha">Temperature, finite and at least 0.</param>
    /// <param name="gamma">Discount in [0, 1).</param>
    /// <param name="tol">Stopping threshold on the policy change and on each evaluation's sup-norm change.</param>
    /// <param name="maxIter">Most improvement rounds, and most sweeps of each evaluation, at least 1.</param>
    /// <param name="mdp">The MDP.</param>
    /// <returns>The solution; see the remarks for what <c>Iterations</c> and <c>Converged</c> mean here.</returns>
    [<CompiledName("SoftPolicyIteration")>]
    let softPolicyIteration (alpha: float) (gamma: float) (tol: float) (maxIter: int) (mdp: FiniteMdp) : SolveResult =
        // SAC Thm. 1: soft policy iteration, pi_{k+1} = improve(Q^{pi_k}) until pi stops changing
        checkAlpha alpha
        checkGamma gamma
        checkLoop tol maxIter
        checkMdp mdp
        let nA = mdp.ActionCount
        let mutable pi = Array.init mdp.StateCount (fun _ -> Array.create nA (1.0 / float nA))
        let mutable q = zeros mdp
        let mutable rounds = 0
        let mutable converged = false
        while not converged && rounds < maxIter do
            let qPi, _, evaluated = evaluateFrom alpha gamma tol maxIter pi mdp q
            let improved = Array.map (boltzmann alpha) qPi
            converged <- evaluated && supDiff pi improved < tol
            q <- qPi
            pi <- improved
            rounds <- rounds + 1
        result alpha q rounds converged
