using System;

namespace Sac.Core.Environments;

/// <summary>
/// A continuous-control environment with Gymnasium's reset/step semantics, shaped so that stepping allocates nothing:
/// observations are written into spans the caller owns.
/// </summary>
/// <remarks>
/// Implementations take actions in their native bounds (<see cref="ActionSpace"/>); wrap them in
/// <see cref="RescaleAction"/> to act in <c>[-1, 1]^n</c>. Environments are not thread-safe.
/// </remarks>
public interface IEnvironment
{
    /// <summary>The registered name, such as <c>"Pendulum-v1"</c>; error messages start with it.</summary>
    string Id { get; }

    /// <summary>The space observations are drawn from; its dimension is the required observation span length.</summary>
    Box ObservationSpace { get; }

    /// <summary>The bounds of the actions <see cref="Step"/> accepts; its dimension is the required action length.</summary>
    Box ActionSpace { get; }

    /// <summary>
    /// The registered episode limit (informational: only <see cref="TimeLimit"/> enforces it), or null when there is none.
    /// </summary>
    int? MaxEpisodeSteps { get; }

    /// <summary>
    /// Starts a new episode and writes its first observation.
    /// </summary>
    /// <param name="seed">
    /// When given, the environment's random stream restarts deterministically from this seed (through Philox), so the
    /// same seed always gives the same initial state. When null, the environment continues its own stream, as
    /// Gymnasium's <c>reset()</c> without a seed does; an environment never seeded is seeded from the system's
    /// entropy on first use.
    /// </param>
    /// <param name="observation">Receives the initial observation; its length must be <c>ObservationSpace.Dimension</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="observation"/> has the wrong length.</exception>
    void Reset(ulong? seed, Span<float> observation);

    /// <summary>
    /// Applies one action, advances the environment one step and writes the next observation. Allocates nothing.
    /// </summary>
    /// <param name="action">The action in native bounds; its length must be <c>ActionSpace.Dimension</c>.</param>
    /// <param name="observation">Receives the next observation; its length must be <c>ObservationSpace.Dimension</c>.</param>
    /// <returns>The reward and the terminated/truncated flags.</returns>
    /// <exception cref="ArgumentException">The action or the observation span has the wrong length.</exception>
    /// <exception cref="InvalidOperationException">The environment has never been reset.</exception>
    StepResult Step(ReadOnlySpan<float> action, Span<float> observation);
}
