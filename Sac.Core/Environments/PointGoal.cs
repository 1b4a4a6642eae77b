using System;

namespace Sac.Core.Environments;

/// <summary>
/// <c>PointGoal-v0</c>, a small task of this library's own for fast learning tests: steer a point in the square
/// <c>[-1, 1]^2</c> to a fixed goal (the origin by default) with velocity commands.
/// </summary>
/// <remarks>
/// <para>
/// Dynamics (a single integrator): <c>p' = clip(p + 0.1 clip(a, -1, 1), -1, 1)</c> componentwise, so one step
/// moves at most 0.1 per axis. Observation <c>[x, y, goal_x - x, goal_y - y]</c>. Reward:
/// <c>-|p' - goal| - 0.01 |clip(a)|^2</c>, plus a bonus of 1 on the step that ends within distance 0.1 of the goal,
/// which terminates the episode. The start position is uniform on the square, redrawn while it lies within the goal
/// radius. Registered limit: 50 steps, far more than the at most 10 steps a straight run from a corner needs.
/// </para>
/// <para>
/// Expected returns (measured by the tests: 1000 episodes through the 50-step limit, reset seeds 0..999, goal at
/// the origin): a uniform random policy averages -37.8 and reaches the goal in 8.7% of episodes; moving straight
/// toward the goal at full speed (<c>a = clip(10 (goal - p), -1, 1)</c>) averages -1.46 and always reaches it,
/// within 10 steps. The reward is dense and the optimal policy is a smooth, nearly bang-bang function of the
/// observation, so the task is meant to be solved by SAC with small (64x64) networks within a few thousand
/// environment steps.
/// </para>
/// </remarks>
public sealed class PointGoal : IEnvironment
{
    /// <summary>Half the side of the square arena: positions stay in <c>[-1, 1]^2</c>.</summary>
    public const double ArenaHalfWidth = 1.0;

    /// <summary>Largest move per step along each axis (an action component of ±1).</summary>
    public const double MaxSpeed = 0.1;

    /// <summary>Distance to the goal at or below which the episode terminates.</summary>
    public const double GoalRadius = 0.1;

    /// <summary>Reward added on the step that reaches the goal.</summary>
    public const double GoalBonus = 1.0;

    /// <summary>Weight of the squared (clipped) action norm subtracted from every reward.</summary>
    public const double ActionCost = 0.01;

    /// <summary>The registered id, <c>"PointGoal-v0"</c>.</summary>
    public const string EnvironmentId = "PointGoal-v0";

    /// <summary>The registered episode limit, 50 steps.</summary>
    public const int RegisteredMaxEpisodeSteps = 50;

    static readonly Box ActionBox = Box.Uniform(2, -1f, 1f);

    readonly double _goalX, _goalY;
    readonly Box _observationBox;
    ResetStream _rng;
    double _x, _y;
    bool _ready;

    /// <summary>Makes the task with the goal at the origin, as registered.</summary>
    public PointGoal() : this(0.0, 0.0) { }

    /// <summary>Makes the task with the goal at <c>(goalX, goalY)</c>.</summary>
    /// <param name="goalX">Goal x, within <c>[-0.9, 0.9]</c> so that starts outside the goal radius exist all around it.</param>
    /// <param name="goalY">Goal y, within <c>[-0.9, 0.9]</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A goal coordinate is outside <c>[-0.9, 0.9]</c> or NaN.</exception>
    public PointGoal(double goalX, double goalY)
    {
        const double Limit = ArenaHalfWidth - GoalRadius;
        if (!(Math.Abs(goalX) <= Limit)) throw new ArgumentOutOfRangeException(nameof(goalX), goalX, $"The goal must lie within [-{Limit}, {Limit}].");
        if (!(Math.Abs(goalY) <= Limit)) throw new ArgumentOutOfRangeException(nameof(goalY), goalY, $"The goal must lie within [-{Limit}, {Limit}].");
        _goalX = goalX;
        _goalY = goalY;
        float w = (float)ArenaHalfWidth, d = (float)(2 * ArenaHalfWidth);
        _observationBox = new Box([-w, -w, -d, -d], [w, w, d, d]);
    }

    /// <inheritdoc/>
    public string Id => EnvironmentId;

    /// <summary><c>[x, y, goal_x - x, goal_y - y]</c> within <c>[-1, -1, -2, -2]</c> .. <c>[1, 1, 2, 2]</c>.</summary>
    public Box ObservationSpace => _observationBox;

    /// <summary>The velocity command, <c>[-1, 1]^2</c> (a fraction of <see cref="MaxSpeed"/> per axis); larger values are clipped.</summary>
    public Box ActionSpace => ActionBox;

    /// <inheritdoc/>
    public int? MaxEpisodeSteps => RegisteredMaxEpisodeSteps;

    /// <summary>Goal x coordinate.</summary>
    public double GoalX => _goalX;

    /// <summary>Goal y coordinate.</summary>
    public double GoalY => _goalY;

    /// <summary>Current x coordinate of the point.</summary>
    public double X => _x;

    /// <summary>Current y coordinate of the point.</summary>
    public double Y => _y;

    /// <summary>
    /// Puts the point at <c>(x, y)</c>, clipped into the arena, for tests and custom starts; counts as a reset, so
    /// <see cref="Step"/> may follow. The random stream is untouched.
    /// </summary>
    /// <param name="x">Start x.</param>
    /// <param name="y">Start y.</param>
    /// <param name="observation">Receives the observation; length 4.</param>
    /// <exception cref="ArgumentException"><paramref name="observation"/> does not have length 4.</exception>
    public void SetState(double x, double y, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 4);
        _x = Math.Clamp(x, -ArenaHalfWidth, ArenaHalfWidth);
        _y = Math.Clamp(y, -ArenaHalfWidth, ArenaHalfWidth);
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public void Reset(ulong? seed, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 4);
        _rng.Begin(seed);
        // Rejection sampling keeps the start uniform over the square minus the goal disc; the disc covers at most
        // π 0.1^2 / 4 < 1% of the square, so a second draw is rarely needed.
        do
        {
            _x = _rng.Uniform(-ArenaHalfWidth, ArenaHalfWidth);
            _y = _rng.Uniform(-ArenaHalfWidth, ArenaHalfWidth);
        } while (Distance() <= GoalRadius);
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvironmentChecks.Action(Id, action, 2);
        EnvironmentChecks.Observation(Id, observation, 4);
        EnvironmentChecks.WasReset(Id, _ready);

        double ax = Math.Clamp((double)action[0], -1.0, 1.0);
        double ay = Math.Clamp((double)action[1], -1.0, 1.0);
        // Single integrator: p' = clip(p + v_max a, arena).
        _x = Math.Clamp(_x + MaxSpeed * ax, -ArenaHalfWidth, ArenaHalfWidth);
        _y = Math.Clamp(_y + MaxSpeed * ay, -ArenaHalfWidth, ArenaHalfWidth);

        double distance = Distance();
        bool terminated = distance <= GoalRadius;
        // Dense shaping: r = -|p' - g| - c |a|^2, + bonus on arrival.
        double reward = -distance - ActionCost * (ax * ax + ay * ay) + (terminated ? GoalBonus : 0.0);

        Observe(observation);
        return new StepResult((float)reward, terminated, Truncated: false);
    }

    double Distance()
    {
        double dx = _goalX - _x, dy = _goalY - _y;
        return Math.Sqrt(dx * dx + dy * dy);
    }

    void Observe(Span<float> observation)
    {
        observation[0] = (float)_x;
        observation[1] = (float)_y;
        observation[2] = (float)(_goalX - _x);
        observation[3] = (float)(_goalY - _y);
    }
}
