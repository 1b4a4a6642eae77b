using System;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Sac.Core.Environments;

/// <summary>
/// Checks every exchange with the environment it wraps, in the spirit of Stable-Baselines3's environment checker but
/// on every step, cheaply enough to leave on while training: actions on the way in, observations and rewards on the
/// way out. The first violation throws an <see cref="EnvironmentCheckException"/> naming the environment, the step,
/// the quantity, the element and the value, at the step where it happened rather than thousands of gradient steps
/// later as a NaN loss.
/// </summary>
/// <remarks>
/// <para>
/// <b>Actions</b>, before they are passed on (a refused action never reaches the inner environment): the length must
/// be the action space's dimension and every component finite and inside the action box, widened by a tolerance of
/// <c>ActionTolerance * max(1, |bound|)</c> on each side (by default 1e-5, about 80 float32 rounding steps at 1), so
/// that an affine map that lands a rounding error past a bound is not refused while a real overshoot is. For a
/// discrete-action environment (<see cref="IDiscreteActions"/>, found as <see cref="DiscreteActions"/> finds it),
/// <c>action[0]</c> must instead be an integral index in <c>0 .. ActionCount - 1</c>, exactly.
/// </para>
/// <para>
/// <b>Observations</b>: the caller's observation span must have the observation space's length (checked before the
/// call, so a wrongly sized buffer never reaches the inner environment), and after <c>Reset</c> and <c>Step</c> every
/// element the environment wrote must be finite. <b>Rewards</b> must be finite.
/// </para>
/// <para>
/// What passes is passed on unchanged: actions, observations, rewards and flags are exactly the inner environment's.
/// The checks allocate nothing; only the throwing paths (kept out of line) build a message. Steps are counted from
/// construction (see <see cref="EnvironmentCheckException.Step"/>). Not thread-safe, like every environment.
/// </para>
/// </remarks>
public sealed class CheckedEnvironment : IEnvironment
{
    /// <summary>The default relative tolerance of the action-box check, 1e-5.</summary>
    public const float DefaultActionTolerance = 1e-5f;

    readonly IEnvironment _inner;
    readonly string _id;
    readonly int _observationSize, _actionSize;
    readonly double[] _low, _high;
    // The observation box with the same tolerance; infinite where the space is unbounded.
    readonly double[] _obsLow, _obsHigh;
    readonly Box _actionSpace;
    // -1 for a continuous-action environment.
    readonly int _actionCount;
    long _steps;

    /// <summary>Wraps <paramref name="inner"/>; its spaces are read once, here.</summary>
    /// <param name="inner">The environment to check.</param>
    /// <param name="actionTolerance">
    /// Relative slack of the action-box check: a component passes when it lies within
    /// <c>actionTolerance * max(1, |bound|)</c> of the box; finite and at least 0 (0 is the exact box).
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="inner"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="actionTolerance"/> is negative or not finite.</exception>
    public CheckedEnvironment(IEnvironment inner, float actionTolerance = DefaultActionTolerance)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!(actionTolerance >= 0f) || !float.IsFinite(actionTolerance))
            throw new ArgumentOutOfRangeException(nameof(actionTolerance), actionTolerance, "The action tolerance must be finite and at least 0.");
        _inner = inner;
        _id = inner.Id;
        _observationSize = inner.ObservationSpace.Dimension;
        _actionSpace = inner.ActionSpace;
        _actionSize = _actionSpace.Dimension;
        _low = new double[_actionSize];
        _high = new double[_actionSize];
        for (int i = 0; i < _actionSize; i++)
        {
            double lo = _actionSpace.Low[i], hi = _actionSpace.High[i];
            _low[i] = lo - actionTolerance * Math.Max(1.0, Math.Abs(lo));
            _high[i] = hi + actionTolerance * Math.Max(1.0, Math.Abs(hi));
        }
        _actionCount = DiscreteActions.TryGetActionCount(inner) ?? -1;
        var observations = inner.ObservationSpace;
        _obsLow = new double[_observationSize];
        _obsHigh = new double[_observationSize];
        for (int i = 0; i < _observationSize; i++)
        {
            double lo = observations.Low[i], hi = observations.High[i];
            _obsLow[i] = double.IsFinite(lo) ? lo - actionTolerance * Math.Max(1.0, Math.Abs(lo)) : double.NegativeInfinity;
            _obsHigh[i] = double.IsFinite(hi) ? hi + actionTolerance * Math.Max(1.0, Math.Abs(hi)) : double.PositiveInfinity;
        }
        ActionTolerance = actionTolerance;
    }

    /// <summary>The wrapped environment.</summary>
    public IEnvironment Inner => _inner;

    /// <summary>The relative tolerance of the action-box check.</summary>
    public float ActionTolerance { get; }

    /// <summary>Steps passed on to the inner environment since construction (refused actions are not counted).</summary>
    public long StepCount => _steps;

    /// <summary>The inner environment's id.</summary>
    public string Id => _id;

    /// <summary>The inner environment's observation space.</summary>
    public Box ObservationSpace => _inner.ObservationSpace;

    /// <summary>The inner environment's action space, against which actions are checked.</summary>
    public Box ActionSpace => _actionSpace;

    /// <summary>The inner environment's episode limit.</summary>
    public int? MaxEpisodeSteps => _inner.MaxEpisodeSteps;

    /// <summary>Resets the inner environment, then checks the initial observation.</summary>
    /// <param name="seed">Passed to the inner environment (see <see cref="IEnvironment.Reset"/>).</param>
    /// <param name="observation">Receives the initial observation; its length must be the observation space's.</param>
    /// <exception cref="EnvironmentCheckException">The span has the wrong length, or the environment wrote a non-finite element.</exception>
    public void Reset(ulong? seed, Span<float> observation)
    {
        if (observation.Length != _observationSize) ThrowObservationLength(_steps, true, observation.Length);
        // NaN first, so an element the environment forgets to write is caught instead of passing on a stale value.
        observation.Fill(float.NaN);
        _inner.Reset(seed, observation);
        CheckObservation(observation, _steps, true);
    }

    /// <summary>Checks the action, steps the inner environment, then checks the observation and the reward.</summary>
    /// <param name="action">The action, in the inner environment's action space.</param>
    /// <param name="observation">Receives the next observation; its length must be the observation space's.</param>
    /// <returns>The inner environment's result, unchanged.</returns>
    /// <exception cref="EnvironmentCheckException">
    /// The action has the wrong length, a non-finite component or one outside the action space (the inner
    /// environment is then not stepped); the observation span has the wrong length; or the environment wrote a
    /// non-finite observation element or returned a non-finite reward.
    /// </exception>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        long step = _steps + 1;
        CheckAction(action, step);
        if (observation.Length != _observationSize) ThrowObservationLength(step, false, observation.Length);
        observation.Fill(float.NaN);
        StepResult result = _inner.Step(action, observation);
        // The inner environment has moved on: count the step even if what it returned is refused below.
        _steps = step;
        CheckObservation(observation, step, false);
        if (!float.IsFinite(result.Reward))
            throw new EnvironmentCheckException(_id, step, false, EnvironmentCheckException.RewardQuantity, -1, result.Reward, NonFinite(result.Reward));
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void CheckAction(ReadOnlySpan<float> action, long step)
    {
        if (action.Length != _actionSize) ThrowActionLength(step, action.Length);
        if (_actionCount >= 0)
        {
            float index = action[0];
            // An index is exact: no tolerance, as the environment itself refuses 0.9999 as an index.
            if (!(index >= 0f && index <= _actionCount - 1 && MathF.Floor(index) == index)) ThrowActionIndex(step, index);
            return;
        }
        for (int i = 0; i < action.Length; i++)
        {
            float x = action[i];
            // Written so that NaN fails: every comparison with NaN is false.
            if (!(x >= _low[i] && x <= _high[i])) ThrowActionComponent(step, i, x);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void CheckObservation(Span<float> observation, long step, bool atReset)
    {
        for (int i = 0; i < observation.Length; i++)
        {
            float x = observation[i];
            if (!float.IsFinite(x)) ThrowObservationElement(step, atReset, i, x);
            // A declared finite bound is part of the contract too (with the action check's tolerance).
            if (!(x >= _obsLow[i] && x <= _obsHigh[i])) ThrowObservationOutside(step, atReset, i, x);
        }
    }

    static string NonFinite(float value) =>
        float.IsNaN(value) ? "is NaN" : value > 0 ? "is +inf" : "is -inf";

    static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    void ThrowActionLength(long step, int length) =>
        throw new EnvironmentCheckException(_id, step, false, EnvironmentCheckException.ActionQuantity, -1, length,
            $"has length {length}, but the action space has dimension {_actionSize}");

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    void ThrowActionIndex(long step, float index) =>
        throw new EnvironmentCheckException(_id, step, false, EnvironmentCheckException.ActionQuantity, 0, index,
            float.IsFinite(index)
                ? $"= {Number(index)} is not an action index (an integer in 0..{_actionCount - 1})"
                : NonFinite(index));

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    void ThrowActionComponent(long step, int i, float x) =>
        throw new EnvironmentCheckException(_id, step, false, EnvironmentCheckException.ActionQuantity, i, x,
            float.IsFinite(x)
                ? $"= {Number(x)} is outside the action space [{Number(_actionSpace.Low[i])}, {Number(_actionSpace.High[i])}]"
                : NonFinite(x));

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    void ThrowObservationLength(long step, bool atReset, int length) =>
        throw new EnvironmentCheckException(_id, step, atReset, EnvironmentCheckException.ObservationQuantity, -1, length,
            $"has length {length}, but the observation space has dimension {_observationSize}");

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    void ThrowObservationElement(long step, bool atReset, int i, float value) =>
        throw new EnvironmentCheckException(_id, step, atReset, EnvironmentCheckException.ObservationQuantity, i, value, NonFinite(value));

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    void ThrowObservationOutside(long step, bool atReset, int i, float value) =>
        throw new EnvironmentCheckException(_id, step, atReset, EnvironmentCheckException.ObservationQuantity, i, value,
            $"= {Number(value)} is outside the observation space [{Number(ObservationSpace.Low[i])}, {Number(ObservationSpace.High[i])}]");
}
