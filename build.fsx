// Build script: `dotnet fsi build.fsx <target>` with target one of
//   build     compile the solution (Release)
//   test      run every test (the README's test command)
//   bench     `sac bench` with the PyTorch anchors of ../shared/anchors run beside it, interleaved, in one session
//   ci        what CI runs (.ci/run)
// The anchors need Debian's python3-torch, python3-numpy and libopenblas0-openmp (see ../shared/anchors/README.md).
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

let anchors = Path.GetFullPath(Path.Combine(root, "..", "shared", "anchors"))

/// Runs one anchor with OpenBLAS choosing its own kernels, as the anchors' README prescribes.
let anchor script (args: string) =
    let path = Path.Combine(anchors, script)
    if not (File.Exists path) then eprintfn "anchor %s not found; skipped" path
    else
        run "/usr/bin/python3" (sprintf "%s %s" path args)
            [ "OPENBLAS_CORETYPE", null; "LD_LIBRARY_PATH", "/usr/lib/x86_64-linux-gnu/openblas-openmp" ]

let bench () =
    dotnet "build Sac.Cli -c Release"
    let sac args = run "dotnet" (sprintf "Sac.Cli/bin/Release/net10.0/sac.dll bench %s" args) []
    for t in [ 1; 2 ] do
        sac (sprintf "--threads %d --filter fma_peak" t)
        anchor "cpu_gemm_peak.py" (sprintf "--threads %d --seconds 2" t)
        sac (sprintf "--threads %d --filter gemm" t)
        anchor "torch_mlp_fwd_bwd.py" (sprintf "--threads %d --warmup 200 --min-seconds 5" t)
        sac (sprintf "--threads %d --filter mlp_fwd_bwd --seconds 5" t)
        for obs, act in [ 3, 1; 17, 6 ] do
            anchor "torch_sac_update.py" (sprintf "--obs %d --act %d --hidden 256 --batch 256 --threads %d --warmup 200 --min-seconds 5" obs act t)
        sac (sprintf "--threads %d --filter sac_update --seconds 5" t)

match fsi.CommandLineArgs |> Array.tail |> List.ofArray with
| [ "build" ] | [] -> dotnet "build -c Release"
| [ "test" ] -> dotnet "test -c Release"
| [ "bench" ] -> bench ()
| [ "ci" ] -> run "bash" ".ci/run" []
| other -> failwithf "unknown target %A: expected build, test, bench or ci" other
