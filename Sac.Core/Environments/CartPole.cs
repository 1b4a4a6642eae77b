using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Sac.Core.Environments;

/// <summary>
/// Gymnasium's <c>CartPole-v1</c> (Barto, Sutton and Anderson 1983): balance a pole hinged on a cart by pushing the
/// cart left or right with a fixed force. Two discrete actions.
/// </summary>
/// <remarks>
/// <para>
/// State <c>(x, xdot, θ, θdot)</c> in float64, as Gymnasium keeps it; the observation is the same four numbers in
/// float32, within <c>[-4.8, 4.8] x R x [-0.418879, 0.418879] x R</c> (twice the termination thresholds, as Gymnasium
/// declares its space).
/// </para>
/// <para>
/// Actions: index 0 pushes left with force <c>-10</c>, index 1 pushes right with <c>+10</c>, given as
/// <c>action[0]</c>; <see cref="ActionSpace"/> is the box <c>[0, 1]</c> of dimension 1 and any other value (including
/// a non-integral one such as 0.5) throws <see cref="ArgumentException"/>.
/// </para>
/// <para>
/// Step, with <c>g = 9.8</c>, cart mass 1.0, pole mass 0.1 (total 1.1), half-length <c>l = 0.5</c>,
/// <c>m_p l = 0.05</c>, <c>tau = 0.02</c>:
/// <c>temp = (F + m_p l θdot^2 sin θ) / M</c>,
/// <c>θacc = (g sin θ - cos θ temp) / (l (4/3 - m_p cos^2 θ / M))</c>,
/// <c>xacc = temp - m_p l θacc cos θ / M</c>; then the explicit Euler update
/// <c>x += tau xdot</c>, <c>xdot += tau xacc</c>, <c>θ += tau θdot</c>, <c>θdot += tau θacc</c> (old velocities
/// move the positions, Gymnasium's default <c>kinematics_integrator = "euler"</c>).
/// </para>
/// <para>
/// Termination: <c>|x| &gt; 2.4</c> or <c>|θ| &gt; 12°</c> (<c>12 · 2π / 360</c> rad) after the update (a state exactly
/// on a threshold continues). The reward is 1 for every step, the terminating one included; a step taken after
/// termination without a reset returns reward 0 while the state stays out of bounds, as Gymnasium does (where it
/// also warns).
/// Reset draws all four state variables from <c>U(-0.05, 0.05)</c>. Registered with a 500-step limit, which
/// <see cref="EnvironmentRegistry.Make"/> enforces through <see cref="TimeLimit"/>.
/// </para>
/// </remarks>
public sealed class CartPole : IEnvironment, IDiscreteActions
{
    /// <summary>Gravitational acceleration, 9.8 m/s^2.</summary>
    public const double Gravity = 9.8;

    /// <summary>Mass of the cart, 1.0 kg.</summary>
    public const double MassCart = 1.0;

    /// <summary>Mass of the pole, 0.1 kg.</summary>
    public const double MassPole = 0.1;

    /// <summary>Half the pole's length, 0.5 m (Gymnasium's <c>length</c>).</summary>
    public const double Length = 0.5;

    /// <summary>Magnitude of the push, 10 N.</summary>
    public const double ForceMagnitude = 10.0;

    /// <summary>Seconds between state updates, 0.02.</summary>
    public const double Tau = 0.02;

    /// <summary>The cart position beyond which an episode terminates, 2.4.</summary>
    public const double XThreshold = 2.4;

    /// <summary>The pole angle beyond which an episode terminates: 12 degrees, <c>12 · 2π / 360</c> radians.</summary>
    public const double ThetaThresholdRadians = 12 * 2 * Math.PI / 360;

    const double TotalMass = MassPole + MassCart;
    const double PoleMassLength = MassPole * Length;

    static readonly Box ObservationBox = new(
        [(float)(-2 * XThreshold), float.NegativeInfinity, (float)(-2 * ThetaThresholdRadians), float.NegativeInfinity],
        [(float)(2 * XThreshold), float.PositiveInfinity, (float)(2 * ThetaThresholdRadians), float.PositiveInfinity]);

    static readonly Box ActionBox = Box.Uniform(1, 0f, Actions - 1);

    const int Actions = 2;

    ResetStream _rng;
    double _x, _xDot, _theta, _thetaDot;
    bool _ready, _beyondTerminated;

    /// <summary>The registered id, <c>"CartPole-v1"</c>.</summary>
    public const string EnvironmentId = "CartPole-v1";

    /// <summary>The registered episode limit, 500 steps.</summary>
    public const int RegisteredMaxEpisodeSteps = 500;

    /// <inheritdoc/>
    public string Id => EnvironmentId;

    /// <summary><c>[x, xdot, θ, θdot]</c> within <c>[-4.8, -inf, -0.418879, -inf]</c> .. <c>[4.8, inf, 0.418879, inf]</c>.</summary>
    public Box ObservationSpace => ObservationBox;

    /// <summary>The action index as one float, the box <c>[0, 1]</c>; only the integers 0 (left) and 1 (right) are valid.</summary>
    public Box ActionSpace => ActionBox;

    /// <summary>Two actions: 0 pushes the cart left, 1 pushes it right.</summary>
    public int ActionCount => Actions;

    /// <inheritdoc/>
    public int? MaxEpisodeSteps => RegisteredMaxEpisodeSteps;

    /// <summary>Cart position x.</summary>
    public double X => _x;

    /// <summary>Cart velocity xdot.</summary>
    public double XDot => _xDot;

    /// <summary>Pole angle θ in radians (0 upright).</summary>
    public double Theta => _theta;

    /// <summary>Pole angular velocity θdot in rad/s.</summary>
    public double ThetaDot => _thetaDot;

    /// <summary>
    /// Sets the state directly, for tests and custom starts (Gymnasium users assign <c>env.unwrapped.state</c>);
    /// counts as a reset, so <see cref="Step"/> may follow. The random stream is untouched.
    /// </summary>
    /// <param name="x">Cart position.</param>
    /// <param name="xDot">Cart velocity.</param>
    /// <param name="theta">Pole angle in radians.</param>
    /// <param name="thetaDot">Pole angular velocity.</param>
    /// <param name="observation">Receives <c>[x, xdot, θ, θdot]</c>; length 4.</param>
    /// <exception cref="ArgumentException"><paramref name="observation"/> does not have length 4.</exception>
    public void SetState(double x, double xDot, double theta, double thetaDot, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 4);
        (_x, _xDot, _theta, _thetaDot) = (x, xDot, theta, thetaDot);
        _ready = true;
        _beyondTerminated = false;
        Observe(observation);
    }

    /// <inheritdoc/>
    public void Reset(ulong? seed, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 4);
        _rng.Begin(seed);
        // Gymnasium CartPole-v1 reset: state ~ U(-0.05, 0.05)^4, in the order x, xdot, θ, θdot.
        _x = _rng.Uniform(-0.05, 0.05);
        _xDot = _rng.Uniform(-0.05, 0.05);
        _theta = _rng.Uniform(-0.05, 0.05);
        _thetaDot = _rng.Uniform(-0.05, 0.05);
        _ready = true;
        _beyondTerminated = false;
        Observe(observation);
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">
    /// Besides wrong lengths: <c>action[0]</c> is not 0 or 1 (the message names the environment and the value).
    /// </exception>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvironmentChecks.Action(Id, action, 1);
        EnvironmentChecks.Observation(Id, observation, 4);
        EnvironmentChecks.WasReset(Id, _ready);
        float index = action[0];
        if (!(index == 0f || index == 1f)) ThrowBadIndex(index);

        double force = index == 1f ? ForceMagnitude : -ForceMagnitude;
        double cos = Math.Cos(_theta), sin = Math.Sin(_theta);
        // Gymnasium CartPole: temp = (F + m_p l θdot² sin θ) / M; θacc = (g sin θ - cos θ temp) / (l (4/3 - m_p cos² θ / M)); xacc = temp - m_p l θacc cos θ / M
        double temp = (force + PoleMassLength * _thetaDot * _thetaDot * sin) / TotalMass;
        double thetaAcc = (Gravity * sin - cos * temp) / (Length * (4.0 / 3.0 - MassPole * cos * cos / TotalMass));
        double xAcc = temp - PoleMassLength * thetaAcc * cos / TotalMass;

        // Explicit Euler: positions move with the old velocities.
        _x += Tau * _xDot;
        _xDot += Tau * xAcc;
        _theta += Tau * _thetaDot;
        _thetaDot += Tau * thetaAcc;
        Observe(observation);

        bool terminated = _x < -XThreshold || _x > XThreshold || _theta < -ThetaThresholdRadians || _theta > ThetaThresholdRadians;
        // Gymnasium: reward 1 while in bounds and on the step that terminates; 0 on out-of-bounds steps after that one
        // (steps_beyond_terminated is set), until the next reset.
        float reward = 1f;
        if (terminated)
        {
            if (_beyondTerminated) reward = 0f;
            _beyondTerminated = true;
        }
        return new StepResult(reward, Terminated: terminated, Truncated: false);
    }

    void Observe(Span<float> observation)
    {
        observation[0] = (float)_x;
        observation[1] = (float)_xDot;
        observation[2] = (float)_theta;
        observation[3] = (float)_thetaDot;
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    static void ThrowBadIndex(float index) =>
        throw new ArgumentException(
            $"{EnvironmentId}: the action must be the index 0 (push left) or 1 (push right) as action[0], got {index}.", "action");
}
