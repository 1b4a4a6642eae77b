/// Several copies of the environment stepped together (OffPolicyTrainer.UseEnvironments, `--n-envs`): the step and
/// update schedule against a plain model of Stable-Baselines3's loop with n_envs, determinism, exact resume with
/// several running episodes, the one-environment format, the batched actor pass and its allocations.
module VectorisedEnvironmentsTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs
open Sac.Fs
open TrainingKit

let private gemm = new ManagedGemm(1) :> IGemm
let private config = Config.QuickThrowOnFailure.WithMaxTest(25)

/// What the engine asked of an algorithm, in order.
type private Call =
    | Acted of steps: int64 * count: int * warmup: bool
    | AfterStep of steps: int64
    | Updated of steps: int64

/// An algorithm that learns nothing and records what the engine asks of it: acting (zero actions), the per-step
/// hook and each gradient step.
type private Recorder(schedule: OffPolicySchedule) =
    member val Calls = Collections.Generic.List<Call>()
    interface IOffPolicyAlgorithm<int, float32> with
        member _.Name = "recorder"
        member _.Schedule = schedule
        member _.ReplayActionSize = 1
        member _.SamplingTeam = null
        member _.Actions = struct ("action", 1)
        member _.Init() = 0
        member _.Attach _ = ()
        member this.Act(_, t, _, action) =
            this.Calls.Add(Acted(t, 1, t < int64 schedule.LearningStarts))
            action.Clear()
        member this.ActBatch(_, t, count, _, actions) =
            this.Calls.Add(Acted(t, count, t < int64 schedule.LearningStarts))
            actions.Clear()
        member _.Policy(_, _, _, action) = action.Clear()
        member this.AfterEnvironmentStep(steps, _, _) = this.Calls.Add(AfterStep steps)
        member this.Update(steps, _, _, learner) =
            this.Calls.Add(Updated steps)
            struct (learner + 1, 0.0f)
        member _.AfterUpdates(_, learner) = learner
        member _.Synced(_, learner) = learner
        member _.MetricNames = [| "x" |]
        member _.Report(_, m) = [| m |]
        member _.MetricValues m = [| m |]
        member _.MetricsOf values = values.[0]
        member _.MetricCount = 1
        member _.Evaluate(_, _, _, _) = Rollout.summarize [| 0.0 |] [||]
        member _.Save(_, _, _, _, _, _, _, _) = ()
        member _.Load _ = failwith "not used"
    interface IDisposable with
        member _.Dispose() = ()

/// SB3's off-policy learn loop with n_envs, as plain code: rollouts of train_freq vectorised steps, each acting for
/// all envs (random while num_timesteps < learning_starts), num_timesteps += n_envs, the per-step callback; after a
/// rollout, gradient_steps updates once num_timesteps > learning_starts (-1: the rollout's environment steps,
/// train_freq * n_envs).
let private sb3Model (n: int) (trainFreq: int) (gradientSteps: int) (learningStarts: int) (total: int64) =
    let calls = Collections.Generic.List<Call>()
    let mutable numTimesteps = 0L
    while numTimesteps < total do
        for _ in 1 .. trainFreq do
            calls.Add(Acted(numTimesteps, n, numTimesteps < int64 learningStarts))
            numTimesteps <- numTimesteps + int64 n
            calls.Add(AfterStep numTimesteps)
        if numTimesteps > int64 learningStarts then
            let steps = if gradientSteps = -1 then trainFreq * n else gradientSteps
            for _ in 1 .. steps do calls.Add(Updated numTimesteps)
    List.ofSeq calls

let private pendulum () = RescaleAction(EnvironmentRegistry.MakeChecked "Pendulum-v1") :> IEnvironment

let private scheduleOf (trainFreq: int) (gradientSteps: int) (learningStarts: int) =
    { Seed = 5UL; BufferSize = 10_000; BatchSize = 1; LearningStarts = learningStarts; TrainFrequency = trainFreq
      GradientSteps = gradientSteps; EvalInterval = 0; EvalEpisodes = 1; LearningRateSchedule = LearningRateSchedule.Constant
      Environments = 1; Normalize = null; Gamma = 0.99f }

let ``steps, warm-up and update rounds follow SB3's loop with n_envs`` =
    testCase "steps, warm-up and update rounds follow SB3's loop with n_envs" <| fun () ->
        let gen =
            gen {
                let! n = Gen.choose (1, 5)
                let! trainFreq = Gen.choose (1, 6)
                let! gradientSteps = Gen.oneof [ Gen.choose (1, 4); Gen.constant -1 ]
                let! learningStarts = Gen.oneof [ Gen.constant 0; Gen.choose (1, 60) ]
                let! rounds = Gen.choose (1, 12)
                return n, trainFreq, gradientSteps, learningStarts, rounds
            }
        Check.One(config, Prop.forAll (Arb.fromGen gen) (fun (n, trainFreq, gradientSteps, learningStarts, rounds) ->
            // Whole rollouts: SB3 finishes a rollout past total_timesteps, the engine stops at the first step reaching it.
            let total = int64 (n * trainFreq * rounds)
            let recorder = new Recorder(scheduleOf trainFreq gradientSteps learningStarts)
            let trainer = new OffPolicyTrainer<int, float32>("Pendulum-v1", pendulum (), pendulum (), recorder, Func<IEnvironment> pendulum)
            trainer.UseEnvironments n
            let final = trainer.RunTo(trainer.Start(), total, []).State
            Assert.Equal(total, final.EnvSteps)
            Assert.Equal<Call list>(sb3Model n trainFreq gradientSteps learningStarts total, List.ofSeq recorder.Calls)
            Assert.Equal(total, int64 trainer.Replay.Count)))

let ``a run whose length is no multiple of n stops at the first vectorised step reaching it`` =
    testCase "a run whose length is no multiple of n stops at the first vectorised step reaching it" <| fun () ->
        let recorder = new Recorder(scheduleOf 1 1 0)
        let trainer = new OffPolicyTrainer<int, float32>("Pendulum-v1", pendulum (), pendulum (), recorder, Func<IEnvironment> pendulum)
        trainer.UseEnvironments 4
        Assert.Equal(12L, trainer.RunTo(trainer.Start(), 10L, []).State.EnvSteps)

let ``the replay buffer receives a vectorised step's transitions in environment order`` =
    testCase "the replay buffer receives a vectorised step's transitions in environment order" <| fun () ->
        let recorder = new Recorder(scheduleOf 1 1 1000)
        let trainer = new OffPolicyTrainer<int, float32>("Pendulum-v1", pendulum (), pendulum (), recorder, Func<IEnvironment> pendulum)
        trainer.UseEnvironments 3
        let s0 = trainer.Start()
        // Env i starts from its own reset with seed + i.
        let firstObservations =
            [ for i in 0 .. 2 ->
                let e = pendulum ()
                let obs = Array.zeroCreate<float32> 3
                e.Reset(Nullable(5UL + uint64 i), Span obs)
                obs ]
        trainer.RunTo(s0, 3L, []) |> ignore
        let o = 3
        for i in 0 .. 2 do
            Assert.Equal<float32[]>(firstObservations.[i], trainer.Replay.Observations.Slice(i * o, o).ToArray())

let ``DQN's target update every max(interval / n, 1) vectorised steps`` =
    testCase "DQN's target update every max(interval / n, 1) vectorised steps" <| fun () ->
        Check.One(config, Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.choose (1, 6)) (Gen.choose (1, 40)) (Gen.choose (1, 60)))) (fun (n, interval, vectorSteps) ->
            let cfg = DqnConfig(HiddenSizes = [| 4 |], BatchSize = 2, BufferSize = 100, TargetUpdateInterval = interval, LearningStarts = 0)
            let ctx = DqnContext(cfg, 4, 2, gemm)
            let state = Dqn.init ctx 3UL
            let every = max (interval / n) 1
            for k in 1 .. vectorSteps do
                let steps = int64 (k * n)
                Assert.Equal(k % every = 0, Dqn.syncTargetVectorised ctx steps n state)
                if n = 1 then Assert.Equal(Dqn.syncTarget ctx steps state, Dqn.syncTargetVectorised ctx steps 1 state)))

let private sacConfig () =
    SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 2000, LearningStarts = 60, EvalInterval = 300,
              EvalEpisodes = 1, Seed = 13UL, TrainFrequency = 2, GradientSteps = 3)

let private dqnConfig () =
    DqnConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 90, TrainFrequency = 2,
              GradientSteps = 2, TargetUpdateInterval = 30, TotalTimesteps = 600L, EvalInterval = 240, EvalEpisodes = 1,
              LearningRate = 2.3e-3f, Seed = 7UL)

let private sqlConfig () =
    SqlConfig(HiddenSizes = [| 16; 16 |], SamplerHiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, ValueParticles = 8,
              KernelParticles = 8, TargetUpdateInterval = 10, LearningStarts = 45, EvalInterval = 90, EvalEpisodes = 1, Seed = 21UL)

/// One algorithm on n environments: a fresh trainer, and the learner's arrays.
type private Case<'L, 'M> = { Make: int -> OffPolicyTrainer<'L, 'M>; Arrays: 'L -> float32[] list }

type private ICaseTest =
    abstract Run<'L, 'M when 'M: equality> : Case<'L, 'M> -> unit

let private on (case: string) (test: ICaseTest) =
    match case with
    | "sac Pendulum-v1" ->
        test.Run { Make = (fun n -> new Trainer("Pendulum-v1", sacConfig (), gemm, null, n) :> OffPolicyTrainer<_, _>)
                   Arrays = fun (l: LearnerState) -> [ l.Actor; l.Critic; l.TargetCritic; [| l.LogAlpha |] ] }
    | "dqn CartPole-v1" ->
        test.Run { Make = (fun n -> DqnTrainer("CartPole-v1", dqnConfig (), gemm, n) :> OffPolicyTrainer<_, _>)
                   Arrays = fun (l: DqnLearnerState) -> [ l.QNetwork; l.TargetQNetwork ] }
    | "sql MultiGoal-v0" ->
        test.Run { Make = (fun n -> SqlTrainer("MultiGoal-v0", sqlConfig (), gemm, n) :> OffPolicyTrainer<_, _>)
                   Arrays = fun (l: SqlLearnerState) -> [ l.Q; l.TargetQ; l.Sampler ] }
    | other -> failwith $"no case {other}"

let private sameState (c: Case<'L, 'M>) (a: OffPolicyState<'L, 'M>) (b: OffPolicyState<'L, 'M>) =
    Assert.Equal((a.EnvSteps, a.Episodes, a.EpisodeReturn, a.EpisodeLength, a.Draws), (b.EnvSteps, b.Episodes, b.EpisodeReturn, b.EpisodeLength, b.Draws))
    Assert.Equal(a.LastMetrics, b.LastMetrics)
    for x, y in List.zip (c.Arrays a.Learner) (c.Arrays b.Learner) do Assert.Equal<float32[]>(x, y)

let ``two runs of n environments with one seed are bitwise the same`` (case: string) (n: int) (total: int64) =
    on case
        { new ICaseTest with
            member _.Run<'L, 'M when 'M: equality>(c: Case<'L, 'M>) =
                let run () =
                    let t = c.Make n
                    let records, onRecord = collect ()
                    let s = t.RunTo(t.Start(), total, [ onRecord ]).State
                    s, records |> Seq.map comparable |> List.ofSeq
                let a, ra = run ()
                let b, rb = run ()
                sameState c a b
                Assert.Equal<_ list>(ra, rb)
                // Every finished episode is a record, however many end in one vectorised step.
                Assert.Equal(a.Episodes, ra |> List.filter (fun (_, _, ret, _, _, _, _) -> ret.IsSome) |> List.length)
                Assert.True(a.LastMetrics.IsSome, "the run updates") }

let ``saving mid-episode and resuming with n environments gives exactly the uninterrupted run`` (case: string) (n: int) (k: int64) (total: int64) =
    on case
        { new ICaseTest with
            member _.Run<'L, 'M when 'M: equality>(c: Case<'L, 'M>) =
                withTempDir (fun dir ->
                    let whole = c.Make n
                    let wholeRecords, onWhole = collect ()
                    let uninterrupted = whole.RunTo(whole.Start(), total, [ onWhole ])

                    let first = c.Make n
                    let firstRecords, onFirst = collect ()
                    let interrupt = Callback.create (fun steps _ _ -> if steps >= k then CallbackDecision.Stop "interrupted" else CallbackDecision.Continue)
                    let atK = first.RunTo(first.Start(), total, [ onFirst; interrupt ]).State
                    Assert.Equal(k, atK.EnvSteps)
                    let path = Path.Combine(dir, "checkpoint.ckpt")
                    first.Save(path, atK, total, true)

                    let second = c.Make n
                    let secondRecords, onSecond = collect ()
                    let point = second.Load path
                    let progress = nonNull point.Progress
                    Assert.Equal(n, progress.EnvironmentCount)
                    let lanes = nonNull progress.Environments
                    Assert.True(lanes |> Seq.exists (fun l -> l.EpisodeLength > 0), "the checkpoint falls inside episodes")
                    Assert.True(lanes |> Seq.sumBy (fun l -> l.Episodes) > 0, "episodes ended before it")
                    let restored = second.Resume point
                    sameState c atK restored
                    let resumed = second.RunTo(restored, total, [ onSecond ])
                    sameState c uninterrupted.State resumed.State
                    let expected = wholeRecords |> Seq.map comparable |> List.ofSeq
                    Assert.True(expected |> List.exists (fun (_, _, _, _, eval, _, _) -> eval.IsSome), "the run evaluates")
                    Assert.Equal<_ list>(expected, Seq.append firstRecords secondRecords |> Seq.map comparable |> List.ofSeq)

                    // Another number of environments cannot continue it, nor can this one continue a one-environment run.
                    for other in [ 1; n + 1 ] do
                        let e = Assert.Throws<ArgumentException>(fun () -> (c.Make other).Resume(point) |> ignore)
                        Assert.Contains($"it ran {n} environment(s) together, this trainer steps {other}", e.Message)
                    let single = c.Make 1
                    let one = single.RunTo(single.Start(), 20L, []).State
                    single.Save(path, one, total, true)
                    let e = Assert.Throws<ArgumentException>(fun () -> (c.Make n).Resume(single.Load path) |> ignore)
                    Assert.Contains($"it ran 1 environment(s) together, this trainer steps {n}", e.Message)) }

let ``one environment keeps the checkpoint format and the records of a plain trainer`` =
    testCase "one environment keeps the checkpoint format and the records of a plain trainer" <| fun () ->
        withTempDir (fun dir ->
            let run (t: Trainer) =
                let records, onRecord = collect ()
                let s = t.RunTo(t.Start(), 250L, [ onRecord ]).State
                let path = Path.Combine(dir, $"{Guid.NewGuid()}.ckpt")
                t.Save(path, s, 250L, true)
                records |> Seq.map comparable |> List.ofSeq, File.ReadAllBytes path
            let plainRecords, plainBytes = run (new Trainer("Pendulum-v1", sacConfig (), gemm))
            let oneRecords, oneBytes = run (new Trainer("Pendulum-v1", sacConfig (), gemm, null, 1))
            Assert.Equal<_ list>(plainRecords, oneRecords)
            Assert.Equal<byte[]>(plainBytes, oneBytes)
            // The header names no environments: files are those of a build without this option.
            Assert.DoesNotContain("environments", Text.Encoding.UTF8.GetString plainBytes)
            let several = new Trainer("Pendulum-v1", sacConfig (), gemm, null, 2)
            let s = several.RunTo(several.Start(), 250L, []).State
            let path = Path.Combine(dir, "two.ckpt")
            several.Save(path, s, 250L, true)
            Assert.Contains("environments", Text.Encoding.UTF8.GetString(File.ReadAllBytes path)))

let ``fewer than one environment is refused before anything is built`` =
    testCase "fewer than one environment is refused before anything is built" <| fun () ->
        for bad in [ 0; -3 ] do
            let e = Assert.Throws<ArgumentException>(fun () -> new Trainer("No-Such-v0", sacConfig (), gemm, null, bad) |> ignore)
            Assert.Contains($"at least 1, got {bad}", e.Message)
            let t = new Trainer("Pendulum-v1", sacConfig (), gemm)
            Assert.Throws<ArgumentException>(fun () -> t.UseEnvironments bad) |> ignore
        let plain = new OffPolicyTrainer<int, float32>("Pendulum-v1", pendulum (), pendulum (), new Recorder(scheduleOf 1 1 0))
        let e = Assert.Throws<ArgumentException>(fun () -> plain.UseEnvironments 2)
        Assert.Contains("no way to make more", e.Message)

/// A batch to act on: rows, observation and action sizes (actions from `minActions`), a seed, a mode kind (0, 1 or 2)
/// and the hidden activation.
let private actingCase (minActions: int) =
    gen {
        let! rows = Gen.choose (1, 9)
        let! o = Gen.choose (1, 7)
        let! a = Gen.choose (minActions, minActions + 3)
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! mode = Gen.choose (0, 2)
        let! activation = Gen.elements [ Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]
        return rows, o, a, seed, mode, activation
    }

let ``the batched actor pass is row by row act, bitwise`` =
    testCase "the batched actor pass is row by row act, bitwise" <| fun () ->
        Check.One(config, Prop.forAll (Arb.fromGen (actingCase 1)) (fun (rows, o, a, seed, modeKind, activation) ->
            let stochastic = modeKind <> 0
            let ctx = SacContext(SacConfig(HiddenSizes = [| 19; 7 |], Activation = activation), o, a, gemm)
            let actor = (Sac.init ctx (uint64 seed)).Actor
            let key = PhiloxKey.FromSeed(uint64 seed)
            let observations = Array.zeroCreate<float32> (rows * o)
            Philox.FillNormal(key, 77UL, Span observations)
            let mode = if stochastic then Stochastic(key.FoldIn 3u, 1000UL + uint64 seed % 5000UL) else Deterministic
            let batched = Array.zeroCreate<float32> (rows * a)
            Policy.actRows ctx (PolicyWorkspace(ctx.Networks, rows + 2)) actor mode rows (ReadOnlySpan observations) (Span batched)
            let single = PolicyWorkspace(ctx.Networks)
            let byRow = Array.zeroCreate<float32> (rows * a)
            for r in 0 .. rows - 1 do
                let rowMode = match mode with Stochastic (k, i) -> Stochastic(k, i + uint64 r) | m -> m
                Policy.act ctx single actor rowMode (ReadOnlySpan(observations, r * o, o)) (Span(byRow, r * a, a))
            Assert.Equal<float32[]>(byRow, batched)
            Assert.True(batched |> Array.forall (fun x -> x >= -1.0f && x <= 1.0f))))

let ``the configuration's nEnvs is the count a trainer starts with, the same run as UseEnvironments`` =
    testCase "the configuration's nEnvs is the count a trainer starts with, the same run as UseEnvironments" <| fun () ->
        let run (t: OffPolicyTrainer<'L, 'M>) =
            let records, onRecord = collect ()
            let s = t.RunTo(t.Start(), 360L, [ onRecord ]).State
            s.EnvSteps, s.Episodes, s.Draws, records |> Seq.map comparable |> List.ofSeq
        let byKey = new Trainer("Pendulum-v1", SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 2000, LearningStarts = 60,
                                                         EvalInterval = 300, EvalEpisodes = 1, Seed = 13UL, TrainFrequency = 2, GradientSteps = 3, NEnvs = 3), gemm)
        Assert.Equal(3, byKey.EnvironmentCount)
        let byCall = new Trainer("Pendulum-v1", sacConfig (), gemm)
        Assert.Equal(1, byCall.EnvironmentCount)
        byCall.UseEnvironments 3
        Assert.Equal(run byCall, run byKey)
        let dqn = DqnTrainer("CartPole-v1", DqnConfig(NEnvs = 4), gemm)
        Assert.Equal(4, dqn.EnvironmentCount)
        let sql = SqlTrainer("MultiGoal-v0", SqlConfig(NEnvs = 2), gemm)
        Assert.Equal(2, sql.EnvironmentCount)
        // Written only above 1, read back equal; below 1 refused naming the key.
        Assert.DoesNotContain("nEnvs", ConfigJson.Serialize(SacConfig()))
        Assert.Contains("\"nEnvs\": 3", ConfigJson.Serialize(SacConfig(NEnvs = 3)))
        Assert.Equal(3, ConfigJson.Deserialize<DqnConfig>(ConfigJson.Serialize(DqnConfig(NEnvs = 3)), "test").NEnvs)
        let e = Assert.Throws<ArgumentException>(fun () -> SqlConfig(NEnvs = 0) |> ignore)
        Assert.Contains("NEnvs", e.Message)

let ``DQN's and SQL's batched passes are row by row act, bitwise`` =
    testCase "DQN's and SQL's batched passes are row by row act, bitwise" <| fun () ->
        Check.One(config, Prop.forAll (Arb.fromGen (actingCase 2)) (fun (rows, o, a, seed, modeKind, activation) ->
            let key = PhiloxKey.FromSeed(uint64 seed)
            let observations = Array.zeroCreate<float32> (rows * o)
            Philox.FillNormal(key, 77UL, Span observations)
            let index = 1000UL + uint64 seed % 5000UL
            // DQN: greedy, epsilon-greedy (half the rows explore) or Boltzmann; a actions.
            let dqn = DqnContext(DqnConfig(HiddenSizes = [| 19; 7 |], Activation = activation), o, a, gemm)
            let q = (Dqn.init dqn (uint64 seed)).QNetwork
            let mode =
                match modeKind with
                | 0 -> Greedy
                | 1 -> EpsilonGreedy(0.5f, key.FoldIn 3u, index)
                | _ -> Boltzmann(0.7f, key.FoldIn 3u, index)
            let batched = Array.zeroCreate<float32> rows
            Dqn.actRows dqn (RowGemm gemm) (Sac.Core.Networks.MlpWorkspace(dqn.Spec, rows + 2)) q mode rows (ReadOnlySpan observations) (Span batched)
            let single = Sac.Core.Networks.MlpWorkspace(dqn.Spec, 1)
            let byRow =
                Array.init rows (fun r ->
                    let rowMode =
                        match mode with
                        | EpsilonGreedy (e, k, i) -> EpsilonGreedy(e, k, i + uint64 r)
                        | Boltzmann (t, k, i) -> Boltzmann(t, k, i + uint64 r)
                        | m -> m
                    float32 (Dqn.act dqn single q rowMode (ReadOnlySpan(observations, r * o, o))))
            Assert.Equal<float32[]>(byRow, batched)
            // SQL: the sampler at xi drawn per row, or at zero.
            let sql = SqlContext(SqlConfig(HiddenSizes = [| 8 |], SamplerHiddenSizes = [| 19; 7 |], Activation = activation), o, a, gemm)
            let sampler = (SoftQLearning.init sql (uint64 seed)).Sampler
            let sqlMode = if modeKind = 0 then Deterministic else Stochastic(key.FoldIn 5u, index)
            let actions = Array.zeroCreate<float32> (rows * a)
            SoftQLearning.actRows sql (RowGemm gemm) (SqlPolicyWorkspace(sql.Networks, rows + 1)) sampler sqlMode rows (ReadOnlySpan observations) (Span actions)
            let one = SqlPolicyWorkspace(sql.Networks)
            let expected = Array.zeroCreate<float32> (rows * a)
            for r in 0 .. rows - 1 do
                let rowMode = match sqlMode with Stochastic (k, i) -> Stochastic(k, i + uint64 r) | m -> m
                SoftQLearning.act sql one sampler rowMode (ReadOnlySpan(observations, r * o, o)) (Span(expected, r * a, a))
            Assert.Equal<float32[]>(expected, actions)))

let ``DQN and SQL act for n environments without allocating per step`` =
    testCase "DQN and SQL act for n environments without allocating per step" <| fun () ->
        let noAllocation (act: IOffPolicyAlgorithm<'L, 'M>) (o: int) (width: int) (learningStarts: int64) =
            let learner = act.Init()
            let n = 4
            let observations = Array.init (n * o) (fun i -> float32 i * 0.1f)
            let actions = Array.zeroCreate<float32> (n * width)
            act.ActBatch(learner, learningStarts, n, ReadOnlySpan observations, Span actions)
            Assert.Equal(0L, Allocation.leastAllocated (fun () ->
                for step in 0L .. 50L do
                    act.ActBatch(learner, learningStarts + step * int64 n, n, ReadOnlySpan observations, Span actions)))
        noAllocation (new DqnAlgorithm(DqnConfig(HiddenSizes = [| 32; 32 |], LearningStarts = 10), 4, 2, gemm)) 4 1 10L
        noAllocation (new SqlAlgorithm(SqlConfig(HiddenSizes = [| 32 |], SamplerHiddenSizes = [| 32; 32 |], LearningStarts = 10), 3, 2, gemm)) 3 2 10L

let ``acting for n environments allocates nothing per step`` =
    testCase "acting for n environments allocates nothing per step" <| fun () ->
        let cfg = SacConfig(HiddenSizes = [| 32; 32 |], LearningStarts = 10)
        let algorithm = new SacAlgorithm(cfg, 3, 1, gemm, null)
        let act = algorithm :> IOffPolicyAlgorithm<LearnerState, SacMetrics>
        let learner = act.Init()
        let n = 4
        let observations = Array.init (n * 3) (fun i -> float32 i * 0.1f)
        let actions = Array.zeroCreate<float32> n
        // The first call past warm-up builds the batched workspace.
        act.ActBatch(learner, 0L, n, ReadOnlySpan observations, Span actions)
        act.ActBatch(learner, 100L, n, ReadOnlySpan observations, Span actions)
        Assert.Equal(0L, Allocation.leastAllocated (fun () ->
            for step in 0L .. 50L do
                act.ActBatch(learner, step * int64 n, n, ReadOnlySpan observations, Span actions)))
        Assert.True(actions |> Array.forall (fun x -> x >= -1.0f && x <= 1.0f))

let ``warm-up draws for every environment, keyed by environment step`` =
    testCase "warm-up draws for every environment, keyed by environment step" <| fun () ->
        let cfg = SacConfig(HiddenSizes = [| 8 |], LearningStarts = 100)
        let act = new SacAlgorithm(cfg, 3, 2, gemm, null) :> IOffPolicyAlgorithm<LearnerState, SacMetrics>
        let learner = act.Init()
        let observations = Array.zeroCreate<float32> 9
        let batched = Array.zeroCreate<float32> 6
        // Step 98: all three rows still warm up (SB3 decides on num_timesteps before the step), row i as step 98 + i.
        act.ActBatch(learner, 98L, 3, ReadOnlySpan observations, Span batched)
        let keys = ActingKeys.Of 0UL
        let expected = Array.zeroCreate<float32> 6
        for i in 0 .. 2 do keys.UniformAction(98L + int64 i, Span(expected, 2 * i, 2))
        Assert.Equal<float32[]>(expected, batched)

let tests = testList "VectorisedEnvironments" [
    ``steps, warm-up and update rounds follow SB3's loop with n_envs``
    ``a run whose length is no multiple of n stops at the first vectorised step reaching it``
    ``the replay buffer receives a vectorised step's transitions in environment order``
    ``DQN's target update every max(interval / n, 1) vectorised steps``
    testList "two runs of n environments with one seed are bitwise the same" [
        testCase "case: sac Pendulum-v1, n: 3, total: 660L" <| fun () -> ``two runs of n environments with one seed are bitwise the same`` "sac Pendulum-v1" 3 660L
        testCase "case: dqn CartPole-v1, n: 4, total: 600L" <| fun () -> ``two runs of n environments with one seed are bitwise the same`` "dqn CartPole-v1" 4 600L
    ]
    testList "saving mid-episode and resuming with n environments gives exactly the uninterrupted run" [
        testCase "case: sac Pendulum-v1, n: 3, k: 690L, total: 900L" <| fun () -> ``saving mid-episode and resuming with n environments gives exactly the uninterrupted run`` "sac Pendulum-v1" 3 690L 900L
        testCase "case: dqn CartPole-v1, n: 3, k: 333L, total: 600L" <| fun () -> ``saving mid-episode and resuming with n environments gives exactly the uninterrupted run`` "dqn CartPole-v1" 3 333L 600L
        testCase "case: sql MultiGoal-v0, n: 3, k: 93L, total: 180L" <| fun () -> ``saving mid-episode and resuming with n environments gives exactly the uninterrupted run`` "sql MultiGoal-v0" 3 93L 180L
    ]
    ``one environment keeps the checkpoint format and the records of a plain trainer``
    ``fewer than one environment is refused before anything is built``
    ``the batched actor pass is row by row act, bitwise``
    ``acting for n environments allocates nothing per step``
    ``the configuration's nEnvs is the count a trainer starts with, the same run as UseEnvironments``
    ``DQN's and SQL's batched passes are row by row act, bitwise``
    ``DQN and SQL act for n environments without allocating per step``
    ``warm-up draws for every environment, keyed by environment step``
]
