/// SacConfig: each setter's validation, with-expressions, cross-field checks, target entropy and hidden sizes.
module SacConfigTests

open System
open System.Reflection
open Xunit
open Expecto
open Sac.Core.Config
open ValidationKit

// ---------- SacConfig ----------

let ``SacConfig defaults are Stable-Baselines3's`` = testCase "SacConfig defaults are Stable-Baselines3's" <| fun () ->
    let c = SacConfig()
    Assert.Equal(3e-4f, c.ActorLearningRate)
    Assert.Equal(3e-4f, c.CriticLearningRate)
    Assert.Equal(3e-4f, c.AlphaLearningRate)
    Assert.Equal(1_000_000, c.BufferSize)
    Assert.Equal(256, c.BatchSize)
    Assert.Equal(0.005f, c.Tau)
    Assert.Equal(0.99f, c.Gamma)
    Assert.Equal(100, c.LearningStarts)
    Assert.Equal(1, c.TrainFrequency)
    Assert.Equal(1, c.GradientSteps)
    Assert.Equal(1, c.TargetUpdateInterval)
    Assert.Equal<int>([| 256; 256 |], c.HiddenSizes)
    Assert.False(c.TargetEntropy.HasValue)
    Assert.Equal(1.0f, c.InitialAlpha)
    Assert.True(c.AutoAlpha)
    Assert.Equal(LogStdBound.Clamp, c.LogStdBound)
    Assert.Equal(-20.0f, c.LogStdMin)
    Assert.Equal(2.0f, c.LogStdMax)
    Assert.Equal(5000, c.EvalInterval)
    Assert.Equal(10, c.EvalEpisodes)
    Assert.Equal(0UL, c.Seed)
    Assert.Equal(SacVariant.V2, c.Variant)
    Assert.False(c.MaxGradNorm.HasValue)
    Assert.Empty(c.Validate())
    Assert.Same(c, c.ThrowIfInvalid())

let ``SacConfig rejects each bad value when it is set, naming the property`` = testCase "SacConfig rejects each bad value when it is set, naming the property" <| fun () ->
    let cases : (string * (unit -> SacConfig)) list =
        [ "BatchSize", (fun () -> SacConfig(BatchSize = 0))
          "ActorLearningRate", (fun () -> SacConfig(ActorLearningRate = 0.0f))
          "CriticLearningRate", (fun () -> SacConfig(CriticLearningRate = nanf))
          "AlphaLearningRate", (fun () -> SacConfig(AlphaLearningRate = -1e-3f))
          "BufferSize", (fun () -> SacConfig(BufferSize = 0))
          "Tau", (fun () -> SacConfig(Tau = 0.0f))
          "Tau", (fun () -> SacConfig(Tau = 1.5f))
          "Gamma", (fun () -> SacConfig(Gamma = 1.01f))
          "Gamma", (fun () -> SacConfig(Gamma = nanf))
          "LearningStarts", (fun () -> SacConfig(LearningStarts = -1))
          "TrainFrequency", (fun () -> SacConfig(TrainFrequency = 0))
          "GradientSteps", (fun () -> SacConfig(GradientSteps = 0))
          "GradientSteps", (fun () -> SacConfig(GradientSteps = -2))
          "TargetUpdateInterval", (fun () -> SacConfig(TargetUpdateInterval = 0))
          "HiddenSizes", (fun () -> SacConfig(HiddenSizes = [||]))
          "HiddenSizes", (fun () -> SacConfig(HiddenSizes = [| 64; 0 |]))
          "HiddenSizes", (fun () -> SacConfig(HiddenSizes = Unchecked.defaultof<Collections.Generic.IReadOnlyList<int>>))
          "TargetEntropy", (fun () -> SacConfig(TargetEntropy = Nullable infinityf))
          "InitialAlpha", (fun () -> SacConfig(InitialAlpha = 0.0f))
          "LogStdBound", (fun () -> SacConfig(LogStdBound = enum<LogStdBound> 9))
          "LogStdMin", (fun () -> SacConfig(LogStdMin = -infinityf))
          "LogStdMax", (fun () -> SacConfig(LogStdMax = nanf))
          "EvalInterval", (fun () -> SacConfig(EvalInterval = -5))
          "EvalEpisodes", (fun () -> SacConfig(EvalEpisodes = 0))
          "Variant", (fun () -> SacConfig(Variant = enum<SacVariant> 2))
          "MaxGradNorm", (fun () -> SacConfig(MaxGradNorm = Nullable 0.0f)) ]
    for name, make in cases do
        let ex = throwsNaming name (fun () -> make () |> ignore)
        Assert.Contains(name, ex.Message)
    // Good values are accepted, and the optional ones can be set.
    let c = SacConfig(BatchSize = 64, MaxGradNorm = Nullable 10.0f, TargetEntropy = Nullable -2.5f, Seed = 7UL,
                      LogStdBound = LogStdBound.TanhRescale, LogStdMin = -5.0f, Variant = SacVariant.V1, AutoAlpha = false)
    Assert.Equal(64, c.BatchSize)
    Assert.Equal(Nullable 10.0f, c.MaxGradNorm)
    // SB3's gradient_steps = -1 (as many as the round's environment steps) is accepted, for every algorithm.
    Assert.Equal(-1, SacConfig(GradientSteps = -1).GradientSteps)
    Assert.Equal(-1, SqlConfig(GradientSteps = -1).GradientSteps)
    Assert.Equal(-1, DqnConfig(GradientSteps = -1).GradientSteps)
    Assert.Contains("GradientSteps", (Assert.Throws<ArgumentException>(fun () -> DqnConfig(GradientSteps = 0) |> ignore)).Message)
    Assert.Equal(SacVariant.V1, c.Variant)
    Assert.Empty(c.Validate())

let ``SacConfig with-expressions are validated by the same setters`` = testCase "SacConfig with-expressions are validated by the same setters" <| fun () ->
    let c = SacConfig()
    // `c with { BatchSize = 64 }` and `c with { BatchSize = 0 }`, as the C# compiler lowers them.
    let c64 = withProperty c "BatchSize" (box 64)
    Assert.Equal(64, c64.BatchSize)
    Assert.Equal(256, c.BatchSize)
    throwsNaming "BatchSize" (fun () -> withProperty c "BatchSize" (box 0) |> ignore) |> ignore
    throwsNaming "Gamma" (fun () -> withProperty c "Gamma" (box 2.0f) |> ignore) |> ignore
    throwsNaming "HiddenSizes" (fun () -> withProperty c "HiddenSizes" (box [| -1 |]) |> ignore) |> ignore

let ``SacConfig Validate reports every cross-field problem at once, each naming its fields`` = testCase "SacConfig Validate reports every cross-field problem at once, each naming its fields" <| fun () ->
    // Each setter accepts its own value; only the combinations are wrong.
    let c = SacConfig(BufferSize = 100, LogStdMin = 3.0f)
    let problems = c.Validate()
    Assert.Equal(2, problems.Count)
    Assert.Contains("BatchSize", problems.[0])
    Assert.Contains("BufferSize", problems.[0])
    Assert.Contains("LogStdMin", problems.[1])
    Assert.Contains("LogStdMax", problems.[1])
    let ex = Assert.Throws<ArgumentException>(fun () -> c.ThrowIfInvalid() |> ignore)
    Assert.Contains("2 problems", ex.Message)
    Assert.Contains("BatchSize (256) must not exceed BufferSize (100)", ex.Message)
    Assert.Contains("LogStdMin (3) must be below LogStdMax (2)", ex.Message)
    // The order of an initializer does not matter: shrinking both together is valid.
    Assert.Empty(SacConfig(BufferSize = 100, BatchSize = 50).Validate())

let ``SacConfig resolves the target entropy and compares hidden sizes by contents`` = testCase "SacConfig resolves the target entropy and compares hidden sizes by contents" <| fun () ->
    Assert.Equal(-6.0f, SacConfig().ResolvedTargetEntropy 6)
    Assert.Equal(-1.0f, SacConfig().ResolvedTargetEntropy 1)
    Assert.Equal(2.5f, SacConfig(TargetEntropy = Nullable 2.5f).ResolvedTargetEntropy 6)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> SacConfig().ResolvedTargetEntropy 0 |> ignore) |> ignore
    let sizes = [| 64; 32 |]
    let a = SacConfig(HiddenSizes = sizes)
    sizes.[0] <- 1
    Assert.Equal<int>([| 64; 32 |], a.HiddenSizes)
    let b = SacConfig(HiddenSizes = ResizeArray [ 64; 32 ])
    Assert.Equal(a, b)
    Assert.Equal(a.GetHashCode(), b.GetHashCode())
    Assert.NotEqual(a, SacConfig(HiddenSizes = [| 64; 33 |]))
    Assert.Equal(SacConfig(), SacConfig())
    Assert.Contains("HiddenSizes = [256, 256]", SacConfig().ToString())

let tests = testList "SacConfig" [
    ``SacConfig defaults are Stable-Baselines3's``
    ``SacConfig rejects each bad value when it is set, naming the property``
    ``SacConfig with-expressions are validated by the same setters``
    ``SacConfig Validate reports every cross-field problem at once, each naming its fields``
    ``SacConfig resolves the target entropy and compares hidden sizes by contents``
]
