/// Bad or unusual input from a newcomer's probe: each case keeps the behaviour it was fixed to.
module HardeningTests

open System
open System.IO
open System.Text.Json
open Xunit
open Expecto
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Fs

let private sac (args: string list) = Sac.Cli.Program.main (Array.ofList args)

let private withDir (f: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("sac-hardening-").FullName
    try f dir finally Directory.Delete(dir, true)

let private runConfig (dir: string) =
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))
    doc.RootElement.Clone()

let ``a --config seed and variant stand unless --seed or --algo is given`` = testCase "a --config seed and variant stand unless --seed or --algo is given" <| fun () ->
    withDir (fun root ->
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"seed": 5, "variant": "V1", "hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        let a = Path.Combine(root, "a")
        Assert.Equal(0, sac [ "train"; "--env"; "PointGoal-v0"; "--steps"; "150"; "--config"; cfg; "--out"; a; "--quiet" ])
        let run = runConfig a
        Assert.Equal(5UL, run.GetProperty("seed").GetUInt64())
        Assert.Equal("sac-v1", run.GetProperty("algorithm").GetString())
        Assert.Equal("V1", run.GetProperty("config").GetProperty("variant").GetString())
        let b = Path.Combine(root, "b")
        Assert.Equal(0, sac [ "train"; "--env"; "PointGoal-v0"; "--steps"; "150"; "--config"; cfg; "--out"; b; "--seed"; "7"; "--algo"; "sac"; "--quiet" ])
        Assert.Equal(7UL, (runConfig b).GetProperty("seed").GetUInt64())
        Assert.Equal("V2", (runConfig b).GetProperty("config").GetProperty("variant").GetString())
        // Invalid variants in the file are reported, not overwritten by a default.
        for bad in [ "\"V3\""; "1" ] do
            File.WriteAllText(cfg, $"{{\"variant\": {bad}}}")
            let c = Path.Combine(root, "c")
            Assert.Equal(2, sac [ "train"; "--env"; "PointGoal-v0"; "--steps"; "150"; "--config"; cfg; "--out"; c; "--quiet" ])
            Assert.False(Directory.Exists c))

let ``a DQN --config's seed and run length stand unless --seed or --steps is given`` = testCase "a DQN --config's seed and run length stand unless --seed or --steps is given" <| fun () ->
    withDir (fun root ->
        let cfg = Path.Combine(root, "d.json")
        File.WriteAllText(cfg, """{"seed": 9, "totalTimesteps": 700, "variant": "DoubleDqn"}""")
        let req = { Sac.Cli.Options.defaultRequest "CartPole-v1" with Algo = "dqn"; SeedGiven = false; ConfigFile = Some cfg }
        let c = Sac.Cli.Options.resolveDqnConfig req
        Assert.Equal(9UL, c.Seed)
        Assert.Equal(700L, c.TotalTimesteps)
        // --algo is the command line's choice of variant; --steps and --seed override the file when given.
        Assert.Equal(DqnVariant.Dqn, c.Variant)
        let c = Sac.Cli.Options.resolveDqnConfig { req with Steps = Some 900L; SeedGiven = true; Seed = 2UL }
        Assert.Equal((2UL, 900L), (c.Seed, c.TotalTimesteps)))

let ``sac eval uses the checkpoint's environment, and another only with --force-env`` = testCase "sac eval uses the checkpoint's environment, and another only with --force-env" <| fun () ->
    withDir (fun root ->
        let run = Path.Combine(root, "r")
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        Assert.Equal(0, sac [ "train"; "--env"; "MountainCarContinuous-v0"; "--steps"; "120"; "--config"; cfg; "--out"; run; "--quiet" ])
        let ckpt = Path.Combine(run, "final.ckpt")
        Assert.Equal(0, sac [ "eval"; "--checkpoint"; ckpt; "--episodes"; "1" ])
        // Pendulum has other spaces; MountainCarContinuous's own id is fine.
        Assert.Equal(0, sac [ "eval"; "--checkpoint"; ckpt; "--env"; "MountainCarContinuous-v0"; "--episodes"; "1" ])
        let refused = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Evaluate.eval ckpt "PointGoal-v0" 1 0UL |> ignore)
        Assert.Contains("trained on MountainCarContinuous-v0, not PointGoal-v0", refused.Data0)
        Assert.Contains("--force-env", refused.Data0)
        // Forced onto an environment whose spaces do not fit: the misfit is still refused.
        let misfit = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Evaluate.evaluate ckpt "PointGoal-v0" true 1 0UL |> ignore)
        Assert.Contains("does not fit PointGoal-v0", misfit.Data0))

let ``--device cuda with gSDE is a usage error naming gSDE, before any GPU is looked for`` = testCase "--device cuda with gSDE is a usage error naming gSDE, before any GPU is looked for" <| fun () ->
    withDir (fun root ->
        let saved = Console.Error
        use err = new StringWriter()
        Console.SetError err
        let code =
            try sac [ "train"; "--env"; "MountainCarContinuous-v0"; "--steps"; "50"; "--device"; "cuda"; "--out"; Path.Combine(root, "r"); "--quiet" ]
            finally Console.SetError saved
        Assert.NotEqual(0, code)
        Assert.Contains("gSDE (useSde) runs on the CPU only", err.ToString()))

let ``a misspelt preset id is an error with a suggestion, not silent defaults`` = testCase "a misspelt preset id is an error with a suggestion, not silent defaults" <| fun () ->
    let e = Assert.Throws<ArgumentException>(fun () -> Presets.forEnvironment "Pendulum-V1" |> ignore)
    Assert.Contains("Did you mean Pendulum-v1?", e.Message)
    Assert.Equal(SacConfig(), Presets.forEnvironment "CartPole-v1")

/// Never ends an episode by itself; declares a 25-step limit that nothing wraps around it.
type private Endless() =
    interface IEnvironment with
        member _.Id = "EndlessHardening-v0"
        member _.ObservationSpace = Box.Uniform(1, -1f, 1f)
        member _.ActionSpace = Box.Uniform(1, -1f, 1f)
        member _.MaxEpisodeSteps = Nullable 25
        member _.Reset(_, observation) = observation.[0] <- 0f
        member _.Step(_, observation) =
            observation.[0] <- 0f
            StepResult(1f, false, false)

let ``evaluation ends episodes at the declared limit even without a TimeLimit wrapper`` = testCase "evaluation ends episodes at the declared limit even without a TimeLimit wrapper" <| fun () ->
    use endless = SacAgent.Create((fun () -> Endless() :> IEnvironment), SacConfig(HiddenSizes = [| 8 |], EvalInterval = 0))
    // An instance passed as it is (no TimeLimit): 25 steps of reward 1 per episode, not an endless loop.
    let r = endless.Evaluate(Endless(), 2, 0UL)
    Assert.Equal<float[]>([| 25.0; 25.0 |], r.Returns)

let ``a fault before the first checkpoint says to start again, and the directory can be reused`` = testCase "a fault before the first checkpoint says to start again, and the directory can be reused" <| fun () ->
    withDir (fun root ->
        let bad = Path.Combine(root, "bad.json")
        File.WriteAllText(bad, """{"actorLearningRate":1e30,"criticLearningRate":1e30,"learningStarts":60,"hiddenSizes":[16,16],"evalInterval":0}""")
        let out = Path.Combine(root, "run")
        let req = { Sac.Cli.Options.defaultRequest "Pendulum-v1" with Steps = Some 3000L; Out = Some out; ConfigFile = Some bad; CheckpointEvery = Some 2000L }
        let e = Assert.Throws<Sac.Cli.Options.TrainingFault>(fun () -> Sac.Cli.Run.train req |> ignore)
        Assert.Contains("nothing to resume", e.Data0)
        Assert.DoesNotContain("--resume", e.Data0)
        let fixedCfg = Path.Combine(root, "ok.json")
        File.WriteAllText(fixedCfg, """{"learningStarts":60,"hiddenSizes":[16,16],"evalInterval":0}""")
        Assert.Equal(0, Sac.Cli.Run.train { req with Steps = Some 200L; ConfigFile = Some fixedCfg })
        Assert.True(File.Exists(Path.Combine(out, "final.ckpt"))))

let ``the default checkpoint interval is a tenth of the run, between 1000 and 10000 steps`` = testCase "the default checkpoint interval is a tenth of the run, between 1000 and 10000 steps" <| fun () ->
    Assert.Equal(1000L, Sac.Cli.Run.defaultCheckpointInterval 3000L)
    Assert.Equal(2000L, Sac.Cli.Run.defaultCheckpointInterval 20_000L)
    Assert.Equal(10_000L, Sac.Cli.Run.defaultCheckpointInterval 1_000_000L)
    Assert.Equal(10_000L, Sac.Cli.Run.defaultCheckpointInterval Int64.MaxValue)

let ``resume refuses fewer steps than done and another algorithm, touching nothing`` = testCase "resume refuses fewer steps than done and another algorithm, touching nothing" <| fun () ->
    withDir (fun root ->
        let out = Path.Combine(root, "run")
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        Assert.Equal(0, sac [ "train"; "--env"; "PointGoal-v0"; "--steps"; "400"; "--config"; cfg; "--out"; out; "--quiet" ])
        let before = [ for f in Directory.GetFiles out -> f, File.ReadAllBytes f ]
        Assert.Equal(2, sac [ "train"; "--resume"; out; "--steps"; "200"; "--quiet" ])
        Assert.Equal(2, sac [ "train"; "--resume"; out; "--algo"; "sql"; "--steps"; "600"; "--quiet" ])
        for f, bytes in before do Assert.Equal<byte[]>(bytes, File.ReadAllBytes f)
        Assert.Equal(0, sac [ "train"; "--resume"; out; "--algo"; "sac"; "--steps"; "500"; "--quiet" ]))

let ``--n-envs is at least 1, and a resumed run keeps its own number and continues exactly`` = testCase "--n-envs is at least 1, and a resumed run keeps its own number and continues exactly" <| fun () ->
    withDir (fun root ->
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 150}""")
        let train (out: string) (extra: string list) =
            sac ([ "train"; "--env"; "PointGoal-v0"; "--config"; cfg; "--out"; Path.Combine(root, out); "--quiet"; "--save-replay" ] @ extra)
        Assert.Equal(2, train "none" [ "--steps"; "300"; "--n-envs"; "0" ])
        Assert.False(Directory.Exists(Path.Combine(root, "none")))
        Assert.Equal(0, train "whole" [ "--steps"; "600"; "--n-envs"; "3" ])
        Assert.Equal(0, train "part" [ "--steps"; "300"; "--n-envs"; "3" ])
        let part = Path.Combine(root, "part")
        // --n-envs is the configuration's nEnvs: config.json records it, and the key alone does the same run.
        Assert.Contains("\"nEnvs\": 3", File.ReadAllText(Path.Combine(root, "whole", "config.json")))
        let keyed = Path.Combine(root, "k.json")
        File.WriteAllText(keyed, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 150, "nEnvs": 3}""")
        Assert.Equal(0, sac [ "train"; "--env"; "PointGoal-v0"; "--config"; keyed; "--out"; Path.Combine(root, "keyed"); "--quiet"; "--save-replay"; "--steps"; "600" ])
        Assert.Equal<byte[]>(File.ReadAllBytes(Path.Combine(root, "whole", "final.ckpt")), File.ReadAllBytes(Path.Combine(root, "keyed", "final.ckpt")))
        let before = [ for f in Directory.GetFiles part -> f, File.ReadAllBytes f ]
        Assert.Equal(2, sac [ "train"; "--resume"; part; "--steps"; "600"; "--n-envs"; "2"; "--quiet" ])
        for f, bytes in before do Assert.Equal<byte[]>(bytes, File.ReadAllBytes f)
        Assert.Equal(0, sac [ "train"; "--resume"; part; "--steps"; "600"; "--quiet" ])
        Assert.Equal<byte[]>(File.ReadAllBytes(Path.Combine(root, "whole", "final.ckpt")), File.ReadAllBytes(Path.Combine(part, "final.ckpt")))
        // Steps count every environment's: the rows fall on multiples of 3.
        let steps = File.ReadAllLines(Path.Combine(root, "whole", "metrics.csv")) |> Array.skip 1 |> Array.map (fun l -> int64 (l.Split(',').[0]))
        Assert.NotEmpty steps
        Assert.All(steps, fun s -> Assert.Equal(0L, s % 3L)))

let ``config.json records the GEMM a run started on, and a resume on another GEMM says it rounds differently`` = testCase "config.json records the GEMM a run started on, and a resume on another GEMM says it rounds differently" <| fun () ->
    withDir (fun root ->
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        let here = Sac.Core.Compute.GemmProvider.Describe(Sac.Core.Compute.GemmProvider.Create 1)
        for algo, env in [ "sac", "PointGoal-v0"; "sql", "PointGoal-v0"; "dqn", "CartPole-v1" ] do
            let out = Path.Combine(root, algo)
            Assert.Equal(0, sac [ "train"; "--env"; env; "--algo"; algo; "--steps"; "300"; "--config"; cfg; "--out"; out; "--checkpoint-every"; "100"; "--quiet" ])
            let configPath = Path.Combine(out, "config.json")
            Assert.Equal(here, (runConfig out).GetProperty("gemm").GetString())
            let resume (steps: int) =
                let saved = Console.Error
                use err = new StringWriter()
                Console.SetError err
                let code = try sac [ "train"; "--resume"; out; "--steps"; string steps ] finally Console.SetError saved
                Assert.Equal(0, code)
                err.ToString()
            // On the provider it started on, a resume says nothing about the GEMM.
            Assert.DoesNotContain("GEMM", resume 350)
            // Started elsewhere: the resume says so, and config.json keeps where the run started.
            File.WriteAllText(configPath, File.ReadAllText(configPath).Replace($"\"gemm\": \"{here}\"", "\"gemm\": \"openblas\""))
            let said = resume 400
            Assert.Contains($"this run started on the openblas GEMM and continues on {here}, which rounds differently", said)
            Assert.Equal("openblas", (runConfig out).GetProperty("gemm").GetString())
            // A file from before the key existed resumes quietly, and stays without it.
            File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"gemm\": \"openblas\",", ""))
            Assert.DoesNotContain("GEMM", resume 450)
            let hasGemm, _ = (runConfig out).TryGetProperty "gemm"
            Assert.False hasGemm)

/// Declares 3 observation elements in [-1, 1] and writes only the first two; `value` goes into element 0.
type private Careless(value: float32) =
    interface IEnvironment with
        member _.Id = "Careless-v0"
        member _.ObservationSpace = Box.Uniform(3, -1f, 1f)
        member _.ActionSpace = Box.Uniform(1, -1f, 1f)
        member _.MaxEpisodeSteps = Nullable 10
        member _.Reset(_, observation) =
            observation.[0] <- 0f
            observation.[1] <- 0f
        member _.Step(_, observation) =
            observation.[0] <- value
            observation.[1] <- 0f
            StepResult(0f, false, false)

let ``the checked environment catches an element never written and one outside a declared finite box`` = testCase "the checked environment catches an element never written and one outside a declared finite box" <| fun () ->
    let obs = Array.create 3 0.5f
    let env = CheckedEnvironment(Careless(0f))
    // A stale 0.5 in the caller's buffer must not pass for the third element.
    let e = Assert.Throws<EnvironmentCheckException>(fun () -> env.Reset(Nullable 0UL, Span obs))
    Assert.Equal("Careless-v0, step 0 (reset): observation[2] is NaN", e.Message.Replace(" (at reset)", " (reset)"))
    Assert.Equal(2, e.Index)
    let full = CheckedEnvironment(TimeLimit(Pendulum(), 200))
    let o3 = Array.zeroCreate<float32> 3
    full.Reset(Nullable 0UL, Span o3)
    // Outside the declared box: element 0 = 3 in [-1, 1].
    let outside = Careless(3f)
    let wrapped =
        { new IEnvironment with
            member _.Id = "Careless-v0"
            member _.ObservationSpace = Box.Uniform(2, -1f, 1f)
            member _.ActionSpace = Box.Uniform(1, -1f, 1f)
            member _.MaxEpisodeSteps = Nullable 10
            member _.Reset(s, o) = let b = Array.zeroCreate<float32> 3 in (outside :> IEnvironment).Reset(s, Span b); b.AsSpan(0, 2).CopyTo o
            member _.Step(a, o) = let b = Array.zeroCreate<float32> 3 in let r = (outside :> IEnvironment).Step(a, Span b) in b.AsSpan(0, 2).CopyTo o; r }
    let env = CheckedEnvironment(wrapped)
    let o2 = Array.zeroCreate<float32> 2
    env.Reset(Nullable 0UL, Span o2)
    let e = Assert.Throws<EnvironmentCheckException>(fun () -> env.Step(ReadOnlySpan [| 0f |], Span o2) |> ignore)
    Assert.Contains("observation[0] = 3 is outside the observation space [-1, 1]", e.Message)

/// Whether this process ignores SIGINT: a background job of a shell without job control does, its children inherit
/// that, and .NET keeps an inherited SIGINT ignored, so `sac train` started from here can never see one.
let private ignoresSigint () =
    try
        File.ReadAllLines "/proc/self/status"
        |> Array.tryFind (fun l -> l.StartsWith "SigIgn:")
        |> Option.map (fun l -> (Convert.ToUInt64(l.Substring(7).Trim(), 16) &&& 2UL) <> 0UL)
        |> Option.defaultValue false
    with :? IOException -> false

let ``SIGINT and SIGTERM stop training with a checkpoint and one line naming the resume command`` (signal: string, code: int) =
    if signal = "INT" && ignoresSigint () then
        skiptest "this test process ignores SIGINT (started in the background without job control), and the run it starts inherits that; SIGTERM is still tested"
    withDir (fun root ->
        let out = Path.Combine(root, "run")
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        let sac = Path.Combine(AppContext.BaseDirectory, "sac.dll")
        let psi =
            Diagnostics.ProcessStartInfo("dotnet", $"\"{sac}\" train --env Pendulum-v1 --steps 1000000 --config \"{cfg}\" --out \"{out}\" --quiet",
                                         RedirectStandardError = true, UseShellExecute = false)
        use p = nonNull (Diagnostics.Process.Start psi)
        // --quiet: the run writes one line to stderr at most, so it is read after the exit.
        let exitedWithin (q: Diagnostics.Process) (seconds: float) =
            let deadline = DateTime.UtcNow.AddSeconds seconds
            while DateTime.UtcNow < deadline && not q.HasExited do Threading.Thread.Sleep 100
            q.HasExited
        // Wait (bounded) until the run has finished an episode, so the signal lands mid-training.
        let csv = Path.Combine(out, "metrics.csv")
        let deadline = DateTime.UtcNow.AddSeconds 60.0
        while DateTime.UtcNow < deadline && not (File.Exists csv && File.ReadAllLines(csv).Length >= 2) do
            Threading.Thread.Sleep 100
        Assert.True(File.Exists csv, "the run never wrote metrics.csv")
        use kill = Diagnostics.Process.Start("kill", $"-{signal} {p.Id}")
        Assert.True(exitedWithin kill 30.0, "kill did not return")
        if not (exitedWithin p 60.0) then
            p.Kill true
            let wrote = File.Exists(Path.Combine(out, "checkpoint.ckpt"))
            failwith $"the run did not stop within 60 s of the signal (checkpoint written: {wrote})"
        Assert.Equal(code, p.ExitCode)
        let lines = p.StandardError.ReadToEnd().Trim().Split('\n')
        Assert.Equal(1, lines.Length)
        Assert.Contains($"sac train --resume {out}", lines.[0])
        Assert.True(File.Exists(Path.Combine(out, "checkpoint.ckpt")))
        Assert.False(File.Exists(Path.Combine(out, "final.ckpt")))
        // The checkpoint resumes.
        Assert.Equal(0, Sac.Cli.Program.main [| "train"; "--resume"; out; "--steps"; "2000"; "--quiet" |]))

let ``bad output places, sizes and config files exit 2 before anything is written`` = testCase "bad output places, sizes and config files exit 2 before anything is written" <| fun () ->
    withDir (fun root ->
        let file = Path.Combine(root, "a-file")
        File.WriteAllText(file, "")
        let write name (text: string) =
            let p = Path.Combine(root, name)
            File.WriteAllText(p, text)
            p
        let big = write "big.json" """{"hiddenSizes": [100000, 100000]}"""
        let huge = write "huge.json" """{"bufferSize": 2000000000}"""
        let dup = write "dup.json" """{"seed": 1, "seed": 2}"""
        let run = Path.Combine(root, "run")
        let cases =
            [ [ "--out"; file ], "is a file"
              [ "--out"; "" ], "must not be empty"
              [ "--out"; "/proc/sac-nope/run" ], "cannot write in"
              [ "--out"; run; "--config"; big ], "cannot be built"
              [ "--out"; run; "--config"; huge ], "more than the"
              [ "--out"; run; "--config"; dup ], "appears more than once"
              [ "--out"; run; "--config"; root ], "is a directory"
              [ "--out"; run; "--json"; "--quiet" ], "cannot be combined" ]
        for args, expected in cases do
            let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () ->
                let req = { Sac.Cli.Options.defaultRequest "PointGoal-v0" with Steps = Some 100L }
                let rec apply (req: Sac.Cli.Options.TrainRequest) args =
                    match args with
                    | "--out" :: o :: rest -> apply { req with Out = Some o } rest
                    | "--config" :: c :: rest -> apply { req with ConfigFile = Some c } rest
                    | "--json" :: rest -> apply { req with Progress = Sac.Cli.Progress.JsonLines } rest
                    | "--quiet" :: rest -> apply { req with QuietGiven = true } rest
                    | _ -> req
                Sac.Cli.Run.train (apply req args) |> ignore)
            Assert.Contains(expected, e.Data0)
            Assert.False(Directory.Exists run, $"{args}: {run} was created")
        // The command line: a misspelt option is one line with a hint, exit 2.
        Assert.Equal(2, sac [ "train"; "--env"; "PointGoal-v0"; "--stepz"; "100" ]))

let ``unknown keys and wrongly typed values of a config are all reported at once`` = testCase "unknown keys and wrongly typed values of a config are all reported at once" <| fun () ->
    let e = Assert.Throws<FormatException>(fun () -> Sac.Core.Runs.ConfigJson.Deserialize("""{"seed": "x", "gamma": "y", "nope": 1}""", "c.json") |> ignore)
    Assert.StartsWith("c.json: 3 problems:", e.Message)
    for part in [ "unknown key 'nope'"; "the value of 'gamma' has the wrong type"; "the value of 'seed' has the wrong type" ] do
        Assert.Contains(part, e.Message)

let ``solve says when rewards overflow, plot says when there is nothing to plot and names a bad file once`` = testCase "solve says when rewards overflow, plot says when there is nothing to plot and names a bad file once" <| fun () ->
    withDir (fun root ->
        let mdp = Path.Combine(root, "ovf.json")
        File.WriteAllText(mdp, """{"transitions":[[[1.0]]],"rewards":[[1e308]]}""")
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Solve.run mdp 1.0 0.99 |> ignore)
        Assert.Contains("overflow", e.Data0)
        Assert.DoesNotContain("smaller --gamma", e.Data0)
        let csv = Path.Combine(root, "metrics.csv")
        File.WriteAllText(csv, "step,episode_return,eval_return\n100,-5,\n200,-4,\n")
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Plot.plot [ csv ] "eval_return" (Path.Combine(root, "c.svg")) None |> ignore)
        Assert.Contains("no 'eval_return' values to plot", e.Data0)
        Assert.Equal(0, Sac.Cli.Plot.plot [ csv ] "episode_return" (Path.Combine(root, "c.svg")) None)
        File.WriteAllText(csv, "step,eval_return\n1,abc\n")
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Plot.plot [ csv ] "eval_return" (Path.Combine(root, "c.svg")) None |> ignore)
        Assert.Equal(1, (e.Data0.Split(csv)).Length - 1))

let ``an output file in a missing directory and a bench filter that selects nothing are usage errors that say so`` = testCase "an output file in a missing directory and a bench filter that selects nothing are usage errors that say so" <| fun () ->
    withDir (fun root ->
        let run = Path.Combine(root, "run")
        Assert.Equal(0, sac [ "train"; "--env"; "PointGoal-v0"; "--steps"; "200"; "--out"; run; "--quiet" ])
        let missing = Path.Combine(root, "no-such-dir")
        let onnx, svg = Path.Combine(missing, "p.onnx"), Path.Combine(missing, "c.svg")
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Export.export (Path.Combine(run, "final.ckpt")) onnx false |> ignore)
        Assert.Equal($"--onnx {onnx}: the directory {missing} does not exist", e.Data0)
        let e = Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Plot.plot [ run ] "episode_return" svg None |> ignore)
        Assert.Equal($"--out {svg}: the directory {missing} does not exist", e.Data0)
        Assert.False(Directory.Exists missing)
        // Where the directory exists, both write.
        Assert.Equal(0, Sac.Cli.Export.export (Path.Combine(run, "final.ckpt")) (Path.Combine(root, "p.onnx")) false)
        Assert.Equal(0, Sac.Cli.Plot.plot [ run ] "episode_return" (Path.Combine(root, "c.svg")) None))
    match Sac.Cli.Bench.filterProblem "gemn" with
    | Some problem ->
        Assert.StartsWith("--filter gemn: no measurement's name contains it", problem)
        for name in Sac.Cli.Bench.lineNames do Assert.Contains(name, problem)
    | None -> failwith "a filter that selects nothing was taken"
    for filter in [ "gemm"; "SAC_UPDATE"; "cuda"; "scaling"; "_" ] do
        Assert.True((Sac.Cli.Bench.filterProblem filter).IsNone, filter)
    Assert.Equal(2, sac [ "bench"; "--filter"; "gemn" ])

let ``more threads than processors is a warning naming both, and as many is none`` = testCase "more threads than processors is a warning naming both, and as many is none" <| fun () ->
    let processors = Environment.ProcessorCount
    match Sac.Cli.Options.threadsWarning (processors + 1) with
    | Some w -> Assert.StartsWith($"warning: --threads {processors + 1} is more than the {processors} processors", w)
    | None -> failwith "no warning for more threads than processors"
    for t in [ 1; processors ] do Assert.True((Sac.Cli.Options.threadsWarning t).IsNone, $"--threads {t}")

let ``after a resume, wall_seconds goes on from the checkpoint's row instead of restarting at zero`` = testCase "after a resume, wall_seconds goes on from the checkpoint's row instead of restarting at zero" <| fun () ->
    withDir (fun root ->
        let out = Path.Combine(root, "run")
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        Assert.Equal(0, sac [ "train"; "--env"; "PointGoal-v0"; "--steps"; "400"; "--config"; cfg; "--out"; out; "--quiet"; "--checkpoint-every"; "200" ])
        let wall () =
            let struct (columns, rows) = Sac.Core.Runs.MetricsCsv.Read(Path.Combine(out, "metrics.csv"))
            let s, w = Array.IndexOf(columns, "step"), Array.IndexOf(columns, "wall_seconds")
            [ for r in rows -> r.[s].Value, r.[w].Value ]
        let before = wall () |> List.filter (fun (s, _) -> s <= 400.0) |> List.last |> snd
        Assert.Equal(0, sac [ "train"; "--resume"; out; "--steps"; "700"; "--quiet" ])
        let after = wall () |> List.filter (fun (s, _) -> s > 400.0)
        Assert.NotEmpty(after)
        Assert.All(after, fun (_, w) -> Assert.True(w >= before, $"wall_seconds {w} after the resume, {before} before it"))
        // Monotone over the whole file.
        let ws = wall () |> List.map snd
        Assert.Equal<float list>(List.sort ws, ws))

let ``a resume that extends a run keeps the original steps in config.json and records the extension`` = testCase "a resume that extends a run keeps the original steps in config.json and records the extension" <| fun () ->
    withDir (fun root ->
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [16, 16], "learningStarts": 50, "evalInterval": 0}""")
        for algo in [ "sac"; "sql" ] do
            let out = Path.Combine(root, algo)
            let env = if algo = "sql" then "MultiGoal-v0" else "PointGoal-v0"
            let config = if algo = "sql" then [] else [ "--config"; cfg ]
            Assert.Equal(0, sac ([ "train"; "--env"; env; "--algo"; algo; "--steps"; "300"; "--out"; out; "--quiet" ] @ config))
            Assert.Equal(0, sac [ "train"; "--resume"; out; "--steps"; "450"; "--quiet" ])
            let run = runConfig out
            Assert.Equal(300L, run.GetProperty("steps").GetInt64())
            Assert.Equal(450L, run.GetProperty("extendedTo").GetInt64())
            // A resume without --steps goes to the extended length (here: nothing left to do), and keeps both.
            Assert.Equal(0, sac [ "train"; "--resume"; out; "--quiet" ])
            Assert.Equal(450L, (runConfig out).GetProperty("extendedTo").GetInt64())
            Assert.Equal(300L, (runConfig out).GetProperty("steps").GetInt64()))

/// A finite but enormous reward: every step pays 3e38 (float32's largest is 3.4e38).
type private HugeReward() =
    let mutable x = 0f
    interface IEnvironment with
        member _.Id = "HugeReward-v0"
        member _.ObservationSpace = Box.Uniform(1, -1f, 1f)
        member _.ActionSpace = Box.Uniform(1, -1f, 1f)
        member _.MaxEpisodeSteps = Nullable 20
        member _.Reset(_, observation) = x <- 0f; observation.[0] <- x
        member _.Step(action, observation) =
            x <- Math.Clamp(x + 0.1f * action.[0], -1f, 1f)
            observation.[0] <- x
            StepResult(3e38f, false, false)

let ``a finite but enormous reward that makes the critic loss infinite is caught with the step named, from the agent and the CLI`` = testCase "a finite but enormous reward that makes the critic loss infinite is caught with the step named, from the agent and the CLI" <| fun () ->
    let config = SacConfig(HiddenSizes = [| 8 |], BatchSize = 16, LearningStarts = 32, EvalInterval = 0)
    use agent = SacAgent.Create((fun () -> HugeReward() :> IEnvironment), config)
    let e = Assert.Throws<Sac.Core.Runs.NumericalFaultException>(fun () -> agent.Learn(200L) |> ignore)
    Assert.Contains("step", e.Message)
    withDir (fun root ->
        let cfg = Path.Combine(root, "c.json")
        File.WriteAllText(cfg, """{"hiddenSizes": [8], "batchSize": 16, "learningStarts": 32, "evalInterval": 0}""")
        let req = { Sac.Cli.Options.defaultRequest "HugeReward-v0" with Steps = Some 200L; Out = Some(Path.Combine(root, "r")); ConfigFile = Some cfg }
        let fault = Assert.Throws<Sac.Cli.Options.TrainingFault>(fun () -> Sac.Cli.Run.train req |> ignore)
        Assert.Contains("step", fault.Data0))

/// HugeReward with two discrete actions (left, right), for the DQN family.
type private HugeRewardDiscrete() =
    let mutable x = 0f
    interface IEnvironment with
        member _.Id = "HugeRewardDiscrete-v0"
        member _.ObservationSpace = Box.Uniform(1, -1f, 1f)
        member _.ActionSpace = Box.Uniform(1, 0f, 1f)
        member _.MaxEpisodeSteps = Nullable 20
        member _.Reset(_, observation) = x <- 0f; observation.[0] <- x
        member _.Step(action, observation) =
            x <- Math.Clamp(x + (if action.[0] = 1f then 0.1f else -0.1f), -1f, 1f)
            observation.[0] <- x
            StepResult(3e38f, false, false)
    interface IDiscreteActions with
        member _.ActionCount = 2

let ``every algorithm's numerical check catches the enormous reward where it makes a value infinite, naming the step`` (case: string) =
    let fault (learn: unit -> unit) =
        let e = Assert.Throws<Sac.Core.Runs.NumericalFaultException>(learn)
        // Updates start after LearningStarts = 32 steps; the first one overflows.
        Assert.True(e.EnvironmentStep > 32L && e.EnvironmentStep < 200L, e.Message)
        Assert.Contains($"environment step {e.EnvironmentStep}", e.Message)
    match case with
    | "sac on the host backend" ->
        let config = SacConfig(HiddenSizes = [| 8 |], BatchSize = 16, LearningStarts = 32, EvalInterval = 0)
        if not (Seq.contains "HugeReward-v0" EnvironmentRegistry.Ids) then
            EnvironmentRegistry.Register("HugeReward-v0", Func<IEnvironment>(fun () -> HugeReward() :> IEnvironment))
        use gemm = new Sac.Core.Compute.ManagedGemm(1)
        use backend = new HostBackend(gemm)
        use trainer = new Trainer("HugeReward-v0", config, gemm, backend)
        fault (fun () -> trainer.RunTo(trainer.Start(), 200L, []) |> ignore)
    | "sql" ->
        let config = SqlConfig(HiddenSizes = [| 8 |], SamplerHiddenSizes = [| 8 |], BatchSize = 16, ValueParticles = 4, KernelParticles = 4,
                               LearningStarts = 32, EvalInterval = 0)
        use agent = SqlAgent.Create((fun () -> HugeReward() :> IEnvironment), config)
        fault (fun () -> agent.Learn(200L) |> ignore)
        // The evaluation return is a float64 sum: 20 steps of 3e38 is 6e39, finite and exact to rounding.
        let r = agent.Evaluate(1, 0UL)
        Assert.True(abs (r.Mean / (20.0 * float 3e38f) - 1.0) < 1e-12, $"evaluation return {r.Mean}")
    | variant ->
        let config = DqnConfig(HiddenSizes = [| 8 |], BatchSize = 16, LearningStarts = 32, TrainFrequency = 4, GradientSteps = 1,
                               EvalInterval = 0, Variant = (if variant = "dqn" then DqnVariant.Dqn else DqnVariant.SoftDqn))
        use agent = DqnAgent.Create((fun () -> HugeRewardDiscrete() :> IEnvironment), config)
        // The DQN family's Huber TD loss is linear in the error and its targets are formed in float64, so 3e38 stays
        // finite here: nothing is non-finite, so nothing may be reported, and every metric must be a number.
        let records = Collections.Generic.List<TrainingRecord>()
        agent.Learn(200L, [ Callback.ofRecord records.Add ]) |> ignore
        let losses = [ for r in records do match r.Metrics with Some m -> yield m.["td_loss"] | None -> () ]
        Assert.NotEmpty losses
        Assert.All(losses, fun l -> Assert.True(Single.IsFinite l && l > 1e37f, $"td_loss {l}"))

let tests = testList "Hardening" [
    ``--n-envs is at least 1, and a resumed run keeps its own number and continues exactly``
    ``a --config seed and variant stand unless --seed or --algo is given``
    ``a DQN --config's seed and run length stand unless --seed or --steps is given``
    ``sac eval uses the checkpoint's environment, and another only with --force-env``
    ``--device cuda with gSDE is a usage error naming gSDE, before any GPU is looked for``
    ``a misspelt preset id is an error with a suggestion, not silent defaults``
    ``evaluation ends episodes at the declared limit even without a TimeLimit wrapper``
    ``a fault before the first checkpoint says to start again, and the directory can be reused``
    ``the default checkpoint interval is a tenth of the run, between 1000 and 10000 steps``
    ``resume refuses fewer steps than done and another algorithm, touching nothing``
    ``config.json records the GEMM a run started on, and a resume on another GEMM says it rounds differently``
    ``the checked environment catches an element never written and one outside a declared finite box``
    testList "SIGINT and SIGTERM stop training with a checkpoint and one line naming the resume command" [
        testCase "signal: INT, code: 130" <| fun () -> ``SIGINT and SIGTERM stop training with a checkpoint and one line naming the resume command`` ("INT", 130)
        testCase "signal: TERM, code: 143" <| fun () -> ``SIGINT and SIGTERM stop training with a checkpoint and one line naming the resume command`` ("TERM", 143)
    ]
    ``bad output places, sizes and config files exit 2 before anything is written``
    ``unknown keys and wrongly typed values of a config are all reported at once``
    ``solve says when rewards overflow, plot says when there is nothing to plot and names a bad file once``
    ``an output file in a missing directory and a bench filter that selects nothing are usage errors that say so``
    ``more threads than processors is a warning naming both, and as many is none``
    ``after a resume, wall_seconds goes on from the checkpoint's row instead of restarting at zero``
    ``a resume that extends a run keeps the original steps in config.json and records the extension``
    ``a finite but enormous reward that makes the critic loss infinite is caught with the step named, from the agent and the CLI``
    testList "every algorithm's numerical check catches the enormous reward where it makes a value infinite, naming the step" [
        testCase "case: sac on the host backend" <| fun () -> ``every algorithm's numerical check catches the enormous reward where it makes a value infinite, naming the step`` ("sac on the host backend")
        testCase "case: sql" <| fun () -> ``every algorithm's numerical check catches the enormous reward where it makes a value infinite, naming the step`` ("sql")
        testCase "case: dqn" <| fun () -> ``every algorithm's numerical check catches the enormous reward where it makes a value infinite, naming the step`` ("dqn")
        testCase "case: soft-dqn" <| fun () -> ``every algorithm's numerical check catches the enormous reward where it makes a value infinite, naming the step`` ("soft-dqn")
    ]
]
