module RunsTests

open System
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open System.Text
open System.Xml.Linq
open Xunit
open FsCheck
open FsCheck.FSharp
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Core.Runs

// ---------- helpers ----------

/// A fresh directory under the system temp folder, deleted when disposed.
type private TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "sac-runs-tests-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() = try Directory.Delete(path, true) with _ -> ()

let private config = Config.QuickThrowOnFailure.WithMaxTest(100)

let private obsSize, actSize = 3, 1
let private hidden = [| 8; 8 |]

let private header (variant: string) =
    CheckpointHeader("sac", "Pendulum-v1", obsSize, actSize, hidden, variant, 1234L)

let private actorCount = MlpSpec([| obsSize; 8; 8; 2 * actSize |]).ParameterCount
let private qCount = MlpSpec([| obsSize + actSize; 8; 8; 1 |]).ParameterCount
let private valueCount = MlpSpec([| obsSize; 8; 8; 1 |]).ParameterCount

let private randomArray (rng: Random) (n: int) = Array.init n (fun _ -> float32 (rng.NextDouble() * 4.0 - 2.0))

let private randomAdam (rng: Random) (n: int) =
    AdamState(int64 (rng.Next(0, 1000)), randomArray rng n, randomArray rng n)

/// A learner state with random arrays of the sizes the test header implies; with value networks for V1.
let private randomState (seed: int) (v1: bool) =
    let rng = Random(seed)
    let actor = randomArray rng actorCount
    // Values a lossy writer would get wrong: NaN with a payload, infinities, negative zero, a subnormal.
    actor.[0] <- BitConverter.Int32BitsToSingle 0x7FC12345
    actor.[1] <- Single.PositiveInfinity
    actor.[2] <- -0.0f
    actor.[3] <- BitConverter.Int32BitsToSingle 1
    LearnerState(
        actor,
        randomArray rng (2 * qCount),
        randomArray rng (2 * qCount),
        (if v1 then randomArray rng valueCount else Unchecked.defaultof<_>),
        (if v1 then randomArray rng valueCount else Unchecked.defaultof<_>),
        randomAdam rng actorCount,
        randomAdam rng (2 * qCount),
        randomAdam rng 1,
        (if v1 then Nullable(randomAdam rng valueCount) else Nullable()),
        float32 (rng.NextDouble() - 0.5),
        int64 (rng.Next()),
        PhiloxKey(uint32 (rng.Next()), 0xFFFFFFFFu))

/// The state with another critic array (C# records have no F# copy-and-update syntax).
let private withCritic (s: LearnerState) (critic: float32[]) =
    LearnerState(s.Actor, critic, s.TargetCritic, s.Value, s.TargetValue, s.ActorOptimizer, s.CriticOptimizer,
                 s.AlphaOptimizer, s.ValueOptimizer, s.LogAlpha, s.Step, s.Key)

let private randomReplay (seed: int) =
    let rng = Random(seed)
    let buf = ReplayBuffer(5, obsSize, actSize)
    // Seven adds into five slots: the ring has wrapped, so Position and TotalAdded both matter.
    for _ in 1 .. 7 do
        buf.Add(ReadOnlySpan(randomArray rng obsSize), ReadOnlySpan(randomArray rng actSize), float32 (rng.NextDouble()),
                ReadOnlySpan(randomArray rng obsSize), rng.Next(2) = 0, rng.Next(2) = 0)
    buf

let private bits (a: float32[]) = a |> Array.map BitConverter.SingleToInt32Bits

let private sameFloats (what: string) (expected: float32[]) (actual: float32[]) =
    Assert.True((bits expected = bits actual), sprintf "%s differs bitwise" what)

let private sameAdam (what: string) (e: AdamState) (a: AdamState) =
    Assert.Equal(e.Step, a.Step)
    sameFloats (what + ".m") e.FirstMoment a.FirstMoment
    sameFloats (what + ".v") e.SecondMoment a.SecondMoment

let private sameState (e: LearnerState) (a: LearnerState) =
    sameFloats "actor" e.Actor a.Actor
    sameFloats "critic" e.Critic a.Critic
    sameFloats "target_critic" e.TargetCritic a.TargetCritic
    match e.Value with
    | null -> Assert.Null a.Value; Assert.Null a.TargetValue; Assert.False a.ValueOptimizer.HasValue
    | v ->
        sameFloats "value" v (nonNull a.Value)
        sameFloats "target_value" (nonNull e.TargetValue) (nonNull a.TargetValue)
        sameAdam "value_optimizer" e.ValueOptimizer.Value a.ValueOptimizer.Value
    sameAdam "actor_optimizer" e.ActorOptimizer a.ActorOptimizer
    sameAdam "critic_optimizer" e.CriticOptimizer a.CriticOptimizer
    sameAdam "alpha_optimizer" e.AlphaOptimizer a.AlphaOptimizer
    Assert.Equal(BitConverter.SingleToInt32Bits e.LogAlpha, BitConverter.SingleToInt32Bits a.LogAlpha)
    Assert.Equal(e.Step, a.Step)
    Assert.Equal(e.Key, a.Key)

let private loadFails (path: string) =
    let ex = Assert.Throws<CheckpointException>(fun () -> Checkpoint.Load path |> ignore)
    Assert.StartsWith(path + ": ", ex.Message)
    ex

/// A checkpoint with its header JSON rewritten (checksum fixed), so only the header differs.
let private withHeader (rewrite: string -> string) (file: byte[]) = TestProviders.rewriteCheckpointHeader rewrite file

// ---------- CRC-32 ----------

[<Fact>]
let ``crc32 matches the IEEE check value and chains across chunks`` () =
    let data = Encoding.ASCII.GetBytes "123456789"
    Assert.Equal(0xCBF43926u, Crc32.Compute(ReadOnlySpan data))
    Assert.Equal(0u, Crc32.Compute(ReadOnlySpan<byte>.Empty))
    for cut in 0 .. data.Length do
        Assert.Equal(0xCBF43926u, Crc32.Append(Crc32.Compute(ReadOnlySpan(data, 0, cut)), ReadOnlySpan(data, cut, data.Length - cut)))

// ---------- checkpoint round trip ----------

[<Fact>]
let ``checkpoint round trip is bitwise exact with and without value networks and replay`` () =
    use dir = new TempDir()
    for v1 in [ false; true ] do
        for withReplay in [ false; true ] do
            let path = dir.File(sprintf "c-%b-%b.ckpt" v1 withReplay)
            let h = header (if v1 then "V1" else "V2")
            let state = randomState 7 v1
            let replay = if withReplay then Some(randomReplay 11) else None
            match replay with
            | Some r -> Checkpoint.Save(path, h, state, r)
            | None -> Checkpoint.Save(path, h, state)
            Assert.False(File.Exists(path + ".tmp"), "the temporary file is renamed away")
            let struct (h2, s2, r2) = Checkpoint.Load path
            Assert.Equal(h, h2)
            sameState state s2
            match replay with
            | Some replay ->
                let r2 = nonNull r2
                Assert.Equal(replay.Capacity, r2.Capacity)
                Assert.Equal(replay.TotalAdded, r2.TotalAdded)
                Assert.Equal(replay.Position, r2.Position)
                Assert.Equal(replay.Count, r2.Count)
                for (name, e, a) in
                    [ "observations", replay.Observations.ToArray(), r2.Observations.ToArray()
                      "actions", replay.Actions.ToArray(), r2.Actions.ToArray()
                      "rewards", replay.Rewards.ToArray(), r2.Rewards.ToArray()
                      "next", replay.NextObservations.ToArray(), r2.NextObservations.ToArray()
                      "terminated", replay.Terminated.ToArray(), r2.Terminated.ToArray()
                      "truncated", replay.Truncated.ToArray(), r2.Truncated.ToArray() ] do
                    sameFloats name e a
                // The restored buffer samples exactly as the original.
                let b1, b2 = Batch(16, obsSize, actSize), Batch(16, obsSize, actSize)
                replay.Sample(PhiloxKey.FromSeed 5UL, 3UL, b1)
                r2.Sample(PhiloxKey.FromSeed 5UL, 3UL, b2)
                sameFloats "sampled observations" b1.Observations b2.Observations
            | None -> Assert.Null r2

[<Fact>]
let ``save rejects a state that does not match its header, naming the field`` () =
    use dir = new TempDir()
    let path = dir.File "x.ckpt"
    let state = randomState 1 false
    let ex = Assert.ThrowsAny<ArgumentException>(fun () ->
        Checkpoint.Save(path, header "V2", withCritic state (Array.zeroCreate 5)))
    Assert.Contains("state.Critic has 5 floats", ex.Message)
    Assert.Contains(sprintf "2 x %d = %d" qCount (2 * qCount), ex.Message)
    Assert.ThrowsAny<ArgumentException>(fun () -> Checkpoint.Save(path, header "V1", state)) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> Checkpoint.Save(path, header "V2", randomState 1 true)) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> Checkpoint.Save(path, header "V2", state, ReplayBuffer(4, obsSize + 1, actSize))) |> ignore
    Assert.False(File.Exists path, "nothing is written for a rejected state")

[<Fact>]
let ``checkpoint header validates its fields`` () =
    let bad (f: unit -> CheckpointHeader) (field: string) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Equal(field, ex.ParamName)
    bad (fun () -> CheckpointHeader("", "Pendulum-v1", 3, 1, [| 8 |], "V2", 0L)) "Algorithm"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 0, 1, [| 8 |], "V2", 0L)) "ObservationSize"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 3, 1, [||], "V2", 0L)) "HiddenSizes"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 3, 1, [| 8 |], "v2", 0L)) "Variant"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 3, 1, [| 8 |], "V2", -1L)) "EnvironmentSteps"

// ---------- checkpoint: damaged files ----------

[<Fact>]
let ``every truncation and every single-byte flip of a checkpoint is rejected with CheckpointException`` () =
    use dir = new TempDir()
    let good = dir.File "good.ckpt"
    Checkpoint.Save(good, header "V1", randomState 3 true, randomReplay 4)
    let bytes = File.ReadAllBytes good
    let n = bytes.Length
    let probe = dir.File "probe.ckpt"
    let rejects (data: byte[]) =
        File.WriteAllBytes(probe, data)
        try
            Checkpoint.Load probe |> ignore
            false
        with
        | :? CheckpointException as e -> e.Path = probe
    // Every prefix of the preamble and header, then lengths FsCheck picks across the whole file.
    for length in 0 .. min (n - 1) 300 do
        Assert.True(rejects bytes.[0 .. length - 1], sprintf "truncation to %d bytes" length)
    Check.One(config.WithMaxTest(300), Prop.forAll (Arb.fromGen (Gen.choose (0, n - 1))) (fun length ->
        rejects bytes.[0 .. length - 1]))
    let flip = gen {
        let! position = Gen.choose (0, n - 1)
        let! mask = Gen.choose (1, 255)
        return position, byte mask }
    Check.One(config.WithMaxTest(400), Prop.forAll (Arb.fromGen flip) (fun (position, mask) ->
        let damaged = Array.copy bytes
        damaged.[position] <- damaged.[position] ^^^ mask
        rejects damaged))
    // And the intact file still loads.
    Checkpoint.Load good |> ignore

/// The bytes with the CRC recomputed, so a corruption reaches the parser behind the checksum.
let private resealed (data: byte[]) = TestProviders.resealCheckpoint data

[<Fact>]
let ``behind a valid checksum, any overwrite either loads or is rejected with CheckpointException`` () =
    use dir = new TempDir()
    let good = dir.File "good.ckpt"
    Checkpoint.Save(good, header "V1", randomState 12 true, randomReplay 13)
    let bytes = File.ReadAllBytes good
    let probe = dir.File "probe.ckpt"
    // Windows of 1 to 8 bytes (a length, a count, a name) set to zeros, ones or random bytes, anywhere in the file;
    // lengths that claim far more than the file holds must not allocate or overrun.
    let overwrite = gen {
        let! position = Gen.choose (0, bytes.Length - 1)
        let! width = Gen.choose (1, 8)
        let! fill = Gen.elements [ 0; 1; 2 ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        return position, width, fill, seed }
    Check.One(config.WithMaxTest(400), Prop.forAll (Arb.fromGen overwrite) (fun (position, width, fill, seed) ->
        let damaged = Array.copy bytes
        let rng = Random(seed)
        for i in position .. min (bytes.Length - 1) (position + width - 1) do
            damaged.[i] <- match fill with 0 -> 0uy | 1 -> 0xFFuy | _ -> byte (rng.Next 256)
        File.WriteAllBytes(probe, resealed damaged)
        try
            Checkpoint.Load probe |> ignore
            true
        with :? CheckpointException as e -> e.Path = probe && e.Reason <> CheckpointFailure.ChecksumMismatch))

[<Fact>]
let ``load names the reason: not found, truncated, bad magic, version, checksum`` () =
    use dir = new TempDir()
    let good = dir.File "final.ckpt"
    Checkpoint.Save(good, header "V2", randomState 5 false)
    let bytes = File.ReadAllBytes good
    let probe = dir.File "probe.ckpt"
    let reason (data: byte[]) =
        File.WriteAllBytes(probe, data)
        (loadFails probe).Reason

    Assert.Equal(CheckpointFailure.NotFound, (loadFails (dir.File "missing.ckpt")).Reason)
    Assert.Equal(CheckpointFailure.NotFound, (loadFails dir.Path).Reason)
    Assert.Equal(CheckpointFailure.Truncated, reason [||])
    Assert.Equal(CheckpointFailure.Truncated, reason bytes.[0 .. 4])
    Assert.Equal(CheckpointFailure.Truncated, reason bytes.[0 .. bytes.Length - 2])
    Assert.Equal(CheckpointFailure.Truncated, reason bytes.[0 .. bytes.Length / 2])
    Assert.Equal(CheckpointFailure.BadMagic, reason (Encoding.UTF8.GetBytes "{\"not\": \"a checkpoint\"}"))
    let badMagic = Array.copy bytes
    badMagic.[8] <- byte 'X'
    Assert.Equal(CheckpointFailure.BadMagic, reason badMagic)
    // A tensor file that is not a checkpoint, a checkpoint of another version, and the older binary format.
    Assert.Equal(CheckpointFailure.BadMagic, reason (bytes |> TestProviders.rewriteCheckpointMetadata (fun m -> m.["format"] <- "other")))
    Assert.Equal(CheckpointFailure.UnsupportedVersion, reason (bytes |> TestProviders.rewriteCheckpointMetadata (fun m -> m.["format_version"] <- "3")))
    Assert.Contains("format version 3", (loadFails probe).Message)
    Assert.Equal(CheckpointFailure.UnsupportedVersion, reason (Array.append "SACFCKPT"B (BitConverter.GetBytes 1u)))
    Assert.Contains("older binary format (SACFCKPT version 1)", (loadFails probe).Message)
    let flipped = Array.copy bytes
    flipped.[bytes.Length - 100] <- flipped.[bytes.Length - 100] ^^^ 0x10uy
    Assert.Equal(CheckpointFailure.ChecksumMismatch, reason flipped)
    let appended = Array.append bytes [| 0uy |]
    Assert.Equal(CheckpointFailure.ChecksumMismatch, reason appended)

[<Fact>]
let ``a header claiming other sizes gives ShapeMismatch naming the section and the sizes`` () =
    use dir = new TempDir()
    let good = dir.File "final.ckpt"
    Checkpoint.Save(good, header "V2", randomState 6 false)
    let bytes = File.ReadAllBytes good
    let probe = dir.File "probe.ckpt"
    File.WriteAllBytes(probe, bytes |> withHeader (fun j -> j.Replace("\"hiddenSizes\":[8,8]", "\"hiddenSizes\":[8,9]")))
    let ex = loadFails probe
    Assert.Equal(CheckpointFailure.ShapeMismatch, ex.Reason)
    Assert.Contains(sprintf "section 'actor' has %d floats" actorCount, ex.Message)
    Assert.Contains("hidden [8, 9]", ex.Message)
    File.WriteAllBytes(probe, bytes |> withHeader (fun j -> j.Replace("\"observationSize\":3", "\"observationSize\":4")))
    Assert.Equal(CheckpointFailure.ShapeMismatch, (loadFails probe).Reason)
    // A V2 file relabelled V1 lacks the value sections: the structure, not a size, is wrong.
    File.WriteAllBytes(probe, bytes |> withHeader (fun j -> j.Replace("\"variant\":\"V2\"", "\"variant\":\"V1\"")))
    let ex = loadFails probe
    Assert.Equal(CheckpointFailure.Malformed, ex.Reason)
    Assert.Contains("expected section 'value'", ex.Message)
    // Invalid header values and unknown header keys are malformed, not silently accepted.
    File.WriteAllBytes(probe, bytes |> withHeader (fun j -> j.Replace("\"variant\":\"V2\"", "\"variant\":\"V3\"")))
    Assert.Equal(CheckpointFailure.Malformed, (loadFails probe).Reason)
    File.WriteAllBytes(probe, bytes |> withHeader (fun j -> j.Replace("{", "{\"extra\":1,")))
    Assert.Equal(CheckpointFailure.Malformed, (loadFails probe).Reason)
    // The unmodified bytes pass the same rebuild (so the rebuild itself is not what fails above).
    File.WriteAllBytes(probe, bytes |> withHeader (fun j -> j.Replace("Pendulum-v1", "Pendulum-v2")))
    let struct (h, _, _) = Checkpoint.Load probe
    Assert.Equal("Pendulum-v2", h.EnvironmentId)

// ---------- atomic save ----------

[<Fact>]
let ``a failing save leaves the previous checkpoint intact and no temporary file as the checkpoint`` () =
    use dir = new TempDir()
    let path = dir.File "final.ckpt"
    let state = randomState 8 false
    Checkpoint.Save(path, header "V2", state)
    let before = File.ReadAllBytes path

    // A state the header rejects: nothing is opened, nothing changes.
    Assert.ThrowsAny<ArgumentException>(fun () ->
        Checkpoint.Save(path, header "V2", withCritic state (Unchecked.defaultof<float32[]>))) |> ignore
    Assert.Equal<byte[]>(before, File.ReadAllBytes path)
    Assert.False(File.Exists(path + ".tmp"))

    // The temporary file cannot be created (a directory is in the way).
    Directory.CreateDirectory(path + ".tmp") |> ignore
    Assert.ThrowsAny<Exception>(fun () -> Checkpoint.Save(path, header "V2", randomState 9 false)) |> ignore
    Assert.Equal<byte[]>(before, File.ReadAllBytes path)
    Directory.Delete(path + ".tmp")

    // A write that fails halfway through, after bytes have reached the temporary file.
    let ex = Assert.Throws<InvalidOperationException>(fun () ->
        AtomicFile.Write(path, fun stream ->
            stream.Write(ReadOnlySpan(Array.create 1000 0xABuy))
            stream.Flush()
            Assert.True(File.Exists(path + ".tmp"))
            raise (InvalidOperationException "disk full")))
    Assert.Equal("disk full", ex.Message)
    Assert.Equal<byte[]>(before, File.ReadAllBytes path)
    Assert.False(File.Exists(path + ".tmp"), "the half-written temporary file is removed")
    let struct (_, loaded, _) = Checkpoint.Load path
    sameState state loaded

    // A later successful save replaces the file whole.
    let state2 = randomState 10 false
    Checkpoint.Save(path, header "V2", state2)
    let struct (_, loaded2, _) = Checkpoint.Load path
    sameState state2 loaded2

// ---------- ConfigJson ----------

let private genUnit = Gen.choose (1, Int32.MaxValue) |> Gen.map (fun k -> float32 (float k / float Int32.MaxValue))

let private genPositive =
    gen {
        let! mantissa = genUnit
        let! exponent = Gen.choose (-8, 3)
        return max 1e-30f (mantissa * float32 (10.0 ** float exponent))
    }

let private genFinite = Gen.oneof [ genPositive; genPositive |> Gen.map (~-); Gen.constant 0.0f ]

let private genConfig =
    gen {
        let! actorLr = genPositive
        let! criticLr = genPositive
        let! alphaLr = genPositive
        let! bufferSize = Gen.choose (1, 2_000_000)
        let! batch = Gen.choose (1, 1024)
        let! tau = genUnit
        let! gamma = Gen.oneof [ genUnit; Gen.constant 0.0f ]
        let! starts = Gen.choose (0, 100_000)
        let! trainFreq = Gen.choose (1, 64)
        let! gradSteps = Gen.choose (1, 64)
        let! targetInterval = Gen.choose (1, 64)
        let! hiddenSizes = Gen.nonEmptyListOf (Gen.choose (1, 1024))
        let! targetEntropy = Gen.oneof [ Gen.constant (Nullable()); genFinite |> Gen.map Nullable ]
        let! initialAlpha = genPositive
        let! autoAlpha = Gen.elements [ true; false ]
        let! bound = Gen.elements [ LogStdBound.Clamp; LogStdBound.TanhRescale ]
        let! logStdMin = Gen.choose (-40, 0) |> Gen.map float32
        let! width = genPositive
        let! evalInterval = Gen.choose (0, 100_000)
        let! evalEpisodes = Gen.choose (1, 100)
        let! seed = Gen.choose (0, Int32.MaxValue) |> Gen.map (fun k -> uint64 k * 8_589_934_583UL)
        let! variant = Gen.elements [ SacVariant.V2; SacVariant.V1 ]
        let! maxGradNorm = Gen.oneof [ Gen.constant (Nullable()); genPositive |> Gen.map Nullable ]
        return
            SacConfig(
                ActorLearningRate = actorLr, CriticLearningRate = criticLr, AlphaLearningRate = alphaLr,
                BufferSize = max bufferSize batch, BatchSize = batch, Tau = tau, Gamma = gamma,
                LearningStarts = starts, TrainFrequency = trainFreq, GradientSteps = gradSteps,
                TargetUpdateInterval = targetInterval, HiddenSizes = List.toArray hiddenSizes,
                TargetEntropy = targetEntropy, InitialAlpha = initialAlpha, AutoAlpha = autoAlpha,
                LogStdBound = bound, LogStdMin = logStdMin, LogStdMax = logStdMin + 1.0f + width,
                EvalInterval = evalInterval, EvalEpisodes = evalEpisodes, Seed = seed, Variant = variant,
                MaxGradNorm = maxGradNorm)
    }

[<Fact>]
let ``config json round trips every valid configuration`` () =
    Check.One(config.WithMaxTest(200), Prop.forAll (Arb.fromGen genConfig) (fun c ->
        Assert.Empty(c.Validate())
        let json = ConfigJson.Serialize c
        let back = ConfigJson.Deserialize(json, "config.json")
        Assert.Equal(c, back)
        Assert.Equal(json, ConfigJson.Serialize back)))

[<Fact>]
let ``config json is indented camelCase with enums by name`` () =
    let json = ConfigJson.Serialize(SacConfig())
    Assert.Contains("\n  \"batchSize\": 256,", json)
    Assert.Contains("\"variant\": \"V2\"", json)
    Assert.Contains("\"logStdBound\": \"Clamp\"", json)
    Assert.Contains("\"targetEntropy\": null", json)

[<Fact>]
let ``config json keeps defaults for missing keys`` () =
    Assert.Equal(SacConfig(BatchSize = 64), ConfigJson.Deserialize("{\"batchSize\": 64}", "c.json"))
    Assert.Equal(SacConfig(), ConfigJson.Deserialize("{}", "c.json"))
    // Hand-written files may carry comments and trailing commas.
    Assert.Equal(SacConfig(Variant = SacVariant.V1), ConfigJson.Deserialize("{ // v1 run\n \"variant\": \"V1\", }", "c.json"))

[<Fact>]
let ``config json rejects an unknown key by name with the source`` () =
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSze\": 64}", "runs/my.json") |> ignore)
    Assert.Contains("runs/my.json", ex.Message)
    Assert.Contains("unknown key 'batchSze'", ex.Message)
    Assert.Contains("did you mean 'batchSize'", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"BatchSize\": 64}", "my.json") |> ignore)
    Assert.Contains("'BatchSize'", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": 64, \"batchSize\": 32}", "my.json") |> ignore)
    Assert.Contains("'batchSize' appears more than once", ex.Message)

[<Fact>]
let ``config json reports a bad value naming the field and the source`` () =
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": 0}", "my.json") |> ignore)
    Assert.Equal("batchSize", ex.ParamName)
    Assert.StartsWith("my.json: invalid value for 'batchSize': BatchSize must be at least 1, got 0.", ex.Message)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> ConfigJson.Deserialize("{\"tau\": 1.5}", "my.json") |> ignore)
    Assert.Equal("tau", ex.ParamName)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> ConfigJson.Deserialize("{\"bufferSize\": 10}", "my.json") |> ignore)
    Assert.Contains("BatchSize (256) must not exceed BufferSize (10)", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": \"big\"}", "my.json") |> ignore)
    Assert.Contains("'batchSize'", ex.Message)
    Assert.Contains("an integer", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"variant\": \"V3\"}", "my.json") |> ignore)
    Assert.Contains("\"V2\", \"V1\"", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": 64", "my.json") |> ignore)
    Assert.Contains("my.json: not valid JSON", ex.Message)
    Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("[1, 2]", "my.json") |> ignore) |> ignore

[<Fact>]
let ``run info round trips and is as strict as the config`` () =
    let info = RunInfo("sac", "Pendulum-v1", 20_000L, 42UL, "cpu", SacConfig(BatchSize = 64, HiddenSizes = [| 64; 64 |]))
    let json = ConfigJson.SerializeRun info
    Assert.Contains("\"environmentId\": \"Pendulum-v1\"", json)
    Assert.Contains("\"config\": {", json)
    Assert.Equal(info, ConfigJson.DeserializeRun(json, "config.json"))
    let ex = Assert.Throws<FormatException>(fun () ->
        ConfigJson.DeserializeRun(json.Replace("\"batchSize\"", "\"batchSiz\""), "out/config.json") |> ignore)
    Assert.Contains("out/config.json: unknown key 'config.batchSiz'", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () ->
        ConfigJson.DeserializeRun(json.Replace("\"device\": \"cpu\",", ""), "config.json") |> ignore)
    Assert.Contains("'device' is missing", ex.Message)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () ->
        ConfigJson.DeserializeRun(json.Replace("\"steps\": 20000", "\"steps\": -1"), "config.json") |> ignore)
    Assert.Equal("steps", ex.ParamName)

// ---------- MetricsCsv ----------

let private genValue =
    Gen.frequency
        [ 6, Gen.choose (Int32.MinValue, Int32.MaxValue) |> Gen.two |> Gen.map (fun (a, b) -> BitConverter.Int64BitsToDouble((int64 a <<< 32) ||| int64 (uint32 b)))
          3, Gen.choose (-100000, 100000) |> Gen.map (fun k -> float k / 8.0)
          1, Gen.constant Double.NaN ]
    |> Gen.map (fun v -> if Double.IsNaN v then Double.NaN else v)

[<Fact>]
let ``metrics rows read back exactly, NaN as an empty field`` () =
    use dir = new TempDir()
    let path = dir.File MetricsCsv.FileName
    let columns = MetricsCsv.TrainingColumns |> Seq.toArray
    let genRows = Gen.listOf (Gen.arrayOfLength columns.Length genValue)
    Check.One(config, Prop.forAll (Arb.fromGen genRows) (fun rows ->
        do
            use csv = new MetricsCsv(path, columns)
            for row in rows do csv.Append(ReadOnlySpan row)
        let struct (header, read) = MetricsCsv.Read path
        Assert.Equal<string[]>(columns, header)
        Assert.Equal(List.length rows, read.Length)
        List.iteri (fun i (row: float[]) ->
            let expected = row |> Array.map (fun v -> if Double.IsNaN v then Nullable() else Nullable v)
            Assert.Equal<Nullable<float>[]>(expected, read.[i])) rows))

[<Fact>]
let ``metrics header is exact, rows are flushed at once, and missing names are empty`` () =
    use dir = new TempDir()
    let path = dir.File "metrics.csv"
    use csv = new MetricsCsv(path, MetricsCsv.TrainingColumns)
    csv.Append(readOnlyDict [ "step", 100.0; "episode_return", -1234.5; "alpha", 0.1 ])
    // Read while the writer is still open: a killed run keeps what it flushed.
    let lines = File.ReadAllText(path).Split('\n')
    Assert.Equal("step,episode,episode_return,episode_length,eval_return,eval_std,critic_loss,actor_loss,alpha,entropy,updates_per_sec,wall_seconds", lines.[0])
    Assert.Equal("100,,-1234.5,,,,,,0.1,,,", lines.[1])
    let struct (_, rows) = MetricsCsv.Read path
    Assert.Equal(Nullable 100.0, rows.[0].[0])
    Assert.False(rows.[0].[1].HasValue)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> csv.Append(readOnlyDict [ "stpe", 1.0 ]))
    Assert.Contains("'stpe' is not a column", ex.Message)
    Assert.ThrowsAny<ArgumentException>(fun () -> csv.Append(ReadOnlySpan [| 1.0; 2.0 |])) |> ignore
    Assert.Equal(1L, csv.RowCount)

[<Fact>]
let ``metrics reader ignores an unfinished last line and names bad fields`` () =
    use dir = new TempDir()
    let path = dir.File "m.csv"
    File.WriteAllText(path, "step,alpha\n1,0.5\n2,0.2")
    let struct (_, rows) = MetricsCsv.Read path
    Assert.Equal(1, rows.Length)
    File.WriteAllText(path, "step,alpha\n1,abc\n")
    let ex = Assert.Throws<FormatException>(fun () -> MetricsCsv.Read path |> ignore)
    Assert.Contains("line 2, column 'alpha': 'abc'", ex.Message)
    File.WriteAllText(path, "step,alpha\n1\n")
    Assert.Throws<FormatException>(fun () -> MetricsCsv.Read path |> ignore) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> new MetricsCsv(dir.File "n.csv", [| "a"; "a" |]) |> ignore) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> new MetricsCsv(dir.File "n.csv", [| "a,b" |]) |> ignore) |> ignore

// ---------- SvgCurve ----------

let private svg (name: string) = XName.Get(name, "http://www.w3.org/2000/svg")

let private attr (name: string) (e: XElement) =
    match e.Attribute(XName.Get name) with
    | null -> ""
    | a -> a.Value

let private parsePoints (text: string) =
    text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun p ->
        let xy = p.Split ','
        Double.Parse(xy.[0], Globalization.CultureInfo.InvariantCulture), Double.Parse(xy.[1], Globalization.CultureInfo.InvariantCulture))

let private isNiceStep (step: float) =
    let power = 10.0 ** floor (log10 step)
    let m = step / power
    [ 1.0; 2.0; 5.0; 10.0 ] |> List.exists (fun nice -> abs (m - nice) < 1e-6)

let private checkTicks (doc: XDocument) (cls: string) =
    let values =
        doc.Descendants(svg "text")
        |> Seq.filter (fun t -> attr "class" t = cls)
        |> Seq.map (fun t -> Double.Parse(t.Value, Globalization.CultureInfo.InvariantCulture))
        |> Seq.toArray
    Assert.True(values.Length >= 2, sprintf "%s: at least two ticks" cls)
    let step = values.[1] - values.[0]
    Assert.True(isNiceStep step, sprintf "%s: step %g is 1, 2 or 5 times a power of ten" cls step)
    for i in 1 .. values.Length - 1 do
        Assert.True(abs (values.[i] - values.[i - 1] - step) <= 1e-9 * max 1.0 (abs step), sprintf "%s: even spacing" cls)
        Assert.True(abs (values.[i] / step - round (values.[i] / step)) < 1e-6, sprintf "%s: %g is a multiple of the step" cls values.[i])

let private genCoordinate =
    Gen.frequency
        [ 8, Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun k -> float k / 7.0)
          1, Gen.elements [ Double.NaN; Double.PositiveInfinity; Double.NegativeInfinity ]
          1, Gen.elements [ 0.0; 1e-7; 3e12 ] ]

let private genLabel = Gen.elements [ "seed 0"; "SAC <v2> & \"friends\""; "it's"; ""; "ünïcødé ✓"; "bell\u0007" ]

let private genSeries =
    gen {
        let! label = genLabel
        let! points = Gen.listOf (Gen.zip genCoordinate genCoordinate) |> Gen.map (List.map (fun (x, y) -> struct (x, y)) >> List.toArray)
        let! withBand = Gen.elements [ true; false ]
        let! band = Gen.listOf (Gen.zip3 genCoordinate genCoordinate genCoordinate) |> Gen.map (List.map (fun (x, l, h) -> struct (x, l, h)) >> List.toArray)
        return Series(label, points, (if withBand then withNull (band :> IReadOnlyList<_>) else null))
    }

[<Fact>]
let ``svg curve is well-formed with one point per finite input inside the plot and every label in the legend`` () =
    Check.One(config, Prop.forAll (Arb.fromGen (Gen.listOf genSeries)) (fun (series: Series list) ->
        let text = SvgCurve.Render(SvgCurveOptions(Title = "Pendulum-v1 <SAC>"), List.toArray series)
        let doc = XDocument.Parse text
        let area = doc.Descendants(svg "rect") |> Seq.find (fun r -> attr "class" r = "plot-area")
        let num (n: string) = Double.Parse(attr n area, Globalization.CultureInfo.InvariantCulture)
        let x0, y0, w, h = num "x", num "y", num "width", num "height"
        let lines = doc.Descendants(svg "polyline") |> Seq.toList
        series |> List.iteri (fun i s ->
            let finite = s.Points |> Seq.filter (fun struct (x, y) -> Double.IsFinite x && Double.IsFinite y) |> Seq.length
            let mine = lines |> List.filter (fun l -> attr "data-series" l = string i)
            if finite = 0 then Assert.Empty mine
            else
                let pts = parsePoints (attr "points" (List.exactlyOne mine))
                Assert.Equal(finite, pts.Length)
                for (px, py) in pts do
                    Assert.True(px >= x0 - 0.01 && px <= x0 + w + 0.01 && py >= y0 - 0.01 && py <= y0 + h + 0.01,
                                sprintf "(%g, %g) lies in the plot area" px py))
        let legend = doc.Descendants(svg "text") |> Seq.filter (fun t -> attr "class" t = "legend-label") |> Seq.map (fun t -> t.Value) |> Seq.toList
        Assert.Equal(List.length series, legend.Length)
        series |> List.iteri (fun i s -> Assert.Equal(s.Label.Replace("\u0007", "\uFFFD"), legend.[i]))
        checkTicks doc "tick-x"
        checkTicks doc "tick-y"
        let hasData = series |> List.exists (fun s -> s.Points |> Seq.exists (fun struct (x, y) -> Double.IsFinite x && Double.IsFinite y))
        let finiteBand (s: Series) =
            match s.Band with
            | null -> false
            | band -> band |> Seq.exists (fun struct (x, l, h) -> Double.IsFinite x && Double.IsFinite l && Double.IsFinite h)
        let hasBand = series |> List.exists finiteBand
        let note = doc.Descendants(svg "text") |> Seq.exists (fun t -> attr "class" t = "note")
        Assert.Equal(not hasData && not hasBand, note)))

[<Fact>]
let ``svg curve handles a single point, a constant series, NaN and no series`` () =
    let render (series: Series list) = XDocument.Parse(SvgCurve.Render(SvgCurveOptions(), List.toArray series))
    let one = render [ Series("one", [| struct (5000.0, -150.0) |]) ]
    Assert.Single(one.Descendants(svg "circle")) |> ignore
    checkTicks one "tick-x"
    checkTicks one "tick-y"
    let flat = render [ Series("flat", [| for i in 0 .. 9 -> struct (float i * 1000.0, 7.0) |]) ]
    checkTicks flat "tick-y"
    let withNaN = render [ Series("nan", [| struct (0.0, 1.0); struct (1.0, Double.NaN); struct (2.0, 3.0) |]) ]
    Assert.Equal(2, (withNaN.Descendants(svg "polyline") |> Seq.exactlyOne |> attr "points" |> parsePoints).Length)
    let empty = render []
    Assert.Contains("no data", (empty.Descendants(svg "text") |> Seq.find (fun t -> attr "class" t = "note")).Value)
    let titles = empty.Descendants(svg "text") |> Seq.filter (fun t -> attr "class" t = "axis-title") |> Seq.map (fun t -> t.Value) |> Seq.toList
    Assert.Equal<string list>([ "environment steps"; "return" ], titles)
    let band = render [ Series("band", [| struct (0.0, 1.0); struct (1.0, 2.0) |], [| struct (0.0, 0.5, 1.5); struct (1.0, 1.0, 3.0) |]) ]
    Assert.Single(band.Descendants(svg "polygon")) |> ignore
    // Distinct colours for the first ten series.
    let many = render [ for i in 0 .. 9 -> Series(sprintf "s%d" i, [| struct (0.0, float i); struct (1.0, float i + 1.0) |]) ]
    let colours = many.Descendants(svg "polyline") |> Seq.map (attr "stroke") |> Set.ofSeq
    Assert.Equal(10, colours.Count)

[<Fact>]
let ``svg curve is written atomically`` () =
    use dir = new TempDir()
    let path = dir.File SvgCurve.FileName
    SvgCurve.Write(path, SvgCurveOptions(), [| Series("a", [| struct (0.0, 0.0); struct (10.0, 1.0) |]) |])
    XDocument.Load path |> ignore
    Assert.False(File.Exists(path + ".tmp"))
