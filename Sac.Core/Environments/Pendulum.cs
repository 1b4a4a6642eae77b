using System;

namespace Sac.Core.Environments;

/// <summary>
/// Gymnasium's <c>Pendulum-v1</c>: swing a frictionless pendulum up and balance it, with torque in <c>[-2, 2]</c>.
/// </summary>
/// <remarks>
/// <para>
/// State: the angle <c>θ</c> (0 is upright; not wrapped, as in Gymnasium) and angular velocity <c>θdot</c>, kept in
/// float64 as Gymnasium keeps them. Observation: <c>[cos θ, sin θ, θdot]</c> in <c>[-1, 1] x [-1, 1] x [-8, 8]</c>.
/// </para>
/// <para>
/// Step with torque <c>u = clip(a, -2, 2)</c>, constants <c>g = 10</c> (configurable), <c>m = l = 1</c>,
/// <c>dt = 0.05</c>:
/// the reward is <c>-(angle_normalize(θ)^2 + 0.1 θdot^2 + 0.001 u^2)</c> from the state before the step, so it lies
/// in <c>[-16.2736044, 0]</c>; then semi-implicit Euler,
/// <c>θdot' = clip(θdot + (3g/(2l) sin θ + 3/(m l^2) u) dt, -8, 8)</c> and <c>θ' = θ + θdot' dt</c> (the clipped
/// velocity integrates the angle, as in Gymnasium's current source; gym 0.21 integrated before clipping).
/// </para>
/// <para>
/// Reset draws <c>θ ~ U[-π, π]</c> and <c>θdot ~ U[-1, 1]</c>. The environment never terminates; it is registered
/// with a 200-step limit, which <see cref="EnvironmentRegistry.Make"/> enforces through <see cref="TimeLimit"/>.
/// </para>
/// </remarks>
public sealed class Pendulum : IEnvironment
{
    const double MaxSpeed = 8.0, MaxTorque = 2.0, Dt = 0.05, Mass = 1.0, Length = 1.0;

    static readonly Box ObservationBox = new([-1f, -1f, (float)-MaxSpeed], [1f, 1f, (float)MaxSpeed]);
    static readonly Box ActionBox = Box.Uniform(1, (float)-MaxTorque, (float)MaxTorque);

    readonly double _g;
    ResetStream _rng;
    double _theta, _thetaDot;
    bool _ready;

    /// <summary>Makes the pendulum with Gymnasium's default gravity, <c>g = 10.0</c>.</summary>
    public Pendulum() : this(10.0) { }

    /// <summary>Makes the pendulum with gravitational acceleration <paramref name="gravity"/> (Gymnasium's <c>g</c> argument).</summary>
    /// <param name="gravity">Acceleration of gravity in m/s^2; finite.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gravity"/> is not finite.</exception>
    public Pendulum(double gravity)
    {
        if (!double.IsFinite(gravity)) throw new ArgumentOutOfRangeException(nameof(gravity), gravity, "Gravity must be finite.");
        _g = gravity;
    }

    /// <summary>The registered id, <c>"Pendulum-v1"</c>.</summary>
    public const string EnvironmentId = "Pendulum-v1";

    /// <summary>The registered episode limit, 200 steps.</summary>
    public const int RegisteredMaxEpisodeSteps = 200;

    /// <inheritdoc/>
    public string Id => EnvironmentId;

    /// <summary><c>[cos θ, sin θ, θdot]</c> within <c>[-1, -1, -8]</c> .. <c>[1, 1, 8]</c>.</summary>
    public Box ObservationSpace => ObservationBox;

    /// <summary>The torque, <c>[-2, 2]</c>; larger torques are clipped.</summary>
    public Box ActionSpace => ActionBox;

    /// <inheritdoc/>
    public int? MaxEpisodeSteps => RegisteredMaxEpisodeSteps;

    /// <summary>Gravitational acceleration used by the dynamics.</summary>
    public double Gravity => _g;

    /// <summary>Current angle θ in radians (0 upright, not wrapped).</summary>
    public double Theta => _theta;

    /// <summary>Current angular velocity θdot in rad/s, within <c>[-8, 8]</c> after any step.</summary>
    public double ThetaDot => _thetaDot;

    /// <summary>
    /// Sets the state directly, for tests and custom starts (Gymnasium users assign <c>env.unwrapped.state</c>);
    /// counts as a reset, so <see cref="Step"/> may follow. The random stream is untouched.
    /// </summary>
    /// <param name="theta">Angle θ in radians.</param>
    /// <param name="thetaDot">Angular velocity θdot; not clipped here, as Gymnasium does not clip an assigned state.</param>
    /// <param name="observation">Receives <c>[cos θ, sin θ, θdot]</c>; length 3.</param>
    /// <exception cref="ArgumentException"><paramref name="observation"/> does not have length 3.</exception>
    public void SetState(double theta, double thetaDot, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 3);
        _theta = theta;
        _thetaDot = thetaDot;
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public void Reset(ulong? seed, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 3);
        _rng.Begin(seed);
        // Gymnasium Pendulum-v1 reset: state ~ U([-π, -1], [π, 1]), angle first.
        _theta = _rng.Uniform(-Math.PI, Math.PI);
        _thetaDot = _rng.Uniform(-1.0, 1.0);
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvironmentChecks.Action(Id, action, 1);
        EnvironmentChecks.Observation(Id, observation, 3);
        EnvironmentChecks.WasReset(Id, _ready);

        double u = Math.Clamp((double)action[0], -MaxTorque, MaxTorque);
        double th = _theta, thdot = _thetaDot;

        // Gymnasium Pendulum-v1 cost, from the pre-step state: angle_normalize(θ)^2 + 0.1 θdot^2 + 0.001 u^2.
        double an = AngleNormalize(th);
        double cost = an * an + 0.1 * thdot * thdot + 0.001 * u * u;

        // Gymnasium Pendulum-v1: θ'' = 3g/(2l) sin θ + 3/(m l^2) u; velocity first, clipped, then the angle.
        double newThDot = thdot + (3.0 * _g / (2.0 * Length) * Math.Sin(th) + 3.0 / (Mass * Length * Length) * u) * Dt;
        newThDot = Math.Clamp(newThDot, -MaxSpeed, MaxSpeed);
        _theta = th + newThDot * Dt;
        _thetaDot = newThDot;

        Observe(observation);
        return new StepResult((float)-cost, Terminated: false, Truncated: false);
    }

    /// <summary>
    /// Gymnasium's <c>angle_normalize(x) = ((x + π) mod 2π) - π</c> with Python's floored modulo, so the result lies
    /// in <c>[-π, π]</c> for finite <paramref name="x"/> (π itself only when rounding lifts a tiny negative remainder).
    /// </summary>
    /// <param name="x">An angle in radians.</param>
    /// <returns>The equivalent angle in <c>[-π, π]</c>.</returns>
    public static double AngleNormalize(double x)
    {
        const double TwoPi = 2.0 * Math.PI;
        // Python float %: fmod, then shift by the divisor when the remainder's sign differs from it.
        double r = (x + Math.PI) % TwoPi;
        if (r < 0) r += TwoPi;
        return r - Math.PI;
    }

    void Observe(Span<float> observation)
    {
        observation[0] = (float)Math.Cos(_theta);
        observation[1] = (float)Math.Sin(_theta);
        observation[2] = (float)_thetaDot;
    }
}
