/// The engine with VecNormalize (the configuration's Normalize): raw transitions in the replay buffer, statistics
/// taken from what the environments show, frozen at evaluation and prediction, carried by checkpoints and `sac eval`.
module NormalizationTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Fs
open TrainingKit

let private gemm = new ManagedGemm(1) :> IGemm

let private config (normalize: NormalizeSettings | null) =
    SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 120, EvalInterval = 0,
              EvalEpisodes = 1, Seed = 5UL, Normalize = normalize)

let ``the replay buffer keeps raw transitions and the statistics take every observation the environment shows`` =
    testCase "the replay buffer keeps raw transitions and the statistics take every observation the environment shows" <| fun () ->
        // Warm-up actions do not depend on observations, so until learning starts both runs see the same transitions.
        let plain = new Trainer("Pendulum-v1", config null, gemm)
        let normalizing = new Trainer("Pendulum-v1", config (NormalizeSettings()), gemm)
        let steps = 100L
        plain.RunTo(plain.Start(), steps, []) |> ignore
        normalizing.RunTo(normalizing.Start(), steps, []) |> ignore
        Assert.Null(plain.Normalization)
        let p, q = plain.Replay, normalizing.Replay
        Assert.Equal<float32[]>(p.Observations.ToArray(), q.Observations.ToArray())
        Assert.Equal<float32[]>(p.Rewards.ToArray(), q.Rewards.ToArray())
        Assert.Equal<float32[]>(p.NextObservations.ToArray(), q.NextObservations.ToArray())
        // The first observation and each step's next one (no episode ends within 100 steps of Pendulum).
        let n = nonNull normalizing.Normalization
        let o = 3
        let shown = Array.append (q.Observations.Slice(0, o).ToArray()) (q.NextObservations.ToArray())
        let reference = RunningMeanStd o
        for i in 0 .. shown.Length / o - 1 do reference.Update(ReadOnlySpan(shown, i * o, o), 1)
        Assert.Equal(reference.Count, n.ObservationStatistics.Count)
        Assert.Equal<float[]>(reference.Mean.ToArray(), n.ObservationStatistics.Mean.ToArray())
        Assert.Equal<float[]>(reference.Variance.ToArray(), n.ObservationStatistics.Variance.ToArray())
        // The discounted return of the running episode, over the raw rewards.
        let expected = q.Rewards.ToArray() |> Array.fold (fun g r -> g * float 0.99f + float r) 0.0
        Assert.Equal(expected, n.Returns.[0], 9)

let ``updates learn from normalised minibatches: a normalising run differs once learning starts`` =
    testCase "updates learn from normalised minibatches: a normalising run differs once learning starts" <| fun () ->
        let run (normalize: NormalizeSettings | null) =
            let t = new Trainer("Pendulum-v1", config normalize, gemm)
            t.RunTo(t.Start(), 160L, []).State.Learner
        let plain, observations, rewards = run null, run (NormalizeSettings(Rewards = false)), run (NormalizeSettings(Observations = false))
        Assert.NotEqual<float32[]>(plain.Critic, observations.Critic)
        Assert.NotEqual<float32[]>(plain.Critic, rewards.Critic)
        Assert.NotEqual<float32[]>(observations.Critic, rewards.Critic)

let ``evaluation and prediction read the statistics without moving them, on normalised observations`` =
    testCase "evaluation and prediction read the statistics without moving them, on normalised observations" <| fun () ->
        use agent = SacAgent.Create("Pendulum-v1", config (NormalizeSettings()))
        agent.Learn(200L) |> ignore
        let n = nonNull agent.Trainer.Normalization
        let before = n.ToJson()
        let e = agent.Evaluate(2, 77UL)
        let raw = [| 0.3f; -0.9f; 4.0f |]
        let action = agent.Predict(raw)
        Assert.Equal(before, n.ToJson())
        // Predict = the policy on the normalised observation, in the environment's bounds.
        let normalized = Array.zeroCreate<float32> 3
        n.NormalizeObservations(ReadOnlySpan raw, Span normalized)
        let unit = Array.zeroCreate<float32> 1
        agent.Trainer.Algorithm.Policy(agent.State.Learner, Deterministic, ReadOnlySpan normalized, Span unit)
        let native = Array.zeroCreate<float32> 1
        (agent.Trainer.Environment :?> RescaleAction).ToNative(ReadOnlySpan unit, Span native)
        Assert.Equal<float32[]>(native, action)
        // Evaluation on normalised observations is the algorithm's own evaluation on the frozen wrapper.
        let wrapped = NormalizeObservation(agent.Trainer.EvaluationEnvironment, n)
        let direct = agent.Trainer.Algorithm.Evaluate(agent.State.Learner, wrapped, 2, 77UL)
        Assert.Equal(direct.Mean, e.Mean)
        Assert.Equal(before, n.ToJson())

let ``a checkpoint carries the statistics: Load, sac eval and a resumed run use them`` =
    testCase "a checkpoint carries the statistics: Load, sac eval and a resumed run use them" <| fun () ->
        withTempDir (fun dir ->
            let path = Path.Combine(dir, "agent.ckpt")
            use agent = SacAgent.Create("Pendulum-v1", config (NormalizeSettings(ClipObservations = 5.0f)))
            agent.Learn(200L) |> ignore
            agent.Save path
            let saved = (nonNull agent.Trainer.Normalization).ToJson()
            use loaded = SacAgent.Load path
            Assert.Equal(saved, (nonNull loaded.Trainer.Normalization).ToJson())
            let raw = [| 0.5f; 0.5f; -6.0f |]
            Assert.Equal<float32[]>(agent.Predict raw, loaded.Predict raw)
            let mean, std, _ = Sac.Cli.Evaluate.measure path "" false 3 41UL
            let e = agent.Evaluate(3, 41UL)
            Assert.Equal((e.Mean, e.Std), (mean, std))
            // Without the statistics the same policy evaluates differently: they were used.
            let plain = new Trainer("Pendulum-v1", config null, gemm)
            let unnormalized = plain.Algorithm.Evaluate(agent.State.Learner, plain.EvaluationEnvironment, 3, 41UL)
            Assert.NotEqual(e.Mean, unnormalized.Mean))

let ``resuming refuses statistics the configuration does not ask for, and a normalising configuration without them`` =
    testCase "resuming refuses statistics the configuration does not ask for, and a normalising configuration without them" <| fun () ->
        withTempDir (fun dir ->
            let save (normalize: NormalizeSettings | null) =
                let t = new Trainer("Pendulum-v1", config normalize, gemm)
                let s = t.RunTo(t.Start(), 130L, []).State
                let path = Path.Combine(dir, $"{Guid.NewGuid():N}.ckpt")
                t.Save(path, s, 1000L, true)
                path
            let normalized, plain = save (NormalizeSettings()), save null
            let refuses (normalize: NormalizeSettings | null) (path: string) (part: string) =
                let t = new Trainer("Pendulum-v1", config normalize, gemm)
                let e = Assert.Throws<ArgumentException>(fun () -> t.Resume(t.Load path) |> ignore)
                Assert.Contains("cannot resume from this checkpoint", e.Message)
                Assert.Contains(part, e.Message)
            refuses null normalized "normalises nothing"
            refuses (NormalizeSettings()) plain "holds no normalisation statistics"
            refuses (NormalizeSettings(ClipRewards = 3.0f)) normalized "normalised with"
            let t = new Trainer("Pendulum-v1", config (NormalizeSettings()), gemm)
            Assert.Equal(130L, t.Resume(t.Load normalized).EnvSteps))

let ``with several environments every copy feeds the statistics, one row each`` =
    testCase "with several environments every copy feeds the statistics, one row each" <| fun () ->
        let t = new Trainer("Pendulum-v1", config (NormalizeSettings()), gemm)
        t.UseEnvironments 3
        let s = t.RunTo(t.Start(), 60L, []).State
        Assert.Equal(60L, s.EnvSteps)
        let n = nonNull t.Normalization
        Assert.Equal(3, n.Environments)
        // The reset rows, then one row per copy per vectorised step.
        Assert.Equal(RunningMeanStd.InitialCount + 3.0 + 60.0, n.ObservationStatistics.Count, 9)
        Assert.Equal(3, n.Returns.Length)

let tests = testList "Normalization" [
    ``the replay buffer keeps raw transitions and the statistics take every observation the environment shows``
    ``updates learn from normalised minibatches: a normalising run differs once learning starts``
    ``evaluation and prediction read the statistics without moving them, on normalised observations``
    ``a checkpoint carries the statistics: Load, sac eval and a resumed run use them``
    ``resuming refuses statistics the configuration does not ask for, and a normalising configuration without them``
    ``with several environments every copy feeds the statistics, one row each`` ]
