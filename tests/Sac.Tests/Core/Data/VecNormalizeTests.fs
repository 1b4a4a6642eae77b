/// RunningMeanStd and VecNormalize: the parallel-moments merge against two-pass statistics, SB3's order of the
/// return and observation updates, the normalisation and its clips, and the statistics' JSON.
module VecNormalizeTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Config
open Sac.Core.Data

let private config = Config.QuickThrowOnFailure.WithMaxTest(100)

/// Two-pass statistics of the prior (count 1e-4 at mean 0, variance 1) joined with every row: what the running
/// statistics must equal whatever the batching.
let private twoPass (size: int) (rows: float[][]) =
    let c0 = RunningMeanStd.InitialCount
    let n = float rows.Length
    let total = c0 + n
    Array.init size (fun j ->
        let sum = rows |> Array.sumBy (fun r -> r.[j])
        let mean = sum / total
        let m2 = c0 * 1.0 + c0 * mean * mean + (rows |> Array.sumBy (fun r -> (r.[j] - mean) ** 2.0))
        mean, m2 / total)

let ``running statistics equal the two-pass statistics of all rows, however they are batched`` =
    let genCase =
        gen {
            let! size = Gen.choose (1, 4)
            let! batches = Gen.listOfLength 6 (Gen.choose (1, 5))
            let! values = Gen.arrayOfLength (size * List.sum batches) (Gen.choose (-1000, 1000))
            return size, batches, values
        }
    let prop (size: int, batches: int list, values: int[]) =
        let s = RunningMeanStd size
        let data = values |> Array.map (fun v -> float32 v / 37.0f)
        let mutable at = 0
        for count in batches do
            s.Update(ReadOnlySpan(data, at * size, count * size), count)
            at <- at + count
        let rows = Array.init at (fun i -> Array.init size (fun j -> float data.[i * size + j]))
        let expected = twoPass size rows
        Assert.Equal(RunningMeanStd.InitialCount + float at, s.Count, 9)
        for j in 0 .. size - 1 do
            let mean, var = expected.[j]
            Assert.True(abs (s.Mean.[j] - mean) <= 1e-9 * (1.0 + abs mean), $"mean[{j}]: {s.Mean.[j]} vs {mean}")
            Assert.True(abs (s.Variance.[j] - var) <= 1e-9 * (1.0 + var), $"variance[{j}]: {s.Variance.[j]} vs {var}")
    testPropertyWithConfig (Properties.ofFsCheck config) "running statistics equal the two-pass statistics of all rows, however they are batched" (Prop.forAll (Arb.fromGen genCase) prop)

let ``the returns follow SB3: discounted sums whose spread scales rewards, restarting where an episode ended`` =
    testCase "the returns follow SB3: discounted sums whose spread scales rewards, restarting where an episode ended" <| fun () ->
        let gamma = 0.9
        let n = VecNormalize(NormalizeSettings(), 1, 2, gamma)
        let reference = RunningMeanStd 1
        let mutable returns = [| 0.0; 0.0 |]
        let steps = [ [| 1.0f; -2.0f |], [| false; false |]; [| 3.0f; 0.5f |], [| true; false |]; [| -4.0f; 2.0f |], [| false; true |] ]
        for rewards, ended in steps do
            n.ObserveStep(ReadOnlySpan [| 0.0f; 0.0f |], ReadOnlySpan rewards, ReadOnlySpan ended)
            // SB3's order: returns take the reward, the statistics take the returns, ended episodes restart at 0.
            returns <- Array.init 2 (fun i -> returns.[i] * gamma + float rewards.[i])
            reference.Update(ReadOnlySpan returns, 2)
            returns <- Array.init 2 (fun i -> if ended.[i] then 0.0 else returns.[i])
            Assert.Equal<float[]>(returns, n.Returns.ToArray())
        Assert.Equal(reference.Variance.[0], n.ReturnStatistics.Variance.[0], 12)
        let scale = Math.Sqrt(reference.Variance.[0] + NormalizeSettings.Epsilon)
        Assert.Equal(float32 (1.5 / scale), n.NormalizeReward 1.5f)
        // Clipped at ClipRewards.
        Assert.Equal(10.0f, n.NormalizeReward 1e6f)
        Assert.Equal(-10.0f, n.NormalizeReward -1e6f)

let ``observations are standardised per position and clipped; switched-off parts pass through`` =
    testCase "observations are standardised per position and clipped; switched-off parts pass through" <| fun () ->
        let n = VecNormalize(NormalizeSettings(ClipObservations = 2.0f), 2, 1, 0.99)
        n.ObserveReset(ReadOnlySpan [| 1.0f; 10.0f |])
        for x in [ [| 3.0f; 20.0f |]; [| 5.0f; 0.0f |] ] do
            n.ObserveStep(ReadOnlySpan x, ReadOnlySpan [| 0.0f |], ReadOnlySpan [| false |])
        let s = n.ObservationStatistics
        let raw = [| 4.0f; 100.0f; 2.0f; 10.0f |]
        let out = Array.zeroCreate<float32> 4
        n.NormalizeObservations(ReadOnlySpan raw, Span out)
        for k in 0 .. 3 do
            let j = k % 2
            let z = (float raw.[k] - s.Mean.[j]) / Math.Sqrt(s.Variance.[j] + NormalizeSettings.Epsilon)
            Assert.Equal(float32 (Math.Clamp(z, -2.0, 2.0)), out.[k])
        Assert.Equal(2.0f, out.[1])
        // Rewards only: observations are copied unchanged and their statistics never move.
        let rewardsOnly = VecNormalize(NormalizeSettings(Observations = false), 2, 1, 0.99)
        rewardsOnly.ObserveReset(ReadOnlySpan [| 7.0f; 7.0f |])
        rewardsOnly.NormalizeObservations(ReadOnlySpan raw, Span out)
        Assert.Equal<float32[]>(raw, out)
        Assert.Equal(RunningMeanStd.InitialCount, rewardsOnly.ObservationStatistics.Count)
        // Observations only: rewards pass through.
        let observationsOnly = VecNormalize(NormalizeSettings(Rewards = false), 2, 1, 0.99)
        Assert.Equal(123.5f, observationsOnly.NormalizeReward 123.5f)

let ``a minibatch is normalised in place: observations, next observations and rewards`` =
    testCase "a minibatch is normalised in place: observations, next observations and rewards" <| fun () ->
        let n = VecNormalize(NormalizeSettings(), 1, 1, 0.99)
        for x in 1 .. 5 do
            n.ObserveStep(ReadOnlySpan [| float32 x |], ReadOnlySpan [| float32 (x % 3) |], ReadOnlySpan [| x = 3 |])
        let b = Batch(2, 1, 1)
        b.Observations.[0] <- 2.0f
        b.Observations.[1] <- -1.0f
        b.NextObservations.[0] <- 3.0f
        b.NextObservations.[1] <- 0.0f
        b.Rewards.[0] <- 1.0f
        b.Rewards.[1] <- -2.0f
        let expectObs = Array.zeroCreate<float32> 2
        let expectNext = Array.zeroCreate<float32> 2
        n.NormalizeObservations(ReadOnlySpan b.Observations, Span expectObs)
        n.NormalizeObservations(ReadOnlySpan b.NextObservations, Span expectNext)
        let expectRewards = [| n.NormalizeReward 1.0f; n.NormalizeReward -2.0f |]
        n.NormalizeBatch b
        Assert.Equal<float32[]>(expectObs, b.Observations)
        Assert.Equal<float32[]>(expectNext, b.NextObservations)
        Assert.Equal<float32[]>(expectRewards, b.Rewards)

let ``the statistics survive JSON exactly, and a snapshot that does not fit is refused naming why`` =
    testCase "the statistics survive JSON exactly, and a snapshot that does not fit is refused naming why" <| fun () ->
        let n = VecNormalize(NormalizeSettings(ClipRewards = 5.0f), 3, 2, 0.97)
        n.ObserveReset(ReadOnlySpan [| 0.1f; 0.2f; 0.3f; -1.0f; 2.0f; 1.0f / 3.0f |])
        n.ObserveStep(ReadOnlySpan [| 1.1f; 0.7f; 9.3f; -1.5f; 2.25f; 0.0f |], ReadOnlySpan [| 0.3f; -7.0f |], ReadOnlySpan [| false; true |])
        n.ObserveStep(ReadOnlySpan [| 1.0f; 0.0f; 0.0f; 0.0f; 0.0f; 1e-7f |], ReadOnlySpan [| 1.1f; 0.9f |], ReadOnlySpan [| false; false |])
        let json = n.ToJson()
        let copy = VecNormalize.FromJson json
        Assert.Equal(n.Settings, copy.Settings)
        Assert.Equal(n.Gamma, copy.Gamma)
        Assert.Equal<float[]>(n.ObservationStatistics.Mean.ToArray(), copy.ObservationStatistics.Mean.ToArray())
        Assert.Equal<float[]>(n.ObservationStatistics.Variance.ToArray(), copy.ObservationStatistics.Variance.ToArray())
        Assert.Equal(n.ObservationStatistics.Count, copy.ObservationStatistics.Count)
        Assert.Equal(n.ReturnStatistics.Variance.[0], copy.ReturnStatistics.Variance.[0])
        Assert.Equal<float[]>(n.Returns.ToArray(), copy.Returns.ToArray())
        Assert.Equal(json, copy.ToJson())
        let same = VecNormalize(NormalizeSettings(ClipRewards = 5.0f), 3, 2, 0.97)
        same.Restore json
        Assert.Equal(json, same.ToJson())
        let refused (target: VecNormalize) (text: string) (part: string) =
            let e = Assert.Throws<FormatException>(fun () -> target.Restore text)
            Assert.Contains(part, e.Message)
        refused (VecNormalize(NormalizeSettings(), 3, 2, 0.97)) json "normalised with"
        refused (VecNormalize(NormalizeSettings(ClipRewards = 5.0f), 3, 2, 0.99)) json "gamma"
        refused (VecNormalize(NormalizeSettings(ClipRewards = 5.0f), 3, 1, 0.97)) json "2 running returns"
        refused (VecNormalize(NormalizeSettings(ClipRewards = 5.0f), 4, 2, 0.97)) json "do not fit observations of 4"
        refused same "{\"settings\": 3}" "not valid"
        refused same "{}" "lack a field"
        refused same (Text.RegularExpressions.Regex.Replace(json, "\"observationCount\":[^,]*", "\"observationCount\":-1")) "count"
        Assert.Throws<FormatException>(fun () -> VecNormalize.FromJson "[1]" |> ignore) |> ignore

let ``normalisation settings are validated, each problem naming its key`` =
    testCase "normalisation settings are validated, each problem naming its key" <| fun () ->
        let e = Assert.Throws<ArgumentException>(fun () -> NormalizeSettings(ClipObservations = 0.0f) |> ignore)
        Assert.Contains("ClipObservations", e.Message)
        let neither = NormalizeSettings(Observations = false, Rewards = false)
        Assert.Contains("neither", String.Join(" ", neither.Validate "Normalize"))
        let problems = SacConfig(Normalize = neither).Validate()
        Assert.Contains(problems, fun p -> p.Contains "Normalize normalises neither")
        Assert.Empty(DqnConfig(Normalize = NormalizeSettings()).Validate())
        Assert.Throws<ArgumentException>(fun () -> VecNormalize(neither, 2, 1, 0.99) |> ignore) |> ignore

let tests = testList "VecNormalize" [
    ``running statistics equal the two-pass statistics of all rows, however they are batched``
    ``the returns follow SB3: discounted sums whose spread scales rewards, restarting where an episode ended``
    ``observations are standardised per position and clipped; switched-off parts pass through``
    ``a minibatch is normalised in place: observations, next observations and rewards``
    ``the statistics survive JSON exactly, and a snapshot that does not fit is refused naming why``
    ``normalisation settings are validated, each problem naming its key`` ]
