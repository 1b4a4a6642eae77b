/// The DQN, Double DQN and soft DQN targets, TD loss, schedule, policies and update against their definitions and each other.
module DqnTests

open System
open Xunit
open Expecto
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Fs
open DqnKit

let private fsConfig = FsCheck.Config.QuickThrowOnFailure.WithMaxTest(200)
let private seeds = Arb.fromGen (Gen.choose (0, Int32.MaxValue))

let private ro (a: float32[]) = ReadOnlySpan<float32>(a)
let private rw (a: float32[]) = Span<float32>(a)

let private near (what: string) (tol: float) (expected: float) (actual: float) =
    if not (Math.Abs(actual - expected) <= tol) then
        failwithf "%s: expected %.12g, got %.12g (|diff| %.3g > %.3g)" what expected actual (Math.Abs(actual - expected)) tol

/// A random transition: gamma, reward, terminated, |A| and two rows of Q-values (online, target) at s'.
let private transition (seed: int) =
    let rng = Random(seed)
    let n = 1 + rng.Next 6
    let scale = [| 0.01; 1.0; 100.0 |].[rng.Next 3]
    let row () = Array.init n (fun _ -> float32 (scale * (2.0 * rng.NextDouble() - 1.0)))
    let gamma = if rng.Next 4 = 0 then 1.0f else float32 (rng.NextDouble())
    let r = float32 (10.0 * (2.0 * rng.NextDouble() - 1.0))
    let d = if rng.Next 3 = 0 then 1.0f else 0.0f
    gamma, r, d, n, row (), row ()

let ``for the same networks the Double DQN target never exceeds the DQN target`` =
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "for the same networks the Double DQN target never exceeds the DQN target" (Prop.forAll seeds (fun seed ->
        let gamma, r, d, _, qOnline, qTarget = transition seed
        let hard = Dqn.dqnTarget gamma (r, d, ro qTarget)
        let double' = Dqn.doubleDqnTarget gamma (r, d, ro qOnline, ro qTarget)
        // When the online network ranks the actions as the target does, both pick the same action.
        let same = Dqn.doubleDqnTarget gamma (r, d, ro qTarget, ro qTarget)
        double' <= hard && same = hard))

let ``the soft target lies within [hard, hard + gamma (1 - d) alpha log |A|] and tends to the hard target as alpha falls`` =
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "the soft target lies within [hard, hard + gamma (1 - d) alpha log |A|] and tends to the hard target as alpha falls" (Prop.forAll seeds (fun seed ->
        let gamma, r, d, n, _, q = transition seed
        let alpha = float32 (Math.Pow(10.0, -4.0 + 4.0 * Random(seed + 1).NextDouble()))
        let hard = Dqn.dqnTarget gamma (r, d, ro q)
        let soft = Dqn.softDqnTarget gamma alpha (r, d, ro q)
        let width = float gamma * (1.0 - float d) * float alpha * Math.Log(float n)
        let ulp = 4.0 * float (MathF.BitIncrement(abs hard + 1.0f) - (abs hard + 1.0f))
        let within = soft >= hard && float soft <= float hard + width + ulp
        // As alpha -> 0 the gap closes: |soft - hard| <= gamma (1 - d) alpha log |A| at every alpha, and alpha = 0 is the hard target.
        let shrinking =
            [ 1e-1f; 1e-2f; 1e-3f; 1e-5f; 1e-7f ]
            |> List.forall (fun a ->
                let s = Dqn.softDqnTarget gamma a (r, d, ro q)
                s >= hard && float s - float hard <= float gamma * (1.0 - float d) * float a * Math.Log(float n) + ulp)
        let atZero = Dqn.softDqnTarget gamma 0.0f (r, d, ro q) = hard
        // The value alpha logsumexp(q / alpha) itself: max q, plus alpha log |A| when every action ties.
        let tie = Array.create n q.[0]
        let tieValue = float32 (SoftMaximum.Of(ro tie, float alpha))
        let tieOk = abs (float tieValue - (float q.[0] + float alpha * Math.Log(float n))) <= 1e-6 * (1.0 + abs (float q.[0]))
        within && shrinking && atZero && tieOk))

let ``terminated transitions target the reward alone`` =
    testPropertyWithConfig (Properties.ofFsCheck fsConfig) "terminated transitions target the reward alone" (Prop.forAll seeds (fun seed ->
        let gamma, r, _, _, qOnline, qTarget = transition seed
        Dqn.dqnTarget gamma (r, 1.0f, ro qTarget) = r
        && Dqn.doubleDqnTarget gamma (r, 1.0f, ro qOnline, ro qTarget) = r
        && Dqn.softDqnTarget gamma 0.5f (r, 1.0f, ro qTarget) = r))

let ``the batch targets equal the per-transition targets row by row`` =
    testPropertyWithConfig (Properties.ofFsCheck (fsConfig.WithMaxTest(50))) "the batch targets equal the per-transition targets row by row" (Prop.forAll seeds (fun seed ->
        let rng = Random(seed)
        let b, n = 1 + rng.Next 9, 1 + rng.Next 4
        let f k = Array.init k (fun _ -> float32 (5.0 * rng.NextDouble() - 2.5))
        let r, qo, qt = f b, f (b * n), f (b * n)
        let d = Array.init b (fun i -> if i % 3 = 0 then 1.0f else 0.0f)
        let y1, y2, y3 = Array.zeroCreate b, Array.zeroCreate b, Array.zeroCreate b
        Dqn.dqnTargetBatch 0.9f b n (ro r, ro d, ro qt, rw y1)
        Dqn.doubleDqnTargetBatch 0.9f b n (ro r, ro d, ro qo, ro qt, rw y2)
        Dqn.softDqnTargetBatch 0.9f 0.3f b n (ro r, ro d, ro qt, rw y3)
        [ 0 .. b - 1 ] |> List.forall (fun i ->
            let rowO = ReadOnlySpan(qo, i * n, n)
            let rowT = ReadOnlySpan(qt, i * n, n)
            y1.[i] = Dqn.dqnTarget 0.9f (r.[i], d.[i], rowT)
            && y2.[i] = Dqn.doubleDqnTarget 0.9f (r.[i], d.[i], rowO, rowT)
            && y3.[i] = Dqn.softDqnTarget 0.9f 0.3f (r.[i], d.[i], rowT)
            && y2.[i] <= y1.[i] && y1.[i] <= y3.[i])))

// ---------- the TD loss and its gradient ----------

let ``the TD loss gradient reaches only the taken action's output and matches finite differences`` = testCase "the TD loss gradient reaches only the taken action's output and matches finite differences" <| fun () ->
    let b, n = 6, 3
    let rng = Random(17)
    let q = Array.init (b * n) (fun _ -> float32 (4.0 * rng.NextDouble() - 2.0))
    let actions = Array.init b (fun i -> float32 (i % n))
    // Offsets from Q(s, a): rows 0-2 in Huber's quadratic zone, rows 3-5 in its linear zone, all far from |d| = 1.
    let offsets = [| 0.3f; -0.6f; 0.05f; 2.5f; -3.0f; 1.7f |]
    let y = Array.init b (fun i -> q.[i * n + int actions.[i]] - offsets.[i])
    for kind in [ TdLoss.Huber; TdLoss.Squared ] do
        let dq = Array.create (b * n) nanf
        let loss = Dqn.tdLoss kind b n (ro q, ro actions, ro y, rw dq)
        let lossAt (qq: float32[]) = float (Dqn.tdLoss kind b n (ro qq, ro actions, ro y, rw (Array.zeroCreate (b * n))))
        // The loss itself, by definition.
        let expected =
            offsets |> Array.averageBy (fun d ->
                let d = float d
                if kind = TdLoss.Huber && abs d >= 1.0 then abs d - 0.5 else 0.5 * d * d)
        near $"{kind} loss" 1e-6 expected (float loss)
        for i in 0 .. b - 1 do
            for j in 0 .. n - 1 do
                let k = i * n + j
                let h = 1e-2f
                let plus, minus = Array.copy q, Array.copy q
                plus.[k] <- q.[k] + h
                minus.[k] <- q.[k] - h
                let fd = (lossAt plus - lossAt minus) / (2.0 * float h)
                if j = int actions.[i] then
                    let d = float offsets.[i]
                    let analytic = (if kind = TdLoss.Huber then Math.Clamp(d, -1.0, 1.0) else d) / float b
                    near $"{kind} dq[{i},{j}]" 1e-6 analytic (float dq.[k])
                    near $"{kind} finite difference [{i},{j}]" 1e-4 fd (float dq.[k])
                else
                    Assert.Equal(0.0f, dq.[k])
                    Assert.Equal(0.0, fd)
    // Bad action indices are refused.
    for bad in [ -1.0f; 3.0f; 0.5f; nanf ] do
        let acts = Array.copy actions
        acts.[2] <- bad
        Assert.Throws<ArgumentException>(fun () -> Dqn.tdLoss TdLoss.Huber b n (ro q, ro acts, ro y, rw (Array.zeroCreate (b * n))) |> ignore) |> ignore

let ``the TD-loss parameter gradient through the Q-network matches finite differences`` = testCase "the TD-loss parameter gradient through the Q-network matches finite differences" <| fun () ->
    let ctx = DqnContext(smallConfig DqnVariant.Dqn, 4, 3, gemm)
    let state = Dqn.init ctx 5UL
    let batch = randomBatch 5 4 3 8UL
    let b, n = batch.Size, ctx.ActionCount
    let ws = ctx.Workspace
    let theta = Array.copy state.QNetwork
    let qAt (p: float32[]) = (Mlp.Forward(gemm, ctx.Spec, ro p, ro batch.Observations, b, MlpWorkspace(ctx.Spec, b))).ToArray()
    // Targets placed so rows alternate between Huber's quadratic and linear zones, away from its kinks.
    let q0 = qAt theta
    let offsets = [| 0.4f; 2.0f; -0.3f; -2.5f; 0.1f |]
    for i in 0 .. b - 1 do ws.Targets.[i] <- q0.[i * n + int batch.Actions.[i]] - offsets.[i]
    let y = Array.sub ws.Targets 0 b
    let lossAt (p: float32[]) = Dqn.tdLoss TdLoss.Huber b n (ro (qAt p), ro batch.Actions, ro y, rw (Array.zeroCreate (b * n)))
    let struct (_, loss, _, _) = Dqn.tdStep ctx batch state
    near "loss" 1e-6 (float (lossAt theta)) (float loss)
    let grad = Array.copy ws.ParameterGrad
    let h = 1e-3f
    let mutable worst = 0.0f
    for i in 0 .. theta.Length - 1 do
        let plus, minus = Array.copy theta, Array.copy theta
        plus.[i] <- plus.[i] + h
        minus.[i] <- minus.[i] - h
        let fd = (lossAt plus - lossAt minus) / (2.0f * h)
        worst <- max worst (abs (fd - grad.[i]) / max 0.05f (abs fd))
    Assert.True(worst < 0.02f, sprintf "worst relative error %g over %d parameters" worst theta.Length)
    // The step moved the online network only.
    Assert.NotEqual<float32[]>(theta, state.QNetwork)
    Assert.Equal<float32[]>(theta, state.TargetQNetwork)

// ---------- policies, schedule, update ----------

let ``epsilon follows SB3's linear schedule and the behaviour policies have the stated distributions`` = testCase "epsilon follows SB3's linear schedule and the behaviour policies have the stated distributions" <| fun () ->
    let cfg = DqnConfig()
    Assert.Equal(1.0f, Dqn.explorationRate cfg 0L)
    near "midway" 1e-6 (1.0 + 0.5 * (0.04 - 1.0)) (float (Dqn.explorationRate cfg 4000L))
    near "end of the ramp" 1e-6 0.04 (float (Dqn.explorationRate cfg 8000L))
    Assert.Equal(0.04f, Dqn.explorationRate cfg 8001L)
    Assert.Equal(0.04f, Dqn.explorationRate cfg 1_000_000L)
    Assert.Equal(0.04f, Dqn.explorationRate (DqnConfig(ExplorationFraction = 0.0f)) 0L)
    near "uniform entropy" 1e-6 (Math.Log 3.0) (float (Dqn.epsilonGreedyEntropy 1.0f 3))
    Assert.Equal(0.0f, Dqn.epsilonGreedyEntropy 0.0f 3)
    // Boltzmann: probabilities, entropy, and inverse-CDF sampling on a grid of uniforms reproduce softmax(q / alpha).
    let q = [| 1.0f; 1.5f; 0.2f; 1.5f |]
    let alpha = 0.4f
    let p = Array.zeroCreate<float32> 4
    Dqn.boltzmannProbabilities alpha (ro q, rw p)
    let w = q |> Array.map (fun v -> Math.Exp(float v / float alpha))
    let z = Array.sum w
    for j in 0 .. 3 do near $"p[{j}]" 1e-6 (w.[j] / z) (float p.[j])
    let h = -(w |> Array.sumBy (fun wj -> wj / z * Math.Log(wj / z)))
    near "Boltzmann entropy" 1e-5 h (float (Dqn.boltzmannEntropy alpha (ro q)))
    let grid = 100_000
    let counts = Array.zeroCreate<int> 4
    for k in 0 .. grid - 1 do
        let a = Dqn.sampleBoltzmann alpha (ro q) (float32 ((float k + 0.5) / float grid))
        counts.[a] <- counts.[a] + 1
    for j in 0 .. 3 do near $"sampled frequency {j}" 2e-4 (w.[j] / z) (float counts.[j] / float grid)
    Assert.Equal(1, Dqn.argmax (ro q))
    // Acting: greedy is argmax; epsilon 1 is uniform; epsilon 0 is greedy.
    let ctx = DqnContext(smallConfig DqnVariant.Dqn, 4, 3, gemm)
    let state = Dqn.init ctx 1UL
    let ws = MlpWorkspace(ctx.Spec, 1)
    let obs = [| 0.1f; -0.2f; 0.3f; 0.05f |]
    let greedy = Dqn.act ctx ws state.QNetwork Greedy (ro obs)
    Assert.Equal(Dqn.argmax (Dqn.qValues ctx ws state.QNetwork (ro obs)), greedy)
    let key = PhiloxKey.FromSeed 77UL
    let freq = Array.zeroCreate<int> 3
    for t in 0 .. 2999 do
        Assert.Equal(greedy, Dqn.act ctx ws state.QNetwork (EpsilonGreedy(0.0f, key, uint64 t)) (ro obs))
        let a = Dqn.act ctx ws state.QNetwork (EpsilonGreedy(1.0f, key, uint64 t)) (ro obs)
        freq.[a] <- freq.[a] + 1
    for c in freq do Assert.InRange(c, 850, 1150)

let ``an update moves only the online network, the target follows every TargetUpdateInterval steps, and nothing allocates`` = testCase "an update moves only the online network, the target follows every TargetUpdateInterval steps, and nothing allocates" <| fun () ->
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let ctx = DqnContext(smallConfig variant, 4, 3, gemm)
        let batch = randomBatch 5 4 3 21UL
        let mutable s = Dqn.init ctx 2UL
        let target0 = Array.copy s.TargetQNetwork
        let struct (next, m) = Dqn.update ctx batch s
        s <- next
        Assert.Equal(1L, s.Step)
        Assert.Equal(1L, s.Optimizer.Step)
        Assert.Equal<float32[]>(target0, s.TargetQNetwork)
        Assert.NotEqual<float32[]>(target0, s.QNetwork)
        Assert.True(m.TdLoss > 0.0f && Single.IsFinite m.MeanQ && Single.IsFinite m.MeanTarget)
        if variant = DqnVariant.SoftDqn then Assert.InRange(m.Entropy, 0.0f, float32 (Math.Log 3.0) + 1e-6f)
        else Assert.Equal(0.0f, m.Entropy)
        // syncTarget copies on multiples of the interval (10) only.
        Assert.False(Dqn.syncTarget ctx 9L s)
        Assert.Equal<float32[]>(target0, s.TargetQNetwork)
        Assert.True(Dqn.syncTarget ctx 20L s)
        Assert.Equal<float32[]>(s.QNetwork, s.TargetQNetwork)
        for _ in 1 .. 5 do
            let struct (n, _) = Dqn.update ctx batch s
            s <- n
        let before = GC.GetAllocatedBytesForCurrentThread()
        for t in 1 .. 20 do
            let struct (n, _) = Dqn.update ctx batch s
            s <- n
            Dqn.syncTarget ctx (int64 t) s |> ignore
        Assert.Equal(0L, GC.GetAllocatedBytesForCurrentThread() - before)
        Assert.Equal(26L, s.Step)

// A 500-step CartPole truncation stored as terminal would teach a perfect policy that its best states are worth 1.
let ``a truncated transition bootstraps through the replay buffer into every variant's target, a terminated one does not`` = testCase "a truncated transition bootstraps through the replay buffer into every variant's target, a terminated one does not" <| fun () ->
    let obs = [| 0.01f; -0.02f; 0.03f; 0.04f |]
    let next = [| 0.02f; 0.01f; -0.01f; 0.05f |]
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let cfg = smallConfig variant
        let ctx = DqnContext(cfg, 4, 2, gemm)
        let state = Dqn.init ctx 3UL
        let qNext = (Dqn.qValues ctx (MlpWorkspace(ctx.Spec, 1)) state.TargetQNetwork (ro next)).ToArray()
        let targetOf (terminated: bool) =
            let replay = ReplayBuffer(1, 4, 1)
            replay.Add(ro obs, ro [| 1.0f |], 1.0f, ro next, terminated, true)
            let batch = Batch(cfg.BatchSize, 4, 1)
            replay.Sample(PhiloxKey.FromSeed 5UL, 0UL, batch)
            Assert.Equal((if terminated then 1.0f else 0.0f), batch.Terminated.[0])
            Assert.Equal(1.0f, batch.Truncated.[0])
            Dqn.targets ctx batch state
            ctx.Workspace.Targets.[0]
        // The online and target networks are equal after init, so Double DQN's bootstrap is the hard one here.
        let bootstrap =
            match variant with
            | DqnVariant.SoftDqn -> Dqn.softDqnTarget cfg.Gamma cfg.Temperature (1.0f, 0.0f, ro qNext)
            | _ -> Dqn.dqnTarget cfg.Gamma (1.0f, 0.0f, ro qNext)
        Assert.True(abs (bootstrap - 1.0f) > 1e-3f, sprintf "%A: the next state's value should be visible, got %g" variant bootstrap)
        Assert.Equal(bootstrap, targetOf false)
        Assert.Equal(1.0f, targetOf true)

let tests = testList "Dqn" [
    ``a truncated transition bootstraps through the replay buffer into every variant's target, a terminated one does not``
    ``for the same networks the Double DQN target never exceeds the DQN target``
    ``the soft target lies within [hard, hard + gamma (1 - d) alpha log |A|] and tends to the hard target as alpha falls``
    ``terminated transitions target the reward alone``
    ``the batch targets equal the per-transition targets row by row``
    ``the TD loss gradient reaches only the taken action's output and matches finite differences``
    ``the TD-loss parameter gradient through the Q-network matches finite differences``
    ``epsilon follows SB3's linear schedule and the behaviour policies have the stated distributions``
    ``an update moves only the online network, the target follows every TargetUpdateInterval steps, and nothing allocates``
]
