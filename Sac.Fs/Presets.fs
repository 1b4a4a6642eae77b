namespace Sac.Fs

open System
open Sac.Core.Config

/// <summary>
/// Per-environment hyperparameters, as RL Baselines3 Zoo keeps them, applied when <c>--env</c> names the
/// environment; a user's configuration overrides them key by key.
/// </summary>
[<RequireQualifiedAccess>]
module Presets =

    /// <summary>The preset for an environment id: SB3 defaults changed where the zoo (or, for our own tasks, our
    /// tuning) changes them; the defaults for a registered environment without a preset.</summary>
    /// <exception cref="T:System.ArgumentException">The id is not registered (the message suggests a near match).</exception>
    [<CompiledName("ForEnvironment")>]
    let forEnvironment (environmentId: string) : SacConfig =
        match environmentId with
        // RL Zoo sac.yml, Pendulum-v1: learning_rate 1e-3, everything else default (20k steps).
        | "Pendulum-v1" -> SacConfig(ActorLearningRate = 1e-3f, CriticLearningRate = 1e-3f, AlphaLearningRate = 1e-3f, EvalInterval = 2000)
        // RL Zoo sac.yml, MountainCarContinuous-v0 (50k steps): learning_rate 3e-4, buffer 50k, batch 512, fixed
        // ent_coef 0.1, train_freq 32 with 32 gradient steps, gamma 0.9999, tau 0.01, learning_starts 0, gSDE on with
        // log_std_init -3.67, net_arch [64, 64].
        | "MountainCarContinuous-v0" ->
            SacConfig(BufferSize = 50_000, BatchSize = 512, AutoAlpha = false, InitialAlpha = 0.1f, TrainFrequency = 32,
                      GradientSteps = 32, Gamma = 0.9999f, Tau = 0.01f, LearningStarts = 0, HiddenSizes = [| 64; 64 |],
                      UseSde = true, LogStdInit = -3.67f)
        // Our point-mass task: small networks and a short warm-up; solved in a few thousand steps.
        | "PointGoal-v0" ->
            SacConfig(HiddenSizes = [| 64; 64 |], ActorLearningRate = 1e-3f, CriticLearningRate = 1e-3f, AlphaLearningRate = 1e-3f,
                      BufferSize = 100_000, BatchSize = 128, LearningStarts = 500, EvalInterval = 1000)
        // RL Zoo sac.yml, the MuJoCo locomotion tasks: SB3 defaults with learning_starts 10000 (Humanoid too; the zoo
        // gives it 2M steps instead of 1M). Evaluation as the zoo's EvalCallback: 5 episodes every 10k steps.
        | "HalfCheetah-v4" | "HalfCheetah-v5" | "Hopper-v4" | "Walker2d-v4" | "Ant-v4" | "Ant-v5" | "Humanoid-v4"
        | "Humanoid-v5" ->
            SacConfig(LearningStarts = 10_000, EvalInterval = 10_000, EvalEpisodes = 5)
        | id when Seq.contains id Sac.Core.Environments.EnvironmentRegistry.Ids -> SacConfig()
        | id ->
            // A misspelt id must not silently train with the defaults.
            let near =
                Sac.Core.Environments.EnvironmentRegistry.Ids
                |> Seq.tryFind (fun known -> String.Equals(known, id, StringComparison.OrdinalIgnoreCase))
            let hint = match near with Some k -> $" Did you mean {k}?" | None -> ""
            invalidArg (nameof environmentId) $"No environment '{id}' is registered, so there is no preset for it.{hint}"
