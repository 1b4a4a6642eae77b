using System;
using System.Collections.Generic;
using Sac.Core.Config;

namespace Sac.Core.Runs;

/// <summary>
/// What a checkpoint holds, stored as JSON at the start of the file: the algorithm and environment it was trained
/// for, and the sizes that fix the length of every parameter array. Every field is checked when it is set, and a bad
/// value throws <see cref="ArgumentException"/> naming the field. Records compare by value, <see cref="HiddenSizes"/>
/// included.
/// </summary>
/// <param name="Algorithm">The algorithm that produced the learner, such as <c>"sac"</c>; not blank.</param>
/// <param name="EnvironmentId">The environment it was trained on, such as <c>"Pendulum-v1"</c>; not blank.</param>
/// <param name="ObservationSize">Length of one observation; at least 1.</param>
/// <param name="ActionSize">Length of one action; at least 1.</param>
/// <param name="HiddenSizes">Hidden layer widths shared by every network; non-empty, each at least 1.</param>
/// <param name="Variant">The SAC variant, <c>"V2"</c> or <c>"V1"</c> (the names of <see cref="SacVariant"/>); V1 checkpoints carry value networks.</param>
/// <param name="EnvironmentSteps">Environment steps taken when the checkpoint was written; zero or more.</param>
public sealed record CheckpointHeader(
    string Algorithm,
    string EnvironmentId,
    int ObservationSize,
    int ActionSize,
    IReadOnlyList<int> HiddenSizes,
    string Variant,
    long EnvironmentSteps)
    : ICheckpointHeader
{
    /// <summary>The algorithm that produced the learner, such as <c>"sac"</c>; not blank.</summary>
    public string Algorithm { get; init => field = HeaderChecks.NotBlank(value, nameof(Algorithm)); } = HeaderChecks.NotBlank(Algorithm, nameof(Algorithm));

    /// <summary>The environment the learner was trained on, such as <c>"Pendulum-v1"</c>; not blank.</summary>
    public string EnvironmentId { get; init => field = HeaderChecks.NotBlank(value, nameof(EnvironmentId)); } = HeaderChecks.NotBlank(EnvironmentId, nameof(EnvironmentId));

    /// <summary>Length of one observation; at least 1.</summary>
    public int ObservationSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ObservationSize)); }
        = ConfigChecks.AtLeast(ObservationSize, 1, nameof(ObservationSize));

    /// <summary>Length of one action; at least 1.</summary>
    public int ActionSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ActionSize)); }
        = ConfigChecks.AtLeast(ActionSize, 1, nameof(ActionSize));

    /// <summary>Hidden layer widths of every network; non-empty, each at least 1. Copied when set and compared by contents.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = ConfigChecks.Sizes(HiddenSizes, nameof(HiddenSizes));

    /// <summary>The SAC variant: <c>"V2"</c> (twin Q with target Q) or <c>"V1"</c> (adds the value network and its target).</summary>
    public string Variant { get; init => field = CheckVariant(value); } = CheckVariant(Variant);

    /// <summary>Environment steps taken when the checkpoint was written; zero or more.</summary>
    public long EnvironmentSteps { get; init => field = HeaderChecks.NotNegative(value, nameof(EnvironmentSteps)); }
        = HeaderChecks.NotNegative(EnvironmentSteps, nameof(EnvironmentSteps));

    /// <summary>The actor's own hidden layer widths when they differ from <see cref="HiddenSizes"/>; null (and absent
    /// from the file) otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? ActorHiddenSizes { get; init => field = ConfigChecks.OptionalSizes(value, nameof(ActorHiddenSizes)); }

    /// <summary>The critics' (and V's) own hidden layer widths when they differ from <see cref="HiddenSizes"/>; null
    /// (and absent from the file) otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? CriticHiddenSizes { get; init => field = ConfigChecks.OptionalSizes(value, nameof(CriticHiddenSizes)); }

    /// <summary>The actor's hidden layer widths in effect: <see cref="ActorHiddenSizes"/>, else <see cref="HiddenSizes"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> ResolvedActorHiddenSizes => ActorHiddenSizes ?? HiddenSizes;

    /// <summary>The critics' (and V's) hidden layer widths in effect: <see cref="CriticHiddenSizes"/>, else <see cref="HiddenSizes"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> ResolvedCriticHiddenSizes => CriticHiddenSizes ?? HiddenSizes;

    /// <summary>The nonlinearity after every hidden layer when it is not ReLU; null (and absent from the file) for
    /// ReLU, so a ReLU checkpoint is written exactly as before the field existed. Setting ReLU stores null.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Sac.Core.Compute.Activation? Activation { get; init => field = HeaderChecks.StoredActivation(value, nameof(Activation)); }

    /// <summary>The hidden activation in effect: <see cref="Activation"/>, else ReLU.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Sac.Core.Compute.Activation ResolvedActivation => Activation ?? Sac.Core.Compute.Activation.Relu;

    /// <summary>
    /// For an actor with gSDE (<see cref="SacConfig.UseSde"/>): the columns of its log-std matrix, the action size
    /// with <see cref="SacConfig.FullStd"/> and 1 without; null (and absent from the file) for the usual actor. With it
    /// the actor's output layer emits only the mean, and the latent x columns log-std matrix follows its parameters.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? GsdeLogStdColumns { get; init => field = value is int c ? ConfigChecks.AtLeast(c, 1, nameof(GsdeLogStdColumns)) : null; }

    /// <summary>
    /// The training loop's counters when the checkpoint was written, for <c>--resume</c>; null in a checkpoint of a
    /// learner alone (such as one written by a script). A checkpoint with progress also stores the running episode's
    /// <see cref="TrainingProgress.EpisodeLength"/> actions.
    /// </summary>
    public TrainingProgress? Progress { get; init; }


    static string CheckVariant(string value)
    {
        // Exact names only: the variant decides which sections a file has, so "v1" must not quietly mean V2.
        if (value is not (nameof(SacVariant.V2) or nameof(SacVariant.V1)))
            throw new ArgumentException(
                $"{nameof(Variant)} must be \"{nameof(SacVariant.V2)}\" or \"{nameof(SacVariant.V1)}\", got {(value is null ? "null" : $"\"{value}\"")}.",
                nameof(Variant));
        return value;
    }
}
