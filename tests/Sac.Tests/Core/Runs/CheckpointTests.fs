/// Checkpoint: bitwise round trips, header validation, every kind of damaged file rejected with its reason, atomic save.
module CheckpointTests

open System
open System.IO
open System.Text
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Data
open Sac.Core.Random
open Sac.Core.Runs
open RunsKit

// ---------- checkpoint round trip ----------

let ``checkpoint round trip is bitwise exact with and without value networks and replay`` = testCase "checkpoint round trip is bitwise exact with and without value networks and replay" <| fun () ->
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

let ``save rejects a state that does not match its header, naming the field`` = testCase "save rejects a state that does not match its header, naming the field" <| fun () ->
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

let ``checkpoint header validates its fields`` = testCase "checkpoint header validates its fields" <| fun () ->
    let bad (f: unit -> CheckpointHeader) (field: string) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Equal(field, ex.ParamName)
    bad (fun () -> CheckpointHeader("", "Pendulum-v1", 3, 1, [| 8 |], "V2", 0L)) "Algorithm"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 0, 1, [| 8 |], "V2", 0L)) "ObservationSize"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 3, 1, [||], "V2", 0L)) "HiddenSizes"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 3, 1, [| 8 |], "v2", 0L)) "Variant"
    bad (fun () -> CheckpointHeader("sac", "Pendulum-v1", 3, 1, [| 8 |], "V2", -1L)) "EnvironmentSteps"

// ---------- checkpoint: damaged files ----------

let ``every truncation and every single-byte flip of a checkpoint is rejected with CheckpointException`` = testCase "every truncation and every single-byte flip of a checkpoint is rejected with CheckpointException" <| fun () ->
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

let ``behind a valid checksum, any overwrite either loads or is rejected with CheckpointException`` = testCase "behind a valid checksum, any overwrite either loads or is rejected with CheckpointException" <| fun () ->
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

let ``load names the reason: not found, truncated, bad magic, version, checksum`` = testCase "load names the reason: not found, truncated, bad magic, version, checksum" <| fun () ->
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

let ``a header claiming other sizes gives ShapeMismatch naming the section and the sizes`` = testCase "a header claiming other sizes gives ShapeMismatch naming the section and the sizes" <| fun () ->
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

let ``a failing save leaves the previous checkpoint intact and no temporary file as the checkpoint`` = testCase "a failing save leaves the previous checkpoint intact and no temporary file as the checkpoint" <| fun () ->
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

let tests = testList "Checkpoint" [
    ``checkpoint round trip is bitwise exact with and without value networks and replay``
    ``save rejects a state that does not match its header, naming the field``
    ``checkpoint header validates its fields``
    ``every truncation and every single-byte flip of a checkpoint is rejected with CheckpointException``
    ``behind a valid checksum, any overwrite either loads or is rejected with CheckpointException``
    ``load names the reason: not found, truncated, bad magic, version, checksum``
    ``a header claiming other sizes gives ShapeMismatch naming the section and the sizes``
    ``a failing save leaves the previous checkpoint intact and no temporary file as the checkpoint``
]
