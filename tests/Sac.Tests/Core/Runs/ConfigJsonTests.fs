/// ConfigJson and RunInfo: round trips, the written form, defaults, and rejected keys and values named with their source.
module ConfigJsonTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
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
        let! activation = Gen.elements [ Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]
        return
            SacConfig(
                ActorLearningRate = actorLr, CriticLearningRate = criticLr, AlphaLearningRate = alphaLr,
                BufferSize = max bufferSize batch, BatchSize = batch, Tau = tau, Gamma = gamma,
                LearningStarts = starts, TrainFrequency = trainFreq, GradientSteps = gradSteps,
                TargetUpdateInterval = targetInterval, HiddenSizes = List.toArray hiddenSizes,
                TargetEntropy = targetEntropy, InitialAlpha = initialAlpha, AutoAlpha = autoAlpha,
                LogStdBound = bound, LogStdMin = logStdMin, LogStdMax = logStdMin + 1.0f + width,
                EvalInterval = evalInterval, EvalEpisodes = evalEpisodes, Seed = seed, Variant = variant,
                MaxGradNorm = maxGradNorm, Activation = activation)
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

/// The activation key of each algorithm's configuration, read by the same rules.
let private activationOf (json: string) =
    [ "sac", (ConfigJson.Deserialize<SacConfig>(json, "my.json")).Activation
      "sql", (ConfigJson.Deserialize<SqlConfig>(json, "my.json")).Activation
      "dqn", (ConfigJson.Deserialize<DqnConfig>(json, "my.json")).Activation ]

let ``the activation key takes a hidden activation by name in any case, for SAC, SQL and the DQN family`` = testCase "the activation key takes a hidden activation by name in any case, for SAC, SQL and the DQN family" <| fun () ->
    for text, expected in [ "ELU", Activation.Elu; "elu", Activation.Elu; "LeakyReLU", Activation.LeakyRelu; "leakyrelu", Activation.LeakyRelu
                            "Tanh", Activation.Tanh; "TANH", Activation.Tanh; "ReLU", Activation.Relu; "relu", Activation.Relu ] do
        for algorithm, got in activationOf $"{{\"activation\": \"{text}\"}}" do
            Assert.True((expected = got), $"{algorithm}: \"{text}\" read as {got}, expected {expected}")
    for algorithm, got in activationOf "{}" do
        Assert.True((Activation.Relu = got), $"{algorithm}: the default is {got}, expected Relu")
    // Written by name, and only when it is not ReLU: a ReLU configuration's file has no activation key at all.
    Assert.Contains("\"activation\": \"Elu\"", ConfigJson.Serialize(SacConfig(Activation = Activation.Elu)))
    Assert.Contains("\"activation\": \"LeakyRelu\"", ConfigJson.Serialize(DqnConfig(Activation = Activation.LeakyRelu)))
    Assert.Contains("\"activation\": \"Tanh\"", ConfigJson.Serialize(SqlConfig(Activation = Activation.Tanh)))
    Assert.DoesNotContain("activation", ConfigJson.Serialize(SacConfig()))
    Assert.DoesNotContain("activation", ConfigJson.Serialize(SqlConfig()))
    Assert.DoesNotContain("activation", ConfigJson.Serialize(DqnConfig()))
    Assert.Equal(SqlConfig(Activation = Activation.Elu), ConfigJson.Deserialize<SqlConfig>(ConfigJson.Serialize(SqlConfig(Activation = Activation.Elu)), "c.json"))
    Assert.Equal(DqnConfig(Activation = Activation.LeakyRelu), ConfigJson.Deserialize<DqnConfig>(ConfigJson.Serialize(DqnConfig(Activation = Activation.LeakyRelu)), "c.json"))

let ``a bad activation is refused naming the key and the allowed values`` = testCase "a bad activation is refused naming the key and the allowed values" <| fun () ->
    let allowed = "\"Relu\", \"Tanh\", \"Elu\", \"LeakyRelu\""
    for read in [ (fun j -> ConfigJson.Deserialize<SacConfig>(j, "my.json") |> ignore)
                  (fun j -> ConfigJson.Deserialize<SqlConfig>(j, "my.json") |> ignore)
                  (fun j -> ConfigJson.Deserialize<DqnConfig>(j, "my.json") |> ignore) ] do
        for bad in [ "\"Swish\""; "3"; "null"; "\"\"" ] do
            let ex = Assert.Throws<FormatException>(fun () -> read $"{{\"activation\": {bad}}}")
            Assert.Contains("my.json", ex.Message)
            Assert.Contains("'activation'", ex.Message)
            Assert.Contains(allowed, ex.Message)
            Assert.DoesNotContain("Identity", ex.Message)
        // A defined value that is no hidden activation: the setter's rule, naming the key.
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> read "{\"activation\": \"Identity\"}")
        Assert.Equal("activation", ex.ParamName)
        Assert.Contains("my.json: invalid value for 'activation'", ex.Message)
        Assert.Contains("Relu, Tanh, Elu, LeakyRelu", ex.Message)
    // From code, the record refuses it too (and an undefined value), naming the property.
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> SacConfig(Activation = Activation.Identity) |> ignore)
    Assert.Equal("Activation", ex.ParamName)
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> DqnConfig(Activation = enum<Activation> 9) |> ignore)
    Assert.Equal("Activation", ex.ParamName)
    Assert.Contains("got 9", ex.Message)

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
    ``the activation key takes a hidden activation by name in any case, for SAC, SQL and the DQN family``
    ``a bad activation is refused naming the key and the allowed values``
    ``run info round trips and is as strict as the config``
]
