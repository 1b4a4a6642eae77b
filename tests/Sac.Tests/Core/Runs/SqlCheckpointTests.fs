/// SqlCheckpoint: exact round trips with and without replay or progress, header checks, damage, and SAC files told apart.
module SqlCheckpointTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Runs
open Sac.Fs
open RunsKit
open SqlKit

let private sqlHeader (cfg: SqlConfig) = SqlCheckpointHeader.For("MultiGoal-v0", 2, 2, cfg, 1234L)

let private trainedState () =
    let cfg = smallConfig ()
    let ctx, state, batch = setup cfg
    let mutable s = state
    for _ in 1 .. 4 do
        let struct (n, _) = SoftQLearning.update ctx batch s
        s <- n
    cfg, s

let private sameState (e: SqlLearnerState) (a: SqlLearnerState) =
    Assert.Equal<float32[]>(e.Q, a.Q)
    Assert.Equal<float32[]>(e.TargetQ, a.TargetQ)
    Assert.Equal<float32[]>(e.Sampler, a.Sampler)
    Assert.Equal(e.QOptimizer.Step, a.QOptimizer.Step)
    Assert.Equal<float32[]>(e.QOptimizer.FirstMoment, a.QOptimizer.FirstMoment)
    Assert.Equal<float32[]>(e.SamplerOptimizer.SecondMoment, a.SamplerOptimizer.SecondMoment)
    Assert.Equal(e.Step, a.Step)
    Assert.Equal(e.Key, a.Key)

let ``SQL checkpoints round-trip exactly, with and without a replay buffer`` = testCase "SQL checkpoints round-trip exactly, with and without a replay buffer" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let replay = ReplayBuffer(10, 2, 2)
    for i in 0 .. 13 do
        replay.Add(ReadOnlySpan [| float32 i; 1.0f |], ReadOnlySpan [| 0.5f; -0.5f |], float32 i, ReadOnlySpan [| 2.0f; float32 i |], i % 4 = 0, i % 5 = 0)
    for withReplay in [ false; true ] do
        let path = dir.File(sprintf "sql-%b.ckpt" withReplay)
        if withReplay then SqlCheckpoint.Save(path, sqlHeader cfg, state, replay) else SqlCheckpoint.Save(path, sqlHeader cfg, state)
        let struct (h, s, r) = SqlCheckpoint.Load path
        Assert.Equal(sqlHeader cfg, h)
        sameState state s
        Assert.Equal("sql", SqlCheckpoint.PeekAlgorithm path)
        if withReplay then
            let r = nonNull r
            Assert.Equal(replay.TotalAdded, r.TotalAdded)
            Assert.Equal<float32[]>(replay.Observations.ToArray(), r.Observations.ToArray())
        else Assert.Null(r)
    // A loaded learner trains on exactly as the original.
    let path = dir.File "sql-false.ckpt"
    let struct (_, loaded, _) = SqlCheckpoint.Load path
    let ctx, _, batch = setup cfg
    let struct (x, _) = SoftQLearning.update ctx batch (state.DeepCopy())
    let struct (y, _) = SoftQLearning.update ctx batch loaded
    sameState x y

let ``SQL checkpoint save checks the state against its header and the header validates its fields`` = testCase "SQL checkpoint save checks the state against its header and the header validates its fields" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let wrong = SqlCheckpointHeader("sql", "MultiGoal-v0", 2, 2, [| 8; 9 |], [| 8; 8 |], 0L)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> SqlCheckpoint.Save(dir.File "x.ckpt", wrong, state))
    Assert.Contains("state.Q", ex.Message)
    Assert.False(File.Exists(dir.File "x.ckpt"))
    let bad (f: unit -> SqlCheckpointHeader) (field: string) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Contains(field, ex.Message)
    bad (fun () -> SqlCheckpointHeader("sac", "MultiGoal-v0", 2, 2, [| 8 |], [| 8 |], 0L)) "Algorithm"
    bad (fun () -> SqlCheckpointHeader("sql", " ", 2, 2, [| 8 |], [| 8 |], 0L)) "EnvironmentId"
    bad (fun () -> SqlCheckpointHeader("sql", "MultiGoal-v0", 0, 2, [| 8 |], [| 8 |], 0L)) "ObservationSize"
    bad (fun () -> SqlCheckpointHeader("sql", "MultiGoal-v0", 2, 2, [| 8 |], [||], 0L)) "SamplerHiddenSizes"
    bad (fun () -> SqlCheckpointHeader("sql", "MultiGoal-v0", 2, 2, [| 8 |], [| 8 |], -1L)) "EnvironmentSteps"

// A checkpoint as a trainer writes it mid-run: progress in the header, the running episode's actions and a replay buffer.
let private saveTrainingCheckpoint (path: string) (cfg: SqlConfig) (state: SqlLearnerState) =
    let replay = ReplayBuffer(10, 2, 2)
    for i in 0 .. 12 do
        replay.Add(ReadOnlySpan [| float32 i; -1.0f |], ReadOnlySpan [| 0.25f; -0.75f |], float32 i * 0.5f, ReadOnlySpan [| 3.0f; float32 i |], i % 4 = 0, i % 5 = 0)
    let progress = TrainingProgress(400L, 3, -12.625, 5, 17UL, [| 0.5f; -2.0f; 0.7f; 3.25f |], CheckpointEvery = 100L)
    let header = SqlCheckpointHeader(SqlCheckpoint.AlgorithmName, "MultiGoal-v0", 2, 2, cfg.HiddenSizes, cfg.SamplerHiddenSizes, 95L, Progress = progress)
    let actions = Array.init 10 (fun i -> float32 i / 10.0f - 0.5f)
    SqlCheckpoint.Save(path, header, state, replay, ReadOnlyMemory actions)
    header, replay, actions

let ``SQL training checkpoints carry progress, the running episode and the replay buffer; learner-only ones load as before`` = testCase "SQL training checkpoints carry progress, the running episode and the replay buffer; learner-only ones load as before" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let path = dir.File "training.ckpt"
    let header, replay, actions = saveTrainingCheckpoint path cfg state
    let t = SqlCheckpoint.LoadTraining path
    // Progress holds its metrics as a list, which records compare by reference: compare the fields.
    let fields (h: SqlCheckpointHeader) = h.EnvironmentId, Seq.toList h.HiddenSizes, Seq.toList h.SamplerHiddenSizes, h.EnvironmentSteps
    Assert.Equal(fields header, fields t.Header)
    let p = nonNull t.Header.Progress
    Assert.Equal((3, 400L), (p.Episodes, p.TotalSteps))
    Assert.Equal((5, 17UL, -12.625, 100L), (p.EpisodeLength, p.Draws, p.EpisodeReturn, p.CheckpointEvery))
    Assert.Equal<float32[]>([| 0.5f; -2.0f; 0.7f; 3.25f |], Seq.toArray (nonNull p.LastMetrics))
    Assert.Equal<float32[]>(actions, t.EpisodeActions)
    sameState state t.State
    Assert.Equal<float32[]>(replay.Rewards.ToArray(), (nonNull t.Replay).Rewards.ToArray())
    // Load reads the same file, without the episode's actions.
    let struct (h, s, r) = SqlCheckpoint.Load path
    Assert.Equal(fields header, fields h)
    Assert.Equal(5, (nonNull h.Progress).EpisodeLength)
    sameState state s
    Assert.Equal(replay.TotalAdded, (nonNull r).TotalAdded)
    // A learner-only checkpoint has no progress and no actions.
    let plain = dir.File "plain.ckpt"
    SqlCheckpoint.Save(plain, sqlHeader cfg, state)
    let t = SqlCheckpoint.LoadTraining plain
    Assert.Null(t.Header.Progress)
    Assert.Empty(t.EpisodeActions)
    Assert.Null(t.Replay)
    // Actions must match the progress exactly, and need progress at all.
    let withProgress = SqlCheckpointHeader(SqlCheckpoint.AlgorithmName, "MultiGoal-v0", 2, 2, cfg.HiddenSizes, cfg.SamplerHiddenSizes, 95L,
                                           Progress = TrainingProgress(400L, 3, 0.0, 5, 0UL, null))
    let ex = Assert.Throws<ArgumentException>(fun () -> SqlCheckpoint.Save(dir.File "x.ckpt", withProgress, state, null, ReadOnlyMemory(Array.zeroCreate<float32> 8)))
    Assert.Contains("5 steps", ex.Message)
    let ex = Assert.Throws<ArgumentException>(fun () -> SqlCheckpoint.Save(dir.File "x.ckpt", sqlHeader cfg, state, null, ReadOnlyMemory(Array.zeroCreate<float32> 2)))
    Assert.Contains("no Progress", ex.Message)
    Assert.False(File.Exists(dir.File "x.ckpt"))

let ``every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only`` (training: bool) =
    use dir = new TempDir()
    let good = dir.File "good.ckpt"
    let cfg, state = trainedState ()
    if training then saveTrainingCheckpoint good cfg state |> ignore
    else SqlCheckpoint.Save(good, sqlHeader cfg, state)
    let load (path: string) = if training then SqlCheckpoint.LoadTraining path |> ignore else SqlCheckpoint.Load path |> ignore
    let bytes = File.ReadAllBytes good
    let n = bytes.Length
    let probe = dir.File "probe.ckpt"
    let rejects (data: byte[]) =
        File.WriteAllBytes(probe, data)
        try
            load probe
            false
        with
        | :? CheckpointException as e -> e.Path = probe
    for length in 0 .. min (n - 1) 300 do
        Assert.True(rejects bytes.[0 .. length - 1], sprintf "truncation to %d bytes" length)
    Check.One(fsConfig.WithMaxTest(300), Prop.forAll (Arb.fromGen (Gen.choose (0, n - 1))) (fun length -> rejects bytes.[0 .. length - 1]))
    let flip = gen {
        let! position = Gen.choose (0, n - 1)
        let! mask = Gen.choose (1, 255)
        return position, byte mask }
    Check.One(fsConfig.WithMaxTest(300), Prop.forAll (Arb.fromGen flip) (fun (position, mask) ->
        let damaged = Array.copy bytes
        damaged.[position] <- damaged.[position] ^^^ mask
        rejects damaged))
    // Behind a recomputed checksum, overwritten bytes either load or fail as CheckpointException (never another exception).
    let reseal = TestProviders.resealCheckpoint
    let overwrite = gen {
        let! position = Gen.choose (0, n - 1)
        let! width = Gen.choose (1, 8)
        let! fill = Gen.elements [ 0uy; 0xFFuy; 0x41uy ]
        return position, width, fill }
    Check.One(fsConfig.WithMaxTest(300), Prop.forAll (Arb.fromGen overwrite) (fun (position, width, fill) ->
        let damaged = Array.copy bytes
        for i in position .. min (n - 1) (position + width - 1) do damaged.[i] <- fill
        File.WriteAllBytes(probe, reseal damaged)
        try
            load probe
            true
        with :? CheckpointException as e -> e.Path = probe && e.Reason <> CheckpointFailure.ChecksumMismatch))
    load good

let ``SQL and SAC checkpoints are told apart`` = testCase "SQL and SAC checkpoints are told apart" <| fun () ->
    use dir = new TempDir()
    let cfg, state = trainedState ()
    let sqlPath = dir.File "sql.ckpt"
    SqlCheckpoint.Save(sqlPath, sqlHeader cfg, state)
    let sacCfg = SacConfig(HiddenSizes = [| 8 |], BatchSize = 4, BufferSize = 10)
    let sacCtx = SacContext(sacCfg, 2, 2, gemm)
    let sacPath = dir.File "sac.ckpt"
    Checkpoint.Save(sacPath, CheckpointHeader("sac", "MultiGoal-v0", 2, 2, [| 8 |], "V2", 0L), Sac.init sacCtx 1UL)
    Assert.Equal("sac", SqlCheckpoint.PeekAlgorithm sacPath)
    let ex = Assert.Throws<CheckpointException>(fun () -> SqlCheckpoint.Load sacPath |> ignore)
    Assert.Equal(CheckpointFailure.Malformed, ex.Reason)
    Assert.Contains("\"sac\" checkpoint", ex.Message)
    let ex = Assert.Throws<CheckpointException>(fun () -> Checkpoint.Load sqlPath |> ignore)
    Assert.Equal(CheckpointFailure.Malformed, ex.Reason)
    Assert.Contains("\"sql\" checkpoint, not a SAC one", ex.Message)
    Assert.Equal(CheckpointFailure.NotFound, (Assert.Throws<CheckpointException>(fun () -> SqlCheckpoint.Load(dir.File "none.ckpt") |> ignore)).Reason)
    File.WriteAllText(dir.File "text.ckpt", "not a checkpoint at all, really")
    let ex = Assert.Throws<CheckpointException>(fun () -> SqlCheckpoint.PeekAlgorithm(dir.File "text.ckpt") |> ignore)
    Assert.Equal(CheckpointFailure.BadMagic, ex.Reason)

let tests = testList "SqlCheckpoint" [
    ``SQL checkpoints round-trip exactly, with and without a replay buffer``
    ``SQL checkpoint save checks the state against its header and the header validates its fields``
    ``SQL training checkpoints carry progress, the running episode and the replay buffer; learner-only ones load as before``
    testList "every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only" [
        testCase "training: false" <| fun () -> ``every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only`` (false)
        testCase "training: true" <| fun () -> ``every truncation and byte flip of an SQL checkpoint is rejected with CheckpointException only`` (true)
    ]
    ``SQL and SAC checkpoints are told apart``
]
