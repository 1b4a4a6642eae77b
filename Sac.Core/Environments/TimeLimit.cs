using System;

namespace Sac.Core.Environments;

/// <summary>
/// Truncates episodes after a fixed number of steps, as Gymnasium's <c>TimeLimit</c> wrapper does.
/// </summary>
/// <remarks>
/// After the inner step, the elapsed count goes up by one and <c>Truncated</c> is set whenever
/// <c>elapsed &gt;= maxEpisodeSteps</c>, regardless of <c>Terminated</c>: when the limit coincides with a terminal
/// step both flags are true (Gymnasium does the same), and a learner must then treat the transition as terminal.
/// A truncation the inner environment reports itself is passed through. Like Gymnasium's wrapper this one does not
/// refuse further steps past the limit; every such step is reported truncated. <see cref="Reset"/> zeroes the count.
/// </remarks>
public sealed class TimeLimit : IEnvironment
{
    readonly IEnvironment _inner;
    readonly int _maxEpisodeSteps;
    int _elapsed;

    /// <summary>Wraps <paramref name="inner"/> so that episodes truncate after <paramref name="maxEpisodeSteps"/> steps.</summary>
    /// <param name="inner">The environment to limit.</param>
    /// <param name="maxEpisodeSteps">Steps per episode, at least 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inner"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxEpisodeSteps"/> is zero or negative.</exception>
    public TimeLimit(IEnvironment inner, int maxEpisodeSteps)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEpisodeSteps);
        _inner = inner;
        _maxEpisodeSteps = maxEpisodeSteps;
    }

    /// <summary>The wrapped environment.</summary>
    public IEnvironment Inner => _inner;

    /// <summary>Steps taken since the last <see cref="Reset"/>.</summary>
    public int ElapsedSteps => _elapsed;

    /// <summary>The inner environment's id.</summary>
    public string Id => _inner.Id;

    /// <summary>The inner environment's observation space.</summary>
    public Box ObservationSpace => _inner.ObservationSpace;

    /// <summary>The inner environment's action space.</summary>
    public Box ActionSpace => _inner.ActionSpace;

    /// <summary>The limit this wrapper enforces.</summary>
    public int? MaxEpisodeSteps => _maxEpisodeSteps;

    /// <summary>Resets the inner environment and zeroes the elapsed step count.</summary>
    /// <param name="seed">Passed to the inner environment (see <see cref="IEnvironment.Reset"/>).</param>
    /// <param name="observation">Receives the initial observation.</param>
    public void Reset(ulong? seed, Span<float> observation)
    {
        _inner.Reset(seed, observation);
        _elapsed = 0;
    }

    /// <summary>Steps the inner environment and sets <c>Truncated</c> once the limit is reached.</summary>
    /// <param name="action">The action, passed through unchanged.</param>
    /// <param name="observation">Receives the next observation.</param>
    /// <returns>The inner result, with <c>Truncated</c> also set when <c>ElapsedSteps &gt;= MaxEpisodeSteps</c>.</returns>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        StepResult r = _inner.Step(action, observation);
        // Counted only after a successful inner step, so a rejected action does not use up the episode.
        if (_elapsed < int.MaxValue) _elapsed++;
        // Gymnasium TimeLimit: if elapsed >= max_episode_steps: truncated = True (independent of terminated).
        return _elapsed >= _maxEpisodeSteps ? r with { Truncated = true } : r;
    }
}
