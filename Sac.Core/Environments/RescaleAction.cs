using System;

namespace Sac.Core.Environments;

/// <summary>
/// Lets an agent act in <c>[-1, 1]^n</c> (the range of a tanh-squashed policy) on an environment with other action
/// bounds, as Gymnasium's <c>RescaleAction(env, -1, 1)</c>.
/// </summary>
/// <remarks>
/// Each component is first clipped to <c>[-1, 1]</c> and then mapped affinely onto the inner bounds,
/// <c>native = ((1 - a) low + (1 + a) high) / 2</c>, so <c>-1</c> gives <c>low</c> and <c>1</c> gives <c>high</c>
/// exactly. Clipping the input is equivalent to Gymnasium's clipping of the output to the inner box, since the map
/// is increasing. A NaN component is passed through as NaN. Stepping allocates nothing: the native action goes
/// through a buffer the wrapper owns.
/// </remarks>
public sealed class RescaleAction : IEnvironment
{
    readonly IEnvironment _inner;
    readonly float[] _low, _high, _native;
    readonly Box _actionBox;

    /// <summary>Wraps <paramref name="inner"/>, whose action space must be bounded.</summary>
    /// <param name="inner">The environment taking native actions.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inner"/> is null.</exception>
    /// <exception cref="ArgumentException">The inner action space has an infinite bound.</exception>
    public RescaleAction(IEnvironment inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Box space = inner.ActionSpace;
        if (!space.IsBounded)
            throw new ArgumentException($"{inner.Id}: RescaleAction needs a bounded action space, but it is {space}.", nameof(inner));
        _inner = inner;
        _low = space.Low;
        _high = space.High;
        _native = new float[space.Dimension];
        _actionBox = Box.Uniform(space.Dimension, -1f, 1f);
    }

    /// <summary>The wrapped environment.</summary>
    public IEnvironment Inner => _inner;

    /// <summary>The inner environment's id.</summary>
    public string Id => _inner.Id;

    /// <summary>The inner environment's observation space.</summary>
    public Box ObservationSpace => _inner.ObservationSpace;

    /// <summary><c>[-1, 1]^n</c>, with <c>n</c> the inner action dimension.</summary>
    public Box ActionSpace => _actionBox;

    /// <summary>The inner environment's episode limit.</summary>
    public int? MaxEpisodeSteps => _inner.MaxEpisodeSteps;

    /// <summary>Resets the inner environment.</summary>
    /// <param name="seed">Passed to the inner environment (see <see cref="IEnvironment.Reset"/>).</param>
    /// <param name="observation">Receives the initial observation.</param>
    public void Reset(ulong? seed, Span<float> observation) => _inner.Reset(seed, observation);

    /// <summary>Maps <paramref name="action"/> from <c>[-1, 1]^n</c> to the inner bounds and steps the inner environment.</summary>
    /// <param name="action">The action in <c>[-1, 1]^n</c>; components outside are clipped.</param>
    /// <param name="observation">Receives the next observation.</param>
    /// <returns>The inner environment's result.</returns>
    /// <exception cref="ArgumentException">The action or observation has the wrong length.</exception>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        // ToNative checks the action length; the inner environment checks the observation and the reset state.
        ToNative(action, _native);
        return _inner.Step(_native, observation);
    }

    /// <summary>
    /// The native action for <paramref name="action"/>: each component clipped to <c>[-1, 1]</c> and mapped onto the
    /// inner bounds, as <see cref="Step"/> does.
    /// </summary>
    /// <param name="action">The action in <c>[-1, 1]^n</c>.</param>
    /// <param name="native">Receives the native action; the same length as <paramref name="action"/>.</param>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    public void ToNative(ReadOnlySpan<float> action, Span<float> native)
    {
        EnvironmentChecks.Action(Id, action, _native.Length);
        if (native.Length != _native.Length)
            throw new ArgumentException($"{Id}: the native action span has length {native.Length}, but this environment needs exactly {_native.Length}.", nameof(native));
        for (int i = 0; i < native.Length; i++)
        {
            double a = Math.Clamp((double)action[i], -1.0, 1.0);
            // Affine map [-1, 1] -> [low, high] written as a weighted mean so both ends are exact.
            native[i] = (float)(0.5 * ((1.0 - a) * _low[i] + (1.0 + a) * _high[i]));
        }
    }
}
