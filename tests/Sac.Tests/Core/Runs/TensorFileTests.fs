/// The safetensors-compatible tensor file: round trips, every truncation and byte flip rejected, the old binary
/// format named, and a stdlib-only Python reader that opens it.
module TensorFileTests

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Text.Json
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Runs

let private temp () = Path.Combine(Path.GetTempPath(), $"sac-tensors-{Guid.NewGuid():N}.safetensors")

let private sample () =
    let metadata = dict [ "format_version", "2"; "algorithm", "sac"; "environment", "Hopper-v4"; "config", """{"gamma":0.99}""" ]
    let tensors =
        [ KeyValuePair("actor", Tensor.Of(ReadOnlySpan [| 1.5f; -2.0f; 3.25f; 0.0f; 7.0f; -1.0f |], 2L, 3L))
          KeyValuePair("log_alpha", Tensor.Scalar -0.5f)
          KeyValuePair("steps", Tensor.Of(ReadOnlySpan [| 12L; 34L |]))
          KeyValuePair("key", Tensor.Of(ReadOnlySpan [| 7u; 9u; 11u |]))
          KeyValuePair("returns", Tensor.Of(ReadOnlySpan [| 0.125; 1e300 |]))
          KeyValuePair("flags", Tensor.Of(ReadOnlySpan [| 1uy; 0uy; 1uy |])) ]
    Dictionary(metadata) :> IReadOnlyDictionary<_, _>, tensors

let ``a written file reads back exactly, in order, with its metadata, data 8-byte aligned`` = testCase "a written file reads back exactly, in order, with its metadata, data 8-byte aligned" <| fun () ->
    let path = temp ()
    try
        let metadata, tensors = sample ()
        TensorFile.Write(path, metadata, tensors)
        let f = TensorFile.Read path
        Assert.Equal<string list>(tensors |> List.map (fun kv -> kv.Key), List.ofSeq f.Names)
        for kv in tensors do
            let t = f.Tensors.[kv.Key]
            Assert.Equal(kv.Value.DType, t.DType)
            Assert.Equal<int64[]>(kv.Value.Shape, t.Shape)
            Assert.Equal<byte[]>(kv.Value.Data.ToArray(), t.Data.ToArray())
        for kv in metadata do Assert.Equal(kv.Value, f.Metadata.[kv.Key])
        Assert.Matches("^[0-9a-f]{8}$", f.Metadata.[TensorFile.ChecksumKey])
        Assert.Equal<float32[]>([| 1.5f; -2.0f; 3.25f; 0.0f; 7.0f; -1.0f |], f.Tensors.["actor"].ToFloat32())
        Assert.Equal(1L, f.Tensors.["log_alpha"].Count)
        Assert.Empty(f.Tensors.["log_alpha"].Shape)
        let bytes = File.ReadAllBytes path
        Assert.Equal(0L, (8L + BitConverter.ToInt64(bytes, 0)) % 8L)
    finally
        File.Delete path

let ``random tensors of every type and shape round trip`` =
    let tensorGen =
        gen {
            let! dims = Gen.choose (0, 3)
            let! shape = Gen.arrayOfLength dims (Gen.choose (0, 5) |> Gen.map int64)
            let count = shape |> Array.fold (*) 1L |> int
            let! kind = Gen.choose (0, 4)
            let! seed = Gen.choose (0, 1000)
            let r = Random(seed)
            return
                match kind with
                | 0 -> Tensor.Of(ReadOnlySpan(Array.init count (fun _ -> float32 (r.NextDouble() - 0.5))), shape)
                | 1 -> Tensor.Of(ReadOnlySpan(Array.init count (fun _ -> r.NextDouble() * 1e10)), shape)
                | 2 -> Tensor.Of(ReadOnlySpan(Array.init count (fun _ -> r.NextInt64())), shape)
                | 3 -> Tensor.Of(ReadOnlySpan(Array.init count (fun _ -> uint32 (r.Next()))), shape)
                | _ -> Tensor.Of(ReadOnlySpan(Array.init count (fun _ -> byte (r.Next 256))), shape)
        }
    let fileGen =
        gen {
            let! n = Gen.choose (0, 6)
            let! tensors = Gen.listOfLength n tensorGen
            let! text = Gen.elements [ ""; "é ünïcode"; "quotes \" and \\ backslash"; "\"crc32\":\"00000000\"" ]
            return tensors |> List.mapi (fun i t -> KeyValuePair($"t{i}", t)), text
        }
    testPropertyWithConfig (Properties.ofFsCheck (Config.QuickThrowOnFailure.WithMaxTest(60))) "random tensors of every type and shape round trip" (Prop.forAll (Arb.fromGen fileGen) (fun (tensors, text) ->
        let path = temp ()
        try
            TensorFile.Write(path, dict [ "note", text ] |> Dictionary :> IReadOnlyDictionary<_, _>, tensors)
            let f = TensorFile.Read path
            f.Metadata.["note"] = text
            && List.ofSeq f.Names = (tensors |> List.map (fun kv -> kv.Key))
            && tensors |> List.forall (fun kv -> let t = f.Tensors.[kv.Key] in t.DType = kv.Value.DType && t.Shape = kv.Value.Shape && t.Data.ToArray() = kv.Value.Data.ToArray())
        finally
            File.Delete path))

let ``every truncation and every byte flip is rejected with a typed error`` = testCase "every truncation and every byte flip is rejected with a typed error" <| fun () ->
    let path = temp ()
    let damaged = temp ()
    try
        let metadata, tensors = sample ()
        TensorFile.Write(path, metadata, tensors)
        let bytes = File.ReadAllBytes path
        for n in 0 .. bytes.Length - 1 do
            File.WriteAllBytes(damaged, bytes.[.. n - 1])
            let e = Assert.Throws<CheckpointException>(fun () -> TensorFile.Read damaged |> ignore)
            Assert.Contains(damaged, e.Message)
        let r = Random(5)
        for i in 0 .. bytes.Length - 1 do
            let copy = Array.copy bytes
            copy.[i] <- copy.[i] ^^^ byte (1 + r.Next 255)
            File.WriteAllBytes(damaged, copy)
            Assert.Throws<CheckpointException>(fun () -> TensorFile.Read damaged |> ignore) |> ignore
        File.WriteAllBytes(damaged, Array.append bytes [| 0uy |])
        Assert.Throws<CheckpointException>(fun () -> TensorFile.Read damaged |> ignore) |> ignore
    finally
        File.Delete path
        File.Delete damaged

let ``the older binary checkpoint format, a missing file and a directory get one clear error each`` = testCase "the older binary checkpoint format, a missing file and a directory get one clear error each" <| fun () ->
    let path = temp ()
    try
        File.WriteAllBytes(path, Array.append "SACFCKPT"B (BitConverter.GetBytes 3u))
        let e = Assert.Throws<CheckpointException>(fun () -> TensorFile.Read path |> ignore)
        Assert.Equal(CheckpointFailure.UnsupportedVersion, e.Reason)
        Assert.Contains("version 3", e.Message)
        Assert.Equal(CheckpointFailure.NotFound, (Assert.Throws<CheckpointException>(fun () -> TensorFile.Read(path + ".none") |> ignore)).Reason)
        Assert.Equal(CheckpointFailure.NotFound, (Assert.Throws<CheckpointException>(fun () -> TensorFile.Read(Path.GetTempPath()) |> ignore)).Reason)
    finally
        File.Delete path

let ``bad writes are refused: reserved and repeated names, shapes that do not fit`` = testCase "bad writes are refused: reserved and repeated names, shapes that do not fit" <| fun () ->
    let t = Tensor.Of(ReadOnlySpan [| 1f |])
    let path = temp ()
    let none = Dictionary<string, string>() :> IReadOnlyDictionary<_, _>
    Assert.Throws<ArgumentException>(fun () -> TensorFile.Write(path, none, [ KeyValuePair("a", t); KeyValuePair("a", t) ])) |> ignore
    Assert.Throws<ArgumentException>(fun () -> TensorFile.Write(path, none, [ KeyValuePair("__metadata__", t) ])) |> ignore
    Assert.Throws<ArgumentException>(fun () -> TensorFile.Write(path, dict [ "crc32", "x" ] |> Dictionary :> IReadOnlyDictionary<_, _>, [])) |> ignore
    Assert.Throws<ArgumentException>(fun () -> Tensor.Of(ReadOnlySpan [| 1f; 2f; 3f |], 2L, 2L) |> ignore) |> ignore
    Assert.False(File.Exists path)

let ``a stdlib-only Python reader opens the file and sees the same tensors`` = testCase "a stdlib-only Python reader opens the file and sees the same tensors" <| fun () ->
    let python = [ "/usr/bin/python3"; "/usr/local/bin/python3" ] |> List.tryFind File.Exists
    match python with
    | None -> () // No Python on this machine: nothing to compare against (the layout itself is tested above).
    | Some python ->
        let path = temp ()
        try
            let metadata, tensors = sample ()
            TensorFile.Write(path, metadata, tensors)
            let script = Path.Combine(AppContext.BaseDirectory, "python", "read_tensor_file.py")
            let psi = ProcessStartInfo(python, $"\"{script}\" \"{path}\"", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
            use p = nonNull (Process.Start psi)
            let out = p.StandardOutput.ReadToEnd()
            let err = p.StandardError.ReadToEnd()
            p.WaitForExit()
            Assert.True((p.ExitCode = 0), err)
            use doc = JsonDocument.Parse out
            let root = doc.RootElement
            Assert.Equal("Hopper-v4", root.GetProperty("metadata").GetProperty("environment").GetString())
            let actor = root.GetProperty("tensors").GetProperty("actor")
            Assert.Equal("F32", actor.GetProperty("dtype").GetString())
            Assert.Equal(6, actor.GetProperty("count").GetInt32())
            Assert.Equal(8.75, actor.GetProperty("sum").GetDouble())
            Assert.Equal(46.0, root.GetProperty("tensors").GetProperty("steps").GetProperty("sum").GetDouble())
            Assert.Equal(2.0, root.GetProperty("tensors").GetProperty("flags").GetProperty("sum").GetDouble())
        finally
            File.Delete path

let ``behind a recomputed checksum, any overwrite loads or is rejected with a typed error`` = testCase "behind a recomputed checksum, any overwrite loads or is rejected with a typed error" <| fun () ->
    let path = temp ()
    let probe = temp ()
    try
        let metadata, tensors = sample ()
        TensorFile.Write(path, metadata, tensors)
        let bytes = File.ReadAllBytes path
        let overwrite = gen {
            let! position = Gen.choose (0, bytes.Length - 1)
            let! width = Gen.choose (1, 8)
            let! fill = Gen.elements [ 0uy; 0xFFuy; 0x41uy; 0x7Buy; 0x22uy ]
            return position, width, fill }
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.forAll (Arb.fromGen overwrite) (fun (position, width, fill) ->
            let damaged = Array.copy bytes
            for i in position .. min (bytes.Length - 1) (position + width - 1) do damaged.[i] <- fill
            File.WriteAllBytes(probe, TestProviders.resealCheckpoint damaged)
            try
                TensorFile.Read probe |> ignore
                true
            with :? CheckpointException as e -> e.Path = probe))
    finally
        File.Delete path
        File.Delete probe

let tests = testList "TensorFile" [
    ``a written file reads back exactly, in order, with its metadata, data 8-byte aligned``
    ``random tensors of every type and shape round trip``
    ``every truncation and every byte flip is rejected with a typed error``
    ``the older binary checkpoint format, a missing file and a directory get one clear error each``
    ``bad writes are refused: reserved and repeated names, shapes that do not fit``
    ``a stdlib-only Python reader opens the file and sees the same tensors``
    ``behind a recomputed checksum, any overwrite loads or is rejected with a typed error``
]
