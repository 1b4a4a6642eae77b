module PlotTests

open System
open System.IO
open Xunit
open Expecto
open Sac.Core.Runs
open Sac.Cli

let private writeRun (dir: string) (rows: (float * float option) list) =
    Directory.CreateDirectory dir |> ignore
    use csv = new MetricsCsv(Path.Combine(dir, MetricsCsv.FileName), MetricsCsv.TrainingColumns)
    for step, eval in rows do
        let values = Collections.Generic.Dictionary<string, float>()
        values["step"] <- step
        match eval with Some v -> values["eval_return"] <- v | None -> ()
        csv.Append(values)
    Path.Combine(dir, MetricsCsv.FileName)

let ``several runs plot as the mean over the steps every run recorded, with the min-max band`` = testCase "several runs plot as the mean over the steps every run recorded, with the min-max band" <| fun () ->
    let root = Directory.CreateTempSubdirectory("sac-plot-").FullName
    try
        let a = writeRun (Path.Combine(root, "a")) [ 1000.0, Some -10.0; 1500.0, None; 2000.0, Some -4.0 ]
        let b = writeRun (Path.Combine(root, "b")) [ 1000.0, Some -20.0; 2000.0, Some -2.0; 3000.0, Some -1.0 ]
        let s = (Plot.series [ a; b ] "eval_return").[0]
        Assert.Equal<struct (float * float) list>([ struct (1000.0, -15.0); struct (2000.0, -3.0) ], List.ofSeq s.Points)
        Assert.Equal<struct (float * float * float) list>([ struct (1000.0, -20.0, -10.0); struct (2000.0, -4.0, -2.0) ], List.ofSeq (nonNull s.Band))
        let single = (Plot.series [ b ] "eval_return").[0]
        Assert.Equal(3, single.Points.Count)
        Assert.Null(single.Band)
        let ex = Assert.Throws<Options.UsageError>(fun () -> Plot.series [ a ] "nope" |> ignore)
        Assert.Contains("nope", ex.Data0)
        let out = Path.Combine(root, "curve.svg")
        Assert.Equal(0, Plot.plot [ Path.Combine(root, "a"); Path.Combine(root, "b") ] "eval_return" out None)
        Xml.Linq.XDocument.Load out |> ignore
    finally
        Directory.Delete(root, true)

let ``envs lists every registered environment with its spaces`` = testCase "envs lists every registered environment with its spaces" <| fun () ->
    // Other tests register environments concurrently: every id registered before the listing must be in it.
    let ids = List.ofSeq Sac.Core.Environments.EnvironmentRegistry.Ids
    let lines = Plot.envLines ()
    for id in ids do
        Assert.Contains(lines, fun l -> l.StartsWith(id + " "))
    Assert.Contains(lines, fun l -> l.StartsWith "CartPole-v1" && l.Contains "Discrete(2)" && l.Contains "500")
    Assert.Contains(lines, fun l -> l.StartsWith "Pendulum-v1" && l.Contains "Box(-2, 2, (1,))")

let ``plotting runs of different environments warns, naming them; runs of one environment do not`` = testCase "plotting runs of different environments warns, naming them; runs of one environment do not" <| fun () ->
    let root = Directory.CreateTempSubdirectory("sac-plot-").FullName
    try
        let run (name: string) (env: string) =
            let dir = Path.Combine(root, name)
            writeRun dir [ 1000.0, Some -1.0 ] |> ignore
            File.WriteAllText(Path.Combine(dir, "config.json"), $"""{{"algorithm":"sac","environmentId":"{env}","steps":1000}}""")
            dir
        let a, b, c = run "a" "Pendulum-v1", run "b" "Pendulum-v1", run "c" "Hopper-v4"
        Assert.Equal(None, Plot.mixedEnvironmentsWarning [ a; b ])
        match Plot.mixedEnvironmentsWarning [ a; b; Path.Combine(c, MetricsCsv.FileName) ] with
        | Some warning ->
            Assert.Contains("Pendulum-v1, Hopper-v4", warning)
            Assert.Contains("mixes tasks", warning)
        | None -> failwith "no warning for runs of two environments"
    finally
        Directory.Delete(root, true)

let tests = testList "Plot" [
    ``several runs plot as the mean over the steps every run recorded, with the min-max band``
    ``envs lists every registered environment with its spaces``
    ``plotting runs of different environments warns, naming them; runs of one environment do not``
]
