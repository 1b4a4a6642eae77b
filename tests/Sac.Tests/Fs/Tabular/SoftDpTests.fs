/// Exact soft dynamic programming on finite MDPs (Sac.Fs.Tabular): the theorems of SQL and SAC as properties over
/// random MDPs, tabular (soft) Q-learning against the exact answer, MDP validation, and `sac solve`.
module SoftDpTests

open System
open System.IO
open System.Text.Json
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Random
open Sac.Fs.Tabular

let private config n = Config.QuickThrowOnFailure.WithMaxTest(n)

// ---------- helpers ----------

/// A random MDP with its discount, temperature and a seed for any further random draws of the case.
type private Case =
    { Mdp: FiniteMdp
      Gamma: float
      Alpha: float
      Seed: int }

    override c.ToString() =
        $"|S|={c.Mdp.StateCount} |A|={c.Mdp.ActionCount} gamma={c.Gamma} alpha={c.Alpha} seed={c.Seed} P=%A{c.Mdp.Transitions} R=%A{c.Mdp.Rewards}"

/// A probability row of length n: integer weights (about a quarter of them 0) normalised to sum 1.
let private probabilityRow (n: int) =
    Gen.arrayOfLength n (Gen.frequency [ 1, Gen.constant 0; 3, Gen.choose (1, 1000) ])
    |> Gen.map (fun w ->
        let w = if Array.sum w = 0 then Array.create n 1 else w
        let total = float (Array.sum w)
        w |> Array.map (fun x -> float x / total))

let private floatIn (lo: float) (hi: float) =
    Gen.choose (int (lo * 1000.0), int (hi * 1000.0)) |> Gen.map (fun i -> float i / 1000.0)

/// Random MDPs: 2-6 states, 1-4 actions, normalised random rows, rewards in [-1, 1], gamma in [0.5, 0.95],
/// alpha in [0.05, 2].
let private cases =
    gen {
        let! nS = Gen.choose (2, 6)
        let! nA = Gen.choose (1, 4)
        let! p = Gen.arrayOfLength nS (Gen.arrayOfLength nA (probabilityRow nS))
        let! r = Gen.arrayOfLength nS (Gen.arrayOfLength nA (floatIn -1.0 1.0))
        let! gamma = floatIn 0.5 0.95
        let! alpha = floatIn 0.05 2.0
        let! seed = Gen.choose (0, Int32.MaxValue)
        return { Mdp = FiniteMdp.create p r; Gamma = gamma; Alpha = alpha; Seed = seed }
    }
    |> Arb.fromGen

let private check (n: int) (prop: Case -> unit) = Check.One(config n, Prop.forAll cases prop)

let private supDiff (a: float[][]) (b: float[][]) : float =
    Array.map2 (Array.map2 (fun (x: float) (y: float) -> Math.Abs(x - y))) a b |> Array.concat |> Array.max

let private randomTable (rng: Random) (mdp: FiniteMdp) (lo: float) (hi: float) =
    Array.init mdp.StateCount (fun _ -> Array.init mdp.ActionCount (fun _ -> lo + (hi - lo) * rng.NextDouble()))

let private randomPolicy (rng: Random) (mdp: FiniteMdp) =
    Array.init mdp.StateCount (fun _ ->
        let w = Array.init mdp.ActionCount (fun _ -> if rng.NextDouble() < 0.2 then 0.0 else rng.NextDouble())
        let w = if Array.sum w = 0.0 then Array.create mdp.ActionCount 1.0 else w
        let total = Array.sum w
        w |> Array.map (fun x -> x / total))

let private fail fmt = Printf.kprintf (fun s -> raise (Xunit.Sdk.XunitException s)) fmt

let private expectArgument (paramName: string) (f: unit -> 'a) =
    match (try f () |> ignore; None with :? ArgumentException as e -> Some e) with
    | Some e when e.ParamName = paramName -> ()
    | Some e -> fail "expected an ArgumentException for %s, got one for %s: %s" paramName e.ParamName e.Message
    | None -> fail "expected an ArgumentException for %s, got none" paramName

let private messageOf<'e when 'e :> exn> (f: unit -> unit) =
    match (try f (); None with :? 'e as e -> Some e.Message) with
    | Some m -> m
    | None -> fail "expected %s" typeof<'e>.Name

let private contains (part: string) (message: string) =
    if not (message.Contains(part, StringComparison.Ordinal)) then fail "expected %A in the message %A" part message

/// The 3-state, 2-action MDP of the Q-learning tests.
let private small =
    FiniteMdp.create
        [| [| [| 0.7; 0.3; 0.0 |]; [| 0.1; 0.6; 0.3 |] |]
           [| [| 0.5; 0.5; 0.0 |]; [| 0.0; 0.2; 0.8 |] |]
           [| [| 0.3; 0.0; 0.7 |]; [| 0.9; 0.1; 0.0 |] |] |]
        [| [| 0.1; -0.2 |]; [| 0.0; 0.3 |]; [| 1.0; -0.5 |] |]

// ---------- soft value ----------

let ``softValue is alpha logsumexp, stable for tiny and large alpha, and max at alpha 0`` = testCase "softValue is alpha logsumexp, stable for tiny and large alpha, and max at alpha 0" <| fun () ->
    Assert.Equal(Math.Log 2.0, SoftDp.softValue 1.0 [| 0.0; 0.0 |], 15)
    Assert.Equal(0.5 * Math.Log(Math.Exp 2.0 + Math.Exp -1.0), SoftDp.softValue 0.5 [| 1.0; -0.5 |], 14)
    // exp(1000 / 1e-3) overflows; the max-shifted form does not
    Assert.Equal(1000.0, SoftDp.softValue 1e-3 [| 1000.0; 990.0 |], 12)
    Assert.Equal(3.0, SoftDp.softValue 1e-300 [| 3.0; 2.0; -1e300 |])
    Assert.Equal(3.0, SoftDp.softValue 0.0 [| 3.0; 2.0; 3.0 |])
    Assert.Equal(2.0 + 1e6 * Math.Log 2.0, SoftDp.softValue 1e6 [| 2.0; 2.0 |], 6)
    Assert.True(Double.IsNaN(SoftDp.softValue 0.0 [| 1.0; nan |]))
    expectArgument "alpha" (fun () -> SoftDp.softValue -1e-9 [| 1.0 |])
    expectArgument "alpha" (fun () -> SoftDp.softValue nan [| 1.0 |])
    expectArgument "q" (fun () -> SoftDp.softValue 1.0 [||])

let ``softValue lies in max q, max q + alpha log |A|`` =
    let gen =
        gen {
            let! n = Gen.choose (1, 8)
            let! q = Gen.arrayOfLength n (floatIn -50.0 50.0)
            let! alpha = Gen.elements [ 0.0; 1e-12; 1e-4; 0.05; 1.0; 30.0 ]
            return q, alpha
        }
    testPropertyWithConfig (Properties.ofFsCheck (config 300)) "softValue lies in max q, max q + alpha log |A|" (Prop.forAll (Arb.fromGen gen) (fun (q, alpha) ->
        let v = SoftDp.softValue alpha q
        let m = Array.max q
        let slack = 1e-12 * Math.Max(1.0, Math.Abs m)
        if not (v >= m - slack && v <= m + alpha * Math.Log(float q.Length) + slack) then
            fail "V = %.17g outside [%.17g, %.17g]" v m (m + alpha * Math.Log(float q.Length))))

// ---------- SQL Thm. 3 and SAC Lemma 1, Lemma 2, Thm. 1 as properties ----------

let ``the soft Bellman operator is a gamma-contraction in the sup norm`` = testCase "the soft Bellman operator is a gamma-contraction in the sup norm" <| fun () ->
    check 200 (fun c ->
        let rng = Random(c.Seed)
        for alpha in [ c.Alpha; 0.0 ] do
            let q1 = randomTable rng c.Mdp -10.0 10.0
            let q2 = randomTable rng c.Mdp -10.0 10.0
            let lhs = supDiff (SoftDp.softBellman alpha c.Gamma c.Mdp q1) (SoftDp.softBellman alpha c.Gamma c.Mdp q2)
            let rhs = c.Gamma * supDiff q1 q2
            if not (lhs <= rhs + 1e-12) then fail "alpha %g: ||TQ1 - TQ2|| = %.17g > gamma ||Q1 - Q2|| = %.17g" alpha lhs rhs)

let ``soft policy improvement is monotone: Q of the improved policy dominates Q of the old one`` = testCase "soft policy improvement is monotone: Q of the improved policy dominates Q of the old one" <| fun () ->
    check 100 (fun c ->
        let rng = Random(c.Seed)
        let old = randomPolicy rng c.Mdp
        let qOld = SoftDp.softPolicyEvaluation c.Alpha c.Gamma 1e-12 100_000 old c.Mdp
        let improved = SoftDp.softPolicyImprovement c.Alpha qOld
        let qNew = SoftDp.softPolicyEvaluation c.Alpha c.Gamma 1e-12 100_000 improved c.Mdp
        for s in 0 .. c.Mdp.StateCount - 1 do
            for a in 0 .. c.Mdp.ActionCount - 1 do
                if not (qNew.[s].[a] >= qOld.[s].[a] - 1e-9) then
                    fail "Q_new(%d,%d) = %.17g < Q_old = %.17g" s a qNew.[s].[a] qOld.[s].[a])

let ``soft policy evaluation solves its Bellman equation, with 0 log 0 = 0`` = testCase "soft policy evaluation solves its Bellman equation, with 0 log 0 = 0" <| fun () ->
    check 100 (fun c ->
        let rng = Random(c.Seed)
        let pi = randomPolicy rng c.Mdp
        let q = SoftDp.softPolicyEvaluation c.Alpha c.Gamma 1e-12 100_000 pi c.Mdp
        // V^pi(s) = sum_a pi (Q - alpha log pi), summed only over pi > 0
        let v =
            Array.init c.Mdp.StateCount (fun s ->
                Array.fold2 (fun acc p x -> if p > 0.0 then acc + p * (x - c.Alpha * Math.Log p) else acc) 0.0 pi.[s] q.[s])
        for s in 0 .. c.Mdp.StateCount - 1 do
            for a in 0 .. c.Mdp.ActionCount - 1 do
                let rhs = c.Mdp.Rewards.[s].[a] + c.Gamma * Array.fold2 (fun acc p x -> acc + p * x) 0.0 c.Mdp.Transitions.[s].[a] v
                if not (Math.Abs(q.[s].[a] - rhs) <= 1e-9) then fail "residual at (%d,%d): %.3g" s a (q.[s].[a] - rhs))

let ``soft policy iteration and soft Q-iteration reach the same fixed point`` = testCase "soft policy iteration and soft Q-iteration reach the same fixed point" <| fun () ->
    check 100 (fun c ->
        let qi = SoftDp.softQIteration c.Alpha c.Gamma 1e-10 100_000 c.Mdp
        let pi = SoftDp.softPolicyIteration c.Alpha c.Gamma 1e-10 10_000 c.Mdp
        if not (qi.Converged && pi.Converged) then fail "not converged: QI %b, PI %b" qi.Converged pi.Converged
        let dq = supDiff qi.Q pi.Q
        let dp = supDiff qi.Policy pi.Policy
        if not (dq <= 1e-6 && dp <= 1e-6) then fail "|Q_QI - Q_PI| = %.3g, |pi_QI - pi_PI| = %.3g" dq dp
        // Q* is the fixed point of T (SQL Thm. 2)
        let residual = supDiff qi.Q (SoftDp.softBellman c.Alpha c.Gamma c.Mdp qi.Q)
        if not (residual <= 1e-9) then fail "||TQ - Q|| = %.3g" residual)

let ``the optimal policy is exp((Q - V) / alpha) with rows summing to 1, and max Q <= V <= max Q + alpha log |A|`` = testCase "the optimal policy is exp((Q - V) / alpha) with rows summing to 1, and max Q <= V <= max Q + alpha log |A|" <| fun () ->
    check 100 (fun c ->
        let r = SoftDp.softQIteration c.Alpha c.Gamma 1e-10 100_000 c.Mdp
        let logA = Math.Log(float c.Mdp.ActionCount)
        for s in 0 .. c.Mdp.StateCount - 1 do
            let m = Array.max r.Q.[s]
            if not (r.V.[s] >= m - 1e-12 && r.V.[s] <= m + c.Alpha * logA + 1e-12) then
                fail "V(%d) = %.17g outside [%.17g, %.17g]" s r.V.[s] m (m + c.Alpha * logA)
            let sum = Array.sum r.Policy.[s]
            if not (Math.Abs(sum - 1.0) <= 1e-12) then fail "policy row %d sums to %.17g" s sum
            for a in 0 .. c.Mdp.ActionCount - 1 do
                let expected = Math.Exp((r.Q.[s].[a] - r.V.[s]) / c.Alpha)
                if not (Math.Abs(r.Policy.[s].[a] - expected) <= 1e-12) then
                    fail "pi(%d|%d) = %.17g, exp((Q - V) / alpha) = %.17g" a s r.Policy.[s].[a] expected)

let ``as alpha goes to 0 soft Q approaches hard value iteration, and a tiny alpha stays finite`` = testCase "as alpha goes to 0 soft Q approaches hard value iteration, and a tiny alpha stays finite" <| fun () ->
    check 100 (fun c ->
        let tol = 1e-10
        let hard = SoftDp.softQIteration 0.0 c.Gamma tol 100_000 c.Mdp
        let logA = Math.Log(float c.Mdp.ActionCount)
        // both runs stop within tol * gamma / (1 - gamma) of their fixed points
        let slack = 2.0 * tol / (1.0 - c.Gamma)
        for alpha in [ 1e-4; 1e-8 ] do
            let soft = SoftDp.softQIteration alpha c.Gamma tol 100_000 c.Mdp
            if not soft.Converged then fail "alpha %g did not converge" alpha
            for table in [ soft.Q; soft.Policy; [| soft.V |] ] do
                if table |> Array.exists (Array.exists (Double.IsFinite >> not)) then fail "alpha %g: non-finite values" alpha
            // 0 <= Q_alpha - Q_0 <= gamma * alpha * log|A| / (1 - gamma)
            for s in 0 .. c.Mdp.StateCount - 1 do
                for a in 0 .. c.Mdp.ActionCount - 1 do
                    let d = soft.Q.[s].[a] - hard.Q.[s].[a]
                    if not (d >= -slack && d <= alpha * logA / (1.0 - c.Gamma) + slack) then
                        fail "alpha %g: Q_soft - Q_hard = %.3g at (%d,%d), bound %.3g" alpha d s a (alpha * logA / (1.0 - c.Gamma)))

let ``closed forms: one state with two equal actions`` = testCase "closed forms: one state with two equal actions" <| fun () ->
    // V = (r + alpha log 2) / (1 - gamma), Q = r + gamma V, pi uniform
    let mdp = FiniteMdp.create [| [| [| 1.0 |]; [| 1.0 |] |] |] [| [| 0.5; 0.5 |] |]
    let r = SoftDp.softQIteration 0.3 0.9 1e-13 100_000 mdp
    let v = (0.5 + 0.3 * Math.Log 2.0) / 0.1
    Assert.Equal(v, r.V.[0], 10)
    Assert.Equal(0.5 + 0.9 * v, r.Q.[0].[1], 10)
    Assert.Equal(0.5, r.Policy.[0].[0], 14)
    let hard = SoftDp.softQIteration 0.0 0.9 1e-13 100_000 mdp
    Assert.Equal(5.0, hard.V.[0], 10)
    Assert.Equal<float[]>([| 0.5; 0.5 |], hard.Policy.[0])
    let pe = SoftDp.softPolicyEvaluation 0.3 0.9 1e-13 100_000 [| [| 1.0; 0.0 |] |] mdp
    // a deterministic policy has no entropy: Q = r / (1 - gamma)
    Assert.Equal(5.0, pe.[0].[0], 10)

let ``greedy improvement shares the mass among ties, up to rounding`` = testCase "greedy improvement shares the mass among ties, up to rounding" <| fun () ->
    let pi = SoftDp.softPolicyImprovement 0.0 [| [| 1.0; 1.0 + 4e-16; 0.5 |]; [| -3.0; -2.0; -2.0 |]; [| 7.0; 7.0 + 1e-9; 7.0 |] |]
    Assert.Equal<float[]>([| 0.5; 0.5; 0.0 |], pi.[0])
    Assert.Equal<float[]>([| 0.0; 0.5; 0.5 |], pi.[1])
    Assert.Equal<float[]>([| 0.0; 1.0; 0.0 |], pi.[2])
    // with alpha > 0 the improvement is the Boltzmann policy, stable for large values
    let soft = SoftDp.softPolicyImprovement 0.5 [| [| 1000.0; 1000.0 + 0.5 * Math.Log 3.0 |] |]
    Assert.Equal(0.25, soft.[0].[0], 12)
    Assert.Equal(0.75, soft.[0].[1], 12)

let ``hard policy iteration and value iteration agree on the gridworld example`` = testCase "hard policy iteration and value iteration agree on the gridworld example" <| fun () ->
    let mdp = FiniteMdp.ofJson (File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "mdp", "gridworld4x4.json"))) "gridworld4x4.json"
    let vi = SoftDp.softQIteration 0.0 0.9 1e-10 100_000 mdp
    let pi = SoftDp.softPolicyIteration 0.0 0.9 1e-10 1_000 mdp
    Assert.True(vi.Converged && pi.Converged)
    Assert.True(supDiff vi.Q pi.Q < 1e-8)
    // next to the goal (state 15, bottom right), move right from 14 and down from 11
    Assert.Equal(1.0, vi.Policy.[14].[1])
    Assert.Equal(1.0, vi.Policy.[11].[2])
    // symmetric about the diagonal: from the start, right and down tie and share the mass
    Assert.Equal(0.5, vi.Policy.[0].[1])
    Assert.Equal(0.5, vi.Policy.[0].[2])

let ``solver arguments are checked and named`` = testCase "solver arguments are checked and named" <| fun () ->
    let mdp = small
    expectArgument "gamma" (fun () -> SoftDp.softQIteration 1.0 1.0 1e-6 10 mdp)
    expectArgument "gamma" (fun () -> SoftDp.softQIteration 1.0 -0.1 1e-6 10 mdp)
    expectArgument "gamma" (fun () -> SoftDp.softQIteration 1.0 nan 1e-6 10 mdp)
    expectArgument "alpha" (fun () -> SoftDp.softPolicyIteration -1.0 0.9 1e-6 10 mdp)
    expectArgument "alpha" (fun () -> SoftDp.softBellman infinity 0.9 mdp [| [| 0.0; 0.0 |]; [| 0.0; 0.0 |]; [| 0.0; 0.0 |] |])
    expectArgument "tol" (fun () -> SoftDp.softQIteration 1.0 0.9 0.0 10 mdp)
    expectArgument "maxIter" (fun () -> SoftDp.softQIteration 1.0 0.9 1e-6 0 mdp)
    expectArgument "q" (fun () -> SoftDp.softBellman 1.0 0.9 mdp [| [| 0.0; 0.0 |] |])
    expectArgument "policy" (fun () -> SoftDp.softPolicyEvaluation 1.0 0.9 1e-6 10 [| [| 0.5; 0.5 |]; [| 0.5; 0.6 |]; [| 1.0; 0.0 |] |] mdp)
    let capped = SoftDp.softQIteration 1.0 0.9 1e-12 3 mdp
    Assert.False(capped.Converged)
    Assert.Equal(3, capped.Iterations)

// ---------- tabular Q-learning ----------

// Justification of the tolerance: over 100 keys, 1e6 steps with lr = 1/n^0.7 on this MDP (gamma 0.9, |Q| about
// 4.5-7.5) gave sup-norm errors of at most 0.034 (hard) and 0.024 (soft, alpha 0.5), means 0.013 and 0.010; the
// error of the fixed key below is deterministic, so the test cannot flake.
let ``tabular soft Q-learning and Q-learning converge to the exact answers`` = testCase "tabular soft Q-learning and Q-learning converge to the exact answers" <| fun () ->
    let key = PhiloxKey.FromSeed 2024UL
    for alpha in [ 0.5; 0.0 ] do
        let exact = SoftDp.softQIteration alpha 0.9 1e-12 100_000 small
        let learned = TabularQLearning.learn alpha 0.9 1_000_000 key small
        let err = supDiff exact.Q learned
        if not (err < 0.05) then fail "alpha %g: ||Q_learned - Q*|| = %.4f" alpha err

let ``tabular Q-learning is deterministic given the key`` = testCase "tabular Q-learning is deterministic given the key" <| fun () ->
    let a = TabularQLearning.learn 0.5 0.9 20_000 (PhiloxKey.FromSeed 7UL) small
    let b = TabularQLearning.learn 0.5 0.9 20_000 (PhiloxKey.FromSeed 7UL) small
    let c = TabularQLearning.learn 0.5 0.9 20_000 (PhiloxKey.FromSeed 8UL) small
    Assert.Equal<float[][]>(a, b)
    Assert.NotEqual<float[][]>(a, c)
    Assert.Equal<float[][]>(Array.init 3 (fun _ -> [| 0.0; 0.0 |]), TabularQLearning.learn 0.5 0.9 0 (PhiloxKey.FromSeed 7UL) small)
    expectArgument "rate" (fun () -> TabularQLearning.learnWith (LearningRate.Polynomial 0.5) 0.5 0.9 10 (PhiloxKey.FromSeed 7UL) small)
    expectArgument "steps" (fun () -> TabularQLearning.learn 0.5 0.9 -1 (PhiloxKey.FromSeed 7UL) small)

let ``the float64 uniform stays strictly inside (0, 1) at its extreme words`` = testCase "the float64 uniform stays strictly inside (0, 1) at its extreme words" <| fun () ->
    // the largest 52-bit cell index: (2^52 - 0.5) * 2^-52 = 1 - 2^-53 is a double below 1
    let top = (float ((UInt64.MaxValue >>> 12)) + 0.5) / 4503599627370496.0
    Assert.True(top < 1.0)
    let key = PhiloxKey.FromSeed 3UL
    for i in 0UL .. 9_999UL do
        let u = TabularQLearning.uniform key i
        if not (u > 0.0 && u < 1.0) then fail "uniform %d = %.17g" i u

let ``the next-state sampler follows the row and never draws a zero-probability state`` = testCase "the next-state sampler follows the row and never draws a zero-probability state" <| fun () ->
    let row = [| 0.2; 0.0; 0.5; 0.3 |]
    let key = PhiloxKey.FromSeed 11UL
    let n = 40_000
    let counts = Array.zeroCreate<int> row.Length
    for i in 0 .. n - 1 do
        let s' = TabularQLearning.sampleNext key (uint64 i) row
        counts.[s'] <- counts.[s'] + 1
    Assert.Equal(0, counts.[1])
    for j in [ 0; 2; 3 ] do
        // 5 standard deviations of a binomial frequency
        let sd = Math.Sqrt(row.[j] * (1.0 - row.[j]) / float n)
        let freq = float counts.[j] / float n
        if not (Math.Abs(freq - row.[j]) < 5.0 * sd) then fail "state %d drawn with frequency %.4f, expected %.2f" j freq row.[j]

// ---------- validation and JSON ----------

let ``create names the offending state, action and next state`` = testCase "create names the offending state, action and next state" <| fun () ->
    let ok = [| [| 0.5; 0.5 |]; [| 1.0; 0.0 |] |]
    let r2 = [| [| 0.0; 0.0 |]; [| 0.0; 0.0 |] |]
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; [| [| 0.5; 0.5 |]; [| 0.3; 0.6 |] |] |] r2))
    contains "state 1, action 1" m
    contains "sums to" m
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; [| [| 1.5; -0.5 |]; [| 0.5; 0.5 |] |] |] r2))
    contains "state 1, action 0, next state 1" m
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; [| [| 1.0 |]; [| 0.5; 0.5 |] |] |] r2))
    contains "state 1, action 0" m
    contains "1 next-state probabilities" m
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; [| [| 1.0; 0.0 |] |] |] r2))
    contains "state 1" m
    contains "same action count" m
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; ok |] [| [| 0.0; nan |]; [| 0.0; 0.0 |] |]))
    contains "state 0, action 1" m
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; [| [| nan; 0.5 |]; [| 0.5; 0.5 |] |] |] r2))
    contains "next state 0" m
    messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [||] [||])) |> contains "no states"
    messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| [||] |] [| [||] |])) |> contains "no actions"
    messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.create [| ok; ok |] [| [| 0.0; 0.0 |] |])) |> contains "rewards has 1 states"
    // create copies: changing the input afterwards does not change the MDP
    let p = [| ok; ok |]
    let mdp = FiniteMdp.create p r2
    p.[0].[0].[0] <- 0.9
    Assert.Equal(0.5, mdp.Transitions.[0].[0].[0])

let ``ofJson reads the format and rejects unknown keys, wrong shapes and bad JSON by path`` = testCase "ofJson reads the format and rejects unknown keys, wrong shapes and bad JSON by path" <| fun () ->
    let mdp = FiniteMdp.ofJson """{"transitions": [[[0.25, 0.75]], [[1, 0]]], "rewards": [[1], [-2.5]]}""" "t.json"
    Assert.Equal(2, mdp.StateCount)
    Assert.Equal(1, mdp.ActionCount)
    Assert.Equal(-2.5, mdp.Rewards.[1].[0])
    let format (json: string) = messageOf<FormatException> (fun () -> ignore (FiniteMdp.ofJson json "bad.json"))
    let m = format """{"transitions": [[[1, 0]], [[1, 0]]], "rewards": [[0], [0]], "discount": 0.9}"""
    contains "bad.json" m
    contains "\"discount\"" m
    let m = format """{"transitions": [[[1,0,0],[1,0,0]], [[0,1,0],[0,1,0]], [[0,0,1],"x"]], "rewards": [[0,0],[0,0],[0,0]]}"""
    contains "transitions[2][1]" m
    contains "a string" m
    contains "transitions[0][1][2]" (format """{"transitions": [[[1,0,0],[1,0,true]]], "rewards": [[0,0]]}""")
    contains "rewards[1]" (format """{"transitions": [[[1, 0]], [[1, 0]]], "rewards": [[0], 3]}""")
    contains "transitions" (format """{"transitions": {}, "rewards": []}""")
    contains "missing key \"rewards\"" (format """{"transitions": [[[1]]]}""")
    contains "more than once" (format """{"transitions": [[[1]]], "rewards": [[0]], "rewards": [[0]]}""")
    contains "not valid JSON" (format """{"transitions": [[[1]]], """)
    contains "top level" (format "[1, 2]")
    contains "not a finite double" (format """{"transitions": [[[1]]], "rewards": [[1e999]]}""")
    let m = messageOf<ArgumentException> (fun () -> ignore (FiniteMdp.ofJson """{"transitions": [[[0.5, 0.4]], [[1, 0]]], "rewards": [[0], [0]]}""" "sum.json"))
    contains "sum.json" m
    contains "state 0, action 0" m

// ---------- sac solve ----------

/// Runs f with Console.Out captured, restoring it afterwards.
let private captureStdout (f: unit -> int) =
    let saved = Console.Out
    // Not disposed: FsCheck properties of tests running in parallel may still hold Console.Out and write to it after
    // it is restored; a closed writer would make their writes throw.
    let writer = new StringWriter()
    Console.SetOut writer
    try
        let rc = f ()
        rc, writer.ToString()
    finally
        Console.SetOut saved

let private usageError (f: unit -> int) =
    match (try captureStdout f |> ignore; None with Sac.Cli.Options.UsageError msg -> Some msg) with
    | Some msg -> msg
    | None -> fail "expected a UsageError"

let private examplePath name = Path.Combine(AppContext.BaseDirectory, "mdp", name)

let ``sac solve prints one JSON line with the right shapes`` = testCase "sac solve prints one JSON line with the right shapes" <| fun () ->
    for name, nS, nA in [ "chain2.json", 2, 2; "gridworld4x4.json", 16, 4 ] do
        let rc, out = captureStdout (fun () -> Sac.Cli.Solve.run (examplePath name) 0.5 0.9)
        Assert.Equal(0, rc)
        // Console.Out is process-wide: FsCheck properties of other test classes running in parallel print their
        // "Ok, passed N tests." lines into it too, so pick out ours. SetOut wraps the writer in a synchronized one,
        // so a WriteLine is never split.
        let lines = out.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.filter (fun l -> l.StartsWith "{")
        Assert.Equal(1, lines.Length)
        Assert.EndsWith("}", lines.[0].TrimEnd())
        use doc = JsonDocument.Parse lines.[0]
        let root = doc.RootElement
        let table (name: string) =
            [| for row in root.GetProperty(name).EnumerateArray() -> [| for x in row.EnumerateArray() -> x.GetDouble() |] |]
        let q, policy = table "q", table "policy"
        let v = [| for x in root.GetProperty("v").EnumerateArray() -> x.GetDouble() |]
        Assert.Equal(nS, q.Length)
        Assert.Equal(nS, policy.Length)
        Assert.Equal(nS, v.Length)
        Assert.All(q, fun row -> Assert.Equal(nA, row.Length))
        Assert.All(policy, fun row -> Assert.Equal(1.0, Array.sum row, 12))
        Assert.True(root.GetProperty("iterations").GetInt32() > 0)
        // the answer is soft Q-iteration's, to the accuracy its stopping rule promises
        let mdp = FiniteMdp.ofJson (File.ReadAllText(examplePath name)) name
        let exact = SoftDp.softQIteration 0.5 0.9 1e-13 100_000 mdp
        Assert.True(supDiff exact.Q q < 1e-8)
        Assert.True(supDiff exact.Policy policy < 1e-8)

let ``sac solve writes numbers with round-trip precision`` = testCase "sac solve writes numbers with round-trip precision" <| fun () ->
    let r =
        { Q = [| [| 0.1; 1.0 / 3.0 |]; [| -1e-300; 123456789.123456789 |] |]
          V = [| Math.PI; -0.0 |]
          Policy = [| [| 0.5; 0.5 |]; [| 1.0; 0.0 |] |]
          Iterations = 42
          Converged = true }
    let line = Sac.Cli.Solve.format r
    Assert.StartsWith("{\"q\":[[0.1,", line)
    use doc = JsonDocument.Parse line
    let q = [| for row in doc.RootElement.GetProperty("q").EnumerateArray() -> [| for x in row.EnumerateArray() -> x.GetDouble() |] |]
    Assert.Equal<float[][]>(r.Q, q)
    Assert.Equal(Math.PI, doc.RootElement.GetProperty("v").[0].GetDouble())
    Assert.Equal(42, doc.RootElement.GetProperty("iterations").GetInt32())

let ``sac solve reports bad files and arguments as one-line usage errors`` = testCase "sac solve reports bad files and arguments as one-line usage errors" <| fun () ->
    let missing = Path.Combine(Path.GetTempPath(), $"no-such-mdp-{Guid.NewGuid():N}.json")
    let m = usageError (fun () -> Sac.Cli.Solve.run missing 1.0 0.9)
    contains missing m
    contains "no such file" m
    let bad = Path.Combine(Path.GetTempPath(), $"bad-mdp-{Guid.NewGuid():N}.json")
    try
        File.WriteAllText(bad, """{"transitions": [[[0.5, 0.4]], [[1, 0]]], "rewards": [[0], [0]]}""")
        let m = usageError (fun () -> Sac.Cli.Solve.run bad 1.0 0.9)
        contains bad m
        contains "state 0, action 0" m
        File.WriteAllText(bad, "{ not json")
        let m = usageError (fun () -> Sac.Cli.Solve.run bad 1.0 0.9)
        contains bad m
        Assert.DoesNotContain("\n", m)
    finally
        File.Delete bad
    let chain = examplePath "chain2.json"
    contains "--alpha" (usageError (fun () -> Sac.Cli.Solve.run chain -0.5 0.9))
    contains "--alpha" (usageError (fun () -> Sac.Cli.Solve.run chain nan 0.9))
    contains "--gamma" (usageError (fun () -> Sac.Cli.Solve.run chain 1.0 1.0))
    contains "--gamma" (usageError (fun () -> Sac.Cli.Solve.run chain 1.0 nan))
    contains "did not converge" (usageError (fun () -> Sac.Cli.Solve.run chain 1.0 0.99999))

let tests = testList "SoftDp" [
    ``softValue is alpha logsumexp, stable for tiny and large alpha, and max at alpha 0``
    ``softValue lies in max q, max q + alpha log |A|``
    ``the soft Bellman operator is a gamma-contraction in the sup norm``
    ``soft policy improvement is monotone: Q of the improved policy dominates Q of the old one``
    ``soft policy evaluation solves its Bellman equation, with 0 log 0 = 0``
    ``soft policy iteration and soft Q-iteration reach the same fixed point``
    ``the optimal policy is exp((Q - V) / alpha) with rows summing to 1, and max Q <= V <= max Q + alpha log |A|``
    ``as alpha goes to 0 soft Q approaches hard value iteration, and a tiny alpha stays finite``
    ``closed forms: one state with two equal actions``
    ``greedy improvement shares the mass among ties, up to rounding``
    ``hard policy iteration and value iteration agree on the gridworld example``
    ``solver arguments are checked and named``
    ``tabular soft Q-learning and Q-learning converge to the exact answers``
    ``tabular Q-learning is deterministic given the key``
    ``the float64 uniform stays strictly inside (0, 1) at its extreme words``
    ``the next-state sampler follows the row and never draws a zero-probability state``
    ``create names the offending state, action and next state``
    ``ofJson reads the format and rejects unknown keys, wrong shapes and bad JSON by path``
    ``sac solve prints one JSON line with the right shapes``
    ``sac solve writes numbers with round-trip precision``
    ``sac solve reports bad files and arguments as one-line usage errors``
]
