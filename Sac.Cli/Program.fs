module Sac.Cli.Program

open System
open Argu
open Sac.Cli.Options
open Sac.Cli.Run

type TrainArgs =
    | Env of id: string
    | Steps of count: int64
    | Seed of seed: uint64
    | Out of dir: string
    | Algo of name: string
    | Device of name: string
    | Config of file: string
    | Threads of count: int
    | Resume of dir: string
    | Save_Replay
    | Checkpoint_Every of steps: int64
    | Stop_At_Reward of mean_return: float
    | N_Envs of count: int
    | Json
    | Quiet
    | Plugin of assembly: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Plugin _ -> "load environments from a .NET assembly (public IEnvironment classes marked [Environment(\"MyEnv-v0\")]); repeatable; pass it again on --resume."
            | Env _ -> "environment id (Pendulum-v1, MountainCarContinuous-v0, PointGoal-v0, MultiGoal-v0, CartPole-v1; with libmujoco2.2.2 HalfCheetah-v4/v5, Hopper-v4, Walker2d-v4, Ant-v4/v5, Humanoid-v4/v5; see sac envs)."
            | Steps _ -> "environment steps (default: the environment's budget, e.g. 20000 for Pendulum-v1)."
            | Seed _ -> "seed of every random draw (default 0)."
            | Out _ -> "run directory (default runs/<env>_<algo>_s<seed>)."
            | Algo _ -> "sac (v2, default), sac-v1, sql (continuous actions); dqn, double-dqn, soft-dqn (discrete actions)."
            | Device _ -> "cpu, cuda or auto (default cpu)."
            | Config _ -> "JSON file of configuration keys, applied over the environment's preset."
            | Threads _ -> "compute threads (default 1)."
            | Resume _ -> "continue the run in this directory from its newest checkpoint (any algorithm); --steps extends it, --config may change learning rates and schedules."
            | Save_Replay -> "keep the replay buffer in checkpoints, so --resume continues exactly (larger files)."
            | Checkpoint_Every _ -> "environment steps between checkpoints written to <out>/checkpoint.ckpt (default a tenth of the run, between 1000 and 10000; 0: none)."
            | Stop_At_Reward _ -> "stop at the first evaluation whose mean return reaches this."
            | N_Envs _ -> "copies of the environment stepped together, as Stable-Baselines3's n_envs (default 1): --steps counts every copy's steps, train_freq counts steps of all copies together; a resumed run keeps its own number."
            | Json -> "print one JSON object per metrics record on stdout (JSON lines) instead of the progress display."
            | Quiet -> "print nothing while training."

type EvalArgs =
    | [<Mandatory>] Checkpoint of file: string
    | Env of id: string
    | Force_Env
    | Episodes of count: int
    | Seed of seed: uint64
    | Plugin of assembly: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Plugin _ -> "load environments from a .NET assembly (see sac train --plugin); repeatable."
            | Checkpoint _ -> "checkpoint file (final.ckpt of a run)."
            | Env _ -> "environment id to evaluate on (default: the one the checkpoint was trained on)."
            | Force_Env -> "evaluate on an --env other than the checkpoint's own (its spaces must still fit)."
            | Episodes _ -> "episodes (default 10); episode k is seeded seed+k."
            | Seed _ -> "seed of the first episode (default 0)."

type ExportArgs =
    | [<Mandatory>] Checkpoint of file: string
    | [<Mandatory>] Onnx of file: string
    | Stochastic
    | Plugin of assembly: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Checkpoint _ -> "checkpoint file (final.ckpt of a run; SAC, SQL or the DQN family)."
            | Onnx _ -> "ONNX model file to write."
            | Stochastic -> "SAC: add a standard-normal noise input and output the sampled action and its log-probability."
            | Plugin _ -> "load environments from a .NET assembly (see sac train --plugin); repeatable."

type BenchArgs =
    | Filter of name: string
    | Threads of count: int
    | Seconds of seconds: float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Filter _ -> "run only measurements whose name contains this (e.g. fma_peak, gemm, sac_update, sac_update_scaling, train_loop, env_step; cuda: every GPU line)."
            | Threads _ -> "thread count to measure at (default: 1 and 2)."
            | Seconds _ -> "seconds per measurement after warm-up (default 2)."

type CheckDeviceArgs =
    | Device of ordinal: int
    | Updates of count: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Device _ -> "CUDA device ordinal (default 0)."
            | Updates _ -> "SAC updates of the tracking check (default 100)."

type SolveArgs =
    | [<Mandatory>] Mdp of file: string
    | Alpha of alpha: float
    | Gamma of gamma: float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Mdp _ -> "finite MDP as JSON: {\"transitions\": P[s][a][s'], \"rewards\": R[s][a]}."
            | Alpha _ -> "entropy temperature, at least 0 (default 1.0); 0 is the hard Bellman optimality."
            | Gamma _ -> "discount in [0, 1) (default 0.99)."

type PlotArgs =
    | [<MainCommand; Mandatory>] Runs of run: string list
    | Column of name: string
    | Out of file: string
    | Title of text: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Runs _ -> "run directories or metrics.csv files; several are drawn as their mean with a min-max band."
            | Column _ -> "metrics.csv column to draw (default eval_return; e.g. episode_return, critic_loss, alpha)."
            | Out _ -> "SVG file to write (default curve.svg)."
            | Title _ -> "chart title."

type EnvsArgs =
    | Plugin of assembly: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Plugin _ -> "also list the environments of this .NET assembly (see sac train --plugin); repeatable."

[<RequireSubcommand>]
type SacArgs =
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Eval of ParseResults<EvalArgs>
    | [<CliPrefix(CliPrefix.None)>] Export of ParseResults<ExportArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Plot of ParseResults<PlotArgs>
    | [<CliPrefix(CliPrefix.None)>] Envs of ParseResults<EnvsArgs>
    | [<CliPrefix(CliPrefix.None)>] Solve of ParseResults<SolveArgs>
    | [<CliPrefix(CliPrefix.None)>] Check_Device of ParseResults<CheckDeviceArgs>
    | [<CliPrefix(CliPrefix.None)>] Sweep of ParseResults<Sweep.SweepArgs>
    | [<CliPrefix(CliPrefix.None)>] Worker of ParseResults<Sweep.WorkerArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Train _ -> "train an agent; writes config.json, metrics.csv, checkpoints and curve.svg. e.g. sac train --env Pendulum-v1 --steps 20000 --seed 1 --out runs/p1 --save-replay; sac train --resume runs/p1 --steps 40000"
            | Eval _ -> "evaluate a checkpoint; prints {\"mean\":…,\"std\":…,\"episodes\":K}. e.g. sac eval --checkpoint runs/p1/final.ckpt --env Pendulum-v1 --episodes 20"
            | Export _ -> "write a checkpoint's policy as an ONNX model (batch dimension dynamic; inputs, outputs and action bounds in its metadata); prints {\"onnx\":…,\"bytes\":n}. e.g. sac export --checkpoint runs/p1/final.ckpt --onnx policy.onnx"
            | Bench _ -> "measure kernel and update throughput; prints one JSON line per measurement. e.g. sac bench --filter sac_update --threads 1"
            | Plot _ -> "draw learning curves (SVG) from one or several runs' metrics.csv. e.g. sac plot runs/p1 runs/p2 runs/p3 --out pendulum.svg"
            | Envs _ -> "list the environments with their observation and action spaces. e.g. sac envs"
            | Check_Device _ -> "check the CUDA backend against the CPU: each kernel, Philox, 100 SAC updates; one JSON line per check and a summary; exit 0 all ok, 1 a check failed, 2 no usable GPU. e.g. sac check-device"
            | Sweep _ -> "run a seed and hyperparameter sweep on a cluster of sac worker silos (each run as sac train, continued elsewhere from its newest checkpoint when a silo is lost); summary CSV/Markdown and plots at the end. e.g. sac sweep --spec sweep.json; sac sweep --spec sweep.json --status"
            | Worker _ -> "start a silo of a sweep cluster (Microsoft Orleans) serving runs. e.g. sac worker --cluster localhost --port 11112 --gateway-port 30001"
            | Solve _ -> "solve a finite MDP by soft Q-iteration; prints {\"q\":[[…]],\"v\":[…],\"policy\":[[…]],\"iterations\":n}. e.g. sac solve --mdp examples/mdp/gridworld4x4.json --alpha 0.1 --gamma 0.95"

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<SacArgs>(programName = "sac")
    try
        match parser.ParseCommandLine(argv).GetSubCommand() with
        | Train t ->
            Options.loadPlugins (t.GetResults TrainArgs.Plugin)
            let progress =
                if t.Contains TrainArgs.Json then Progress.JsonLines
                elif t.Contains TrainArgs.Quiet then Progress.Quiet
                else Progress.Auto
            Run.train
                { Env = t.GetResult(TrainArgs.Env, defaultValue = "")
                  Steps = t.TryGetResult TrainArgs.Steps
                  Seed = t.GetResult(TrainArgs.Seed, defaultValue = 0UL)
                  Out = t.TryGetResult TrainArgs.Out
                  Algo = t.GetResult(TrainArgs.Algo, defaultValue = "sac")
                  Device = t.GetResult(TrainArgs.Device, defaultValue = "cpu")
                  ConfigFile = t.TryGetResult TrainArgs.Config
                  Threads = t.GetResult(TrainArgs.Threads, defaultValue = 1)
                  Progress = progress
                  Resume = t.TryGetResult TrainArgs.Resume
                  SaveReplay = t.Contains TrainArgs.Save_Replay
                  CheckpointEvery = t.TryGetResult TrainArgs.Checkpoint_Every
                  StopAtReward = t.TryGetResult TrainArgs.Stop_At_Reward
                  NEnvs = t.TryGetResult TrainArgs.N_Envs
                  SeedGiven = t.Contains TrainArgs.Seed
                  AlgoGiven = t.Contains TrainArgs.Algo
                  QuietGiven = t.Contains TrainArgs.Quiet }
        | Eval e ->
            Options.loadPlugins (e.GetResults EvalArgs.Plugin)
            Evaluate.evaluate (e.GetResult EvalArgs.Checkpoint) (e.GetResult(EvalArgs.Env, defaultValue = "")) (e.Contains EvalArgs.Force_Env)
                (e.GetResult(EvalArgs.Episodes, defaultValue = 10)) (e.GetResult(EvalArgs.Seed, defaultValue = 0UL))
        | Export x ->
            Options.loadPlugins (x.GetResults ExportArgs.Plugin)
            Export.export (x.GetResult ExportArgs.Checkpoint) (x.GetResult ExportArgs.Onnx) (x.Contains ExportArgs.Stochastic)
        | Plot p ->
            Plot.plot (p.GetResult PlotArgs.Runs) (p.GetResult(PlotArgs.Column, defaultValue = "eval_return"))
                (p.GetResult(PlotArgs.Out, defaultValue = "curve.svg")) (p.TryGetResult PlotArgs.Title)
        | Envs e ->
            Options.loadPlugins (e.GetResults EnvsArgs.Plugin)
            Plot.envs ()
        | Bench b ->
            let threads =
                match b.TryGetResult BenchArgs.Threads with
                | Some t when t >= 1 -> [ t ]
                | Some t -> raise (UsageError $"--threads must be at least 1, got {t}")
                | None -> [ 1; 2 ]
            let seconds = b.GetResult(BenchArgs.Seconds, defaultValue = 2.0)
            if not (seconds > 0.0) then raise (UsageError $"--seconds must be positive, got {seconds}")
            match b.TryGetResult BenchArgs.Filter |> Option.bind Bench.filterProblem with
            | Some problem -> raise (UsageError problem)
            | None -> ()
            for t in threads do threadsWarning t |> Option.iter (eprintfn "sac: %s")
            Bench.run { Filter = b.TryGetResult BenchArgs.Filter; Threads = threads; Seconds = seconds } (fun l -> Console.Out.WriteLine l; Console.Out.Flush())
            0
        | Check_Device c ->
            let updates = c.GetResult(CheckDeviceArgs.Updates, defaultValue = 100)
            if updates < 1 then raise (UsageError $"--updates must be at least 1, got {updates}")
            DeviceCheck.command (c.GetResult(CheckDeviceArgs.Device, defaultValue = 0)) updates (fun l -> Console.Out.WriteLine l; Console.Out.Flush())
        | Sweep s -> Sweep.sweep s
        | Worker w -> Sweep.worker w
        | Solve s ->
            Solve.run (s.GetResult SolveArgs.Mdp) (s.GetResult(SolveArgs.Alpha, defaultValue = 1.0)) (s.GetResult(SolveArgs.Gamma, defaultValue = 0.99))
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        eprintfn "%s" e.Message
        0
    | :? ArguParseException as e ->
        // One line saying what was wrong, and where the usage is, instead of the whole usage text.
        let first = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.tryHead |> Option.defaultValue "bad arguments"
        let command = match argv |> Array.tryHead with Some c when not (c.StartsWith "-") -> $"sac {c} --help" | _ -> "sac --help"
        eprintfn "sac: %s (see %s)" (first.Trim()) command
        2
    | UsageError msg ->
        eprintfn "sac: %s" msg
        2
    | TrainingFault msg ->
        eprintfn "sac: %s" msg
        3
    | Interrupted (msg, code) ->
        eprintfn "sac: %s" msg
        code
    | e ->
        eprintfn "sac: %s" e.Message
        1
