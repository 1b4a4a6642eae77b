/// ConfigJson and RunInfo: round trips, the written form, defaults, and rejected keys and values named with their source.
module ConfigJsonTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Config
open Sac.Core.Runs
open RunsKit

// ---------- ConfigJson ----------

let private genUnit = Gen.choose (1, Int32.MaxValue) |> Gen.map (fun k -> float32 (float k / float Int32.MaxValue))

let private genPositive =
    gen {
        let! mantissa = genUnit
        let! exponent = Gen.choose (-8, 3)
        return max 1e-30f (mantissa * float32 (10.0 ** float exponent))
    }

let private genFinite = Gen.oneof [ genPositive; genPositive |> Gen.map (~-); Gen.constant 0.0f ]

let private genConfig =
    gen {
        let! actorLr = genPositive
        let! criticLr = genPositive
        let! alphaLr = genPositive
        let! bufferSize = Gen.choose (1, 2_000_000)
        let! batch = Gen.choose (1, 1024)
        let! tau = genUnit
        let! gamma = Gen.oneof [ genUnit; Gen.constant 0.0f ]
        let! starts = Gen.choose (0, 100_000)
        let! trainFreq = Gen.choose (1, 64)
        let! gradSteps = Gen.choose (1, 64)
        let! targetInterval = Gen.choose (1, 64)
        let! hiddenSizes = Gen.nonEmptyListOf (Gen.choose (1, 1024))
        let! targetEntropy = Gen.oneof [ Gen.constant (Nullable()); genFinite |> Gen.map Nullable ]
        let! initialAlpha = genPositive
        let! autoAlpha = Gen.elements [ true; false ]
        let! bound = Gen.elements [ LogStdBound.Clamp; LogStdBound.TanhRescale ]
        let! logStdMin = Gen.choose (-40, 0) |> Gen.map float32
        let! width = genPositive
        let! evalInterval = Gen.choose (0, 100_000)
        let! evalEpisodes = Gen.choose (1, 100)
        let! seed = Gen.choose (0, Int32.MaxValue) |> Gen.map (fun k -> uint64 k * 8_589_934_583UL)
        let! variant = Gen.elements [ SacVariant.V2; SacVariant.V1 ]
        let! maxGradNorm = Gen.oneof [ Gen.constant (Nullable()); genPositive |> Gen.map Nullable ]
        return
            SacConfig(
                ActorLearningRate = actorLr, CriticLearningRate = criticLr, AlphaLearningRate = alphaLr,
                BufferSize = max bufferSize batch, BatchSize = batch, Tau = tau, Gamma = gamma,
                LearningStarts = starts, TrainFrequency = trainFreq, GradientSteps = gradSteps,
                TargetUpdateInterval = targetInterval, HiddenSizes = List.toArray hiddenSizes,
                TargetEntropy = targetEntropy, InitialAlpha = initialAlpha, AutoAlpha = autoAlpha,
                LogStdBound = bound, LogStdMin = logStdMin, LogStdMax = logStdMin + 1.0f + width,
                EvalInterval = evalInterval, EvalEpisodes = evalEpisodes, Seed = seed, Variant = variant,
                MaxGradNorm = maxGradNorm)
    }

let ``config json round trips every valid configuration`` =
    testPropertyWithConfig (Properties.ofFsCheck (config.WithMaxTest(200))) "config json round trips every valid configuration" (Prop.forAll (Arb.fromGen genConfig) (fun c ->
        Assert.Empty(c.Validate())
        let json = ConfigJson.Serialize c
        let back = ConfigJson.Deserialize(json, "config.json")
        Assert.Equal(c, back)
        Assert.Equal(json, ConfigJson.Serialize back)))

let ``config json is indented camelCase with enums by name`` = testCase "config json is indented camelCase with enums by name" <| fun () ->
    let json = ConfigJson.Serialize(SacConfig())
    Assert.Contains("\n  \"batchSize\": 256,", json)
    Assert.Contains("\"variant\": \"V2\"", json)
    Assert.Contains("\"logStdBound\": \"Clamp\"", json)
    Assert.Contains("\"targetEntropy\": null", json)

let ``config json keeps defaults for missing keys`` = testCase "config json keeps defaults for missing keys" <| fun () ->
    Assert.Equal(SacConfig(BatchSize = 64), ConfigJson.Deserialize("{\"batchSize\": 64}", "c.json"))
    Assert.Equal(SacConfig(), ConfigJson.Deserialize("{}", "c.json"))
    // Hand-written files may carry comments and trailing commas.
    Assert.Equal(SacConfig(Variant = SacVariant.V1), ConfigJson.Deserialize("{ // v1 run\n \"variant\": \"V1\", }", "c.json"))

let ``config json rejects an unknown key by name with the source`` = testCase "config json rejects an unknown key by name with the source" <| fun () ->
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSze\": 64}", "runs/my.json") |> ignore)
    Assert.Contains("runs/my.json", ex.Message)
    Assert.Contains("unknown key 'batchSze'", ex.Message)
    Assert.Contains("did you mean 'batchSize'", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"BatchSize\": 64}", "my.json") |> ignore)
    Assert.Contains("'BatchSize'", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": 64, \"batchSize\": 32}", "my.json") |> ignore)
    Assert.Contains("'batchSize' appears more than once", ex.Message)

let ``config json reports a bad value naming the field and the source`` = testCase "config json reports a bad value naming the field and the source" <| fun () ->
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": 0}", "my.json") |> ignore)
    Assert.Equal("batchSize", ex.ParamName)
    Assert.StartsWith("my.json: invalid value for 'batchSize': BatchSize must be at least 1, got 0.", ex.Message)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> ConfigJson.Deserialize("{\"tau\": 1.5}", "my.json") |> ignore)
    Assert.Equal("tau", ex.ParamName)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> ConfigJson.Deserialize("{\"bufferSize\": 10}", "my.json") |> ignore)
    Assert.Contains("BatchSize (256) must not exceed BufferSize (10)", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": \"big\"}", "my.json") |> ignore)
    Assert.Contains("'batchSize'", ex.Message)
    Assert.Contains("an integer", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"variant\": \"V3\"}", "my.json") |> ignore)
    Assert.Contains("\"V2\", \"V1\"", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("{\"batchSize\": 64", "my.json") |> ignore)
    Assert.Contains("my.json: not valid JSON", ex.Message)
    Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize("[1, 2]", "my.json") |> ignore) |> ignore

let ``run info round trips and is as strict as the config`` = testCase "run info round trips and is as strict as the config" <| fun () ->
    let info = RunInfo("sac", "Pendulum-v1", 20_000L, 42UL, "cpu", SacConfig(BatchSize = 64, HiddenSizes = [| 64; 64 |]))
    let json = ConfigJson.SerializeRun info
    Assert.Contains("\"environmentId\": \"Pendulum-v1\"", json)
    Assert.Contains("\"config\": {", json)
    Assert.Equal(info, ConfigJson.DeserializeRun(json, "config.json"))
    let ex = Assert.Throws<FormatException>(fun () ->
        ConfigJson.DeserializeRun(json.Replace("\"batchSize\"", "\"batchSiz\""), "out/config.json") |> ignore)
    Assert.Contains("out/config.json: unknown key 'config.batchSiz'", ex.Message)
    let ex = Assert.Throws<FormatException>(fun () ->
        ConfigJson.DeserializeRun(json.Replace("\"device\": \"cpu\",", ""), "config.json") |> ignore)
    Assert.Contains("'device' is missing", ex.Message)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () ->
        ConfigJson.DeserializeRun(json.Replace("\"steps\": 20000", "\"steps\": -1"), "config.json") |> ignore)
    Assert.Equal("steps", ex.ParamName)

let tests = testList "ConfigJson" [
    ``config json round trips every valid configuration``
    ``config json is indented camelCase with enums by name``
    ``config json keeps defaults for missing keys``
    ``config json rejects an unknown key by name with the source``
    ``config json reports a bad value naming the field and the source``
    ``run info round trips and is as strict as the config``
]
