/// What the Sac.Core.Runs tests share: temporary directories, random learner states and replay buffers, bitwise comparison.
module RunsKit

open System
open System.IO
open Xunit
open FsCheck
open Sac.Core.Data
open Sac.Core.Networks
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Core.Runs

/// A fresh directory under the system temp folder, deleted when disposed.
type TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "sac-runs-tests-" + Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() = try Directory.Delete(path, true) with _ -> ()

let config = Config.QuickThrowOnFailure.WithMaxTest(100)

let obsSize, actSize = 3, 1
let hidden = [| 8; 8 |]

let header (variant: string) =
    CheckpointHeader("sac", "Pendulum-v1", obsSize, actSize, hidden, variant, 1234L)

let actorCount = MlpSpec([| obsSize; 8; 8; 2 * actSize |]).ParameterCount
let qCount = MlpSpec([| obsSize + actSize; 8; 8; 1 |]).ParameterCount
let valueCount = MlpSpec([| obsSize; 8; 8; 1 |]).ParameterCount

let randomArray (rng: Random) (n: int) = Array.init n (fun _ -> float32 (rng.NextDouble() * 4.0 - 2.0))

let randomAdam (rng: Random) (n: int) =
    AdamState(int64 (rng.Next(0, 1000)), randomArray rng n, randomArray rng n)

/// A learner state with random arrays of the sizes the test header implies; with value networks for V1.
let randomState (seed: int) (v1: bool) =
    let rng = Random(seed)
    let actor = randomArray rng actorCount
    // Values a lossy writer would get wrong: NaN with a payload, infinities, negative zero, a subnormal.
    actor.[0] <- BitConverter.Int32BitsToSingle 0x7FC12345
    actor.[1] <- Single.PositiveInfinity
    actor.[2] <- -0.0f
    actor.[3] <- BitConverter.Int32BitsToSingle 1
    LearnerState(
        actor,
        randomArray rng (2 * qCount),
        randomArray rng (2 * qCount),
        (if v1 then randomArray rng valueCount else Unchecked.defaultof<_>),
        (if v1 then randomArray rng valueCount else Unchecked.defaultof<_>),
        randomAdam rng actorCount,
        randomAdam rng (2 * qCount),
        randomAdam rng 1,
        (if v1 then Nullable(randomAdam rng valueCount) else Nullable()),
        float32 (rng.NextDouble() - 0.5),
        int64 (rng.Next()),
        PhiloxKey(uint32 (rng.Next()), 0xFFFFFFFFu))

/// The state with another critic array (C# records have no F# copy-and-update syntax).
let withCritic (s: LearnerState) (critic: float32[]) =
    LearnerState(s.Actor, critic, s.TargetCritic, s.Value, s.TargetValue, s.ActorOptimizer, s.CriticOptimizer,
                 s.AlphaOptimizer, s.ValueOptimizer, s.LogAlpha, s.Step, s.Key)

let randomReplay (seed: int) =
    let rng = Random(seed)
    let buf = ReplayBuffer(5, obsSize, actSize)
    // Seven adds into five slots: the ring has wrapped, so Position and TotalAdded both matter.
    for _ in 1 .. 7 do
        buf.Add(ReadOnlySpan(randomArray rng obsSize), ReadOnlySpan(randomArray rng actSize), float32 (rng.NextDouble()),
                ReadOnlySpan(randomArray rng obsSize), rng.Next(2) = 0, rng.Next(2) = 0)
    buf

let bits (a: float32[]) = a |> Array.map BitConverter.SingleToInt32Bits

let sameFloats (what: string) (expected: float32[]) (actual: float32[]) =
    Assert.True((bits expected = bits actual), sprintf "%s differs bitwise" what)

let sameAdam (what: string) (e: AdamState) (a: AdamState) =
    Assert.Equal(e.Step, a.Step)
    sameFloats (what + ".m") e.FirstMoment a.FirstMoment
    sameFloats (what + ".v") e.SecondMoment a.SecondMoment

let sameState (e: LearnerState) (a: LearnerState) =
    sameFloats "actor" e.Actor a.Actor
    sameFloats "critic" e.Critic a.Critic
    sameFloats "target_critic" e.TargetCritic a.TargetCritic
    match e.Value with
    | null -> Assert.Null a.Value; Assert.Null a.TargetValue; Assert.False a.ValueOptimizer.HasValue
    | v ->
        sameFloats "value" v (nonNull a.Value)
        sameFloats "target_value" (nonNull e.TargetValue) (nonNull a.TargetValue)
        sameAdam "value_optimizer" e.ValueOptimizer.Value a.ValueOptimizer.Value
    sameAdam "actor_optimizer" e.ActorOptimizer a.ActorOptimizer
    sameAdam "critic_optimizer" e.CriticOptimizer a.CriticOptimizer
    sameAdam "alpha_optimizer" e.AlphaOptimizer a.AlphaOptimizer
    Assert.Equal(BitConverter.SingleToInt32Bits e.LogAlpha, BitConverter.SingleToInt32Bits a.LogAlpha)
    Assert.Equal(e.Step, a.Step)
    Assert.Equal(e.Key, a.Key)

let loadFails (path: string) =
    let ex = Assert.Throws<CheckpointException>(fun () -> Checkpoint.Load path |> ignore)
    Assert.StartsWith(path + ": ", ex.Message)
    ex

/// A checkpoint with its header JSON rewritten (checksum fixed), so only the header differs.
let withHeader (rewrite: string -> string) (file: byte[]) = TestProviders.rewriteCheckpointHeader rewrite file
