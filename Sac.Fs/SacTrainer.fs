namespace Sac.Fs

open System
open Sac.Core.Config
open Sac.Core.Compute
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>
/// SAC (v2 or v1) as an off-policy algorithm: acting with the tanh-Gaussian actor, checked updates on the CPU
/// (<see cref="Sac.update"/>) or on a backend (<see cref="DeviceSac.update"/>), and SAC's checkpoint.
/// </summary>
/// <remarks>With a backend (see <see cref="T:Sac.Cuda.Backend.ISacBackend"/>), the learner lives on it and every update
/// runs there: the actor is copied back after each round of updates for acting, the whole learner for checkpoints
/// and at the end of a run. Updates on a backend check the metrics and the actor for NaN and infinity; the critics
/// are checked when they are copied back.</remarks>
/// <param name="config">A validated configuration.</param>
/// <param name="observationSize">Observation size.</param>
/// <param name="actionSize">Action size (actions in [-1, 1]).</param>
/// <param name="gemm">The GEMM provider of CPU updates and acting.</param>
/// <param name="backend">The backend updates run on, or null for the CPU.</param>
[<Sealed>]
type SacAlgorithm(config: SacConfig, observationSize: int, actionSize: int, gemm: IGemm, backend: Sac.Cuda.Backend.ISacBackend | null) =
    let o, a = observationSize, actionSize
    let ctx = SacContext(config, o, a, gemm)
    let keys = ActingKeys.Of config.Seed
    // gSDE's acting exploration matrices, keyed by the step each was drawn at (Gsde.resampleStep): recomputed, never
    // stored, so a resumed run acts exactly as an uninterrupted one.
    let gsdeKey = keys.Act.FoldIn DeviceSac.GsdeStream
    let gsdeColumns = if config.UseSde then Nullable ctx.Networks.LogStdColumns else Nullable()
    let policyWs = PolicyWorkspace(ctx.Networks)
    // Uniform actions before LearningStarts, unless gSDE acts in the warm-up too (SB3's use_sde_at_warmup).
    let warmingUp (steps: int64) = steps < int64 config.LearningStarts && not (config.UseSde && config.UseSdeAtWarmup)
    // The policy's noise for `count` environments stepped together from environment step `steps` (row i is
    // environment i): per-step noise at steps + i, or gSDE's exploration matrices, one per environment (index
    // drawn * count + i), drawn again where SB3 draws: each collection phase and every SdeSampleFrequency vectorised steps.
    let actingMode (steps: int64) (count: int) =
        if config.UseSde then
            let drawn = Gsde.resampleStep config.TrainFrequency config.SdeSampleFrequency (steps / int64 count)
            Stochastic(gsdeKey, uint64 (drawn * int64 count))
        else Stochastic(keys.Act, uint64 steps)
    // Acting for several environments at once, built on first use (a run of one environment never needs it).
    let batchWs = ActingRows((fun rows -> PolicyWorkspace(ctx.Networks, rows)), (fun ws -> ws.Rows))
    let device = match backend with null -> None | b -> Some(new DeviceSacContext(config, o, a, b))
    let mutable deviceLearner: DeviceLearner option = None

    // SAC's saved metrics, in order: critic, actor, alpha and value losses, alpha, entropy, mean Q.
    static let metricsArray (m: SacMetrics) = [| m.CriticLoss; m.ActorLoss; m.AlphaLoss; m.ValueLoss; m.Alpha; m.Entropy; m.MeanQ |]

    /// <summary>The learner's fixed parts.</summary>
    member _.Context = ctx
    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>The backend updates run on, or null for the CPU.</summary>
    member _.Backend = backend
    /// <summary>Acting buffers.</summary>
    member _.PolicyWorkspace = policyWs

    /// <summary>Where a SAC training checkpoint puts a run, and whether this configuration can continue it.</summary>
    /// <param name="checkpoint">What <see cref="M:Sac.Core.Runs.Checkpoint.LoadTraining(System.String)"/> read.</param>
    member _.Restore(checkpoint: TrainingCheckpoint<CheckpointHeader, LearnerState>) : ResumePoint<LearnerState> =
        let h = checkpoint.Header
        { Learner = checkpoint.State; EnvironmentId = h.EnvironmentId; ObservationSize = h.ObservationSize
          ActionSize = h.ActionSize; EnvironmentSteps = h.EnvironmentSteps; Progress = h.Progress
          Replay = checkpoint.Replay; EpisodeActions = checkpoint.EpisodeActions; Metadata = checkpoint.Metadata
          Mismatch =
            Resuming.firstMismatch
                [ h.Algorithm <> "sac", (fun () -> $"it was written by '{h.Algorithm}', not sac")
                  Resuming.sizesDiffer "actor hidden sizes" config.ResolvedActorHiddenSizes h.ResolvedActorHiddenSizes
                  Resuming.sizesDiffer "critic hidden sizes" config.ResolvedCriticHiddenSizes h.ResolvedCriticHiddenSizes
                  h.Variant <> config.Variant.ToString(), (fun () -> $"it is SAC {h.Variant}, the configuration asks for {config.Variant}")
                  h.ResolvedActivation <> config.Activation,
                  (fun () -> $"its networks use the {h.ResolvedActivation} activation, the configuration asks for {config.Activation}")
                  h.GsdeLogStdColumns <> gsdeColumns,
                  (fun () ->
                      let show (c: Nullable<int>) = if c.HasValue then $"gSDE with {c.Value} log-std column(s)" else "no gSDE"
                      $"its actor has {show h.GsdeLogStdColumns}, the configuration asks for {show gsdeColumns}") ] }

    interface IOffPolicyAlgorithm<LearnerState, SacMetrics> with
        member _.Name = "sac"
        member _.Schedule = OffPolicySchedule.Of config
        member _.ReplayActionSize = a
        member _.SamplingTeam = SamplingTeam.ofGemm gemm
        member _.Actions = struct ("action", a)
        member _.Init() = Sac.init ctx config.Seed

        member _.Attach(learner) =
            match device with
            | Some dctx ->
                deviceLearner |> Option.iter (fun d -> (d :> IDisposable).Dispose())
                deviceLearner <- Some(DeviceSac.upload dctx learner)
            | None -> ()

        // Uniform in [-1, 1] while warming up, then a draw from the policy (actingMode).
        member _.Act(learner, t, observation, action) =
            if warmingUp t then keys.UniformAction(t, action)
            else Policy.act ctx policyWs learner.Actor (actingMode t 1) observation action

        member _.ActBatch(learner, steps, count, observations, actions) =
            if warmingUp steps then
                for i in 0 .. count - 1 do keys.UniformAction(steps + int64 i, actions.Slice(i * a, a))
            else
                Policy.actRows ctx (batchWs.For count) learner.Actor (actingMode steps count) count observations actions

        member _.Policy(learner, mode, observation, action) = Policy.act ctx policyWs learner.Actor mode observation action

        member _.AfterEnvironmentStep(_, _, _) = ()

        member _.Update(steps, rate, batch, learner) =
            match device, deviceLearner with
            | Some dctx, Some d ->
                let m = DeviceSac.updateWith dctx rate batch d
                NumericalCheck.sacMetrics steps d.Step m
                struct (learner, m)
            | _ ->
                let struct (next, m) = Sac.updateWith ctx rate batch learner
                NumericalCheck.sacUpdate ctx steps next m
                struct (next, m)

        // On a backend the host keeps the actor current for acting; the rest is copied back on demand.
        member _.AfterUpdates(steps, learner) =
            match deviceLearner with
            | Some d ->
                DeviceSac.downloadActor device.Value d learner.Actor
                NumericalCheck.require "actor parameters" steps d.Step (ReadOnlySpan learner.Actor)
                learner.WithProgress(d.LogAlpha, d.Step)
            | None -> learner

        member _.Synced(steps, learner) =
            match device, deviceLearner with
            | Some dctx, Some d ->
                let full = DeviceSac.download dctx d
                NumericalCheck.require "critic parameters" steps learner.Step (ReadOnlySpan full.Critic)
                full
            | _ -> learner

        member _.MetricNames =
            if config.Variant = SacVariant.V1 then [| "critic_loss"; "actor_loss"; "value_loss"; "alpha_loss"; "alpha"; "entropy"; "mean_q" |]
            else [| "critic_loss"; "actor_loss"; "alpha_loss"; "alpha"; "entropy"; "mean_q" |]
        member _.Report(_, m) =
            if config.Variant = SacVariant.V1 then [| m.CriticLoss; m.ActorLoss; m.ValueLoss; m.AlphaLoss; m.Alpha; m.Entropy; m.MeanQ |]
            else [| m.CriticLoss; m.ActorLoss; m.AlphaLoss; m.Alpha; m.Entropy; m.MeanQ |]
        member _.MetricValues m = metricsArray m
        member _.MetricCount = 7
        member _.MetricsOf values =
            { CriticLoss = values.[0]; ActorLoss = values.[1]; AlphaLoss = values.[2]; ValueLoss = values.[3]
              Alpha = values.[4]; Entropy = values.[5]; MeanQ = values.[6] }

        member _.Evaluate(learner, env, episodes, seed) = Evaluation.run ctx policyWs learner.Actor env episodes seed

        member _.Save(path, learner, environmentId, environmentSteps, progress, replay, episodeActions, metadata) =
            let header =
                CheckpointHeader("sac", environmentId, o, a, config.HiddenSizes, config.Variant.ToString(), environmentSteps, Progress = progress,
                                 ActorHiddenSizes = config.ActorHiddenSizes, CriticHiddenSizes = config.CriticHiddenSizes,
                                 Activation = Nullable config.Activation, GsdeLogStdColumns = gsdeColumns)
            Checkpoint.Save(path, header, learner, replay, episodeActions,
                            Resuming.withConfig (ConfigJson.Serialize config) metadata)

        member this.Load(path) = this.Restore(Checkpoint.LoadTraining path)

    interface IDisposable with
        member _.Dispose() =
            deviceLearner |> Option.iter (fun d -> (d :> IDisposable).Dispose())
            deviceLearner <- None
            device |> Option.iter (fun d -> (d :> IDisposable).Dispose())

/// <summary>The state a SAC run folds over.</summary>
type TrainingState = OffPolicyState<LearnerState, SacMetrics>

/// <summary>
/// A SAC training run: <see cref="T:Sac.Fs.OffPolicyTrainer`2"/> with <see cref="SacAlgorithm"/>, on environments in
/// [-1, 1] action coordinates (<see cref="T:Sac.Core.Environments.RescaleAction"/> around the registered or given
/// environment, checked by <see cref="T:Sac.Core.Environments.CheckedEnvironment"/>).
/// </summary>
[<Sealed>]
type Trainer private (environmentId: string, env: IEnvironment, evalEnv: IEnvironment, algorithm: SacAlgorithm, make: Func<IEnvironment>) =
    inherit OffPolicyTrainer<LearnerState, SacMetrics>(environmentId, env, evalEnv, algorithm, make)

    static member private Environments(environmentId: string, config: SacConfig) =
        config.ThrowIfInvalid() |> ignore
        let make () = RescaleAction(EnvironmentRegistry.MakeChecked environmentId) :> IEnvironment
        make (), make (), Func<IEnvironment> make

    /// <summary>A trainer on the registered environment <paramref name="environmentId"/>, its updates on
    /// <paramref name="backend"/> (null: the CPU).</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="backend">The backend, or null.</param>
    new(environmentId: string, config: SacConfig, gemm: IGemm, backend: Sac.Cuda.Backend.ISacBackend | null) =
        let env, evalEnv, make = Trainer.Environments(environmentId, config)
        new Trainer(environmentId, env, evalEnv,
                    new SacAlgorithm(config, env.ObservationSpace.Dimension, env.ActionSpace.Dimension, gemm, backend), make)

    /// <summary>A trainer that steps <paramref name="environments"/> copies of the registered environment
    /// <paramref name="environmentId"/> together (see <see cref="M:Sac.Fs.OffPolicyTrainer`2.UseEnvironments(System.Int32)"/>),
    /// its updates on <paramref name="backend"/> (null: the CPU).</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="backend">The backend, or null.</param>
    /// <param name="environments">Copies of the environment, at least 1 (checked before anything is built).</param>
    new(environmentId: string, config: SacConfig, gemm: IGemm, backend: Sac.Cuda.Backend.ISacBackend | null, environments: int) as this =
        Guard.environments environments
        new Trainer(environmentId, config, gemm, backend)
        then this.UseEnvironments environments

    /// <summary>A trainer whose updates run on the CPU.</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    new(environmentId: string, config: SacConfig, gemm: IGemm) = new Trainer(environmentId, config, gemm, null)

    /// <summary>The algorithm: context, acting buffers, backend.</summary>
    member _.Sac = algorithm
    /// <summary>The learner's fixed parts.</summary>
    member _.Context = algorithm.Context
    /// <summary>The backend the updates run on, or null for the CPU.</summary>
    member _.Backend = algorithm.Backend
    /// <summary>The configuration.</summary>
    member _.Config = algorithm.Config
    /// <summary>Acting buffers.</summary>
    member _.PolicyWorkspace = algorithm.PolicyWorkspace

    /// <summary>Brings the trainer to a checkpoint <see cref="M:Sac.Core.Runs.Checkpoint.LoadTraining(System.String)"/> read
    /// (see <see cref="M:Sac.Fs.OffPolicyTrainer`2.Resume(Sac.Fs.ResumePoint{`0})"/>).</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    member this.Resume(checkpoint: TrainingCheckpoint<CheckpointHeader, LearnerState>) : TrainingState = this.Resume(algorithm.Restore checkpoint)

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>Training entry points for scripts: one call from a configuration to a trained learner.</summary>
[<RequireQualifiedAccess>]
module Training =

    /// <summary>Trains SAC on <paramref name="environmentId"/> for <paramref name="steps"/> environment steps.</summary>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration.</param>
    /// <param name="steps">Environment steps, at least 1.</param>
    /// <param name="onRecord">Receives each record.</param>
    [<CompiledName("Train")>]
    let train (gemm: IGemm) (environmentId: string) (config: SacConfig) (steps: int64) (onRecord: TrainingRecord -> unit) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        let trainer = new Trainer(environmentId, config, gemm)
        let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
        trainer, final
