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
