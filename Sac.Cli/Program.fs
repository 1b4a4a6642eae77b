module Sac.Cli.Program

open System
open Argu

type BenchArgs =
    | Filter of name: string
    | Threads of count: int
    | Seconds of seconds: float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Filter _ -> "run only measurements whose name contains this (fma_peak, gemm, mlp_fwd_bwd)."
            | Threads _ -> "thread count to measure at (default: 1 and 2)."
            | Seconds _ -> "seconds per measurement after warm-up (default 2)."

[<RequireSubcommand>]
type SacArgs =
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Bench _ -> "measure kernel and update throughput; prints one JSON line per measurement."

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<SacArgs>(programName = "sac")
    try
        match parser.ParseCommandLine(argv).GetSubCommand() with
        | Bench b ->
            let threads = match b.TryGetResult BenchArgs.Threads with Some t when t >= 1 -> [ t ] | Some t -> failwithf "--threads must be at least 1, got %d" t | None -> [ 1; 2 ]
            let seconds = b.GetResult(BenchArgs.Seconds, defaultValue = 2.0)
            if not (seconds > 0.0) then failwithf "--seconds must be positive, got %g" seconds
            Bench.run { Filter = b.TryGetResult BenchArgs.Filter; Threads = threads; Seconds = seconds } (fun l -> Console.Out.WriteLine l; Console.Out.Flush())
            0
    with
    | :? ArguParseException as e ->
        eprintfn "%s" e.Message
        if e.ErrorCode = ErrorCode.HelpText then 0 else 2
    | e ->
        eprintfn "sac: %s" e.Message
        1
