module SacTrainerTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Runs
open Sac.Fs
open TrainingKit

let private gemm = new ManagedGemm(1) :> IGemm

let private config (lr: float32) =
    SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, EvalInterval = 150,
              EvalEpisodes = 1, ActorLearningRate = lr, CriticLearningRate = lr, Seed = 11UL)

let private assertSameLearner (a: Sac.Core.Data.LearnerState) (b: Sac.Core.Data.LearnerState) =
    Assert.Equal<float32[]>(a.Actor, b.Actor)
    Assert.Equal<float32[]>(a.Critic, b.Critic)
    Assert.Equal<float32[]>(a.TargetCritic, b.TargetCritic)
    Assert.Equal<float32[]>(a.CriticOptimizer.SecondMoment, b.CriticOptimizer.SecondMoment)
    Assert.Equal<float32[]>(a.ActorOptimizer.FirstMoment, b.ActorOptimizer.FirstMoment)
    Assert.Equal(a.LogAlpha, b.LogAlpha)
    Assert.Equal(a.Step, b.Step)
    Assert.Equal(a.Key, b.Key)

let ``resuming checks SAC's own fields: algorithm, hidden sizes and variant`` = testCase "resuming checks SAC's own fields: algorithm, hidden sizes and variant" <| fun () ->
    withTempDir (fun dir ->
        let t = new Trainer("Pendulum-v1", config 3e-4f, gemm)
        let s = t.RunTo(t.Start(), 30L, []).State
        let path = Path.Combine(dir, "c.ckpt")
        t.Save(path, s, 100L, true)
        let resumeWith (cfg: SacConfig) =
            Assert.Throws<ArgumentException>(fun () -> (new Trainer("Pendulum-v1", cfg, gemm)).Resume(Checkpoint.LoadTraining path) |> ignore).Message
        Assert.Contains("hidden sizes [16, 16]", resumeWith (SacConfig(HiddenSizes = [| 8 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, Seed = 11UL)))
        Assert.Contains("it is SAC V2, the configuration asks for V1", resumeWith (SacConfig(HiddenSizes = [| 16; 16 |], BatchSize = 16, BufferSize = 1000, LearningStarts = 50, Seed = 11UL, Variant = SacVariant.V1)))
        let e = Assert.Throws<ArgumentException>(fun () -> (new Trainer("MountainCarContinuous-v0", config 3e-4f, gemm)).Resume(Checkpoint.LoadTraining path) |> ignore)
        Assert.Contains("trained on Pendulum-v1, not MountainCarContinuous-v0", e.Message))

let ``a diverging learner stops at the first bad update, naming the quantity and the step`` = testCase "a diverging learner stops at the first bad update, naming the quantity and the step" <| fun () ->
    let t = new Trainer("Pendulum-v1", config 1e30f, gemm)
    let e = Assert.Throws<NumericalFaultException>(fun () -> t.RunTo(t.Start(), 200L, []) |> ignore)
    // The first update is at step LearningStarts + 1; an enormous step size overflows within a few updates.
    Assert.True(e.EnvironmentStep > 50L && e.EnvironmentStep < 60L, e.Message)
    Assert.True(Single.IsNaN e.Value || Single.IsInfinity e.Value)
    Assert.Contains(e.Quantity, e.Message)
    Assert.Contains($"environment step {e.EnvironmentStep}", e.Message)

let ``the finite check finds the first NaN or infinity anywhere in an array`` = testCase "the finite check finds the first NaN or infinity anywhere in an array" <| fun () ->
    let prop (n: int) (at: int) (kind: int) =
        let n = 1 + abs n % 200
        let at = abs at % n
        let x = Array.init n (fun i -> float32 i * 0.5f - 3.0f)
        Assert.Equal(-1, FusedOps.IndexOfNonFinite(ReadOnlySpan x))
        x.[at] <- (match abs kind % 3 with 0 -> Single.NaN | 1 -> Single.PositiveInfinity | _ -> Single.NegativeInfinity)
        if at + 1 < n then x.[n - 1] <- Single.NaN
        Assert.Equal(at, FusedOps.IndexOfNonFinite(ReadOnlySpan x))
    FsCheck.Check.One(FsCheck.Config.QuickThrowOnFailure, prop)

let ``callbacks see every step; a reward threshold and Every fire when they should`` = testCase "callbacks see every step; a reward threshold and Every fire when they should" <| fun () ->
    let t = new Trainer("PointGoal-v0", config 3e-4f, gemm)
    let mutable seen = 0L
    let mutable fired = []
    let counter = Callback.create (fun steps _ _ -> seen <- steps; CallbackDecision.Continue)
    let every = Callback.every 40L (fun steps _ -> fired <- steps :: fired)
    let outcome = t.RunTo(t.Start(), 130L, [ counter; every ])
    Assert.Equal(130L, seen)
    Assert.Equal<int64 list>([ 120L; 80L; 40L ], fired)
    Assert.Equal(None, outcome.StopReason)
    // Any evaluation return is above -1e9: the first evaluation (step 150) stops the run.
    let stop = t.RunTo(t.Start(), 1000L, [ Callback.stopAtEvalReturn -1e9 ])
    Assert.Equal(150L, stop.State.EnvSteps)
    Assert.True(stop.StopReason.IsSome)
    Assert.Contains("threshold", stop.StopReason.Value)

// ---------- `sac train` run directories ----------

let private request env out steps =
    { Sac.Cli.Options.defaultRequest env with Steps = Some steps; Out = Some out; Seed = 5UL }

let ``sac train --resume continues a run directory to a longer --steps and keeps one metrics file`` = testCase "sac train --resume continues a run directory to a longer --steps and keeps one metrics file" <| fun () ->
    withTempDir (fun dir ->
        let out = Path.Combine(dir, "run")
        let req = { request "PointGoal-v0" out 600L with CheckpointEvery = Some 250L; SaveReplay = true }
        Assert.Equal(0, Sac.Cli.Run.train req)
        let first = Checkpoint.LoadTraining(Path.Combine(out, "checkpoint.ckpt"))
        Assert.Equal(500L, first.Header.EnvironmentSteps)
        Assert.NotNull(first.Replay)
        // A second fresh run into the same directory would overwrite it: refused.
        Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Run.train req |> ignore) |> ignore
        Assert.Equal(0, Sac.Cli.Run.train { Sac.Cli.Options.defaultRequest "" with Resume = Some out; Steps = Some 900L })
        let final = Checkpoint.LoadTraining(Path.Combine(out, "final.ckpt"))
        Assert.Equal(900L, final.Header.EnvironmentSteps)
        // The resumed run kept the options of the run it continued: the replay buffer and the checkpoint interval.
        Assert.NotNull(final.Replay)
        Assert.Equal(250L, (nonNull final.Header.Progress).CheckpointEvery)
        Assert.Equal(750L, (Checkpoint.LoadTraining(Path.Combine(out, "checkpoint.ckpt"))).Header.EnvironmentSteps)
        let struct (_, rows) = MetricsCsv.Read(Path.Combine(out, MetricsCsv.FileName))
        let steps = rows |> Array.map (fun r -> r.[0].Value)
        Assert.Equal<float[]>(Array.sort steps, steps)
        Assert.True(steps.[steps.Length - 1] <= 900.0 && steps.[steps.Length - 1] > 600.0))

let ``sac train keeps best.ckpt at the best evaluation so far, across a resume, and it evaluates to that value`` = testCase "sac train keeps best.ckpt at the best evaluation so far, across a resume, and it evaluates to that value" <| fun () ->
    withTempDir (fun dir ->
        let cfg = Path.Combine(dir, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [32, 32], "batchSize": 32, "learningStarts": 100, "evalInterval": 100, "evalEpisodes": 2}""")
        let out = Path.Combine(dir, "run")
        // The first row holding the best eval_return so far (a later equal value does not replace it).
        let best () =
            let struct (columns, rows) = MetricsCsv.Read(Path.Combine(out, MetricsCsv.FileName))
            let s, e = Array.IndexOf(columns, "step"), Array.IndexOf(columns, "eval_return")
            let row = rows |> Array.filter (fun r -> r.[e].HasValue) |> Array.maxBy (fun r -> r.[e].Value)
            int64 row.[s].Value, row.[e].Value
        let check () =
            let step, value = best ()
            let path = Path.Combine(out, Sac.Cli.Run.BestFileName)
            Assert.Equal(step, (Checkpoint.LoadTraining path).Header.EnvironmentSteps)
            // It is the learner that scored that evaluation: the same episodes give the same return (to rounding:
            // training used the CLI's GEMM provider, the agent the managed one).
            use agent = SacAgent.Load path
            let again = agent.Evaluate(2, 5UL + 1_000_000UL).Mean
            Assert.True(abs (again - value) <= 1e-5 * abs value + 1e-4, $"best.ckpt evaluates to {again}, the run recorded {value}")
        Assert.Equal(0, Sac.Cli.Run.train { request "PointGoal-v0" out 500L with ConfigFile = Some cfg })
        check ()
        Assert.Equal(0, Sac.Cli.Run.train { Sac.Cli.Options.defaultRequest "" with Resume = Some out; Steps = Some 1000L })
        check ())

let ``a numerical fault stops sac train with a diagnostic, leaves the last good checkpoint, and --resume recovers`` = testCase "a numerical fault stops sac train with a diagnostic, leaves the last good checkpoint, and --resume recovers" <| fun () ->
    withTempDir (fun dir ->
        let out = Path.Combine(dir, "run")
        let bad = Path.Combine(dir, "bad.json")
        File.WriteAllText(bad, """{"actorLearningRate":1e30,"criticLearningRate":1e30,"learningStarts":300}""")
        let req = { request "PointGoal-v0" out 800L with CheckpointEvery = Some 200L; ConfigFile = Some bad }
        let e = Assert.Throws<Sac.Cli.Options.TrainingFault>(fun () -> Sac.Cli.Run.train req |> ignore)
        let message = e.Data0
        Assert.Contains("numerical fault at environment step 30", message)
        Assert.Contains("checkpoint.ckpt (step 200)", message)
        Assert.Contains("--resume", message)
        let good = Checkpoint.LoadTraining(Path.Combine(out, "checkpoint.ckpt"))
        Assert.Equal(200L, good.Header.EnvironmentSteps)
        let fix = Path.Combine(dir, "fix.json")
        File.WriteAllText(fix, """{"actorLearningRate":0.0003,"criticLearningRate":0.0003}""")
        Assert.Equal(0, Sac.Cli.Run.train { Sac.Cli.Options.defaultRequest "" with Resume = Some out; ConfigFile = Some fix })
        Assert.Equal(800L, (Checkpoint.LoadTraining(Path.Combine(out, "final.ckpt"))).Header.EnvironmentSteps)
        // The shapes of a run are fixed: a resumed run may not change them.
        let reshape = Path.Combine(dir, "reshape.json")
        File.WriteAllText(reshape, """{"hiddenSizes":[8]}""")
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Run.train { Sac.Cli.Options.defaultRequest "" with Resume = Some out; ConfigFile = Some reshape } |> ignore)
        Assert.Contains("hiddenSizes", e.Data0))

let ``every trainer steps checked environments`` = testCase "every trainer steps checked environments" <| fun () ->
    let inner (e: Sac.Core.Environments.IEnvironment) =
        match e with
        | :? Sac.Core.Environments.RescaleAction as r -> r.Inner
        | e -> e
    let sac = new Trainer("Pendulum-v1", config 3e-4f, gemm)
    let sql = SqlTrainer("MultiGoal-v0", SqlConfig(HiddenSizes = [| 8 |], SamplerHiddenSizes = [| 8 |]), gemm)
    let dqn = DqnTrainer("CartPole-v1", DqnConfig(HiddenSizes = [| 8 |]), gemm)
    for env in [ sac.Environment; sac.EvaluationEnvironment; sql.Environment; dqn.Environment ] do
        Assert.IsType<Sac.Core.Environments.CheckedEnvironment>(inner env) |> ignore

let ``a trainer on the host backend tracks the CPU trainer, and saves and resumes through it`` = testCase "a trainer on the host backend tracks the CPU trainer, and saves and resumes through it" <| fun () ->
    withTempDir (fun dir ->
        let cfg = config 3e-4f
        use cpu = new Trainer("Pendulum-v1", cfg, gemm)
        use backend = new HostBackend(gemm)
        use dev = new Trainer("Pendulum-v1", cfg, gemm, backend)
        let a = cpu.RunTo(cpu.Start(), 300L, []).State
        let b = dev.RunTo(dev.Start(), 300L, []).State
        Assert.True(b.Learner.Step > 100L)
        assertSameLearner a.Learner b.Learner
        let path = Path.Combine(dir, "d.ckpt")
        dev.Save(path, b, 400L, true)
        use again = new Trainer("Pendulum-v1", cfg, gemm, backend)
        let c = again.RunTo(again.Resume(Checkpoint.LoadTraining path), 400L, []).State
        let d = cpu.RunTo(a, 400L, []).State
        assertSameLearner d.Learner c.Learner)

let ``sac train reports every bad option and configuration value at once, before touching the run directory`` = testCase "sac train reports every bad option and configuration value at once, before touching the run directory" <| fun () ->
    withTempDir (fun dir ->
        let out = Path.Combine(dir, "run")
        let bad = Path.Combine(dir, "bad.json")
        File.WriteAllText(bad, """{"batchSize": -3, "tau": 2.0, "gamma": 1.5}""")
        let req = { request "Pendulum-v1" out 0L with ConfigFile = Some bad; Threads = 0 }
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Run.train req |> ignore)
        for part in [ "--steps"; "--threads"; "'batchSize'"; "'tau'"; "'gamma'"; "3 invalid values" ] do
            Assert.Contains(part, e.Data0)
        Assert.False(Directory.Exists out)
        // The library call names every bad key too.
        let e = Assert.Throws<ArgumentException>(fun () -> ConfigJson.Deserialize<Sac.Core.Config.SacConfig>("""{"tau": 2.0, "gamma": 1.5}""", "cfg") |> ignore)
        Assert.Contains("'tau'", e.Message)
        Assert.Contains("'gamma'", e.Message))

let ``--json writes each record as one JSON object with the metrics.csv names`` = testCase "--json writes each record as one JSON object with the metrics.csv names" <| fun () ->
    let record (metrics: UpdateMetrics) =
        { Step = 1200L; Episode = 7; EpisodeReturn = Some -3.5; EpisodeLength = Some 50; EvalReturn = Some -2.25; EvalStd = Some 0.5
          Metrics = Some metrics; UpdatesPerSec = None; WallSeconds = 4.0 }
    let names (t: OffPolicyTrainer<'L, 'M>) = t.Algorithm.MetricNames
    let sac = names (new Trainer("Pendulum-v1", SacConfig(), gemm))
    let line = Sac.Cli.Progress.jsonLine (record { Names = sac; Values = [| 0.1f; 2.0f; 0.0f; 0.2f; -1.0f; 3.0f |] })
    Assert.DoesNotContain("\n", line)
    use doc = Text.Json.JsonDocument.Parse line
    let root = doc.RootElement
    Assert.Equal(1200L, root.GetProperty("step").GetInt64())
    Assert.Equal(-2.25, root.GetProperty("eval_return").GetDouble())
    Assert.Equal(0.2, root.GetProperty("alpha").GetDouble(), 6)
    Assert.False(root.TryGetProperty("updates_per_sec") |> fst)
    Assert.Equal(3.0, root.GetProperty("mean_q").GetDouble(), 6)
    // Each algorithm's metrics by its own names: DQN's TD loss is td_loss, not critic_loss.
    let algorithms =
        [ "sac", sac
          "sac-v1", names (new Trainer("Pendulum-v1", SacConfig(Variant = SacVariant.V1), gemm))
          "sql", names (SqlTrainer("Pendulum-v1", SqlConfig(), gemm))
          "dqn", names (DqnTrainer("CartPole-v1", DqnConfig(), gemm))
          "soft-dqn", names (DqnTrainer("CartPole-v1", DqnConfig(Variant = DqnVariant.SoftDqn), gemm)) ]
    Assert.Equal<string[]>([| "td_loss"; "mean_q"; "entropy" |], snd algorithms.[3])
    Assert.Equal<string[]>([| "q_loss"; "svgd_loss"; "mean_q"; "alpha" |], snd algorithms.[2])
    Assert.Contains("value_loss", snd algorithms.[1])
    for _, metricNames in algorithms do
        use line = Text.Json.JsonDocument.Parse(Sac.Cli.Progress.jsonLine (record { Names = metricNames; Values = Array.create metricNames.Length 0.5f }))
        let columns = Sac.Cli.Metrics.columns metricNames
        for p in line.RootElement.EnumerateObject() do Assert.Contains(p.Name, columns)
        for name in metricNames do Assert.Equal(0.5, line.RootElement.GetProperty(name).GetDouble())

let ``sac train --resume continues SQL and DQN-family runs too`` (env: string) (algo: string) =
    withTempDir (fun dir ->
        let out = Path.Combine(dir, "run")
        let req = { request env out 600L with Algo = algo; CheckpointEvery = Some 250L; SaveReplay = true }
        Assert.Equal(0, Sac.Cli.Run.train req)
        Assert.Equal(0, Sac.Cli.Run.train { Sac.Cli.Options.defaultRequest "" with Resume = Some out; Steps = Some 900L })
        let final = Path.Combine(out, "final.ckpt")
        let steps, replay, every =
            if algo = "sql" then
                let c = SqlCheckpoint.LoadTraining final
                c.Header.EnvironmentSteps, not (isNull c.Replay), (nonNull c.Header.Progress).CheckpointEvery
            else
                let c = DqnCheckpoint.LoadTraining final
                c.Header.EnvironmentSteps, not (isNull c.Replay), (nonNull c.Header.Progress).CheckpointEvery
        Assert.Equal(900L, steps)
        Assert.True(replay)
        Assert.Equal(250L, every)
        let struct (_, rows) = MetricsCsv.Read(Path.Combine(out, MetricsCsv.FileName))
        let stepsCol = rows |> Array.map (fun r -> r.[0].Value)
        Assert.Equal<float[]>(Array.sort stepsCol, stepsCol)
        Assert.True(stepsCol.[stepsCol.Length - 1] > 600.0))

let tests = testList "SacTrainer" [
    ``resuming checks SAC's own fields: algorithm, hidden sizes and variant``
    ``a diverging learner stops at the first bad update, naming the quantity and the step``
    ``the finite check finds the first NaN or infinity anywhere in an array``
    ``callbacks see every step; a reward threshold and Every fire when they should``
    ``sac train --resume continues a run directory to a longer --steps and keeps one metrics file``
    ``sac train keeps best.ckpt at the best evaluation so far, across a resume, and it evaluates to that value``
    ``a numerical fault stops sac train with a diagnostic, leaves the last good checkpoint, and --resume recovers``
    ``every trainer steps checked environments``
    ``a trainer on the host backend tracks the CPU trainer, and saves and resumes through it``
    ``sac train reports every bad option and configuration value at once, before touching the run directory``
    ``--json writes each record as one JSON object with the metrics.csv names``
    testList "sac train --resume continues SQL and DQN-family runs too" [
        testCase "env: MultiGoal-v0, algo: sql" <| fun () -> ``sac train --resume continues SQL and DQN-family runs too`` "MultiGoal-v0" "sql"
        testCase "env: CartPole-v1, algo: double-dqn" <| fun () -> ``sac train --resume continues SQL and DQN-family runs too`` "CartPole-v1" "double-dqn"
    ]
]
