/// ONNX export: every exported model runs in ONNX Runtime and agrees with the library's own Predict.
module ExportTests

open System
open System.Diagnostics
open System.IO
open Microsoft.ML.OnnxRuntime
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Fs

let private tolerance = 1e-5f

let private observations (rows: int) (size: int) (seed: uint64) =
    let x = Array.zeroCreate<float32> (rows * size)
    Philox.FillNormal(PhiloxKey.FromSeed seed, 0UL, Span x)
    x

/// The noise a seeded stochastic PredictBatch uses: row i draws from seed + i, element 0 on.
let private predictNoise (rows: int) (actions: int) (seed: uint64) =
    let eps = Array.zeroCreate<float32> (rows * actions)
    for i in 0 .. rows - 1 do
        Philox.FillNormal(PhiloxKey.FromSeed(seed + uint64 i), 0UL, Span(eps, i * actions, actions))
    eps

let private temp (ext: string) = Path.Combine(Path.GetTempPath(), $"sac-export-{Guid.NewGuid():N}{ext}")

/// Runs a session on float inputs (name, data, [rows, width]) and returns the named outputs as float or int64 arrays.
let private run (session: InferenceSession) (inputs: (string * float32[] * int64[]) list) (outputs: string list) =
    let values = inputs |> List.map (fun (_, data, shape) -> OrtValue.CreateTensorValueFromMemory<float32>(data, shape))
    try
        use options = new RunOptions()
        use results = session.Run(options, inputs |> List.map (fun (n, _, _) -> n), values, outputs)
        [ for r in results ->
            if r.GetTensorTypeAndShape().ElementDataType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64 then
                Choice2Of2(r.GetTensorDataAsSpan<int64>().ToArray())
            else Choice1Of2(r.GetTensorDataAsSpan<float32>().ToArray()) ]
    finally
        for v in values do v.Dispose()

let private floats = function Choice1Of2 (x: float32[]) -> x | _ -> failwith "expected a float tensor"
let private longs = function Choice2Of2 (x: int64[]) -> x | _ -> failwith "expected an int64 tensor"

let private maxDeviation (expected: float32[]) (actual: float32[]) =
    Assert.Equal(expected.Length, actual.Length)
    Array.fold2 (fun m (e: float32) (a: float32) -> max m (abs (e - a))) 0.0f expected actual

/// The actor's raw output (mean, raw log-std) for each row, from the library's forward pass.
let private forward (spec: MlpSpec) (parameters: float32[]) (obs: float32[]) (rows: int) =
    use gemm = new ManagedGemm(1)
    Mlp.Forward(gemm, spec, ReadOnlySpan parameters, ReadOnlySpan obs, rows, MlpWorkspace(spec, rows)).ToArray()

/// TanhGaussian.sample per row, and the native map of RescaleAction: (actions, log-probabilities).
let private referenceSample (bound: LogStdRange) (out: float32[]) (eps: float32[]) (rows: int) (a: int) (low: float32[]) (high: float32[]) =
    let actions = Array.zeroCreate<float32> (rows * a)
    let logp = Array.zeroCreate<float32> rows
    for i in 0 .. rows - 1 do
        let mu = out.[i * 2 * a .. i * 2 * a + a - 1]
        let raw = out.[i * 2 * a + a .. i * 2 * a + 2 * a - 1]
        let struct (act, lp) = TanhGaussian.sample bound (mu, raw, eps.[i * a .. i * a + a - 1])
        for j in 0 .. a - 1 do
            let x = Math.Clamp(float act.[j], -1.0, 1.0)
            actions.[i * a + j] <- float32 (0.5 * ((1.0 - x) * float low.[j] + (1.0 + x) * float high.[j]))
        logp.[i] <- lp
    actions, logp

let private sacConfig = SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0)

/// A python3 that imports every module in <c>modules</c> (comma-separated), or why there is none.
let private pythonWith (modules: string) (install: string) =
    lazy (
        let candidates = [ "/usr/bin/python3"; "/usr/local/bin/python3" ] |> List.filter File.Exists
        let imports python =
            let psi = ProcessStartInfo(python, $"-c \"import {modules}\"", RedirectStandardError = true, UseShellExecute = false)
            use p = nonNull (Process.Start psi)
            p.StandardError.ReadToEnd() |> ignore
            p.WaitForExit()
            p.ExitCode = 0
        match candidates |> List.tryFind imports with
        | Some python -> Ok python
        | None when candidates.IsEmpty -> Error "no python3 on this machine"
        | None -> Error $"python3 cannot import {modules} (apt-get install {install})")

/// Debian's python3 with its onnx module, or why there is none.
let private onnxPython = pythonWith "onnx" "python3-onnx"

/// A python3 with numpy, or why there is none.
let private numpyPython = pythonWith "numpy" "python3-numpy"

/// A python3 with numpy and PyTorch, or why there is none.
let private torchPython = pythonWith "numpy, torch" "python3-numpy python3-torch"

/// A test that runs only where <c>python</c> is found, and says so when skipped.
let private pythonCase (what: string) (python: Lazy<Result<string, string>>) =
    Conditional.testCaseWhere (fun () ->
        match python.Force() with
        | Error reason -> Some $"{what} unavailable: {reason}"
        | Ok _ -> None)

/// A test that runs only where python3-onnx is importable.
let private onnxCheckerCase = pythonCase "ONNX checker" onnxPython

/// A test that runs only where python3 with numpy exists.
let private numpyCase = pythonCase "NumPy" numpyPython

/// A test that runs only where python3 with numpy and PyTorch exists.
let private torchCase = pythonCase "PyTorch" torchPython

/// A file of the repository, found by walking up from the test assembly.
let private repoFile (relative: string) =
    let rec up (dir: DirectoryInfo | null) =
        match dir with
        | null -> failwith $"{relative} not found above {AppContext.BaseDirectory}"
        | d when File.Exists(Path.Combine(d.FullName, relative)) -> Path.Combine(d.FullName, relative)
        | d -> up d.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

/// Runs a python script with arguments and standard input; returns its standard output (asserting exit 0).
let private runPython (python: string) (script: string) (args: string) (input: string) =
    let psi = ProcessStartInfo(python, $"\"{script}\" {args}", RedirectStandardInput = true, RedirectStandardOutput = true,
                               RedirectStandardError = true, UseShellExecute = false)
    use p = nonNull (Process.Start psi)
    p.StandardInput.Write input
    p.StandardInput.Close()
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    Assert.True((p.ExitCode = 0), err.Result)
    out

let private jsonMatrix (e: System.Text.Json.JsonElement) =
    [| for row in e.EnumerateArray() do
         match row.ValueKind with
         | System.Text.Json.JsonValueKind.Array -> for x in row.EnumerateArray() -> x.GetSingle()
         | _ -> yield row.GetSingle() |]

module OnnxExportTests =

    /// Where the tests' diagnostic lines go: the console.
    let private output = System.Console.Out

    /// A Python policy script against the agent: deterministic actions, and seeded draws with their log-probabilities.
    let private CheckPythonPolicy(python: Lazy<Result<string, string>>, script: string, name: string) =
        let dir = Directory.CreateTempSubdirectory("sac-export-py-").FullName
        try
            let python = match python.Force() with Ok p -> p | Error e -> failwith e
            let script = repoFile script
            let ckpt = Path.Combine(dir, "final.ckpt")
            use agent = SacAgent.Create("Pendulum-v1", sacConfig)
            agent.Learn(300L) |> ignore
            agent.Save ckpt
            let trainer = agent.Trainer :?> Trainer
            let rows = 64
            let obs = observations rows 3 21UL
            let obsJson = System.Text.Json.JsonSerializer.Serialize(Array.chunkBySize 3 obs)
            use doc = System.Text.Json.JsonDocument.Parse(runPython python script $"\"{ckpt}\"" obsJson)
            let d = maxDeviation (agent.PredictBatch(obs, rows)) (jsonMatrix (doc.RootElement.GetProperty "actions"))
            Assert.True(d <= tolerance, $"deterministic actions differ by {d}")
            let eps = predictNoise rows 1 77UL
            let request = System.Text.Json.JsonSerializer.Serialize(dict [ "observations", Array.chunkBySize 3 obs; "noise", Array.chunkBySize 1 eps ])
            use doc = System.Text.Json.JsonDocument.Parse(runPython python script $"\"{ckpt}\" --noise" request)
            let da = maxDeviation (agent.PredictBatch(obs, rows, false, 77UL)) (jsonMatrix (doc.RootElement.GetProperty "actions"))
            let out = forward trainer.Context.Networks.Actor agent.State.Learner.Actor obs rows
            let _, expectedLogp = referenceSample trainer.Context.LogStd out eps rows 1 [| -2.0f |] [| 2.0f |]
            let dl = maxDeviation expectedLogp (jsonMatrix (doc.RootElement.GetProperty "log_probs"))
            output.WriteLine($"{name}: max deviation deterministic {d:E2}, stochastic action {da:E2}, log_prob {dl:E2}")
            Assert.True(da <= tolerance && dl <= tolerance, $"stochastic: action {da}, log_prob {dl}")
        finally
            Directory.Delete(dir, true)

    let ``examples/python/load_policy.py reads the actor from final.ckpt and computes sac's actions and log-probabilities`` = numpyCase "examples/python/load_policy.py reads the actor from final.ckpt and computes sac's actions and log-probabilities" <| fun () ->
        CheckPythonPolicy(numpyPython, "examples/python/load_policy.py", "NumPy")

    let ``examples/python/to_torch.py builds the actor as a torch module that computes sac's actions and log-probabilities`` = torchCase "examples/python/to_torch.py builds the actor as a torch module that computes sac's actions and log-probabilities" <| fun () ->
        CheckPythonPolicy(torchPython, "examples/python/to_torch.py", "PyTorch")

    // Deterministic actions of the Python loaders for checkpoints whose actor differs from the plain one: separate
    // actor sizes, normalised observations (raw ones far from the mean go in, some beyond the clip), and gSDE.
    let private CheckPythonVariants(python: Lazy<Result<string, string>>, script: string, name: string) =
        let dir = Directory.CreateTempSubdirectory("sac-export-py-").FullName
        try
            let python = match python.Force() with Ok p -> p | Error e -> failwith e
            let script = repoFile script
            let variants =
                [ "actorHiddenSizes", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], ActorHiddenSizes = [| 24; 8; 12 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0)
                  "normalize", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, Normalize = NormalizeSettings())
                  "useSde", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, UseSde = true, FullStd = false)
                  "useSde-fullStd", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, UseSde = true) ]
            for key, config in variants do
                let ckpt = Path.Combine(dir, key + ".ckpt")
                use agent = SacAgent.Create("Pendulum-v1", config)
                agent.Learn(300L) |> ignore
                agent.Save ckpt
                let rows = 32
                let obs = observations rows 3 23UL |> Array.map (fun x -> 30.0f * x)
                let obsJson = System.Text.Json.JsonSerializer.Serialize(Array.chunkBySize 3 obs)
                use doc = System.Text.Json.JsonDocument.Parse(runPython python script $"\"{ckpt}\"" obsJson)
                let d = maxDeviation (agent.PredictBatch(obs, rows)) (jsonMatrix (doc.RootElement.GetProperty "actions"))
                output.WriteLine($"{name}, {key}: max deviation {d:E2}")
                Assert.True(d <= tolerance, $"{key}: deterministic actions differ by {d}")
        finally
            Directory.Delete(dir, true)

    let ``examples/python/load_policy.py honours separate actor sizes, stored observation statistics and gSDE`` = numpyCase "examples/python/load_policy.py honours separate actor sizes, stored observation statistics and gSDE" <| fun () ->
        CheckPythonVariants(numpyPython, "examples/python/load_policy.py", "NumPy")

    let ``examples/python/to_torch.py honours separate actor sizes, stored observation statistics and gSDE`` = torchCase "examples/python/to_torch.py honours separate actor sizes, stored observation statistics and gSDE" <| fun () ->
        CheckPythonVariants(torchPython, "examples/python/to_torch.py", "PyTorch")

    let ``a SAC agent's deterministic ONNX policy matches Predict at batch 1, 7 and 256`` = testCase "a SAC agent's deterministic ONNX policy matches Predict at batch 1, 7 and 256" <| fun () ->
        let path = temp ".onnx"
        try
            use agent = SacAgent.Create("Pendulum-v1", sacConfig)
            agent.Learn(300L) |> ignore
            agent.ExportOnnx(path)
            use session = new InferenceSession(path)
            let mutable worst = 0.0f
            for rows in [ 1; 7; 256 ] do
                let obs = observations rows 3 (uint64 rows)
                let onnx = run session [ "observation", obs, [| int64 rows; 3L |] ] [ "action" ] |> List.head |> floats
                let d = maxDeviation (agent.PredictBatch(obs, rows)) onnx
                Assert.True(d <= tolerance, $"batch {rows}: ONNX Runtime differs from Predict by {d}")
                worst <- max worst d
            output.WriteLine($"SAC deterministic: {FileInfo(path).Length} bytes, max |ONNX - Predict| = {worst:E2}")
            // The metadata names the inputs, outputs and bounds; the batch dimension is symbolic.
            let meta = session.ModelMetadata.CustomMetadataMap
            Assert.Equal("[-2]", meta.["action_low"])
            Assert.Equal("[2]", meta.["action_high"])
            Assert.Equal("sac", meta.["algorithm"])
            Assert.Equal("Pendulum-v1", meta.["environment_id"])
            Assert.Contains("observation: float32[batch, 3]", meta.["inputs"])
            Assert.Contains("action: float32[batch, 1]", meta.["outputs"])
            Assert.Equal<int[]>([| -1; 3 |], session.InputMetadata.["observation"].Dimensions)
            Assert.Equal("batch", session.InputMetadata.["observation"].SymbolicDimensions.[0])
        finally
            File.Delete path

    let ``a normalising agent's ONNX model takes raw observations and matches Predict (SAC and DQN)`` = testCase "a normalising agent's ONNX model takes raw observations and matches Predict (SAC and DQN)" <| fun () ->
        let path = temp ".onnx"
        try
            // Raw observations far from the statistics' mean, some beyond the clip, so both the scaling and the
            // clip are exercised.
            let check (agent: IAgent) (size: int) (output: string) (predict: float32[] -> int -> float32[]) =
                let n = Assert.IsType<Sac.Core.Data.VecNormalize>(match agent with
                                                                   | :? SacAgent as a -> a.Trainer.Normalization
                                                                   | :? DqnAgent as a -> a.Trainer.Normalization
                                                                   | _ -> null)
                Assert.True(n.ObservationStatistics.Count > 100.0)
                OnnxExport.Save(agent, path, false) |> ignore
                use session = new InferenceSession(path)
                Assert.Contains("clip((observation - obs_mean) / obs_std, -10, 10)", session.ModelMetadata.CustomMetadataMap.["observation_normalization"])
                let rows = 64
                let obs = observations rows size 5UL |> Array.map (fun x -> 30.0f * x)
                let onnx = run session [ "observation", obs, [| int64 rows; int64 size |] ] [ output ] |> List.head
                match onnx with
                | Choice1Of2 actions ->
                    let d = maxDeviation (predict obs rows) actions
                    Assert.True(d <= tolerance, $"{agent.Algorithm}: ONNX Runtime differs from Predict by {d}")
                | Choice2Of2 indices ->
                    Assert.Equal<int64[]>(predict obs rows |> Array.map int64, indices)
            use sac = SacAgent.Create("Pendulum-v1", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, Normalize = NormalizeSettings()))
            sac.Learn(300L) |> ignore
            check sac 3 "action" (fun obs rows -> sac.PredictBatch(obs, rows))
            use dqn = DqnAgent.Create("CartPole-v1", DqnConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, Normalize = NormalizeSettings(Rewards = false)))
            dqn.Learn(300L) |> ignore
            check dqn 4 "action" (fun obs rows -> dqn.PredictBatch(obs, rows))
        finally
            File.Delete path

    let ``a SAC agent's stochastic ONNX policy gives a seeded Predict's action and TanhGaussian's log-probability`` = testCase "a SAC agent's stochastic ONNX policy gives a seeded Predict's action and TanhGaussian's log-probability" <| fun () ->
        let path = temp ".onnx"
        try
            use agent = SacAgent.Create("Pendulum-v1", sacConfig)
            agent.Learn(300L) |> ignore
            agent.ExportOnnx(path, true)
            use session = new InferenceSession(path)
            let trainer = agent.Trainer :?> Trainer
            let mutable worstAction, worstLogp = 0.0f, 0.0f
            for rows in [ 1; 7; 256 ] do
                let obs = observations rows 3 (100UL + uint64 rows)
                let eps = predictNoise rows 1 (40UL * uint64 rows)
                match run session [ "observation", obs, [| int64 rows; 3L |]; "noise", eps, [| int64 rows; 1L |] ] [ "action"; "log_prob" ] with
                | [ action; logp ] ->
                    let action, logp = floats action, floats logp
                    let d = maxDeviation (agent.PredictBatch(obs, rows, false, 40UL * uint64 rows)) action
                    Assert.True(d <= tolerance, $"batch {rows}: action differs from Predict by {d}")
                    let out = forward trainer.Context.Networks.Actor agent.State.Learner.Actor obs rows
                    let _, expected = referenceSample trainer.Context.LogStd out eps rows 1 [| -2.0f |] [| 2.0f |]
                    let dl = maxDeviation expected logp
                    Assert.True(dl <= tolerance, $"batch {rows}: log_prob differs from TanhGaussian by {dl}")
                    worstAction <- max worstAction d
                    worstLogp <- max worstLogp dl
                | _ -> failwith "two outputs expected"
            output.WriteLine($"SAC stochastic: {FileInfo(path).Length} bytes, max deviation action {worstAction:E2}, log_prob {worstLogp:E2}")
        finally
            File.Delete path

    let ``a SAC v1 agent exports the same kind of policy`` = testCase "a SAC v1 agent exports the same kind of policy" <| fun () ->
        let path = temp ".onnx"
        try
            use agent = SacAgent.Create("MountainCarContinuous-v0", SacConfig(Seed = 2UL, Variant = SacVariant.V1, HiddenSizes = [| 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0))
            agent.Learn(200L) |> ignore
            agent.ExportOnnx(path)
            use session = new InferenceSession(path)
            let obs = observations 7 2 5UL
            let onnx = run session [ "observation", obs, [| 7L; 2L |] ] [ "action" ] |> List.head |> floats
            Assert.True(maxDeviation (agent.PredictBatch(obs, 7)) onnx <= tolerance)
            Assert.Equal("sac-v1", session.ModelMetadata.CustomMetadataMap.["algorithm"])
        finally
            File.Delete path

    let ``a SAC actor with several asymmetric bounds, saturated means and either log-std bound matches the library`` = testCase "a SAC actor with several asymmetric bounds, saturated means and either log-std bound matches the library" <| fun () ->
        let o, a = 5, 3
        let spec = MlpSpec([| o; 32; 32; 2 * a |], Activation.Relu, Activation.Identity)
        let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 3UL)
        let last = spec.LayerCount - 1
        // Large mean weights saturate tanh; raw log-std biases far outside [-20, 2] hit both ends of the clamp.
        for k in spec.WeightOffset last .. spec.WeightOffset last + a * 32 - 1 do p.[k] <- 8.0f * p.[k]
        p.[spec.BiasOffset last + a] <- -25.0f
        p.[spec.BiasOffset last + a + 1] <- 3.0f
        let low, high = [| -1.0f; 0.0f; -3.0f |], [| 3.0f; 0.5f; -1.0f |]
        let rows = 256
        let obs = observations rows o 11UL
        let eps = observations rows a 12UL
        let out = forward spec p obs rows
        for bound in [ LogStdRange.Clamp(-20.0f, 2.0f); LogStdRange.TanhRescale(-5.0f, 2.0f) ] do
            use deterministic = new InferenceSession(OnnxExport.SacPolicy(spec, p, bound, low, high, false, null, null))
            let mean = run deterministic [ "observation", obs, [| int64 rows; int64 o |] ] [ "action" ] |> List.head |> floats
            let zero = Array.zeroCreate<float32> (rows * a)
            let expectedMean, _ = referenceSample bound out zero rows a low high
            Assert.True(maxDeviation expectedMean mean <= tolerance, $"{bound}: deterministic")
            use stochastic = new InferenceSession(OnnxExport.SacPolicy(spec, p, bound, low, high, true, null, null))
            match run stochastic [ "observation", obs, [| int64 rows; int64 o |]; "noise", eps, [| int64 rows; int64 a |] ] [ "action"; "log_prob" ] with
            | [ action; logp ] ->
                let expectedAction, expectedLogp = referenceSample bound out eps rows a low high
                let da, dl = maxDeviation expectedAction (floats action), maxDeviation expectedLogp (floats logp)
                // Saturated means put |u| near 15, where log_prob is about 40 and a float32 ulp is 4e-6, so log_prob is
                // held to 1e-5 relative to its size (at most 1e-5 absolute below 1).
                let relative = Array.map2 (fun (e: float32) (x: float32) -> abs (e - x) / max 1.0f (abs e)) expectedLogp (floats logp) |> Array.max
                output.WriteLine($"{bound}: max deviation action {da:E2}, log_prob {dl:E2} absolute, {relative:E2} relative (max |log_prob| {Array.map abs expectedLogp |> Array.max})")
                Assert.True(da <= tolerance, $"{bound}: action differs by {da}")
                Assert.True(relative <= tolerance, $"{bound}: log_prob differs by {dl}")
            | _ -> failwith "two outputs expected"

    let ``a Soft Q-Learning agent's sampler matches Predict with zero noise and with a seed's noise`` = testCase "a Soft Q-Learning agent's sampler matches Predict with zero noise and with a seed's noise" <| fun () ->
        let path = temp ".onnx"
        try
            let config = SqlConfig(Seed = 3UL, HiddenSizes = [| 16; 16 |], SamplerHiddenSizes = [| 16; 16 |], BatchSize = 16, LearningStarts = 64, EvalInterval = 0)
            use agent = SqlAgent.Create("MultiGoal-v0", config)
            agent.Learn(150L) |> ignore
            agent.ExportOnnx(path)
            use session = new InferenceSession(path)
            for rows in [ 1; 7; 256 ] do
                let obs = observations rows 2 (7UL + uint64 rows)
                let act noise = run session [ "observation", obs, [| int64 rows; 2L |]; "noise", noise, [| int64 rows; 2L |] ] [ "action" ] |> List.head |> floats
                let d0 = maxDeviation (agent.PredictBatch(obs, rows)) (act (Array.zeroCreate (rows * 2)))
                let d1 = maxDeviation (agent.PredictBatch(obs, rows, false, 9UL)) (act (predictNoise rows 2 9UL))
                Assert.True(d0 <= tolerance && d1 <= tolerance, $"batch {rows}: {d0}, {d1}")
            Assert.Equal("sql", session.ModelMetadata.CustomMetadataMap.["algorithm"])
        finally
            File.Delete path

    let ``a DQN-family agent's Q-network gives its Q-values, greedy action and Boltzmann probabilities`` (variant: DqnVariant) =
        let path = temp ".onnx"
        try
            let config = DqnConfig(Seed = 5UL, Variant = variant, HiddenSizes = [| 16; 16 |], BatchSize = 16, LearningStarts = 64, Temperature = 0.5f, EvalInterval = 0)
            use agent = DqnAgent.Create("CartPole-v1", config)
            agent.Learn(200L) |> ignore
            agent.ExportOnnx(path)
            use session = new InferenceSession(path)
            let soft = variant = DqnVariant.SoftDqn
            let trainer = agent.Trainer :?> DqnTrainer
            let names = [ "q_values"; "action" ] @ (if soft then [ "probabilities" ] else [])
            for rows in [ 1; 7; 256 ] do
                let obs = observations rows 4 (3UL + uint64 rows)
                let results = run session [ "observation", obs, [| int64 rows; 4L |] ] names
                let q = floats results.[0]
                let expectedQ = forward trainer.Context.Spec agent.State.Learner.QNetwork obs rows
                Assert.True(maxDeviation expectedQ q <= tolerance, $"batch {rows}: Q-values")
                let greedy = agent.PredictBatch(obs, rows) |> Array.map int64
                Assert.Equal<int64[]>(greedy, longs results.[1])
                if soft then
                    let expectedP = Array.zeroCreate<float32> (rows * 2)
                    for i in 0 .. rows - 1 do
                        Dqn.boltzmannProbabilities 0.5f (ReadOnlySpan(expectedQ, i * 2, 2), Span(expectedP, i * 2, 2))
                    Assert.True(maxDeviation expectedP (floats results.[2]) <= tolerance, $"batch {rows}: probabilities")
            Assert.Equal((agent :> IAgent).Algorithm, session.ModelMetadata.CustomMetadataMap.["algorithm"])
        finally
            File.Delete path

    let ``ELU and LeakyReLU hidden layers export as ONNX Elu and LeakyRelu and match the library's forward pass`` = testCase "ELU and LeakyReLU hidden layers export as ONNX Elu and LeakyRelu and match the library's forward pass" <| fun () ->
        let rows = 256
        for act in [ Activation.Elu; Activation.LeakyRelu ] do
            // A Q-network alone: its outputs are the MLP's own, with no squashing to hide a wrong hidden layer.
            let q = MlpSpec([| 4; 32; 32; 3 |], act, Activation.Identity)
            let pq = Mlp.InitParameters(q, PhiloxKey.FromSeed 8UL)
            let obs = observations rows 4 21UL
            // The inputs do reach the negative piece: a first-layer pre-activation below zero in most rows.
            let first = MlpSpec([| 4; 32 |], Activation.Identity, Activation.Identity)
            let z = forward first (Array.sub pq 0 first.ParameterCount) obs rows
            Assert.True((z |> Array.filter (fun v -> v < -0.1f) |> Array.length) > z.Length / 4, "too few negative pre-activations")
            use session = new InferenceSession(OnnxExport.QNetwork(q, pq, 0.1f, null, null))
            let qValues = run session [ "observation", obs, [| int64 rows; 4L |] ] [ "q_values" ] |> List.head |> floats
            let dq = maxDeviation (forward q pq obs rows) qValues
            output.WriteLine($"{act} Q-network: max |ONNX - library| = {dq:E2}")
            Assert.True(dq <= tolerance, $"{act}: Q-values differ by {dq}")
            // The SAC actor, deterministic and stochastic.
            let o, a = 5, 2
            let spec = MlpSpec([| o; 32; 32; 2 * a |], act, Activation.Identity)
            let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 9UL)
            let low, high = [| -1.0f; -2.0f |], [| 1.0f; 3.0f |]
            let obs = observations rows o 22UL
            let eps = observations rows a 23UL
            let out = forward spec p obs rows
            let bound = LogStdRange.Clamp(-20.0f, 2.0f)
            use stochastic = new InferenceSession(OnnxExport.SacPolicy(spec, p, bound, low, high, true, null, null))
            match run stochastic [ "observation", obs, [| int64 rows; int64 o |]; "noise", eps, [| int64 rows; int64 a |] ] [ "action"; "log_prob" ] with
            | [ action; logp ] ->
                let expectedAction, expectedLogp = referenceSample bound out eps rows a low high
                let da, dl = maxDeviation expectedAction (floats action), maxDeviation expectedLogp (floats logp)
                output.WriteLine($"{act} SAC policy: max deviation action {da:E2}, log_prob {dl:E2}")
                Assert.True(da <= tolerance && dl <= tolerance, $"{act}: action differs by {da}, log_prob by {dl}")
            | _ -> failwith "two outputs expected"

    let ``a SAC agent with ELU hidden layers exports a policy that matches Predict`` = testCase "a SAC agent with ELU hidden layers exports a policy that matches Predict" <| fun () ->
        let path = temp ".onnx"
        try
            use agent = SacAgent.Create("Pendulum-v1", SacConfig(Seed = 4UL, HiddenSizes = [| 16; 16 |], BatchSize = 32, LearningStarts = 64, EvalInterval = 0, Activation = Activation.Elu))
            agent.Learn(200L) |> ignore
            agent.ExportOnnx(path)
            use session = new InferenceSession(path)
            let obs = observations 64 3 6UL
            let onnx = run session [ "observation", obs, [| 64L; 3L |] ] [ "action" ] |> List.head |> floats
            let d = maxDeviation (agent.PredictBatch(obs, 64)) onnx
            Assert.True(d <= tolerance, $"ONNX Runtime differs from Predict by {d}")
        finally
            File.Delete path

    let ``sac export writes a model ONNX Runtime runs, and a bad checkpoint or output exits 2`` = testCase "sac export writes a model ONNX Runtime runs, and a bad checkpoint or output exits 2" <| fun () ->
        let dir = Directory.CreateTempSubdirectory("sac-export-").FullName
        try
            let ckpt = Path.Combine(dir, "final.ckpt")
            do
                use agent = SacAgent.Create("Pendulum-v1", sacConfig)
                agent.Learn(100L) |> ignore
                agent.Save ckpt
            let sac (args: string list) = Sac.Cli.Program.main (Array.ofList args)
            let onnx = Path.Combine(dir, "policy.onnx")
            Assert.Equal(0, sac [ "export"; "--checkpoint"; ckpt; "--onnx"; onnx ])
            use session = new InferenceSession(onnx)
            Assert.Equal<string[]>([| "observation" |], Seq.toArray session.InputNames)
            let stochastic = Path.Combine(dir, "stochastic.onnx")
            Assert.Equal(0, sac [ "export"; "--checkpoint"; ckpt; "--onnx"; stochastic; "--stochastic" ])
            use session = new InferenceSession(stochastic)
            Assert.Equal<string[]>([| "observation"; "noise" |], Seq.toArray session.InputNames)
            Assert.Equal<string[]>([| "action"; "log_prob" |], Seq.toArray session.OutputNames)
            // A malformed or missing checkpoint, an output in a missing folder or on a folder: usage errors.
            let garbage = Path.Combine(dir, "garbage.ckpt")
            File.WriteAllText(garbage, "not a checkpoint")
            Assert.Equal(2, sac [ "export"; "--checkpoint"; garbage; "--onnx"; Path.Combine(dir, "g.onnx") ])
            Assert.Equal(2, sac [ "export"; "--checkpoint"; Path.Combine(dir, "missing.ckpt"); "--onnx"; Path.Combine(dir, "m.onnx") ])
            Assert.Equal(2, sac [ "export"; "--checkpoint"; ckpt; "--onnx"; Path.Combine(dir, "no", "such", "dir", "p.onnx") ])
            Assert.Equal(2, sac [ "export"; "--checkpoint"; ckpt; "--onnx"; dir ])
            Assert.Equal(2, sac [ "export"; "--checkpoint"; ckpt ])
            // --stochastic is SAC's: refused for a DQN checkpoint rather than ignored.
            let dqnCkpt = Path.Combine(dir, "dqn.ckpt")
            do
                use agent = DqnAgent.Create("CartPole-v1", DqnConfig(Seed = 1UL, HiddenSizes = [| 8 |], BatchSize = 16, LearningStarts = 50, EvalInterval = 0))
                agent.Learn(60L) |> ignore
                agent.Save dqnCkpt
            Assert.Equal(2, sac [ "export"; "--checkpoint"; dqnCkpt; "--onnx"; Path.Combine(dir, "d.onnx"); "--stochastic" ])
            Assert.Equal(0, sac [ "export"; "--checkpoint"; dqnCkpt; "--onnx"; Path.Combine(dir, "d.onnx") ])
            Assert.False(File.Exists(Path.Combine(dir, "g.onnx")))
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"))
        finally
            Directory.Delete(dir, true)

    let ``the ONNX checker accepts every exported model`` = onnxCheckerCase "the ONNX checker accepts every exported model" <| fun () ->
        let dir = Directory.CreateTempSubdirectory("sac-export-check-").FullName
        try
            let spec = MlpSpec([| 3; 8; 2 |], Activation.Relu, Activation.Identity)
            let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 1UL)
            let sampler = MlpSpec([| 4; 8; 1 |], Activation.Relu, Activation.Tanh)
            let q = MlpSpec([| 3; 8; 4 |], Activation.Relu, Activation.Identity)
            let qElu = MlpSpec([| 3; 8; 4 |], Activation.Elu, Activation.Identity)
            let qLeaky = MlpSpec([| 3; 8; 4 |], Activation.LeakyRelu, Activation.Identity)
            let models =
                [ "det", OnnxExport.SacPolicy(spec, p, LogStdRange.Default, [| -2.0f |], [| 2.0f |], false, null, null)
                  "sto", OnnxExport.SacPolicy(spec, p, LogStdRange.TanhRescale(-5.0f, 2.0f), [| -2.0f |], [| 2.0f |], true, null, null)
                  "sql", OnnxExport.SqlSampler(sampler, Mlp.InitParameters(sampler, PhiloxKey.FromSeed 2UL), [| -1.0f |], [| 1.0f |], null, null)
                  "dqn", OnnxExport.QNetwork(q, Mlp.InitParameters(q, PhiloxKey.FromSeed 3UL), 0.1f, null, null)
                  "elu", OnnxExport.QNetwork(qElu, Mlp.InitParameters(qElu, PhiloxKey.FromSeed 4UL), 0.1f, null, null)
                  "leaky", OnnxExport.QNetwork(qLeaky, Mlp.InitParameters(qLeaky, PhiloxKey.FromSeed 5UL), 0.1f, null, null) ]
            for name, bytes in models do
                let path = Path.Combine(dir, name + ".onnx")
                File.WriteAllBytes(path, bytes)
                let python = match onnxPython.Force() with Ok p -> p | Error e -> failwith e
                let psi = ProcessStartInfo(python, $"-c \"import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\" \"{path}\"",
                                           RedirectStandardError = true, UseShellExecute = false)
                use proc = nonNull (Process.Start psi)
                let err = proc.StandardError.ReadToEnd()
                proc.WaitForExit()
                Assert.True((proc.ExitCode = 0), $"{name}: {err}")
        finally
            Directory.Delete(dir, true)

    let ``ONNX Runtime's inference rate beside Predict's, at batch 1 and 256`` = testCase "ONNX Runtime's inference rate beside Predict's, at batch 1 and 256" <| fun () ->
        // A measurement for the record, not a speed requirement: it only checks that both ran.
        let path = temp ".onnx"
        try
            use agent = SacAgent.Create("Pendulum-v1", SacConfig(Seed = 1UL, HiddenSizes = [| 256; 256 |], LearningStarts = 100_000, EvalInterval = 0))
            agent.ExportOnnx(path)
            use options = new SessionOptions(IntraOpNumThreads = 1, InterOpNumThreads = 1)
            use session = new InferenceSession(path, options)
            for rows in [ 1; 256 ] do
                let obs = observations rows 3 1UL
                let shape = [| int64 rows; 3L |]
                let rate (f: unit -> unit) =
                    f ()
                    let sw = Stopwatch.StartNew()
                    let mutable n = 0
                    while sw.ElapsedMilliseconds < 300L do
                        f ()
                        n <- n + 1
                    float (n * rows) / sw.Elapsed.TotalSeconds
                let ort = rate (fun () -> run session [ "observation", obs, shape ] [ "action" ] |> ignore)
                let lib = rate (fun () -> agent.PredictBatch(obs, rows) |> ignore)
                output.WriteLine($"batch {rows}: ONNX Runtime {ort:F0} observations/s, Predict {lib:F0} observations/s")
                Assert.True(ort > 0.0 && lib > 0.0)
        finally
            File.Delete path

let tests = testList "OnnxExport" [
    OnnxExportTests.``examples/python/load_policy.py reads the actor from final.ckpt and computes sac's actions and log-probabilities``
    OnnxExportTests.``examples/python/to_torch.py builds the actor as a torch module that computes sac's actions and log-probabilities``
    OnnxExportTests.``examples/python/load_policy.py honours separate actor sizes, stored observation statistics and gSDE``
    OnnxExportTests.``examples/python/to_torch.py honours separate actor sizes, stored observation statistics and gSDE``
    OnnxExportTests.``a SAC agent's deterministic ONNX policy matches Predict at batch 1, 7 and 256``
    OnnxExportTests.``a normalising agent's ONNX model takes raw observations and matches Predict (SAC and DQN)``
    OnnxExportTests.``a SAC agent's stochastic ONNX policy gives a seeded Predict's action and TanhGaussian's log-probability``
    OnnxExportTests.``a SAC v1 agent exports the same kind of policy``
    OnnxExportTests.``a SAC actor with several asymmetric bounds, saturated means and either log-std bound matches the library``
    OnnxExportTests.``a Soft Q-Learning agent's sampler matches Predict with zero noise and with a seed's noise``
    testList "a DQN-family agent's Q-network gives its Q-values, greedy action and Boltzmann probabilities" [
        testCase "variant: DqnVariant.Dqn" <| fun () -> OnnxExportTests.``a DQN-family agent's Q-network gives its Q-values, greedy action and Boltzmann probabilities`` (DqnVariant.Dqn)
        testCase "variant: DqnVariant.DoubleDqn" <| fun () -> OnnxExportTests.``a DQN-family agent's Q-network gives its Q-values, greedy action and Boltzmann probabilities`` (DqnVariant.DoubleDqn)
        testCase "variant: DqnVariant.SoftDqn" <| fun () -> OnnxExportTests.``a DQN-family agent's Q-network gives its Q-values, greedy action and Boltzmann probabilities`` (DqnVariant.SoftDqn)
    ]
    OnnxExportTests.``ELU and LeakyReLU hidden layers export as ONNX Elu and LeakyRelu and match the library's forward pass``
    OnnxExportTests.``a SAC agent with ELU hidden layers exports a policy that matches Predict``
    OnnxExportTests.``sac export writes a model ONNX Runtime runs, and a bad checkpoint or output exits 2``
    OnnxExportTests.``the ONNX checker accepts every exported model``
    OnnxExportTests.``ONNX Runtime's inference rate beside Predict's, at batch 1 and 256``
]
