namespace Sac.Fs

open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Networks

/// <summary>The network shapes of a SAC learner, derived from the configuration and the environment's sizes.</summary>
/// <remarks>
/// Actor: observation -> hidden... -> 2|A| (mean and raw log-std as one output layer, SB3's two heads side by side).
/// Critic: [observation, action] -> hidden... -> 1, twice (Q1 then Q2 in one parameter vector).
/// Value (SAC v1): observation -> hidden... -> 1. Hidden layers use <c>config.Activation</c> (ReLU by default), outputs are linear. The actor's hidden layers are
/// <c>ResolvedActorHiddenSizes</c>, the critics' and V's <c>ResolvedCriticHiddenSizes</c>.
/// With gSDE (<c>UseSde</c>) the actor MLP emits the mean alone (|A| outputs) and its parameter vector continues with
/// the latent x columns log-std matrix (columns |A| with <c>FullStd</c>, else 1), latent being the last hidden width.
/// </remarks>
[<Sealed>]
type SacNetworks(config: SacConfig, observationSize: int, actionSize: int) =
    do
        if observationSize < 1 then invalidArg (nameof observationSize) $"observationSize must be at least 1, got {observationSize}."
        if actionSize < 1 then invalidArg (nameof actionSize) $"actionSize must be at least 1, got {actionSize}."
    let mlp (hidden: int seq) input output =
        MlpSpec(Array.concat [ [| input |]; Seq.toArray hidden; [| output |] ], config.Activation, Activation.Identity)
    let gsde = config.UseSde
    let actor = mlp config.ResolvedActorHiddenSizes observationSize (if gsde then actionSize else 2 * actionSize)
    let latent = Seq.last config.ResolvedActorHiddenSizes
    let logStdColumns = if config.FullStd then actionSize else 1
    let logStdCount = if gsde then Guard.product latent logStdColumns else 0
    let critic = mlp config.ResolvedCriticHiddenSizes (observationSize + actionSize) 1
    let value = mlp config.ResolvedCriticHiddenSizes observationSize 1

    /// <summary>Observation length |S|.</summary>
    member _.ObservationSize = observationSize
    /// <summary>Action length |A|.</summary>
    member _.ActionSize = actionSize
    /// <summary>The policy network (with gSDE, the MLP part of the actor's parameters).</summary>
    member _.Actor = actor
    /// <summary>Whether the actor explores with gSDE.</summary>
    member _.Gsde = gsde
    /// <summary>gSDE's latent features phi(s): the actor's last hidden width.</summary>
    member _.LatentSize = latent
    /// <summary>Columns of the gSDE log-std matrix: |A| with full std, else 1.</summary>
    member _.LogStdColumns = logStdColumns
    /// <summary>The gSDE log-std's parameter count (0 without gSDE).</summary>
    member _.LogStdParameters = logStdCount
    /// <summary>Every actor parameter: the MLP's, then with gSDE the log-std matrix.</summary>
    member _.ActorParameters = actor.ParameterCount + logStdCount
    /// <summary>One soft Q-network (the learner holds two, back to back).</summary>
    member _.Critic = critic
    /// <summary>The SAC v1 state-value network.</summary>
    member _.Value = value
    /// <summary>Parameters of one critic; the twin vector holds twice as many.</summary>
    member _.CriticParameters = critic.ParameterCount
