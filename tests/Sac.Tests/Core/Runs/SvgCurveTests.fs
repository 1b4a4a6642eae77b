/// SvgCurve: well-formed SVG, points inside the plot, nice ticks, labels, edge cases, atomic writes.
module SvgCurveTests

open System
open System.Collections.Generic
open System.IO
open System.Xml.Linq
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Runs
open RunsKit

// ---------- SvgCurve ----------

let private svg (name: string) = XName.Get(name, "http://www.w3.org/2000/svg")

let private attr (name: string) (e: XElement) =
    match e.Attribute(XName.Get name) with
    | null -> ""
    | a -> a.Value

let private parsePoints (text: string) =
    text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun p ->
        let xy = p.Split ','
        Double.Parse(xy.[0], Globalization.CultureInfo.InvariantCulture), Double.Parse(xy.[1], Globalization.CultureInfo.InvariantCulture))

let private isNiceStep (step: float) =
    let power = 10.0 ** floor (log10 step)
    let m = step / power
    [ 1.0; 2.0; 5.0; 10.0 ] |> List.exists (fun nice -> abs (m - nice) < 1e-6)

let private checkTicks (doc: XDocument) (cls: string) =
    let values =
        doc.Descendants(svg "text")
        |> Seq.filter (fun t -> attr "class" t = cls)
        |> Seq.map (fun t -> Double.Parse(t.Value, Globalization.CultureInfo.InvariantCulture))
        |> Seq.toArray
    Assert.True(values.Length >= 2, sprintf "%s: at least two ticks" cls)
    let step = values.[1] - values.[0]
    Assert.True(isNiceStep step, sprintf "%s: step %g is 1, 2 or 5 times a power of ten" cls step)
    for i in 1 .. values.Length - 1 do
        Assert.True(abs (values.[i] - values.[i - 1] - step) <= 1e-9 * max 1.0 (abs step), sprintf "%s: even spacing" cls)
        Assert.True(abs (values.[i] / step - round (values.[i] / step)) < 1e-6, sprintf "%s: %g is a multiple of the step" cls values.[i])

let private genCoordinate =
    Gen.frequency
        [ 8, Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun k -> float k / 7.0)
          1, Gen.elements [ Double.NaN; Double.PositiveInfinity; Double.NegativeInfinity ]
          1, Gen.elements [ 0.0; 1e-7; 3e12 ] ]

let private genLabel = Gen.elements [ "seed 0"; "SAC <v2> & \"friends\""; "it's"; ""; "ünïcødé ✓"; "bell\u0007" ]

let private genSeries =
    gen {
        let! label = genLabel
        let! points = Gen.listOf (Gen.zip genCoordinate genCoordinate) |> Gen.map (List.map (fun (x, y) -> struct (x, y)) >> List.toArray)
        let! withBand = Gen.elements [ true; false ]
        let! band = Gen.listOf (Gen.zip3 genCoordinate genCoordinate genCoordinate) |> Gen.map (List.map (fun (x, l, h) -> struct (x, l, h)) >> List.toArray)
        return Series(label, points, (if withBand then withNull (band :> IReadOnlyList<_>) else null))
    }

let ``svg curve is well-formed with one point per finite input inside the plot and every label in the legend`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "svg curve is well-formed with one point per finite input inside the plot and every label in the legend" (Prop.forAll (Arb.fromGen (Gen.listOf genSeries)) (fun (series: Series list) ->
        let text = SvgCurve.Render(SvgCurveOptions(Title = "Pendulum-v1 <SAC>"), List.toArray series)
        let doc = XDocument.Parse text
        let area = doc.Descendants(svg "rect") |> Seq.find (fun r -> attr "class" r = "plot-area")
        let num (n: string) = Double.Parse(attr n area, Globalization.CultureInfo.InvariantCulture)
        let x0, y0, w, h = num "x", num "y", num "width", num "height"
        let lines = doc.Descendants(svg "polyline") |> Seq.toList
        series |> List.iteri (fun i s ->
            let finite = s.Points |> Seq.filter (fun struct (x, y) -> Double.IsFinite x && Double.IsFinite y) |> Seq.length
            let mine = lines |> List.filter (fun l -> attr "data-series" l = string i)
            if finite = 0 then Assert.Empty mine
            else
                let pts = parsePoints (attr "points" (List.exactlyOne mine))
                Assert.Equal(finite, pts.Length)
                for (px, py) in pts do
                    Assert.True(px >= x0 - 0.01 && px <= x0 + w + 0.01 && py >= y0 - 0.01 && py <= y0 + h + 0.01,
                                sprintf "(%g, %g) lies in the plot area" px py))
        let legend = doc.Descendants(svg "text") |> Seq.filter (fun t -> attr "class" t = "legend-label") |> Seq.map (fun t -> t.Value) |> Seq.toList
        Assert.Equal(List.length series, legend.Length)
        series |> List.iteri (fun i s -> Assert.Equal(s.Label.Replace("\u0007", "\uFFFD"), legend.[i]))
        checkTicks doc "tick-x"
        checkTicks doc "tick-y"
        let hasData = series |> List.exists (fun s -> s.Points |> Seq.exists (fun struct (x, y) -> Double.IsFinite x && Double.IsFinite y))
        let finiteBand (s: Series) =
            match s.Band with
            | null -> false
            | band -> band |> Seq.exists (fun struct (x, l, h) -> Double.IsFinite x && Double.IsFinite l && Double.IsFinite h)
        let hasBand = series |> List.exists finiteBand
        let note = doc.Descendants(svg "text") |> Seq.exists (fun t -> attr "class" t = "note")
        Assert.Equal(not hasData && not hasBand, note)))

let ``svg curve handles a single point, a constant series, NaN and no series`` = testCase "svg curve handles a single point, a constant series, NaN and no series" <| fun () ->
    let render (series: Series list) = XDocument.Parse(SvgCurve.Render(SvgCurveOptions(), List.toArray series))
    let one = render [ Series("one", [| struct (5000.0, -150.0) |]) ]
    Assert.Single(one.Descendants(svg "circle")) |> ignore
    checkTicks one "tick-x"
    checkTicks one "tick-y"
    let flat = render [ Series("flat", [| for i in 0 .. 9 -> struct (float i * 1000.0, 7.0) |]) ]
    checkTicks flat "tick-y"
    let withNaN = render [ Series("nan", [| struct (0.0, 1.0); struct (1.0, Double.NaN); struct (2.0, 3.0) |]) ]
    Assert.Equal(2, (withNaN.Descendants(svg "polyline") |> Seq.exactlyOne |> attr "points" |> parsePoints).Length)
    let empty = render []
    Assert.Contains("no data", (empty.Descendants(svg "text") |> Seq.find (fun t -> attr "class" t = "note")).Value)
    let titles = empty.Descendants(svg "text") |> Seq.filter (fun t -> attr "class" t = "axis-title") |> Seq.map (fun t -> t.Value) |> Seq.toList
    Assert.Equal<string list>([ "environment steps"; "return" ], titles)
    let band = render [ Series("band", [| struct (0.0, 1.0); struct (1.0, 2.0) |], [| struct (0.0, 0.5, 1.5); struct (1.0, 1.0, 3.0) |]) ]
    Assert.Single(band.Descendants(svg "polygon")) |> ignore
    // Distinct colours for the first ten series.
    let many = render [ for i in 0 .. 9 -> Series(sprintf "s%d" i, [| struct (0.0, float i); struct (1.0, float i + 1.0) |]) ]
    let colours = many.Descendants(svg "polyline") |> Seq.map (attr "stroke") |> Set.ofSeq
    Assert.Equal(10, colours.Count)

let ``svg curve is written atomically`` = testCase "svg curve is written atomically" <| fun () ->
    use dir = new TempDir()
    let path = dir.File SvgCurve.FileName
    SvgCurve.Write(path, SvgCurveOptions(), [| Series("a", [| struct (0.0, 0.0); struct (10.0, 1.0) |]) |])
    XDocument.Load path |> ignore
    Assert.False(File.Exists(path + ".tmp"))

let tests = testList "SvgCurve" [
    ``svg curve is well-formed with one point per finite input inside the plot and every label in the legend``
    ``svg curve handles a single point, a constant series, NaN and no series``
    ``svg curve is written atomically``
]
