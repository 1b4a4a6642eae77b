using System;
using System.Collections.Generic;
using Sac.Core.Config;

namespace Sac.Core.Runs;

/// <summary>
/// What a DQN-family checkpoint holds, stored as JSON at the start of the file: the algorithm and environment, and the
/// sizes that fix the length of every array. Every field is checked when it is set, and a bad value throws
/// <see cref="ArgumentException"/> naming the field. Records compare by value, <see cref="HiddenSizes"/> included.
/// </summary>
/// <param name="Algorithm">
/// <c>"dqn"</c>, <c>"double-dqn"</c> or <c>"soft-dqn"</c> (see <see cref="DqnCheckpoint.AlgorithmName"/>).
/// </param>
/// <param name="EnvironmentId">The environment it was trained on, such as <c>"CartPole-v1"</c>; not blank.</param>
/// <param name="ObservationSize">Length of one observation; at least 1.</param>
/// <param name="ActionCount">Number of discrete actions, the Q-network's outputs; at least 1.</param>
/// <param name="HiddenSizes">Hidden layer widths of the Q-network; non-empty, each at least 1.</param>
/// <param name="EnvironmentSteps">Environment steps taken when the checkpoint was written; zero or more.</param>
public sealed record DqnCheckpointHeader(
    string Algorithm,
    string EnvironmentId,
    int ObservationSize,
    int ActionCount,
    IReadOnlyList<int> HiddenSizes,
    long EnvironmentSteps)
    : ICheckpointHeader
{
    /// <summary><c>"dqn"</c>, <c>"double-dqn"</c> or <c>"soft-dqn"</c>.</summary>
    public string Algorithm { get; init => field = CheckAlgorithm(value); } = CheckAlgorithm(Algorithm);

    /// <summary>The environment the learner was trained on; not blank.</summary>
    public string EnvironmentId { get; init => field = HeaderChecks.NotBlank(value, nameof(EnvironmentId)); } = HeaderChecks.NotBlank(EnvironmentId, nameof(EnvironmentId));

    /// <summary>Length of one observation; at least 1.</summary>
    public int ObservationSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ObservationSize)); }
        = ConfigChecks.AtLeast(ObservationSize, 1, nameof(ObservationSize));

    /// <summary>Number of discrete actions; at least 1.</summary>
    public int ActionCount { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ActionCount)); }
        = ConfigChecks.AtLeast(ActionCount, 1, nameof(ActionCount));

    /// <summary>Hidden layer widths of the Q-network; non-empty, each at least 1. Copied when set and compared by contents.</summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = ConfigChecks.Sizes(HiddenSizes, nameof(HiddenSizes));

    /// <summary>Environment steps taken when the checkpoint was written; zero or more.</summary>
    public long EnvironmentSteps { get; init => field = HeaderChecks.NotNegative(value, nameof(EnvironmentSteps)); }
        = HeaderChecks.NotNegative(EnvironmentSteps, nameof(EnvironmentSteps));

    /// <summary>The variant <see cref="Algorithm"/> names (derived, not stored in the file).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public DqnVariant Variant => DqnCheckpoint.VariantOf(Algorithm);

    /// <summary>The nonlinearity after every hidden layer when it is not ReLU; null (and absent from the file) for
    /// ReLU, so a ReLU checkpoint is written exactly as before the field existed. Setting ReLU stores null.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public Sac.Core.Compute.Activation? Activation { get; init => field = HeaderChecks.StoredActivation(value, nameof(Activation)); }

    /// <summary>The hidden activation in effect: <see cref="Activation"/>, else ReLU.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Sac.Core.Compute.Activation ResolvedActivation => Activation ?? Sac.Core.Compute.Activation.Relu;

    /// <summary>
    /// The training loop's counters when the checkpoint was written, for resuming; null in a checkpoint of a learner
    /// alone (such as one written by a script, or by a build before training checkpoints). A checkpoint with progress
    /// also stores the running episode's <see cref="TrainingProgress.EpisodeLength"/> actions. Its
    /// <see cref="TrainingProgress.LastMetrics"/> holds the latest update's metrics in the order
    /// <see cref="DqnCheckpoint.MetricNames"/> lists: TD loss, mean Q, mean target, entropy.
    /// </summary>
    public TrainingProgress? Progress { get; init; }

    static string CheckAlgorithm(string value)
    {
        if (!DqnCheckpoint.IsDqnAlgorithm(value))
            throw new ArgumentException(
                $"{nameof(Algorithm)} must be \"dqn\", \"double-dqn\" or \"soft-dqn\", got {(value is null ? "null" : $"\"{value}\"")}.",
                nameof(Algorithm));
        return value;
    }
}
