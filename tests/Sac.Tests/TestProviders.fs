/// The GEMM providers every kernel test runs over: the reference definition, each managed micro-kernel this CPU
/// accelerates on one and two threads, and OpenBLAS where the machine has it.
module TestProviders

open System.Runtime.Intrinsics
open Sac.Core.Compute

let private kernels =
    [ if Vector512.IsHardwareAccelerated then GemmKernel.Avx512
      if Vector256.IsHardwareAccelerated then GemmKernel.Avx2
      GemmKernel.Scalar ]

/// Managed GEMMs, one per (kernel, threads); created once and kept for the test run.
let managed : ManagedGemm list =
    [ for k in kernels do for t in [ 1; 2 ] do new ManagedGemm(t, k) ]

/// OpenBLAS, where libopenblas.so.0 loads.
let openBlas : IGemm option = OpenBlasGemm.TryCreate 1 |> Option.ofObj |> Option.map (fun g -> g :> IGemm)

/// Every provider that must agree with the reference.
let gemms : IGemm list =
    [ yield ReferenceGemm.Instance :> IGemm
      for g in managed do yield g :> IGemm
      match openBlas with Some g -> yield g | None -> () ]

/// A readable label for failure messages.
let label (g: IGemm) =
    match g with
    | :? ManagedGemm as m -> sprintf "managed/%A/%dt" m.Kernel m.Threads
    | g -> g.Name

/// The built-in environment ids this machine can make (the MuJoCo ones need libmujoco2.2.2); environments that
/// tests register themselves are left out.
let availableEnvironmentIds () =
    Sac.Core.Environments.EnvironmentRegistry.Ids
    |> Seq.filter Sac.Core.Environments.EnvironmentRegistry.IsBuiltIn
    |> Seq.filter (fun id -> fst (Sac.Core.Environments.EnvironmentRegistry.IsAvailable id))
    |> List.ofSeq

/// A checkpoint's bytes with its CRC-32 recomputed after a deliberate edit, so a test reaches the checks behind the
/// checksum (left as they are when the edit broke the checksum's own key).
let resealCheckpoint (data: byte[]) =
    let key = System.Text.Encoding.ASCII.GetBytes "\"crc32\":\""
    let at = System.MemoryExtensions.IndexOf(System.ReadOnlySpan data, System.ReadOnlySpan key)
    if at < 0 || at + key.Length + 8 > data.Length then data
    else
        let copy = Array.copy data
        let zero = System.Text.Encoding.ASCII.GetBytes "00000000"
        zero.CopyTo(copy, at + key.Length)
        let crc = Sac.Core.Runs.Crc32.Compute(System.ReadOnlySpan copy)
        System.Text.Encoding.ASCII.GetBytes(crc.ToString "x8").CopyTo(copy, at + key.Length)
        copy

/// A checkpoint rewritten with `edit` applied to its metadata (the "header" key holds the format's JSON header); the
/// file is otherwise the same and its checksum valid.
let rewriteCheckpointMetadata (edit: System.Collections.Generic.Dictionary<string, string> -> unit) (data: byte[]) =
    let path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sac-rewrite-{System.Guid.NewGuid():N}.ckpt")
    try
        System.IO.File.WriteAllBytes(path, data)
        let file = Sac.Core.Runs.TensorFile.Read path
        let metadata = System.Collections.Generic.Dictionary<string, string>(file.Metadata)
        metadata.Remove Sac.Core.Runs.TensorFile.ChecksumKey |> ignore
        edit metadata
        let tensors = [ for n in file.Names -> System.Collections.Generic.KeyValuePair(n, file.Tensors.[n]) ]
        Sac.Core.Runs.TensorFile.Write(path, metadata, tensors)
        System.IO.File.ReadAllBytes path
    finally
        System.IO.File.Delete path

/// A checkpoint with its JSON header rewritten, so only the header differs.
let rewriteCheckpointHeader (rewrite: string -> string) (data: byte[]) =
    data |> rewriteCheckpointMetadata (fun m -> m.["header"] <- rewrite m.["header"])
