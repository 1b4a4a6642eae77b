/// What the DQN-family tests share: the reference GEMM, a small learner configuration and random batches of action indices.
module DqnKit

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Random

let gemm = ReferenceGemm.Instance :> IGemm

let smallConfigWith (hidden: int[]) variant =
    DqnConfig(Variant = variant, HiddenSizes = hidden, BatchSize = 5, BufferSize = 100, Seed = 3UL, Temperature = 0.5f)

let smallConfig variant = smallConfigWith [| 8; 8 |] variant

/// A batch of random transitions with action indices (every third one terminated).
let randomBatch (b: int) o n seed =
    let batch = Batch(b, o, 1)
    let key = PhiloxKey.FromSeed seed
    Philox.FillNormal(key, 0UL, Span batch.Observations)
    Philox.FillNormal(key, 1000UL, Span batch.NextObservations)
    for i in 0 .. b - 1 do batch.Actions.[i] <- float32 (Philox.UniformInt(key, uint64 i, n))
    Philox.FillNormal(key, 3000UL, Span batch.Rewards)
    for i in 0 .. b - 1 do batch.Terminated.[i] <- (if i % 3 = 0 then 1.0f else 0.0f)
    batch
