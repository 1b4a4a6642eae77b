/// Live progress while training: a Spectre.Console bar on a terminal, plain lines when stderr is redirected, one JSON
/// object per record on stdout for scripts, or nothing.
module Sac.Cli.Progress

open System
open System.Globalization
open System.Text.Json
open Spectre.Console
open Sac.Fs

/// How `sac train` reports while it runs.
type Mode =
    /// A live bar on stderr when it is a terminal, else plain lines on stderr.
    | Auto
    /// One JSON object per metrics record on stdout (JSON lines), nothing else on stdout.
    | JsonLines
    /// Nothing while training; errors still go to stderr.
    | Quiet

/// What a run reports from: its name, the step it starts at and the step it runs to.
type Job = { Title: string; Algorithm: string; StartStep: int64; TotalSteps: int64 }

/// The latest values the display shows; each record updates what it carries.
type private Latest() =
    member val EpisodeReturn = nan with get, set
    member val EvalReturn = nan with get, set
    member val UpdatesPerSec = nan with get, set
    member this.Update(r: TrainingRecord) =
        r.EpisodeReturn |> Option.iter (fun v -> this.EpisodeReturn <- v)
        r.EvalReturn |> Option.iter (fun v -> this.EvalReturn <- v)
        r.UpdatesPerSec |> Option.iter (fun v -> this.UpdatesPerSec <- v)

let private number (x: float) (format: string) = if Double.IsNaN x then "-" else x.ToString(format, CultureInfo.InvariantCulture)

let private eta (job: Job) (r: TrainingRecord) =
    let done' = float (r.Step - job.StartStep)
    if done' <= 0.0 || r.WallSeconds <= 0.0 then "?"
    else TimeSpan.FromSeconds(Math.Round(r.WallSeconds / done' * float (job.TotalSteps - r.Step))).ToString()

/// One record as a JSON object: the metrics.csv columns that it has, by the same names.
let jsonLine (r: TrainingRecord) =
    use stream = new IO.MemoryStream()
    (use w = new Utf8JsonWriter(stream)
     w.WriteStartObject()
     w.WriteNumber("step", r.Step)
     w.WriteNumber("episode", r.Episode)
     let opt (name: string) (v: float option) = v |> Option.iter (fun x -> if Double.IsFinite x then w.WriteNumber(name, x))
     opt "episode_return" r.EpisodeReturn
     r.EpisodeLength |> Option.iter (fun n -> w.WriteNumber("episode_length", n))
     opt "eval_return" r.EvalReturn
     opt "eval_std" r.EvalStd
     match r.Metrics with
     | Some m ->
         for name, v in Array.zip m.Names m.Values do
             if Single.IsFinite v then w.WriteNumber(name, v)
     | None -> ()
     opt "updates_per_sec" r.UpdatesPerSec
     w.WriteNumber("wall_seconds", r.WallSeconds)
     w.WriteEndObject())
    Text.Encoding.UTF8.GetString(stream.ToArray())

let private summary (latest: Latest) =
    let ret, ev, ups = number latest.EpisodeReturn "F1", number latest.EvalReturn "F1", number latest.UpdatesPerSec "F0"
    ret, ev, ups

let private plainLine (job: Job) (latest: Latest) (r: TrainingRecord) =
    let ret, ev, ups = summary latest
    $"step {r.Step}/{job.TotalSteps}  episodes {r.Episode}  return {ret}  eval {ev}  updates/s {ups}  eta {eta job r}"

/// Runs `work`, handing it the function that reports each record, and shows progress as `mode` asks.
let run (mode: Mode) (job: Job) (work: (TrainingRecord -> unit) -> 'T) : 'T =
    let latest = Latest()
    match mode with
    | Quiet -> work ignore
    | JsonLines ->
        work (fun r ->
            Console.Out.WriteLine(jsonLine r)
            Console.Out.Flush())
    | Auto when Console.IsErrorRedirected ->
        // Plain lines for logs: every evaluation, and every tenth episode.
        work (fun r ->
            latest.Update r
            if r.EvalReturn.IsSome || r.Episode % 10 = 0 then eprintfn "%s" (plainLine job latest r))
    | Auto ->
        let console = AnsiConsole.Create(AnsiConsoleSettings(Out = AnsiConsoleOutput(Console.Error)))
        let mutable result = Unchecked.defaultof<'T>
        console.Progress()
            .AutoClear(false)
            .Columns([| TaskDescriptionColumn() :> ProgressColumn; ProgressBarColumn(); PercentageColumn(); RemainingTimeColumn(); SpinnerColumn() |])
            .Start(fun ctx ->
                let task = ctx.AddTask(Markup.Escape job.Title, true, float job.TotalSteps)
                task.Value <- float job.StartStep
                result <-
                    work (fun r ->
                        latest.Update r
                        task.Value <- float r.Step
                        let ret, ev, ups = summary latest
                        task.Description <- Markup.Escape $"{job.Title}  ret {ret}  eval {ev}  {ups} upd/s")
                task.Value <- task.MaxValue)
        result
