/// Environments of the user's own: EnvironmentRegistry.Register, [Environment] plugins, and training on them.
module EnvironmentRegistryTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Environments
open Sac.Fs

/// A 1-D point that the action moves; reward minus distance to 0. Reports whatever id it is given.
type Drift(id: string) =
    let mutable x = 0.0
    let mutable steps = 0
    new() = Drift("MarkedDrift-v0")
    interface IEnvironment with
        member _.Id = id
        member _.ObservationSpace = Box.Uniform(1, -5f, 5f)
        member _.ActionSpace = Box.Uniform(1, -1f, 1f)
        member _.MaxEpisodeSteps = Nullable 40
        member _.Reset(seed, observation) =
            x <- (if seed.HasValue then float (seed.Value % 7UL) / 2.0 - 1.5 else x)
            steps <- 0
            observation.[0] <- float32 x
        member _.Step(action, observation) =
            x <- Math.Clamp(x + 0.2 * float action.[0], -5.0, 5.0)
            steps <- steps + 1
            observation.[0] <- float32 x
            StepResult(float32 -(abs x), false, false)

/// The same environment marked for RegisterAssembly / --plugin.
[<Environment("MarkedDrift-v0", MaxEpisodeSteps = 25)>]
type MarkedDrift() =
    inherit Drift("MarkedDrift-v0")

let private limitOf (env: IEnvironment) = (env :?> TimeLimit).MaxEpisodeSteps

let ``a registered environment is made like a built-in one, with its limit, and listed after them`` = testCase "a registered environment is made like a built-in one, with its limit, and listed after them" <| fun () ->
    EnvironmentRegistry.Register("Drift-v0", (fun () -> Drift("Drift-v0") :> IEnvironment))
    EnvironmentRegistry.Register("DriftShort-v0", (fun () -> Drift("DriftShort-v0") :> IEnvironment), 10)
    Assert.Equal(Nullable 40, limitOf (EnvironmentRegistry.Make "Drift-v0"))
    Assert.Equal(Nullable 10, limitOf (EnvironmentRegistry.Make "DriftShort-v0"))
    let ids = List.ofSeq EnvironmentRegistry.Ids
    Assert.True(List.findIndex ((=) "Drift-v0") ids > List.findIndex ((=) "Humanoid-v4") ids)
    Assert.False(EnvironmentRegistry.IsBuiltIn "Drift-v0")
    Assert.True(fst (EnvironmentRegistry.IsAvailable "Drift-v0"))
    // Through the checked wrapper, as every trainer makes it.
    let checkedEnv = EnvironmentRegistry.MakeChecked "Drift-v0"
    Assert.Equal("Drift-v0", checkedEnv.Id)

let ``bad registrations are refused with the reason`` = testCase "bad registrations are refused with the reason" <| fun () ->
    let reg id (f: unit -> IEnvironment) = EnvironmentRegistry.Register(id, Func<IEnvironment> f)
    Assert.Contains("built-in", (Assert.Throws<ArgumentException>(fun () -> reg "Pendulum-v1" (fun () -> Drift() :> _))).Message)
    Assert.Contains("whitespace", (Assert.Throws<ArgumentException>(fun () -> reg "My Env" (fun () -> Drift() :> _))).Message)
    reg "DriftTwice-v0" (fun () -> Drift("DriftTwice-v0") :> _)
    Assert.Contains("already registered", (Assert.Throws<ArgumentException>(fun () -> reg "DriftTwice-v0" (fun () -> Drift() :> _))).Message)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> EnvironmentRegistry.Register("DriftZero-v0", (fun () -> Drift() :> IEnvironment), 0)) |> ignore
    reg "DriftLies-v0" (fun () -> Drift("Other-v0") :> _)
    Assert.Contains("'Other-v0'", (Assert.Throws<InvalidOperationException>(fun () -> EnvironmentRegistry.Make "DriftLies-v0" |> ignore)).Message)
    // sac envs lists a broken registration with its reason instead of failing.
    Assert.Contains(Sac.Cli.Plot.envLines (), fun l -> l.StartsWith "DriftLies-v0" && l.Contains "unavailable" && l.Contains "'Other-v0'")
    reg "DriftNull-v0" (fun () -> Unchecked.defaultof<IEnvironment>)
    Assert.Contains("null", (Assert.Throws<InvalidOperationException>(fun () -> EnvironmentRegistry.Make "DriftNull-v0" |> ignore)).Message)

let ``an assembly's [Environment] classes register, once, with the marked limit`` = testCase "an assembly's [Environment] classes register, once, with the marked limit" <| fun () ->
    let asm = typeof<MarkedDrift>.Assembly
    Assert.Equal<string list>([ "MarkedDrift-v0" ], List.ofSeq (EnvironmentRegistry.RegisterAssembly asm))
    // Loading the same plugin again is harmless.
    Assert.Equal<string list>([ "MarkedDrift-v0" ], List.ofSeq (EnvironmentRegistry.RegisterAssembly asm))
    Assert.Equal(Nullable 25, limitOf (EnvironmentRegistry.Make "MarkedDrift-v0"))

let ``plugins that cannot be loaded say which file and why`` = testCase "plugins that cannot be loaded say which file and why" <| fun () ->
    let dir = Directory.CreateTempSubdirectory("sac-plugin-").FullName
    try
        let missing = Path.Combine(dir, "none.dll")
        Assert.Contains("no such file", (Assert.Throws<EnvironmentPluginException>(fun () -> EnvironmentRegistry.LoadPlugin missing |> ignore)).Message)
        let text = Path.Combine(dir, "text.dll")
        File.WriteAllText(text, "not an assembly")
        let e = Assert.Throws<EnvironmentPluginException>(fun () -> EnvironmentRegistry.LoadPlugin text |> ignore)
        Assert.Contains("text.dll: not a loadable .NET assembly", e.Message)
        let unmarked = typeof<SacConfig>.Assembly.Location
        Assert.Contains("no public class marked", (Assert.Throws<EnvironmentPluginException>(fun () -> EnvironmentRegistry.LoadPlugin unmarked |> ignore)).Message)
        Assert.Contains(missing, (Assert.Throws<Sac.Cli.Options.UsageError>(fun () -> Sac.Cli.Options.loadPlugins [ missing ])).Data0)
    finally
        Directory.Delete(dir, true)

let ``SAC trains on a registered environment, from the library and from sac train --plugin`` = testCase "SAC trains on a registered environment, from the library and from sac train --plugin" <| fun () ->
    EnvironmentRegistry.Register("DriftTrain-v0", (fun () -> Drift("DriftTrain-v0") :> IEnvironment))
    let config = SacConfig(Seed = 2UL, HiddenSizes = [| 32; 32 |], BatchSize = 32, LearningStarts = 100, EvalInterval = 0)
    use gemm = new ManagedGemm(1)
    use trainer = new Trainer("DriftTrain-v0", config, gemm)
    let outcome = trainer.RunTo(trainer.Start(), 600L, [])
    Assert.Equal(600L, outcome.State.EnvSteps)
    // The command line, with this test assembly as the plugin.
    let dir = Path.Combine(Path.GetTempPath(), $"sac-plugin-run-{Guid.NewGuid():N}")
    let cfg = Path.Combine(Path.GetTempPath(), $"sac-plugin-{Guid.NewGuid():N}.json")
    try
        File.WriteAllText(cfg, """{"hiddenSizes": [32, 32], "batchSize": 32, "learningStarts": 100, "evalInterval": 300, "evalEpisodes": 2}""")
        Sac.Cli.Options.loadPlugins [ typeof<MarkedDrift>.Assembly.Location ]
        let req = { Sac.Cli.Options.defaultRequest "MarkedDrift-v0" with Steps = Some 600L; Out = Some dir; ConfigFile = Some cfg }
        Assert.Equal(0, Sac.Cli.Run.train req)
        Assert.True(File.Exists(Path.Combine(dir, "final.ckpt")))
        Assert.Equal(0, Sac.Cli.Evaluate.eval (Path.Combine(dir, "final.ckpt")) "MarkedDrift-v0" 2 0UL)
    finally
        if Directory.Exists dir then Directory.Delete(dir, true)
        if File.Exists cfg then File.Delete cfg

let tests = testList "EnvironmentRegistry" [
    ``a registered environment is made like a built-in one, with its limit, and listed after them``
    ``bad registrations are refused with the reason``
    ``an assembly's [Environment] classes register, once, with the marked limit``
    ``plugins that cannot be loaded say which file and why``
    ``SAC trains on a registered environment, from the library and from sac train --plugin``
]
