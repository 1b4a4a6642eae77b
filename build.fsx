// Build script: `dotnet fsi build.fsx <target>` with target one of
//   build     compile the solution (Release)
//   test      run every test (the README's test command)
//   bench     `sac bench` with the NumPy/PyTorch anchors of scripts/anchors run beside it, interleaved, in one session
//   ci        what CI runs (.ci/run)
// The anchors need Debian's python3-torch, python3-numpy and libopenblas0-openmp (see scripts/anchors/README.md).
open System
open System.Diagnostics
open System.IO

let root = __SOURCE_DIRECTORY__

let run (file: string) (args: string) (env: (string * string) list) =
    let psi = ProcessStartInfo(file, args, WorkingDirectory = root, UseShellExecute = false)
    for k, v in env do
        if isNull v then psi.Environment.Remove k |> ignore else psi.Environment[k] <- v
    use p = Process.Start psi
    p.WaitForExit()
    if p.ExitCode <> 0 then failwithf "%s %s exited with %d" file args p.ExitCode

let dotnet args = run "dotnet" args []

/// The project's own anchor scripts.
let anchors = Path.Combine(root, "scripts", "anchors")

/// Runs one anchor at `threads` threads with OpenBLAS (OpenMP build) choosing its own kernels, as
/// scripts/anchors/README.md prescribes.
let anchor script (threads: int) (args: string) =
    let path = Path.Combine(anchors, script)
    if not (File.Exists path) then failwithf "anchor %s not found" path
    run "/usr/bin/python3" (sprintf "%s --threads %d %s" path threads args)
        [ "OPENBLAS_CORETYPE", null
          "LD_LIBRARY_PATH", "/usr/lib/x86_64-linux-gnu/openblas-openmp"
          "OPENBLAS_NUM_THREADS", string threads
          "OMP_NUM_THREADS", string threads ]

let bench () =
    dotnet "build Sac.Cli -c Release"
    let sac args = run "dotnet" (sprintf "Sac.Cli/bin/Release/net10.0/sac.dll bench %s" args) []
    for t in [ 1; 2 ] do
        sac (sprintf "--threads %d --filter fma_peak" t)
        anchor "cpu_gemm_peak.py" t "--seconds 2"
        sac (sprintf "--threads %d --filter gemm" t)
        anchor "torch_mlp_fwd_bwd.py" t "--warmup 200 --min-seconds 5"
        sac (sprintf "--threads %d --filter mlp_fwd_bwd --seconds 5" t)
        for obs, act in [ 3, 1; 17, 6 ] do
            anchor "torch_sac_update.py" t (sprintf "--obs %d --act %d --hidden 256 --batch 256 --warmup 200 --min-seconds 5" obs act)
        sac (sprintf "--threads %d --filter sac_update --seconds 5" t)

match fsi.CommandLineArgs |> Array.tail |> List.ofArray with
| [ "build" ] | [] -> dotnet "build -c Release"
| [ "test" ] -> dotnet "test -c Release"
| [ "bench" ] -> bench ()
| [ "ci" ] -> run "bash" ".ci/run" []
| other -> failwithf "unknown target %A: expected build, test, bench or ci" other
