/// What the Soft Q-Learning tests share: the reference GEMM, FsCheck settings, a small learner and random batches.
module SqlKit

open System
open FsCheck
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Fs
open TrainingKit

let gemm = ReferenceGemm.Instance :> IGemm
let fsConfig = Config.QuickThrowOnFailure.WithMaxTest(100)

/// A small learner: |S| = 2, |A| = 2, hidden [8, 8], batch 5, 4 value samples, 3 fixed and 3 updated particles.
let smallConfigWith (squash: bool) (tau: float32) (interval: int) =
    SqlConfig(HiddenSizes = [| 8; 8 |], SamplerHiddenSizes = [| 8; 8 |], BatchSize = 5, BufferSize = 100, ValueParticles = 4,
              KernelParticles = 6, TargetUpdateInterval = interval, Tau = tau, SquashCorrection = squash, Alpha = 0.7f, Seed = 3UL)

let smallConfig () = smallConfigWith true 1.0f 3

let setup (cfg: SqlConfig) =
    let ctx = SqlContext(cfg, 2, 2, gemm)
    ctx, SoftQLearning.init ctx 11UL, randomBatch cfg.BatchSize 2 2 7UL
