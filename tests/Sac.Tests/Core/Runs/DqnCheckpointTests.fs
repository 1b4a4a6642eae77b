/// DqnCheckpoint: exact round trips that train on identically, and damaged or foreign files failing as CheckpointException.
module DqnCheckpointTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Config
open Sac.Core.Runs
open Sac.Fs
open DqnKit

let private trainedLearnerWith (hidden: int[]) variant =
    let ctx = DqnContext(smallConfigWith hidden variant, 4, 3, gemm)
    let batch = randomBatch 5 4 3 31UL
    let mutable s = Dqn.init ctx 6UL
    for t in 1 .. 7 do
        let struct (n, _) = Dqn.update ctx batch s
        s <- n
        Dqn.syncTarget ctx (int64 t * 5L) s |> ignore
    ctx, batch, s

let private trainedLearner variant = trainedLearnerWith [| 8; 8 |] variant

let private header algorithm = DqnCheckpointHeader(algorithm, "CartPole-v1", 4, 3, [| 8; 8 |], 1234L)

let private tempFile () = Path.Combine(Path.GetTempPath(), $"dqn-{Guid.NewGuid():N}.ckpt")

let ``a DQN checkpoint round-trips the learner exactly, and training continues identically`` = testCase "a DQN checkpoint round-trips the learner exactly, and training continues identically" <| fun () ->
    for variant in [ DqnVariant.Dqn; DqnVariant.DoubleDqn; DqnVariant.SoftDqn ] do
        let ctx, batch, s = trainedLearner variant
        let name = DqnCheckpoint.AlgorithmName variant
        Assert.Equal(variant, DqnCheckpoint.VariantOf name)
        let path = tempFile ()
        try
            DqnCheckpoint.Save(path, header name, s)
            Assert.Equal(name, DqnCheckpoint.PeekAlgorithm path)
            let struct (h, loaded) = DqnCheckpoint.Load path
            Assert.Equal(header name, h)
            Assert.Equal(variant, h.Variant)
            Assert.Equal<float32[]>(s.QNetwork, loaded.QNetwork)
            Assert.Equal<float32[]>(s.TargetQNetwork, loaded.TargetQNetwork)
            Assert.Equal(s.Optimizer.Step, loaded.Optimizer.Step)
            Assert.Equal<float32[]>(s.Optimizer.FirstMoment, loaded.Optimizer.FirstMoment)
            Assert.Equal<float32[]>(s.Optimizer.SecondMoment, loaded.Optimizer.SecondMoment)
            Assert.Equal(s.Step, loaded.Step)
            Assert.Equal(s.Key, loaded.Key)
            let struct (a, _) = Dqn.update ctx batch (s.DeepCopy())
            let struct (b, _) = Dqn.update ctx batch loaded
            Assert.Equal<float32[]>(a.QNetwork, b.QNetwork)
            // SAC's loader refuses it cleanly (its header has DQN fields), as DQN's loader refuses a SAC file.
            Assert.Throws<CheckpointException>(fun () -> Checkpoint.Load path |> ignore) |> ignore
        finally
            File.Delete path
    // Mismatched arrays are the caller's error, reported before anything is written.
    let _, _, s = trainedLearner DqnVariant.Dqn
    let path = tempFile ()
    let ex = Assert.Throws<ArgumentException>(fun () -> DqnCheckpoint.Save(path, DqnCheckpointHeader("dqn", "CartPole-v1", 4, 3, [| 8; 9 |], 0L), s))
    Assert.Contains("QNetwork", ex.Message)
    Assert.False(File.Exists path)
    Assert.Throws<ArgumentException>(fun () -> DqnCheckpointHeader("sac", "CartPole-v1", 4, 3, [| 8 |], 0L) |> ignore) |> ignore

let ``truncated or damaged DQN checkpoints fail with CheckpointException, never another exception`` = testCase "truncated or damaged DQN checkpoints fail with CheckpointException, never another exception" <| fun () ->
    // Small networks keep the files short, so every prefix and every byte can be tried.
    let _, _, s = trainedLearnerWith [| 3 |] DqnVariant.SoftDqn
    let path = tempFile ()
    let trainingPath = tempFile ()
    let damaged = tempFile ()
    try
        DqnCheckpoint.Save(path, DqnCheckpointHeader("soft-dqn", "CartPole-v1", 4, 3, [| 3 |], 99L), s)
        // A training checkpoint: progress with metrics in the header, the running episode's actions and a replay buffer.
        let cfg = DqnConfig(HiddenSizes = [| 3 |], BatchSize = 4, BufferSize = 4, LearningStarts = 4, TrainFrequency = 1,
                            GradientSteps = 1, EvalInterval = 0, Seed = 2UL)
        let trainer = DqnTrainer("CartPole-v1", cfg, gemm)
        let state = trainer.RunTo(trainer.Start(), 7L, []).State
        trainer.Save(trainingPath, state, 50L, true)
        let full = DqnCheckpoint.LoadTraining trainingPath
        Assert.NotNull((nonNull full.Header.Progress).LastMetrics)
        Assert.Equal(4, (nonNull full.Replay).Count)
        Assert.NotEmpty(full.EpisodeActions)
        for source in [ path; trainingPath ] do
            let bytes = File.ReadAllBytes source
            let expectFailure (what: string) (content: byte[]) =
                File.WriteAllBytes(damaged, content)
                let attempt (load: string -> unit) =
                    try
                        load damaged
                        failwithf "%s: loaded without error" what
                    with
                    | :? CheckpointException as e -> e
                    | e -> failwithf "%s: %s instead of CheckpointException: %s" what (e.GetType().Name) e.Message
                // The learner-only file through Load, the training one through LoadTraining (both share the reader).
                attempt (if source = path then DqnCheckpoint.Load >> ignore else DqnCheckpoint.LoadTraining >> ignore)
            // Every proper prefix: cut short, whatever the length.
            for n in 0 .. bytes.Length - 1 do
                let e = expectFailure $"prefix of {n} bytes" bytes.[.. n - 1]
                Assert.Equal(CheckpointFailure.Truncated, e.Reason)
            // A flipped bit anywhere.
            for i in 0 .. bytes.Length - 1 do
                let copy = Array.copy bytes
                copy.[i] <- copy.[i] ^^^ 0x10uy
                expectFailure $"bit flip at {i}" copy |> ignore
        Assert.Equal(CheckpointFailure.NotFound, (Assert.Throws<CheckpointException>(fun () -> DqnCheckpoint.Load(path + ".missing") |> ignore)).Reason)
        // A SAC checkpoint is named for what it is.
        let sacCtx = SacContext(SacConfig(HiddenSizes = [| 8 |]), 3, 1, gemm)
        Checkpoint.Save(damaged, CheckpointHeader("sac", "Pendulum-v1", 3, 1, [| 8 |], "V2", 0L), Sac.init sacCtx 1UL)
        Assert.Equal("sac", DqnCheckpoint.PeekAlgorithm damaged)
        let e = Assert.Throws<CheckpointException>(fun () -> DqnCheckpoint.Load damaged |> ignore)
        Assert.Equal(CheckpointFailure.Malformed, e.Reason)
        Assert.Contains("\"sac\" checkpoint, not a DQN-family one", e.Message)
    finally
        File.Delete path
        File.Delete trainingPath
        File.Delete damaged

let tests = testList "DqnCheckpoint" [
    ``a DQN checkpoint round-trips the learner exactly, and training continues identically``
    ``truncated or damaged DQN checkpoints fail with CheckpointException, never another exception``
]
