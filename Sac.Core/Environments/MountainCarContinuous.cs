using System;

namespace Sac.Core.Environments;

/// <summary>
/// Gymnasium's <c>MountainCarContinuous-v0</c>: drive an underpowered car out of a valley to the flag at
/// <c>x = 0.45</c> by rocking back and forth, with force in <c>[-1, 1]</c>.
/// </summary>
/// <remarks>
/// <para>
/// Observation <c>[position, velocity]</c> within <c>[-1.2, -0.07]</c> .. <c>[0.6, 0.07]</c>. Step with
/// <c>force = clip(a, -1, 1)</c>: <c>v' = clip(v + 0.0015 force - 0.0025 cos(3x), -0.07, 0.07)</c>,
/// <c>x' = clip(x + v', -1.2, 0.6)</c>, and the left wall is inelastic: <c>v' = 0</c> when <c>x' = -1.2</c> and
/// <c>v' &lt; 0</c>. The episode terminates when <c>x' &gt;= 0.45</c> and <c>v' &gt;= 0</c> (Gymnasium's default
/// <c>goal_velocity = 0</c>).
/// </para>
/// <para>
/// Reward: <c>+100</c> on the terminating step, minus <c>0.1 a^2</c> every step. As in Gymnasium's source the
/// action cost uses the action as given, not the clipped force, so actions beyond <c>[-1, 1]</c> cost more without
/// pushing harder. Like Gymnasium, the state is computed in float64 and stored as float32 after every step (the
/// termination test sees the float64 values); the initial state is <c>x ~ U[-0.6, -0.4]</c>, <c>v = 0</c>.
/// Registered limit: 999 steps.
/// </para>
/// </remarks>
public sealed class MountainCarContinuous : IEnvironment
{
    const double MinPosition = -1.2, MaxPosition = 0.6, MaxSpeed = 0.07;
    const double GoalPosition = 0.45, GoalVelocity = 0.0, Power = 0.0015;

    static readonly Box ObservationBox = new([(float)MinPosition, (float)-MaxSpeed], [(float)MaxPosition, (float)MaxSpeed]);
    static readonly Box ActionBox = Box.Uniform(1, -1f, 1f);

    ResetStream _rng;
    double _position, _velocity;
    bool _ready;

    /// <summary>The registered id, <c>"MountainCarContinuous-v0"</c>.</summary>
    public const string EnvironmentId = "MountainCarContinuous-v0";

    /// <summary>The registered episode limit, 999 steps.</summary>
    public const int RegisteredMaxEpisodeSteps = 999;

    /// <inheritdoc/>
    public string Id => EnvironmentId;

    /// <summary><c>[position, velocity]</c> within <c>[-1.2, -0.07]</c> .. <c>[0.6, 0.07]</c>.</summary>
    public Box ObservationSpace => ObservationBox;

    /// <summary>The force, <c>[-1, 1]</c>; larger values are clipped (but still pay their full action cost).</summary>
    public Box ActionSpace => ActionBox;

    /// <inheritdoc/>
    public int? MaxEpisodeSteps => RegisteredMaxEpisodeSteps;

    /// <summary>Current position of the car along the x-axis.</summary>
    public double Position => _position;

    /// <summary>Current velocity of the car.</summary>
    public double Velocity => _velocity;

    /// <summary>
    /// Sets the state directly, for tests and custom starts (Gymnasium users assign <c>env.unwrapped.state</c>);
    /// counts as a reset, so <see cref="Step"/> may follow. The random stream is untouched.
    /// </summary>
    /// <param name="position">Position of the car.</param>
    /// <param name="velocity">Velocity of the car.</param>
    /// <param name="observation">Receives <c>[position, velocity]</c>; length 2.</param>
    /// <exception cref="ArgumentException"><paramref name="observation"/> does not have length 2.</exception>
    public void SetState(double position, double velocity, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 2);
        _position = position;
        _velocity = velocity;
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public void Reset(ulong? seed, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 2);
        _rng.Begin(seed);
        // Gymnasium MountainCarContinuous-v0 reset: position ~ U[-0.6, -0.4], velocity 0.
        _position = _rng.Uniform(-0.6, -0.4);
        _velocity = 0.0;
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvironmentChecks.Action(Id, action, 1);
        EnvironmentChecks.Observation(Id, observation, 2);
        EnvironmentChecks.WasReset(Id, _ready);

        double a = action[0];
        double force = Math.Clamp(a, -1.0, 1.0);
        double position = _position, velocity = _velocity;

        // Gymnasium MountainCarContinuous-v0: v += force*power - 0.0025 cos(3x), clipped to ±0.07; x += v, clipped.
        velocity += force * Power - 0.0025 * Math.Cos(3.0 * position);
        velocity = Math.Clamp(velocity, -MaxSpeed, MaxSpeed);
        position += velocity;
        position = Math.Clamp(position, MinPosition, MaxPosition);
        // Inelastic left wall: the car stops rather than pushing into it.
        if (position == MinPosition && velocity < 0) velocity = 0.0;

        bool terminated = position >= GoalPosition && velocity >= GoalVelocity;
        // Gymnasium: +100 on reaching the goal, minus 0.1 a^2 with the unclipped action a.
        double reward = (terminated ? 100.0 : 0.0) - 0.1 * a * a;

        // Gymnasium stores the state as float32 (np.array(..., dtype=np.float32)) after every step.
        _position = (float)position;
        _velocity = (float)velocity;

        Observe(observation);
        return new StepResult((float)reward, terminated, Truncated: false);
    }

    void Observe(Span<float> observation)
    {
        observation[0] = (float)_position;
        observation[1] = (float)_velocity;
    }
}
