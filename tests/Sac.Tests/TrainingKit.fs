/// What the trainer tests share: record comparison without the wall clock, temporary run directories, record capture.
module TrainingKit

open System
open System.IO
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
