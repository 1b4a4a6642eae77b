/// Learning-rate schedules: the factor at a point of a run, RL Zoo's `lin_` form in configurations, and Adam at a factor.
module LearningRateScheduleTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Config
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Core.Runs

let private config = Config.QuickThrowOnFailure.WithMaxTest(200)

let ``a constant schedule's factor is 1; a linear one's is the progress remaining, 1 - steps / total, never below 0`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "a constant schedule's factor is 1; a linear one's is the progress remaining, 1 - steps / total, never below 0"
        (Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (0, 20_000)) (Gen.choose (1, 10_000)))) (fun (steps, total) ->
            let s, t = int64 steps, int64 total
            Assert.Equal(1.0f, LearningRateSchedules.Factor(LearningRateSchedule.Constant, s, t))
            let f = LearningRateSchedules.Factor(LearningRateSchedule.Linear, s, t)
            let expected = max 0.0 (1.0 - float s / float t)
            Assert.True(abs (float f - expected) <= 1e-7, $"factor {f} at {s} of {t}, expected {expected}")
            Assert.True(f >= 0.0f && f <= 1.0f)
            // Non-increasing along the run, 1 at the start, 0 at the end, and 1 when the length is unknown.
            Assert.True(LearningRateSchedules.Factor(LearningRateSchedule.Linear, s + 1L, t) <= f)
            Assert.Equal(1.0f, LearningRateSchedules.Factor(LearningRateSchedule.Linear, 0L, t))
            Assert.Equal(0.0f, LearningRateSchedules.Factor(LearningRateSchedule.Linear, t, t))
            Assert.Equal(1.0f, LearningRateSchedules.Factor(LearningRateSchedule.Linear, s, 0L))
            true))

let ``lin_RATE reads as the rate under a linear schedule; anything else does not`` = testCase "lin_RATE reads as the rate under a linear schedule; anything else does not" <| fun () ->
    let ok, rate = LearningRateSchedules.TryParseLinear "lin_7.3e-4"
    Assert.True ok
    Assert.Equal(7.3e-4f, rate)
    for bad in [ "7.3e-4"; "lin_"; "lin_fast"; "lin_NaN"; "lin_Infinity"; "linear_1e-3"; "LIN_1e-3" ] do
        Assert.False(fst (LearningRateSchedules.TryParseLinear bad), bad)

let ``a configuration's lin_ learning rates set the rate and a linear schedule for every optimizer`` = testCase "a configuration's lin_ learning rates set the rate and a linear schedule for every optimizer" <| fun () ->
    let sac = ConfigJson.Deserialize<SacConfig>("""{ "actorLearningRate": "lin_7.3e-4", "criticLearningRate": 0.001 }""", "sac.json")
    Assert.Equal(7.3e-4f, sac.ActorLearningRate)
    Assert.Equal(1e-3f, sac.CriticLearningRate)
    Assert.Equal(LearningRateSchedule.Linear, sac.LearningRateSchedule)
    let dqn = ConfigJson.Deserialize<DqnConfig>("""{ "learningRate": "lin_6.3e-4" }""", "dqn.json")
    Assert.Equal((6.3e-4f, LearningRateSchedule.Linear), (dqn.LearningRate, dqn.LearningRateSchedule))
    let sql = ConfigJson.Deserialize<SqlConfig>("""{ "samplerLearningRate": "lin_1e-3", "learningRateSchedule": "Linear" }""", "sql.json")
    Assert.Equal((1e-3f, LearningRateSchedule.Linear), (sql.SamplerLearningRate, sql.LearningRateSchedule))
    // Written out, a scheduled configuration reads back equal.
    Assert.Equal(sac, ConfigJson.Deserialize<SacConfig>(ConfigJson.Serialize sac, "again.json"))
    Assert.Equal(LearningRateSchedule.Constant, ConfigJson.Deserialize<SacConfig>("{}", "empty.json").LearningRateSchedule)

let ``a lin_ rate that is no number, or a lin_ rate with another schedule, is refused naming the key`` = testCase "a lin_ rate that is no number, or a lin_ rate with another schedule, is refused naming the key" <| fun () ->
    let e = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize<SacConfig>("""{ "actorLearningRate": "lin_fast" }""", "bad.json") |> ignore)
    Assert.Contains("bad.json: 'actorLearningRate' is \"lin_fast\"", e.Message)
    let e = Assert.Throws<FormatException>(fun () -> ConfigJson.Deserialize<DqnConfig>("""{ "learningRate": "lin_1e-3", "learningRateSchedule": "Constant" }""", "c.json") |> ignore)
    Assert.Contains("one schedule applies to every optimizer", e.Message)
    // A schedule name the enum lacks is refused as any bad enum value is.
    Assert.ThrowsAny<Exception>(fun () -> ConfigJson.Deserialize<SacConfig>("""{ "learningRateSchedule": "Cosine" }""", "c.json") |> ignore) |> ignore

let ``Adam at factor f steps as Adam at learning rate f lr, bit for bit; at 0 it moves no parameter`` = testCase "Adam at factor f steps as Adam at learning rate f lr, bit for bit; at 0 it moves no parameter" <| fun () ->
    let n = 37
    let key = PhiloxKey.FromSeed 5UL
    let gradients = Array.zeroCreate<float32> n
    Philox.FillNormal(key, 0UL, Span gradients)
    let start = Array.zeroCreate<float32> n
    Philox.FillNormal(key, 100UL, Span start)
    let run (cfg: AdamConfig) (factor: float32) =
        let p = Array.copy start
        let mutable s = Adam.Init n
        for _ in 1 .. 4 do s <- Adam.Update(cfg, factor, s, ReadOnlySpan gradients, Span p)
        p, s
    for clip in [ Nullable(); Nullable 0.5f ] do
        let cfg = AdamConfig(1e-3f, 0.9f, 0.999f, 1e-8f, clip)
        // Halving a power-of-two multiple is exact, so the two rates are the same float.
        let halved, sh = run cfg 0.5f
        let direct, sd = run (AdamConfig(5e-4f, 0.9f, 0.999f, 1e-8f, clip)) 1.0f
        Assert.Equal<float32[]>(direct, halved)
        Assert.Equal<float32[]>(sd.FirstMoment, sh.FirstMoment)
        // Factor 1 is the plain update.
        let one, _ = run cfg 1.0f
        let plain = Array.copy start
        let mutable s = Adam.Init n
        for _ in 1 .. 4 do s <- Adam.Update(cfg, s, ReadOnlySpan gradients, Span plain)
        Assert.Equal<float32[]>(plain, one)
        let frozen, sz = run cfg 0.0f
        Assert.Equal<float32[]>(start, frozen)
        Assert.Equal<float32[]>(sd.SecondMoment, sz.SecondMoment)
    Assert.Throws<ArgumentException>(fun () -> run (AdamConfig()) 1.5f |> ignore) |> ignore

let tests = testList "LearningRateSchedule" [
    ``a constant schedule's factor is 1; a linear one's is the progress remaining, 1 - steps / total, never below 0``
    ``lin_RATE reads as the rate under a linear schedule; anything else does not``
    ``a configuration's lin_ learning rates set the rate and a linear schedule for every optimizer``
    ``a lin_ rate that is no number, or a lin_ rate with another schedule, is refused naming the key``
    ``Adam at factor f steps as Adam at learning rate f lr, bit for bit; at 0 it moves no parameter``
]
