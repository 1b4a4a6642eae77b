using System;
using System.Collections.Generic;
using Sac.Core.Config;

namespace Sac.Core.Runs;

/// <summary>
/// What a Soft Q-Learning checkpoint holds, stored as JSON at the start of the file (camelCase keys): the algorithm,
/// the environment it was trained for, and the sizes that fix the length of every parameter array. Every field is
/// checked when it is set, and a bad value throws <see cref="ArgumentException"/> naming the field. Records compare by
/// value, the hidden sizes included.
/// </summary>
/// <param name="Algorithm">Always <c>"sql"</c> (<see cref="SqlCheckpoint.AlgorithmName"/>).</param>
/// <param name="EnvironmentId">The environment it was trained on, such as <c>"MultiGoal-v0"</c>; not blank.</param>
/// <param name="ObservationSize">Length of one observation; at least 1.</param>
/// <param name="ActionSize">Length of one action; at least 1.</param>
/// <param name="HiddenSizes">Hidden layer widths of the Q-network (and its target); non-empty, each at least 1.</param>
/// <param name="SamplerHiddenSizes">Hidden layer widths of the sampling network; non-empty, each at least 1.</param>
/// <param name="EnvironmentSteps">Environment steps taken when the checkpoint was written; zero or more.</param>
public sealed record SqlCheckpointHeader(
    string Algorithm,
    string EnvironmentId,
    int ObservationSize,
    int ActionSize,
    IReadOnlyList<int> HiddenSizes,
    IReadOnlyList<int> SamplerHiddenSizes,
    long EnvironmentSteps)
    : ICheckpointHeader
{
    /// <summary>Always <c>"sql"</c>: the header of another algorithm's checkpoint is rejected.</summary>
    public string Algorithm { get; init => field = CheckAlgorithm(value); } = CheckAlgorithm(Algorithm);

    /// <summary>The environment the learner was trained on; not blank.</summary>
    public string EnvironmentId { get; init => field = HeaderChecks.NotBlank(value, nameof(EnvironmentId)); } = HeaderChecks.NotBlank(EnvironmentId, nameof(EnvironmentId));

    /// <summary>Length of one observation; at least 1.</summary>
    public int ObservationSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ObservationSize)); }
        = ConfigChecks.AtLeast(ObservationSize, 1, nameof(ObservationSize));

    /// <summary>Length of one action; at least 1.</summary>
    public int ActionSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ActionSize)); }
        = ConfigChecks.AtLeast(ActionSize, 1, nameof(ActionSize));

    /// <summary>Hidden layer widths of the Q-network; non-empty, each at least 1. Copied when set and compared by contents.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = ConfigChecks.Sizes(HiddenSizes, nameof(HiddenSizes));

    /// <summary>Hidden layer widths of the sampling network; non-empty, each at least 1. Copied when set and compared by contents.</summary>
    public IReadOnlyList<int> SamplerHiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(SamplerHiddenSizes)); }
        = ConfigChecks.Sizes(SamplerHiddenSizes, nameof(SamplerHiddenSizes));

    /// <summary>Environment steps taken when the checkpoint was written; zero or more.</summary>
    public long EnvironmentSteps { get; init => field = HeaderChecks.NotNegative(value, nameof(EnvironmentSteps)); }
        = HeaderChecks.NotNegative(EnvironmentSteps, nameof(EnvironmentSteps));

    /// <summary>The nonlinearity after every hidden layer when it is not ReLU; null (and absent from the file) for
    /// ReLU, so a ReLU checkpoint is written exactly as before the field existed. Setting ReLU stores null.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Sac.Core.Compute.Activation? Activation { get; init => field = HeaderChecks.StoredActivation(value, nameof(Activation)); }

    /// <summary>The hidden activation in effect: <see cref="Activation"/>, else ReLU.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Sac.Core.Compute.Activation ResolvedActivation => Activation ?? Sac.Core.Compute.Activation.Relu;

    /// <summary>
    /// The training loop's counters when the checkpoint was written, for resuming; null in a checkpoint of a learner
    /// alone (one written by a script, or by a build before training checkpoints existed). A checkpoint with progress
    /// also stores the running episode's <see cref="TrainingProgress.EpisodeLength"/> actions. Its
    /// <see cref="TrainingProgress.LastMetrics"/> holds the latest Soft Q-Learning update's four metrics in the order
    /// Q loss, SVGD surrogate, alpha, mean Q(s, a).
    /// </summary>
    public TrainingProgress? Progress { get; init; }

    /// <summary>The header for a learner with <paramref name="config"/>'s network sizes and hidden activation.</summary>
    /// <param name="environmentId">The environment id.</param>
    /// <param name="observationSize">Observation length.</param>
    /// <param name="actionSize">Action length.</param>
    /// <param name="config">The configuration whose hidden sizes the networks have.</param>
    /// <param name="environmentSteps">Environment steps taken.</param>
    /// <returns>The header, algorithm <c>"sql"</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">A size or the id is invalid.</exception>
    public static SqlCheckpointHeader For(string environmentId, int observationSize, int actionSize, SqlConfig config, long environmentSteps)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(SqlCheckpoint.AlgorithmName, environmentId, observationSize, actionSize, config.HiddenSizes, config.SamplerHiddenSizes, environmentSteps)
        {
            Activation = config.Activation,
        };
    }

    static string CheckAlgorithm(string value) =>
        value == SqlCheckpoint.AlgorithmName
            ? value
            : throw new ArgumentException(
                $"{nameof(Algorithm)} must be \"{SqlCheckpoint.AlgorithmName}\" in a Soft Q-Learning checkpoint, got {(value is null ? "null" : $"\"{value}\"")}.",
                nameof(Algorithm));
}
