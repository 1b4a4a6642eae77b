namespace Sac.Fs

open System
open System.Collections.Generic
open Sac.Core.Data
open Sac.Core.Runs

/// <summary>
/// What the SAC, SQL and DQN-family trainers share in <c>Save</c> and <c>Resume</c>: the progress record a training
/// checkpoint carries, and the checks and restores that bring a trainer back to it, each failing with one
/// <see cref="T:System.ArgumentException"/> that names what does not fit.
/// </summary>
[<RequireQualifiedAccess>]
module Resuming =

    /// <summary>Raises the error every <c>Resume</c> raises: "cannot resume from this checkpoint: " and what does not fit.</summary>
    /// <param name="what">What does not fit.</param>
    [<CompiledName("Fail")>]
    let fail (what: string) : 'T = invalidArg "checkpoint" $"cannot resume from this checkpoint: {what}"

    /// <summary>A checkpoint's string metadata: the algorithm's configuration JSON under
    /// <c>Checkpoint.ConfigMetadataKey</c>, beside the trainer's own entries.</summary>
    /// <param name="configJson">The configuration, serialised.</param>
    /// <param name="extra">The trainer's entries (a normalising run's statistics); never the configuration's key.</param>
    [<CompiledName("WithConfig")>]
    let withConfig (configJson: string) (extra: IReadOnlyDictionary<string, string>) =
        let all = Dictionary<string, string>(extra)
        all.[Checkpoint.ConfigMetadataKey] <- configJson
        all

    /// <summary>The progress a trainer saves: the loop's counters, its latest metrics and its checkpoint interval.</summary>
    /// <param name="totalSteps">The environment steps the run was asked for (at least 1 is stored).</param>
    /// <param name="episodes">Episodes finished.</param>
    /// <param name="episodeReturn">Return of the running episode.</param>
    /// <param name="episodeLength">Steps of the running episode.</param>
    /// <param name="draws">Replay draws made.</param>
    /// <param name="metrics">The latest update's metrics in the algorithm's order, if any update ran.</param>
    /// <param name="checkpointEvery">The run's checkpoint interval (0: none).</param>
    [<CompiledName("Progress")>]
    let progress (totalSteps: int64) (episodes: int) (episodeReturn: float) (episodeLength: int) (draws: uint64)
                 (metrics: float32[] voption) (checkpointEvery: int64) =
        let last: IReadOnlyList<float32> | null = match metrics with ValueSome m -> m | ValueNone -> null
        TrainingProgress(max totalSteps 1L, episodes, episodeReturn, episodeLength, draws, last, CheckpointEvery = checkpointEvery)

    /// <summary>The progress a trainer of several environments saves: as <see cref="progress"/>, with each
    /// environment's running episode (the top-level return and length are environment 0's).</summary>
    /// <param name="totalSteps">The environment steps the run was asked for (at least 1 is stored).</param>
    /// <param name="episodes">Episodes finished by all environments.</param>
    /// <param name="environments">Each environment's running episode, in environment order (at least two).</param>
    /// <param name="draws">Replay draws made.</param>
    /// <param name="metrics">The latest update's metrics in the algorithm's order, if any update ran.</param>
    /// <param name="checkpointEvery">The run's checkpoint interval (0: none).</param>
    [<CompiledName("ProgressOfEnvironments")>]
    let progressOfEnvironments (totalSteps: int64) (episodes: int) (environments: EnvironmentProgress[]) (draws: uint64)
                               (metrics: float32[] voption) (checkpointEvery: int64) =
        let last: IReadOnlyList<float32> | null = match metrics with ValueSome m -> m | ValueNone -> null
        let first = environments.[0]
        TrainingProgress(max totalSteps 1L, episodes, first.EpisodeReturn, first.EpisodeLength, draws, last,
                         CheckpointEvery = checkpointEvery, Environments = environments)

    /// <summary>Fails unless the checkpoint was trained on <paramref name="expected"/>.</summary>
    /// <param name="expected">The trainer's environment id.</param>
    /// <param name="actual">The checkpoint's environment id.</param>
    [<CompiledName("RequireEnvironment")>]
    let requireEnvironment (expected: string) (actual: string) =
        if actual <> expected then fail $"it was trained on {actual}, not {expected}"

    /// <summary>The first reason in <paramref name="checks"/> (pairs of "does not fit" and why), or None.</summary>
    /// <param name="checks">Each check: whether it fails, and the reason the message gives.</param>
    [<CompiledName("FirstMismatch")>]
    let firstMismatch (checks: (bool * (unit -> string)) list) : string option =
        checks |> List.tryPick (fun (fails, why) -> if fails then Some(why ()) else None)

    /// <summary>A check for <see cref="firstMismatch"/>: the checkpoint's layer widths differ from the configuration's.</summary>
    /// <param name="what">Which widths, as the message names them (e.g. "hidden sizes").</param>
    /// <param name="expected">The configuration's widths.</param>
    /// <param name="actual">The checkpoint's widths.</param>
    [<CompiledName("SizesDiffer")>]
    let sizesDiffer (what: string) (expected: seq<int>) (actual: seq<int>) =
        Seq.toArray actual <> Seq.toArray expected,
        fun () -> $"""its {what} [{String.Join(", ", actual)}] differ from the configuration's [{String.Join(", ", expected)}]"""

    /// <summary>The checkpoint's progress; fails for a checkpoint of a learner alone.</summary>
    /// <param name="progress">The header's progress.</param>
    [<CompiledName("RequireProgress")>]
    let requireProgress (progress: TrainingProgress | null) : TrainingProgress =
        match progress with
        | null -> fail "it holds a learner but no training progress (it was not written by a trainer)"
        | p -> p

    /// <summary>The saved latest metrics, read back with <paramref name="ofValues"/>; fails unless there are
    /// <paramref name="count"/> of them.</summary>
    /// <param name="algorithm">The algorithm, as the message names it.</param>
    /// <param name="count">How many metrics its update reports.</param>
    /// <param name="ofValues">Builds the metrics record from the values.</param>
    /// <param name="progress">The checkpoint's progress.</param>
    [<CompiledName("LastMetrics")>]
    let lastMetrics (algorithm: string) (count: int) (ofValues: IReadOnlyList<float32> -> 'M) (progress: TrainingProgress) : 'M voption =
        match progress.LastMetrics with
        | null -> ValueNone
        | m when m.Count = count -> ValueSome(ofValues m)
        | m -> fail $"its last metrics hold {m.Count} values, a {algorithm} update reports {count}"

    /// <summary>The replay buffer a resumed run continues with: the saved one, or a fresh one when none was saved;
    /// fails when the saved one's capacity is not the configuration's.</summary>
    /// <param name="bufferSize">The configuration's BufferSize.</param>
    /// <param name="fresh">Makes an empty buffer of the trainer's shape.</param>
    /// <param name="saved">The checkpoint's replay buffer, or null.</param>
    [<CompiledName("Replay")>]
    let replay (bufferSize: int) (fresh: unit -> ReplayBuffer) (saved: ReplayBuffer | null) : ReplayBuffer =
        match saved with
        | null -> fresh ()
        | s when s.Capacity <> bufferSize -> fail $"its replay buffer holds {s.Capacity} transitions, the configuration's BufferSize is {bufferSize}"
        | s -> s
