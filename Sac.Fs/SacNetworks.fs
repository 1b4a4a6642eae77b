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
/// </remarks>
[<Sealed>]
type SacNetworks(config: SacConfig, observationSize: int, actionSize: int) =
    do
        if observationSize < 1 then invalidArg (nameof observationSize) $"observationSize must be at least 1, got {observationSize}."
        if actionSize < 1 then invalidArg (nameof actionSize) $"actionSize must be at least 1, got {actionSize}."
    let mlp (hidden: int seq) input output =
        MlpSpec(Array.concat [ [| input |]; Seq.toArray hidden; [| output |] ], config.Activation, Activation.Identity)
    let actor = mlp config.ResolvedActorHiddenSizes observationSize (2 * actionSize)
    let critic = mlp config.ResolvedCriticHiddenSizes (observationSize + actionSize) 1
    let value = mlp config.ResolvedCriticHiddenSizes observationSize 1

    /// <summary>Observation length |S|.</summary>
    member _.ObservationSize = observationSize
    /// <summary>Action length |A|.</summary>
    member _.ActionSize = actionSize
    /// <summary>The policy network.</summary>
    member _.Actor = actor
    /// <summary>One soft Q-network (the learner holds two, back to back).</summary>
    member _.Critic = critic
    /// <summary>The SAC v1 state-value network.</summary>
    member _.Value = value
    /// <summary>Parameters of one critic; the twin vector holds twice as many.</summary>
    member _.CriticParameters = critic.ParameterCount
