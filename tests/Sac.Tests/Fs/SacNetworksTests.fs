/// SacNetworks: the actor's and the critics' hidden layers, shared or separate, through the configuration, the
/// checkpoint, resume and `sac eval`.
module SacNetworksTests

open System.IO
open Xunit
open Expecto
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Runs
open Sac.Fs
open TrainingKit

let private gemm = new ManagedGemm(1) :> IGemm

let ``the actor takes ActorHiddenSizes, the critics and V CriticHiddenSizes, both HiddenSizes when unset`` = testCase "the actor takes ActorHiddenSizes, the critics and V CriticHiddenSizes, both HiddenSizes when unset" <| fun () ->
    let sizes (n: Sac.Core.Networks.MlpSpec) = List.ofSeq n.Sizes
    let shared = SacNetworks(SacConfig(HiddenSizes = [| 32; 32 |]), 3, 2)
    Assert.Equal<int list>([ 3; 32; 32; 4 ], sizes shared.Actor)
    Assert.Equal<int list>([ 5; 32; 32; 1 ], sizes shared.Critic)
    let separate = SacNetworks(SacConfig(HiddenSizes = [| 32; 32 |], ActorHiddenSizes = [| 8 |], CriticHiddenSizes = [| 64; 16 |]), 3, 2)
    Assert.Equal<int list>([ 3; 8; 4 ], sizes separate.Actor)
    Assert.Equal<int list>([ 5; 64; 16; 1 ], sizes separate.Critic)
    Assert.Equal<int list>([ 3; 64; 16; 1 ], sizes separate.Value)
    // Configuration JSON: the two keys read, write back equal, and an empty list is refused by name.
    let cfg = ConfigJson.Deserialize<SacConfig>("""{ "actorHiddenSizes": [8], "criticHiddenSizes": [64, 16] }""", "c.json")
    Assert.Equal<int list>([ 8 ], List.ofSeq (nonNull cfg.ActorHiddenSizes))
    Assert.Equal(cfg, ConfigJson.Deserialize<SacConfig>(ConfigJson.Serialize cfg, "again.json"))
    let e = Assert.ThrowsAny<exn>(fun () -> ConfigJson.Deserialize<SacConfig>("""{ "actorHiddenSizes": [] }""", "c.json") |> ignore)
    Assert.Contains("ActorHiddenSizes", e.Message)

let ``separate sizes reach the checkpoint, resume and sac eval; shared sizes write no extra header keys`` = testCase "separate sizes reach the checkpoint, resume and sac eval; shared sizes write no extra header keys" <| fun () ->
    withTempDir (fun dir ->
        let cfg = SacConfig(HiddenSizes = [| 16 |], ActorHiddenSizes = [| 8 |], CriticHiddenSizes = [| 24; 12 |], BatchSize = 16,
                            BufferSize = 500, LearningStarts = 50, EvalInterval = 0, Seed = 5UL)
        use t = new Trainer("Pendulum-v1", cfg, gemm)
        let s = t.RunTo(t.Start(), 120L, []).State
        let path = Path.Combine(dir, "c.ckpt")
        t.Save(path, s, 200L, true)
        let struct (h, state, _) = Checkpoint.Load path
        Assert.Equal<int list>([ 8 ], List.ofSeq (nonNull h.ActorHiddenSizes))
        Assert.Equal<int list>([ 24; 12 ], List.ofSeq (nonNull h.CriticHiddenSizes))
        Assert.Equal(t.Context.Networks.Actor.ParameterCount, state.Actor.Length)
        // Resume: the same sizes continue; other critic sizes are named as the difference.
        use same = new Trainer("Pendulum-v1", cfg, gemm)
        Assert.Equal(None, (same.Load path).Mismatch)
        use other = new Trainer("Pendulum-v1", SacConfig(HiddenSizes = [| 16 |], ActorHiddenSizes = [| 8 |], BatchSize = 16, BufferSize = 500), gemm)
        Assert.Contains("critic hidden sizes", defaultArg (other.Load path).Mismatch "")
        // sac eval rebuilds the networks from the header alone.
        Assert.Equal(0, Sac.Cli.Program.main [| "eval"; "--checkpoint"; path; "--episodes"; "1"; "--seed"; "3" |])
        // With shared sizes the header is as before: no actor or critic keys.
        use plain = new Trainer("Pendulum-v1", SacConfig(HiddenSizes = [| 16 |], BatchSize = 16, BufferSize = 500, LearningStarts = 50), gemm)
        let plainPath = Path.Combine(dir, "p.ckpt")
        plain.Save(plainPath, plain.Start(), 100L, false)
        let header = (Checkpoint.ReadMetadata plainPath).["header"]
        Assert.DoesNotContain("actorHiddenSizes", header)
        Assert.DoesNotContain("criticHiddenSizes", header))

let tests = testList "SacNetworks" [
    ``the actor takes ActorHiddenSizes, the critics and V CriticHiddenSizes, both HiddenSizes when unset``
    ``separate sizes reach the checkpoint, resume and sac eval; shared sizes write no extra header keys``
]
