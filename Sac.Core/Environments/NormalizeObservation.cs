using System;
using Sac.Core.Data;

namespace Sac.Core.Environments;

/// <summary>
/// An environment whose observations are normalised by a <see cref="VecNormalize"/>'s statistics, frozen: they are
/// read at every reset and step and never updated here (Stable-Baselines3's evaluation environment with
/// <c>training = False</c>). Rewards pass through raw, so evaluation returns are the environment's own.
/// </summary>
public sealed class NormalizeObservation : IEnvironment
{
    readonly IEnvironment inner;
    readonly VecNormalize statistics;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The environment.</param>
    /// <param name="statistics">The running statistics to read; the trainer that owns them keeps updating them.</param>
    /// <exception cref="ArgumentException">The statistics are of observations of another size.</exception>
    public NormalizeObservation(IEnvironment inner, VecNormalize statistics)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(statistics);
        if (statistics.ObservationSize != inner.ObservationSpace.Dimension)
            throw new ArgumentException(
                $"{inner.Id}: the statistics are of observations of {statistics.ObservationSize} values, the environment's have {inner.ObservationSpace.Dimension}.",
                nameof(statistics));
        this.inner = inner;
        this.statistics = statistics;
    }

    /// <summary><paramref name="inner"/> as a run with <paramref name="statistics"/> acts on it: wrapped, or itself
    /// when the run does not normalise (null statistics).</summary>
    /// <param name="inner">The environment.</param>
    /// <param name="statistics">The run's statistics, or null.</param>
    /// <returns>The environment the policy should see.</returns>
    public static IEnvironment Around(IEnvironment inner, VecNormalize? statistics) =>
        statistics is null ? inner : new NormalizeObservation(inner, statistics);

    /// <summary>The wrapped environment.</summary>
    public IEnvironment Inner => inner;

    /// <inheritdoc />
    public string Id => inner.Id;

    /// <summary>The inner observation space (normalised observations are clipped, but their bounds are not tracked).</summary>
    public Box ObservationSpace => inner.ObservationSpace;

    /// <inheritdoc />
    public Box ActionSpace => inner.ActionSpace;

    /// <inheritdoc />
    public int? MaxEpisodeSteps => inner.MaxEpisodeSteps;

    /// <inheritdoc />
    public void Reset(ulong? seed, Span<float> observation)
    {
        inner.Reset(seed, observation);
        statistics.NormalizeObservations(observation, observation);
    }

    /// <inheritdoc />
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        StepResult result = inner.Step(action, observation);
        statistics.NormalizeObservations(observation, observation);
        return result;
    }
}
