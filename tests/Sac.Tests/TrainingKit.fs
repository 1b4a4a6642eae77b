/// What the trainer tests share: record comparison without the wall clock, temporary run directories, record capture.
module TrainingKit

open System
open System.IO
open Sac.Core.Data
open Sac.Core.Random
open Sac.Fs

/// Everything in a record but the wall-clock columns, which no two runs share.
let comparable (r: TrainingRecord) = r.Step, r.Episode, r.EpisodeReturn, r.EpisodeLength, r.EvalReturn, r.EvalStd, r.Metrics

/// Runs <c>f</c> in a fresh temporary directory, deleted afterwards.
let withTempDir (f: string -> unit) =
    let dir = Directory.CreateTempSubdirectory("sac-train-")
    try f dir.FullName finally dir.Delete true

/// A list that fills with every record, and the callback that fills it.
let collect () =
    let records = Collections.Generic.List<TrainingRecord>()
    records, Callback.ofRecord records.Add

/// A batch of random transitions: normal observations and rewards, actions uniform in [-1, 1], every third one terminated.
let randomBatch (b: int) o a seed =
    let batch = Batch(b, o, a)
    let key = PhiloxKey.FromSeed seed
    Philox.FillNormal(key, 0UL, Span batch.Observations)
    Philox.FillNormal(key, 1000UL, Span batch.NextObservations)
    Philox.FillUniform(key, 2000UL, Span batch.Actions)
    for i in 0 .. batch.Actions.Length - 1 do batch.Actions.[i] <- 2.0f * batch.Actions.[i] - 1.0f
    Philox.FillNormal(key, 3000UL, Span batch.Rewards)
    for i in 0 .. b - 1 do batch.Terminated.[i] <- (if i % 3 = 0 then 1.0f else 0.0f)
    batch
