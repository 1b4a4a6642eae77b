namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Networks
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>
/// A DQN-family variant (DQN, Double DQN, soft DQN) as an off-policy algorithm on a discrete-action environment:
/// uniformly random actions before LearningStarts, then epsilon-greedy (Boltzmann for soft DQN); the target copy every
/// TargetUpdateInterval environment steps; checked updates (<see cref="Dqn.update"/>, <see cref="NumericalCheck.dqnUpdate"/>);
/// greedy evaluation; and its checkpoint. The replay buffer stores the action index.
/// </summary>
/// <param name="config">A validated configuration.</param>
/// <param name="observationSize">Observation size.</param>
/// <param name="actionCount">Number of actions.</param>
/// <param name="gemm">The GEMM provider.</param>
[<Sealed>]
type DqnAlgorithm(config: DqnConfig, observationSize: int, actionCount: int, gemm: IGemm) =
    let o, n = observationSize, actionCount
    let ctx = DqnContext(config, o, n, gemm)
    let keys = ActingKeys.Of config.Seed
    let actWs = MlpWorkspace(ctx.Spec, 1)
    // Acting for several environments: one row-by-row pass, its workspace made at the first batched step.
    let rowGemm = RowGemm(gemm)
    let rowsWs = ActingRows((fun rows -> MlpWorkspace(ctx.Spec, rows)), (fun ws -> ws.MaxBatch))
    let soft = (config.Variant = DqnVariant.SoftDqn)
    let name = DqnCheckpoint.AlgorithmName config.Variant

    /// <summary>The learner's fixed parts.</summary>
    member _.Context = ctx
    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>The one-row Q-network workspace used for acting and evaluation.</summary>
    member _.ActingWorkspace = actWs

    /// <summary>Where a DQN-family training checkpoint puts a run, and whether this configuration can continue it.</summary>
    /// <param name="checkpoint">What <see cref="M:Sac.Core.Runs.DqnCheckpoint.LoadTraining(System.String)"/> read.</param>
    member _.Restore(checkpoint: TrainingCheckpoint<DqnCheckpointHeader, DqnLearnerState>) : ResumePoint<DqnLearnerState> =
        let h = checkpoint.Header
        { Learner = checkpoint.State; EnvironmentId = h.EnvironmentId; ObservationSize = h.ObservationSize
          ActionSize = h.ActionCount; EnvironmentSteps = h.EnvironmentSteps
          Progress = h.Progress; Replay = checkpoint.Replay; EpisodeActions = checkpoint.EpisodeActions; Metadata = checkpoint.Metadata
          Mismatch =
            Resuming.firstMismatch
                [ h.Algorithm <> name, (fun () -> $"it was written by '{h.Algorithm}', the configuration asks for '{name}'")
                  Resuming.sizesDiffer "hidden sizes" config.HiddenSizes h.HiddenSizes
                  h.ResolvedActivation <> config.Activation,
                  (fun () -> $"its Q-network uses the {h.ResolvedActivation} activation, the configuration asks for {config.Activation}") ] }

    interface IOffPolicyAlgorithm<DqnLearnerState, DqnMetrics> with
        member _.Name = name
        member _.Schedule = OffPolicySchedule.Of config
        member _.ReplayActionSize = 1
        member _.SamplingTeam = SamplingTeam.ofGemm gemm
        member _.Actions = struct ("actions", n)
        member _.Init() = Dqn.init ctx config.Seed
        member _.Attach _ = ()

        member _.Act(learner, t, observation, action) =
            let index =
                if t < int64 config.LearningStarts then Philox.UniformInt(keys.Warmup, uint64 t, n)
                elif soft then Dqn.act ctx actWs learner.QNetwork (Boltzmann(config.Temperature, keys.Act, uint64 t)) observation
                else Dqn.act ctx actWs learner.QNetwork (EpsilonGreedy(Dqn.explorationRate config t, keys.Act, uint64 t)) observation
            action.[0] <- float32 index

        // One Q pass over all environments, row by row so each is bitwise its one-row forward; the exploration rate
        // is the one at the vectorised step's start, as Stable-Baselines3 updates it once per vectorised step.
        member _.ActBatch(learner, steps, count, observations, actions) =
            let t = uint64 steps
            if steps < int64 config.LearningStarts then
                for i in 0 .. count - 1 do actions.[i] <- float32 (Philox.UniformInt(keys.Warmup, t + uint64 i, n))
            else
                // SB3 reads one exploration rate per vectorised step; row i draws at environment step steps + i.
                let mode = if soft then Boltzmann(config.Temperature, keys.Act, t) else EpsilonGreedy(Dqn.explorationRate config steps, keys.Act, t)
                Dqn.actRows ctx rowGemm (rowsWs.For count) learner.QNetwork mode count observations actions

        // Stochastic predictions draw from the behaviour policy at the end of exploration (Boltzmann for soft DQN).
        member _.Policy(learner, mode, observation, action) =
            let dqnMode =
                match mode with
                | Deterministic -> Greedy
                | Stochastic (key, index) when soft -> Boltzmann(config.Temperature, key, index)
                | Stochastic (key, index) -> EpsilonGreedy(config.ExplorationFinalEps, key, index)
            action.[0] <- float32 (Dqn.act ctx actWs learner.QNetwork dqnMode observation)

        // SB3 order: the per-step callback (target update) runs before the training phase that ends the rollout.
        member _.AfterEnvironmentStep(steps, environments, learner) = Dqn.syncTargetVectorised ctx steps environments learner |> ignore

        member _.Update(steps, rate, batch, learner) =
            let struct (next, m) = Dqn.updateWith ctx rate batch learner
            NumericalCheck.dqnUpdate steps next (m.MeanTarget, m.TdLoss, m.MeanQ, m.Entropy) (ReadOnlySpan ctx.Workspace.ParameterGrad)
            struct (next, m)

        member _.AfterUpdates(_, learner) = learner
        member _.Synced(_, learner) = learner

        // The behaviour policy's entropy: the Boltzmann policy's (soft DQN, with its temperature) or epsilon-greedy's
        // at this step.
        member _.MetricNames = if soft then [| "td_loss"; "mean_q"; "entropy"; "temperature" |] else [| "td_loss"; "mean_q"; "entropy" |]
        member _.Report(steps, m) =
            if soft then [| m.TdLoss; m.MeanQ; m.Entropy; config.Temperature |]
            else [| m.TdLoss; m.MeanQ; Dqn.epsilonGreedyEntropy (Dqn.explorationRate config steps) n |]

        // The order DqnCheckpoint.MetricNames documents.
        member _.MetricValues m = [| m.TdLoss; m.MeanQ; m.MeanTarget; m.Entropy |]
        member _.MetricCount = 4
        member _.MetricsOf values = { TdLoss = values.[0]; MeanQ = values.[1]; MeanTarget = values.[2]; Entropy = values.[3] }
        member _.Evaluate(learner, env, episodes, seed) = Dqn.evaluate ctx actWs learner.QNetwork env episodes seed

        member _.Save(path, learner, environmentId, environmentSteps, progress, replay, episodeActions, metadata) =
            let header = DqnCheckpointHeader(name, environmentId, o, n, config.HiddenSizes, environmentSteps, Progress = progress,
                                             Activation = Nullable config.Activation)
            DqnCheckpoint.Save(path, header, learner, replay, episodeActions,
                               Resuming.withConfig (ConfigJson.Serialize config) metadata)

        member this.Load(path) = this.Restore(DqnCheckpoint.LoadTraining path)

    interface IDisposable with
        member _.Dispose() = ()

/// <summary>The state a DQN-family run folds over.</summary>
type DqnTrainingState = OffPolicyState<DqnLearnerState, DqnMetrics>

/// <summary>A DQN-family training run: <see cref="T:Sac.Fs.OffPolicyTrainer`2"/> with <see cref="DqnAlgorithm"/>.</summary>
/// <exception cref="ArgumentException">The environment id is unknown, or the environment's actions are continuous.</exception>
[<Sealed>]
type DqnTrainer private (environmentId: string, env: IEnvironment, evalEnv: IEnvironment, algorithm: DqnAlgorithm, make: Func<IEnvironment>) =
    inherit OffPolicyTrainer<DqnLearnerState, DqnMetrics>(environmentId, env, evalEnv, algorithm, make)

    /// <summary>A trainer on the registered discrete-action environment <paramref name="environmentId"/>.</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    new(environmentId: string, config: DqnConfig, gemm: IGemm) =
        config.ThrowIfInvalid() |> ignore
        let env = EnvironmentRegistry.MakeChecked environmentId
        let n = DiscreteActions.ActionCount env
        DqnTrainer(environmentId, env, EnvironmentRegistry.MakeChecked environmentId,
                   new DqnAlgorithm(config, env.ObservationSpace.Dimension, n, gemm),
                   Func<IEnvironment>(fun () -> EnvironmentRegistry.MakeChecked environmentId))

    /// <summary>A trainer that steps <paramref name="environments"/> copies of the registered discrete-action
    /// environment <paramref name="environmentId"/> together (see <see cref="M:Sac.Fs.OffPolicyTrainer`2.UseEnvironments(System.Int32)"/>).</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="environments">Copies of the environment, at least 1 (checked before anything is built).</param>
    new(environmentId: string, config: DqnConfig, gemm: IGemm, environments: int) as this =
        Guard.environments environments
        DqnTrainer(environmentId, config, gemm)
        then this.UseEnvironments environments

    /// <summary>The algorithm: context and acting buffers.</summary>
    member _.Dqn = algorithm
    /// <summary>The learner's fixed parts.</summary>
    member _.Context = algorithm.Context
    /// <summary>The configuration.</summary>
    member _.Config = algorithm.Config
    /// <summary>Number of actions.</summary>
    member _.ActionCount = algorithm.Context.ActionCount
    /// <summary>The one-row Q-network workspace used for acting and evaluation.</summary>
    member _.ActingWorkspace = algorithm.ActingWorkspace
    /// <summary>Epsilon of the behaviour policy before environment step <paramref name="step"/> (DQN, Double DQN).</summary>
    /// <param name="step">The environment step.</param>
    member _.ExplorationRate(step: int64) = Dqn.explorationRate algorithm.Config step

    /// <summary>Brings the trainer to a checkpoint <see cref="M:Sac.Core.Runs.DqnCheckpoint.LoadTraining(System.String)"/> read.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    member this.Resume(checkpoint: TrainingCheckpoint<DqnCheckpointHeader, DqnLearnerState>) : DqnTrainingState = this.Resume(algorithm.Restore checkpoint)

/// <summary>DQN-family training entry points for scripts: one call from a configuration to a trained learner.</summary>
[<RequireQualifiedAccess>]
module DqnTraining =

    /// <summary>Trains the configured DQN variant on <paramref name="environmentId"/> for <paramref name="steps"/> environment steps.</summary>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration.</param>
    /// <param name="steps">Environment steps, at least 1.</param>
    /// <param name="onRecord">Receives each record.</param>
    [<CompiledName("Train")>]
    let train (gemm: IGemm) (environmentId: string) (config: DqnConfig) (steps: int64) (onRecord: TrainingRecord -> unit) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        let trainer = DqnTrainer(environmentId, config, gemm)
        let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
        trainer, final
