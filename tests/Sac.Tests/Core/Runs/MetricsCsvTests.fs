/// MetricsCsv: exact rows, the header, flushing, and the reader's handling of unfinished and bad lines.
module MetricsCsvTests

open System
open System.IO
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Runs
open RunsKit

// ---------- MetricsCsv ----------

let private genValue =
    Gen.frequency
        [ 6, Gen.choose (Int32.MinValue, Int32.MaxValue) |> Gen.two |> Gen.map (fun (a, b) -> BitConverter.Int64BitsToDouble((int64 a <<< 32) ||| int64 (uint32 b)))
          3, Gen.choose (-100000, 100000) |> Gen.map (fun k -> float k / 8.0)
          1, Gen.constant Double.NaN ]
    |> Gen.map (fun v -> if Double.IsNaN v then Double.NaN else v)

let ``metrics rows read back exactly, NaN as an empty field`` = testCase "metrics rows read back exactly, NaN as an empty field" <| fun () ->
    use dir = new TempDir()
    let path = dir.File MetricsCsv.FileName
    let columns = MetricsCsv.TrainingColumns |> Seq.toArray
    let genRows = Gen.listOf (Gen.arrayOfLength columns.Length genValue)
    Check.One(config, Prop.forAll (Arb.fromGen genRows) (fun rows ->
        do
            use csv = new MetricsCsv(path, columns)
            for row in rows do csv.Append(ReadOnlySpan row)
        let struct (header, read) = MetricsCsv.Read path
        Assert.Equal<string[]>(columns, header)
        Assert.Equal(List.length rows, read.Length)
        List.iteri (fun i (row: float[]) ->
            let expected = row |> Array.map (fun v -> if Double.IsNaN v then Nullable() else Nullable v)
            Assert.Equal<Nullable<float>[]>(expected, read.[i])) rows))

let ``metrics header is exact, rows are flushed at once, and missing names are empty`` = testCase "metrics header is exact, rows are flushed at once, and missing names are empty" <| fun () ->
    use dir = new TempDir()
    let path = dir.File "metrics.csv"
    use csv = new MetricsCsv(path, MetricsCsv.TrainingColumns)
    csv.Append(readOnlyDict [ "step", 100.0; "episode_return", -1234.5; "alpha", 0.1 ])
    // Read while the writer is still open: a killed run keeps what it flushed.
    let lines = File.ReadAllText(path).Split('\n')
    Assert.Equal("step,episode,episode_return,episode_length,eval_return,eval_std,critic_loss,actor_loss,alpha,entropy,updates_per_sec,wall_seconds", lines.[0])
    Assert.Equal("100,,-1234.5,,,,,,0.1,,,", lines.[1])
    let struct (_, rows) = MetricsCsv.Read path
    Assert.Equal(Nullable 100.0, rows.[0].[0])
    Assert.False(rows.[0].[1].HasValue)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> csv.Append(readOnlyDict [ "stpe", 1.0 ]))
    Assert.Contains("'stpe' is not a column", ex.Message)
    Assert.ThrowsAny<ArgumentException>(fun () -> csv.Append(ReadOnlySpan [| 1.0; 2.0 |])) |> ignore
    Assert.Equal(1L, csv.RowCount)

let ``metrics reader ignores an unfinished last line and names bad fields`` = testCase "metrics reader ignores an unfinished last line and names bad fields" <| fun () ->
    use dir = new TempDir()
    let path = dir.File "m.csv"
    File.WriteAllText(path, "step,alpha\n1,0.5\n2,0.2")
    let struct (_, rows) = MetricsCsv.Read path
    Assert.Equal(1, rows.Length)
    File.WriteAllText(path, "step,alpha\n1,abc\n")
    let ex = Assert.Throws<FormatException>(fun () -> MetricsCsv.Read path |> ignore)
    Assert.Contains("line 2, column 'alpha': 'abc'", ex.Message)
    File.WriteAllText(path, "step,alpha\n1\n")
    Assert.Throws<FormatException>(fun () -> MetricsCsv.Read path |> ignore) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> new MetricsCsv(dir.File "n.csv", [| "a"; "a" |]) |> ignore) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> new MetricsCsv(dir.File "n.csv", [| "a,b" |]) |> ignore) |> ignore

let tests = testList "MetricsCsv" [
    ``metrics rows read back exactly, NaN as an empty field``
    ``metrics header is exact, rows are flushed at once, and missing names are empty``
    ``metrics reader ignores an unfinished last line and names bad fields``
]
