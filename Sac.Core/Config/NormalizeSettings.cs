using System;
using System.Collections.Generic;

namespace Sac.Core.Config;

/// <summary>
/// Observation and reward normalisation with Stable-Baselines3's VecNormalize semantics (RL Zoo's <c>normalize</c>):
/// observations are standardised by their running mean and variance and clipped; rewards are divided by the running
/// standard deviation of the discounted return (gamma is the algorithm's) and clipped. The replay buffer keeps raw
/// values and each minibatch is normalised with the statistics of the moment it is drawn; evaluation and prediction
/// use the statistics frozen. A configuration without it (<c>null</c>) normalises nothing.
/// </summary>
public sealed record NormalizeSettings
{
    /// <summary>Standardise observations (SB3 <c>norm_obs</c>, default true).</summary>
    public bool Observations { get; init; } = true;

    /// <summary>Scale rewards by the discounted return's standard deviation (SB3 <c>norm_reward</c>, default true).</summary>
    public bool Rewards { get; init; } = true;

    /// <summary>Normalised observations are clipped to [-this, this]; positive and finite (SB3 <c>clip_obs</c>, 10).</summary>
    public float ClipObservations { get; init => field = ConfigChecks.PositiveFinite(value, nameof(ClipObservations)); } = 10f;

    /// <summary>Normalised rewards are clipped to [-this, this]; positive and finite (SB3 <c>clip_reward</c>, 10).</summary>
    public float ClipRewards { get; init => field = ConfigChecks.PositiveFinite(value, nameof(ClipRewards)); } = 10f;

    /// <summary>Added to a variance before its square root (SB3 <c>epsilon</c>).</summary>
    public const double Epsilon = 1e-8;

    /// <summary>Every problem, each naming its property (prefixed with <paramref name="owner"/>); empty when valid.</summary>
    /// <param name="owner">The configuration key this record sits under, such as <c>Normalize</c>.</param>
    /// <returns>One message per problem.</returns>
    public IReadOnlyList<string> Validate(string owner)
    {
        var problems = new List<string>();
        void Add(string? problem)
        {
            if (problem is not null) problems.Add(problem);
        }
        Add(ConfigChecks.PositiveFiniteProblem(ClipObservations, $"{owner}.{nameof(ClipObservations)}"));
        Add(ConfigChecks.PositiveFiniteProblem(ClipRewards, $"{owner}.{nameof(ClipRewards)}"));
        if (!Observations && !Rewards)
            Add($"{owner} normalises neither observations nor rewards; leave {owner} out (null) instead.");
        return problems;
    }
}
