module PlotTests

open System
open System.IO
open Xunit
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

[<Fact>]
let ``several runs plot as the mean over the steps every run recorded, with the min-max band`` () =
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

[<Fact>]
let ``envs lists every registered environment with its spaces`` () =
    let lines = Plot.envLines ()
    for id in Sac.Core.Environments.EnvironmentRegistry.Ids do
        Assert.Contains(lines, fun l -> l.StartsWith(id + " "))
    Assert.Contains(lines, fun l -> l.StartsWith "CartPole-v1" && l.Contains "Discrete(2)" && l.Contains "500")
    Assert.Contains(lines, fun l -> l.StartsWith "Pendulum-v1" && l.Contains "Box(-2, 2, (1,))")
