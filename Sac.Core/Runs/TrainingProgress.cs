using System;
using System.Collections.Generic;

namespace Sac.Core.Runs;

/// <summary>
/// Where a training run stood when a checkpoint was written: the loop's counters, stored in the checkpoint header so
/// that a resumed run continues exactly where the saved one was (together with the learner, the replay buffer when
/// saved, and the running episode's actions, which rebuild the environment's state).
/// </summary>
/// <param name="TotalSteps">The environment steps the run was asked for; at least 1.</param>
/// <param name="Episodes">Episodes finished; the environment has been reset once more than this.</param>
/// <param name="EpisodeReturn">Return accumulated in the running episode.</param>
/// <param name="EpisodeLength">Steps taken in the running episode; the checkpoint stores that many actions.</param>
/// <param name="Draws">Replay draws made so far (the index of the next minibatch's random stream).</param>
/// <param name="LastMetrics">The latest update's metrics in the algorithm's field order (SAC: critic loss, actor
/// loss, alpha loss, value loss, alpha, entropy, mean Q), or null before the first update.</param>
public sealed record TrainingProgress(
    long TotalSteps,
    int Episodes,
    double EpisodeReturn,
    int EpisodeLength,
    ulong Draws,
    IReadOnlyList<float>? LastMetrics)
{
    /// <summary>The environment steps the run was asked for; at least 1.</summary>
    public long TotalSteps { get; init => field = Positive(value, nameof(TotalSteps)); } = Positive(TotalSteps, nameof(TotalSteps));

    /// <summary>Episodes finished; zero or more.</summary>
    public int Episodes { get; init => field = NotNegative(value, nameof(Episodes)); } = NotNegative(Episodes, nameof(Episodes));

    /// <summary>Return accumulated in the running episode; finite.</summary>
    public double EpisodeReturn { get; init => field = Finite(value, nameof(EpisodeReturn)); } = Finite(EpisodeReturn, nameof(EpisodeReturn));

    /// <summary>Steps taken in the running episode; zero or more.</summary>
    public int EpisodeLength { get; init => field = NotNegative(value, nameof(EpisodeLength)); } = NotNegative(EpisodeLength, nameof(EpisodeLength));

    /// <summary>
    /// Environment steps between the run's periodic checkpoints (0: none), so that a resumed run keeps writing them
    /// as often as the run it continues.
    /// </summary>
    public long CheckpointEvery { get; init => field = value >= 0 ? value : throw new ArgumentException($"{nameof(CheckpointEvery)} must be zero or more, got {value}.", nameof(CheckpointEvery)); }

    /// <summary>
    /// With several copies of the environment stepped together, each copy's running episode in environment order
    /// (at least two; the checkpoint stores their actions one after another), and <see cref="Episodes"/> counts the
    /// episodes of all of them; null (and absent from the file) for a run of one environment.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<EnvironmentProgress>? Environments { get; init => field = CheckEnvironments(value); }

    /// <summary>How many copies of the environment the run steps together: the length of
    /// <see cref="Environments"/>, or 1 without it.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int EnvironmentCount => Environments?.Count ?? 1;

    /// <summary>Steps of running episodes the checkpoint stores actions for: <see cref="EpisodeLength"/>, or the sum
    /// over <see cref="Environments"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long StoredEpisodeSteps
    {
        get
        {
            if (Environments is null) return EpisodeLength;
            long total = 0;
            foreach (var e in Environments) total += e.EpisodeLength;
            return total;
        }
    }

    /// <summary>The most values <see cref="LastMetrics"/> may hold.</summary>
    public const int MaxMetrics = 64;

    /// <summary>The latest update's metrics (at most <see cref="MaxMetrics"/>), or null before the first update.</summary>
    public IReadOnlyList<float>? LastMetrics { get; init => field = CheckMetrics(value); } = CheckMetrics(LastMetrics);

    static long Positive(long value, string name) =>
        value >= 1 ? value : throw new ArgumentException($"{name} must be at least 1, got {value}.", name);

    static int NotNegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be zero or more, got {value}.", name);

    static double Finite(double value, string name) =>
        double.IsFinite(value) ? value : throw new ArgumentException($"{name} must be finite, got {value}.", name);

    static IReadOnlyList<EnvironmentProgress>? CheckEnvironments(IReadOnlyList<EnvironmentProgress>? value)
    {
        if (value is null) return null;
        if (value.Count < 2)
            throw new ArgumentException($"{nameof(Environments)} lists each of several environments; got {value.Count} (a run of one environment has none).", nameof(Environments));
        for (int i = 0; i < value.Count; i++)
            if (value[i] is null) throw new ArgumentException($"{nameof(Environments)}[{i}] is null.", nameof(Environments));
        return value;
    }

    static IReadOnlyList<float>? CheckMetrics(IReadOnlyList<float>? value) =>
        value is null || value.Count <= MaxMetrics
            ? value
            : throw new ArgumentException($"{nameof(LastMetrics)} may hold at most {MaxMetrics} values, got {value.Count}.", nameof(LastMetrics));
}
