namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Random
open Sac.Core.Runs

/// <summary>
/// Soft Q-Learning as an off-policy algorithm: acting with the sampling network <c>a = f(xi; s)</c> (uniform
/// warm-up actions before LearningStarts), checked updates (<see cref="SoftQLearning.update"/>,
/// <see cref="NumericalCheck.sqlUpdate"/>), stochastic evaluation (the SQL policy is the sampler), and its checkpoint.
/// </summary>
/// <param name="config">A validated configuration.</param>
/// <param name="observationSize">Observation size.</param>
/// <param name="actionSize">Action size (actions in [-1, 1]).</param>
/// <param name="gemm">The GEMM provider.</param>
[<Sealed>]
type SqlAlgorithm(config: SqlConfig, observationSize: int, actionSize: int, gemm: IGemm) =
    let o, a = observationSize, actionSize
    let ctx = SqlContext(config, o, a, gemm)
    let keys = ActingKeys.Of config.Seed
    let policyWs = SqlPolicyWorkspace(ctx.Networks)
    // Acting for several environments: one row-by-row pass, its workspace made at the first batched step.
    let rowGemm = RowGemm(gemm)
    let rowsWs = ActingRows((fun rows -> SqlPolicyWorkspace(ctx.Networks, rows)), (fun ws -> ws.Rows))

    /// <summary>The learner's fixed parts.</summary>
    member _.Context = ctx
    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Acting buffers.</summary>
    member _.PolicyWorkspace = policyWs

    /// <summary>Where a Soft Q-Learning training checkpoint puts a run, and whether this configuration can continue it.</summary>
    /// <param name="checkpoint">What <see cref="M:Sac.Core.Runs.SqlCheckpoint.LoadTraining(System.String)"/> read.</param>
    member _.Restore(checkpoint: TrainingCheckpoint<SqlCheckpointHeader, SqlLearnerState>) : ResumePoint<SqlLearnerState> =
        let h = checkpoint.Header
        { Learner = checkpoint.State; EnvironmentId = h.EnvironmentId; ObservationSize = h.ObservationSize
          ActionSize = h.ActionSize; EnvironmentSteps = h.EnvironmentSteps; Progress = h.Progress
          Replay = checkpoint.Replay; EpisodeActions = checkpoint.EpisodeActions; Metadata = checkpoint.Metadata
          Mismatch =
            Resuming.firstMismatch
                [ Resuming.sizesDiffer "Q hidden sizes" config.HiddenSizes h.HiddenSizes
                  Resuming.sizesDiffer "sampler hidden sizes" config.SamplerHiddenSizes h.SamplerHiddenSizes
                  h.ResolvedActivation <> config.Activation,
                  (fun () -> $"its networks use the {h.ResolvedActivation} activation, the configuration asks for {config.Activation}") ] }

    interface IOffPolicyAlgorithm<SqlLearnerState, SqlMetrics> with
        member _.Name = SqlCheckpoint.AlgorithmName
        member _.Schedule = OffPolicySchedule.Of config
        member _.ReplayActionSize = a
        member _.SamplingTeam = SamplingTeam.ofGemm gemm
        member _.Actions = struct ("action", a)
        member _.Init() = SoftQLearning.init ctx config.Seed
        member _.Attach _ = ()

        member _.Act(learner, t, observation, action) =
            if t < int64 config.LearningStarts then keys.UniformAction(t, action)
            else SoftQLearning.act ctx policyWs learner.Sampler (Stochastic(keys.Act, uint64 t)) observation action

        member _.Policy(learner, mode, observation, action) = SoftQLearning.act ctx policyWs learner.Sampler mode observation action

        // One sampler pass over all environments, row by row so each is bitwise its one-row pass; row i draws its noise
        // at environment step steps + i.
        member _.ActBatch(learner, steps, count, observations, actions) =
            if steps < int64 config.LearningStarts then
                for i in 0 .. count - 1 do keys.UniformAction(steps + int64 i, actions.Slice(i * a, a))
            else
                SoftQLearning.actRows ctx rowGemm (rowsWs.For count) learner.Sampler (Stochastic(keys.Act, uint64 steps)) count observations actions

        member _.AfterEnvironmentStep(_, _, _) = ()

        member _.Update(steps, rate, batch, learner) =
            let struct (next, m) = SoftQLearning.updateWith ctx rate batch learner
            NumericalCheck.sqlUpdate steps next ctx.Workspace.QParameterGrad ctx.Workspace.SamplerParameterGrad m
            struct (next, m)

        member _.AfterUpdates(_, learner) = learner
        member _.Synced(_, learner) = learner
        // The soft Q residual and the SVGD sampler's surrogate loss; alpha is the fixed temperature.
        member _.MetricNames = [| "q_loss"; "svgd_loss"; "mean_q"; "alpha" |]
        member _.Report(_, m) = [| m.QLoss; m.SvgdLoss; m.MeanQ; m.Alpha |]
        // Saved in order: Q loss, SVGD surrogate, alpha, mean Q (the order checkpoints have always kept).
        member _.MetricValues m = [| m.QLoss; m.SvgdLoss; m.Alpha; m.MeanQ |]
        member _.MetricCount = 4
        member _.MetricsOf values = { QLoss = values.[0]; SvgdLoss = values.[1]; Alpha = values.[2]; MeanQ = values.[3] }

        // Stochastic rollouts: the SQL policy is the sampler; its noise stream is keyed by the evaluation seed.
        member _.Evaluate(learner, env, episodes, seed) = GoalEvaluation.sql ctx learner.Sampler env episodes seed

        member _.Save(path, learner, environmentId, environmentSteps, progress, replay, episodeActions, metadata) =
            let header =
                SqlCheckpointHeader(SqlCheckpoint.AlgorithmName, environmentId, o, a, config.HiddenSizes, config.SamplerHiddenSizes,
                                    environmentSteps, Progress = progress, Activation = Nullable config.Activation)
            SqlCheckpoint.Save(path, header, learner, replay, episodeActions,
                               Resuming.withConfig (ConfigJson.Serialize config) metadata)

        member this.Load(path) = this.Restore(SqlCheckpoint.LoadTraining path)

    interface IDisposable with
        member _.Dispose() = ()

/// <summary>The state a Soft Q-Learning run folds over.</summary>
type SqlTrainingState = OffPolicyState<SqlLearnerState, SqlMetrics>

/// <summary>A Soft Q-Learning training run: <see cref="T:Sac.Fs.OffPolicyTrainer`2"/> with <see cref="SqlAlgorithm"/>,
/// on environments in [-1, 1] action coordinates.</summary>
[<Sealed>]
type SqlTrainer private (environmentId: string, env: IEnvironment, evalEnv: IEnvironment, algorithm: SqlAlgorithm, make: Func<IEnvironment>) =
    inherit OffPolicyTrainer<SqlLearnerState, SqlMetrics>(environmentId, env, evalEnv, algorithm, make)

    /// <summary>A trainer on the registered environment <paramref name="environmentId"/>.</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    new(environmentId: string, config: SqlConfig, gemm: IGemm) =
        config.ThrowIfInvalid() |> ignore
        let make () = RescaleAction(EnvironmentRegistry.MakeChecked environmentId) :> IEnvironment
        let env = make ()
        SqlTrainer(environmentId, env, make (), new SqlAlgorithm(config, env.ObservationSpace.Dimension, env.ActionSpace.Dimension, gemm),
                   Func<IEnvironment> make)

    /// <summary>A trainer that steps <paramref name="environments"/> copies of the registered environment
    /// <paramref name="environmentId"/> together (see <see cref="M:Sac.Fs.OffPolicyTrainer`2.UseEnvironments(System.Int32)"/>).</summary>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration (validated here).</param>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="environments">Copies of the environment, at least 1 (checked before anything is built).</param>
    new(environmentId: string, config: SqlConfig, gemm: IGemm, environments: int) as this =
        Guard.environments environments
        SqlTrainer(environmentId, config, gemm)
        then this.UseEnvironments environments

    /// <summary>The algorithm: context and acting buffers.</summary>
    member _.Sql = algorithm
    /// <summary>The learner's fixed parts.</summary>
    member _.Context = algorithm.Context
    /// <summary>The configuration.</summary>
    member _.Config = algorithm.Config
    /// <summary>Acting buffers.</summary>
    member _.PolicyWorkspace = algorithm.PolicyWorkspace

    /// <summary>Brings the trainer to a checkpoint <see cref="M:Sac.Core.Runs.SqlCheckpoint.LoadTraining(System.String)"/> read.</summary>
    /// <param name="checkpoint">The checkpoint.</param>
    member this.Resume(checkpoint: TrainingCheckpoint<SqlCheckpointHeader, SqlLearnerState>) : SqlTrainingState = this.Resume(algorithm.Restore checkpoint)

/// <summary>Soft Q-Learning training entry points for scripts.</summary>
[<RequireQualifiedAccess>]
module SqlTraining =

    /// <summary>Trains Soft Q-Learning on <paramref name="environmentId"/> for <paramref name="steps"/> environment steps.</summary>
    /// <param name="gemm">The GEMM provider.</param>
    /// <param name="environmentId">A registered environment id.</param>
    /// <param name="config">The configuration.</param>
    /// <param name="steps">Environment steps, at least 1.</param>
    /// <param name="onRecord">Receives each record.</param>
    [<CompiledName("Train")>]
    let train (gemm: IGemm) (environmentId: string) (config: SqlConfig) (steps: int64) (onRecord: TrainingRecord -> unit) =
        if steps < 1L then invalidArg (nameof steps) $"steps must be at least 1, got {steps}."
        let trainer = SqlTrainer(environmentId, config, gemm)
        let final = trainer.Run(trainer.Start(), steps, Action<TrainingRecord> onRecord)
        trainer, final
