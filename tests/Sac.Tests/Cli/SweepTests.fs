/// Sweeps: the specification (every problem named, exit 2), its expansion into runs, and the summary over seeds.
/// The cluster itself (three silos, one killed) is scripts/sweep-kill-test.sh.
module SweepTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Sweeps
open Sac.Cli

let private withDir (f: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("sac-sweep-").FullName
    try f dir finally Directory.Delete(dir, true)

let private read (json: string) = SweepSpecReader.Read(json, "spec.json", "test")

let ``a bad spec names every problem and sac sweep exits 2`` = testCase "a bad spec names every problem and sac sweep exits 2" <| fun () ->
    withDir (fun root ->
        let spec = Path.Combine(root, "bad.json")
        File.WriteAllText(spec, """{
            "environments": ["PointGoal-v0", "Nope-v0"], "algorithms": ["sac", "dqn", "ppo"],
            "seeds": [1, 1, -2], "steps": 0, "colour": "blue",
            "grid": {"tau": [0.005, 0.01], "actorLr": [0.1], "seed": [3]}, "out": "%OUT%" }""".Replace("%OUT%", Path.Combine(root, "out")))
        let e = Assert.Throws<Options.UsageError>(fun () -> Sweep.load spec |> ignore)
        let message = e.Data0
        for expected in
            [ "unknown key 'colour'"; "'seeds' lists 1 more than once"; "'seeds' holds -2"; "'steps' must be an integer at least 1"
              "sets 'seed'"; "Nope-v0: unknown environment"; "--algo dqn needs discrete actions"; "--algo ppo: unknown algorithm"
              "unknown key 'actorLr'" ] do
            Assert.Contains(expected, message)
        Assert.Equal(2, Program.main [| "sweep"; "--spec"; spec |])
        // Nothing was made for a sweep that was refused.
        Assert.False(Directory.Exists(Path.Combine(root, "out"))))

let ``a sweep can vary nEnvs and normalize like any configuration key`` = testCase "a sweep can vary nEnvs and normalize like any configuration key" <| fun () ->
    withDir (fun root ->
        let spec = Path.Combine(root, "ok.json")
        File.WriteAllText(spec, """{"environments": ["Pendulum-v1"], "algorithms": ["sac", "sql"], "seeds": [0], "steps": 100,
            "grid": {"nEnvs": [1, 4], "normalize": [null, {"rewards": false}]}, "out": "%OUT%" }""".Replace("%OUT%", Path.Combine(root, "out")))
        Sweep.load spec |> ignore
        let bad = Path.Combine(root, "bad.json")
        File.WriteAllText(bad, """{"environments": ["Pendulum-v1"], "seeds": [0], "grid": {"nEnvs": [0]}, "out": "%OUT%" }""".Replace("%OUT%", Path.Combine(root, "out")))
        let e = Assert.Throws<Options.UsageError>(fun () -> Sweep.load bad |> ignore)
        Assert.Contains("NEnvs must be at least 1", e.Data0))

let ``a missing spec file, non-JSON and a spec without environments or seeds are refused by name`` = testCase "a missing spec file, non-JSON and a spec without environments or seeds are refused by name" <| fun () ->
    Assert.Contains("no such file", String.Join("; ", SweepSpecReader.ReadFile("/nonexistent/sweep.json").Problems))
    Assert.Contains("not valid JSON", String.Join("; ", (read "{ nope").Problems))
    let problems = String.Join("; ", (read """{"grid": {"tau": []}, "configs": []}""").Problems)
    for expected in [ "'environments' is required"; "'seeds' is required"; "give 'grid' or 'configs', not both" ] do
        Assert.Contains(expected, problems)
    Assert.Contains("grid 'tau' must be a non-empty list", String.Join("; ", (read """{"environments": ["PointGoal-v0"], "seeds": [0], "grid": {"tau": []}}""").Problems))

let ``a grid expands to every combination, the first key varying slowest, each run in its own directory`` = testCase "a grid expands to every combination, the first key varying slowest, each run in its own directory" <| fun () ->
    let reading = read """{"environments": ["PointGoal-v0", "Pendulum-v1"], "seeds": [1, 2], "steps": 500,
                            "grid": {"tau": [0.005, 0.01], "hiddenSizes": [[32, 32], [64, 64]]}}"""
    Assert.Empty(reading.Problems)
    let spec = reading.OrThrow()
    Assert.Equal<string list>(
        [ "tau=0.005,hiddenSizes=[32,32]"; "tau=0.005,hiddenSizes=[64,64]"; "tau=0.01,hiddenSizes=[32,32]"; "tau=0.01,hiddenSizes=[64,64]" ],
        [ for c in spec.Configurations -> c.Label ])
    Assert.Equal("""{"tau":0.01,"hiddenSizes":[32,32]}""", spec.Configurations.[2].Overrides)
    let runs = SweepPlan.Expand(spec, "/shared/sweep")
    Assert.Equal(16, runs.Count)
    Assert.Equal(spec.RunCount, runs.Count)
    Assert.Equal(16, runs |> Seq.map (fun r -> r.RunDirectory) |> Seq.distinct |> Seq.length)
    let first = runs.[0]
    Assert.Equal("PointGoal-v0_sac_tau=0.005_hiddenSizes=_32_32__s1", first.RunId)
    Assert.Equal("/shared/sweep/runs/PointGoal-v0_sac_tau=0.005_hiddenSizes=_32_32__s1", first.RunDirectory)
    Assert.Equal("/shared/sweep/configs/tau=0.005_hiddenSizes=_32_32_.json", first.ConfigFile)
    Assert.Equal(Nullable 500L, first.Steps)
    Assert.Equal("Pendulum-v1", runs.[8].Environment)
    Assert.Equal(2UL, runs.[1].Seed)

let ``a list of configurations keeps its names, numbers the unnamed ones and refuses a name twice`` = testCase "a list of configurations keeps its names, numbers the unnamed ones and refuses a name twice" <| fun () ->
    let spec = (read """{"environments": ["PointGoal-v0"], "seeds": [0], "configs": [{"name": "slow", "tau": 0.001}, {"tau": 0.02}]}""").OrThrow()
    Assert.Equal<string list>([ "slow"; "config2" ], [ for c in spec.Configurations -> c.Label ])
    Assert.Equal("{}", (read """{"environments": ["PointGoal-v0"], "seeds": [0]}""").Spec.Configurations.[0].Overrides)
    let twice = (read """{"environments": ["PointGoal-v0"], "seeds": [0], "configs": [{"name": "a"}, {"name": "a"}]}""").Problems
    Assert.Contains("configs name 'a' more than once", String.Join("; ", twice))
    Assert.Throws<SweepSpecException>(fun () -> (read """{"seeds": [0]}""").OrThrow() |> ignore) |> ignore

let ``the summary gives mean, population std, min and max over the finished seeds of each configuration`` = testCase "the summary gives mean, population std, min and max over the finished seeds of each configuration" <| fun () ->
    let mean, std, lo, hi = SweepSummary.stats [ 1.0; 2.0; 3.0; 4.0 ]
    Assert.Equal(2.5, mean)
    Assert.Equal(sqrt 1.25, std, 12)
    Assert.Equal((1.0, 4.0), (lo, hi))
    let spec = (read """{"environments": ["PointGoal-v0"], "seeds": [1, 2, 3], "grid": {"tau": [0.005, 0.01]}}""").OrThrow()
    let runs = SweepPlan.Expand(spec, "/s") |> List.ofSeq
    let status (r: RunOrder) i =
        let failed = i = 5
        RunStatus(r.RunId, (if failed then RunState.Failed else RunState.Done), "127.0.0.1:11111", 1, null,
                  (if failed then Nullable() else Nullable(float i)), Nullable 0.5, DateTime.UtcNow)
    let rows = SweepSummary.rows runs (runs |> List.mapi (fun i r -> status r i))
    Assert.Equal(2, rows.Length)
    Assert.Equal((3, 3, 1.0, 0.0, 2.0), (rows.[0].Seeds, rows.[0].Finished, rows.[0].Mean, rows.[0].Min, rows.[0].Max))
    Assert.Equal((3, 2, 3.5, 0.5), (rows.[1].Seeds, rows.[1].Finished, rows.[1].Mean, rows.[1].Std))
    let csv = SweepSummary.csv rows
    Assert.StartsWith("environment,algorithm,configuration,seeds,finished,mean,std,min,max\n", csv)
    Assert.Contains("PointGoal-v0,sac,tau=0.01,3,2,3.5,0.5,3,4\n", csv)
    let md = SweepSummary.markdown rows
    Assert.Contains("| PointGoal-v0 | sac | tau=0.005 | 3 | 3 | 1 | 0.816 | 0 | 2 |", md)
    let none = SweepSummary.rows [ runs.[0] ] [ RunStatus.Initial runs.[0].RunId ]
    Assert.True(Double.IsNaN none.[0].Mean)
    Assert.Contains("PointGoal-v0,sac,tau=0.005,1,0,,,,", SweepSummary.csv none)

let ``a silo's run slots never hand out more than its capacity`` = testCase "a silo's run slots never hand out more than its capacity" <| fun () ->
    let slots = RunSlots 2
    Assert.True(slots.TryTake())
    Assert.True(slots.TryTake())
    Assert.False(slots.TryTake())
    slots.Release()
    Assert.True(slots.TryTake())
    Assert.Equal(2, slots.InUse)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> RunSlots 0 |> ignore) |> ignore

let ``the cluster is localhost or redis, anything else is refused by name`` = testCase "the cluster is localhost or redis, anything else is refused by name" <| fun () ->
    let ok, local, _ = ClusterAddress.TryParse "localhost"
    Assert.True(ok)
    Assert.True(local.IsLocalhost)
    let ok, redis, _ = ClusterAddress.TryParse "redis://10.0.0.5:6379"
    Assert.True(ok)
    Assert.Equal("10.0.0.5:6379", redis.Redis)
    let ok, _, problem = ClusterAddress.TryParse "zookeeper://x"
    Assert.False(ok)
    Assert.Contains("--cluster zookeeper://x", problem)

let ``a run's status file survives a round trip and a missing one reads as pending`` = testCase "a run's status file survives a round trip and a missing one reads as pending" <| fun () ->
    withDir (fun root ->
        let path = Path.Combine(root, "run.json")
        Assert.Equal(RunState.Pending, (RunStatusFile.Read(path, "r")).State)
        let s = RunStatus("r", RunState.Done, "127.0.0.1:11112", 2, "done", Nullable -3.5, Nullable 0.25, DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc))
        RunStatusFile.Write(path, s)
        Assert.Equal(s, RunStatusFile.Read(path, "r"))
        Assert.Contains("\"state\": \"done\"", File.ReadAllText path))

let tests = testList "Sweep" [
    ``a bad spec names every problem and sac sweep exits 2``
    ``a sweep can vary nEnvs and normalize like any configuration key``
    ``a missing spec file, non-JSON and a spec without environments or seeds are refused by name``
    ``a grid expands to every combination, the first key varying slowest, each run in its own directory``
    ``a list of configurations keeps its names, numbers the unnamed ones and refuses a name twice``
    ``the summary gives mean, population std, min and max over the finished seeds of each configuration``
    ``a silo's run slots never hand out more than its capacity``
    ``the cluster is localhost or redis, anything else is refused by name``
    ``a run's status file survives a round trip and a missing one reads as pending``
]
