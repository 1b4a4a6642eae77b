using System;
using Sac.Core.Random;

namespace Sac.Core.Environments;

/// <summary>
/// <c>MultiGoal-v0</c>, the multi-goal task of Soft Q-Learning (Haarnoja et al. 2017, sec. 6.1): a 2-D point mass
/// that starts at the origin and may end its episode at any of four symmetric goals. A policy that has learned all the
/// ways of solving the task reaches every goal; one that commits to a single mode reaches one or two.
/// </summary>
/// <remarks>
/// <para>
/// The facts follow the authors' reference implementation (<c>softqlearning/environments/multigoal.py</c>, default
/// arguments). Goals, in index order: 0 at <c>(5, 0)</c>, 1 at <c>(-5, 0)</c>, 2 at <c>(0, 5)</c>, 3 at <c>(0, -5)</c>.
/// Observation: the position <c>[x, y]</c>, within the arena <c>[-7, 7]^2</c>. Action: a velocity in <c>[-1, 1]^2</c>
/// (clipped). Dynamics (a single integrator without noise: the reference's <c>PointDynamics</c> has
/// <c>sigma = 0</c>): <c>p' = clip(p + clip(a, -1, 1), -7, 7)</c>. Start: <c>p0 = clip(0.1 N(0, I), -7, 7)</c>, the
/// reference's <c>init_sigma = 0.1</c>.
/// </para>
/// <para>
/// Reward, on the new position: <c>r = -ActuationCost |a|^2 - DistanceCost min_g |p' - g|^2</c> with the clipped
/// action, <c>ActuationCost = 30</c> and <c>DistanceCost = 1</c>; the distance term is the SQUARED distance to the
/// nearest goal, as the reference computes it (a mixture-of-quadratics landscape with a maximum at each goal). When
/// <c>min_g |p' - g| &lt; 1</c> (the goal threshold, strict) the step is terminal and earns <c>GoalReward = 10</c> on
/// top. The registered limit is 30 steps (the reference's <c>max_path_length</c>).
/// </para>
/// <para>
/// After a terminal step <see cref="ReachedGoal"/> holds the index of the goal reached (goals are more than 7 apart, so
/// at most one lies within the threshold); it is null during an episode that has not terminated, after a truncation
/// without reaching a goal, and after <see cref="Reset"/>. Expected returns (measured by the tests over 1000 episodes,
/// reset seeds 0..999, through the 30-step limit): a uniform random policy averages about -850 and ends at some goal in
/// about 30% of episodes (evenly over the four); standing still returns about -716; heading straight for goal 0 at full
/// speed arrives in 4 or 5 steps and returns about -155.
/// </para>
/// </remarks>
public sealed class MultiGoal : IEnvironment
{
    /// <summary>The registered id, <c>"MultiGoal-v0"</c>.</summary>
    public const string EnvironmentId = "MultiGoal-v0";

    /// <summary>The registered episode limit, 30 steps (the reference's <c>max_path_length</c>).</summary>
    public const int RegisteredMaxEpisodeSteps = 30;

    /// <summary>Number of goals, 4.</summary>
    public const int GoalCount = 4;

    /// <summary>Distance of every goal from the origin.</summary>
    public const double GoalDistance = 5.0;

    /// <summary>A step ends the episode when the nearest goal is strictly closer than this.</summary>
    public const double GoalThreshold = 1.0;

    /// <summary>Reward added on the step that reaches a goal (reference <c>goal_reward</c>).</summary>
    public const double GoalReward = 10.0;

    /// <summary>Weight of the squared clipped action norm subtracted from every reward (reference <c>actuation_cost_coeff</c>).</summary>
    public const double ActuationCost = 30.0;

    /// <summary>Weight of the squared distance to the nearest goal subtracted from every reward (reference <c>distance_cost_coeff</c>).</summary>
    public const double DistanceCost = 1.0;

    /// <summary>Standard deviation of the start position around the origin (reference <c>init_sigma</c>).</summary>
    public const double InitialSigma = 0.1;

    /// <summary>Half the side of the square arena: positions stay in <c>[-7, 7]^2</c>.</summary>
    public const double ArenaHalfWidth = 7.0;

    static readonly double[] GoalXs = [GoalDistance, -GoalDistance, 0.0, 0.0];
    static readonly double[] GoalYs = [0.0, 0.0, GoalDistance, -GoalDistance];
    static readonly Box ActionBox = Box.Uniform(2, -1f, 1f);
    static readonly Box ObservationBox = Box.Uniform(2, -(float)ArenaHalfWidth, (float)ArenaHalfWidth);

    ResetStream _rng;
    double _x, _y;
    bool _ready;
    int _reached = -1;

    /// <inheritdoc/>
    public string Id => EnvironmentId;

    /// <summary>The position <c>[x, y]</c>, within <c>[-7, 7]^2</c>.</summary>
    public Box ObservationSpace => ObservationBox;

    /// <summary>The velocity <c>[-1, 1]^2</c>; larger values are clipped.</summary>
    public Box ActionSpace => ActionBox;

    /// <inheritdoc/>
    public int? MaxEpisodeSteps => RegisteredMaxEpisodeSteps;

    /// <summary>Current x coordinate of the point.</summary>
    public double X => _x;

    /// <summary>Current y coordinate of the point.</summary>
    public double Y => _y;

    /// <summary>
    /// The index (0..3, see the remarks) of the goal the last step reached, when that step terminated the episode;
    /// null otherwise, and after <see cref="Reset"/> or <see cref="SetState"/>.
    /// </summary>
    public int? ReachedGoal => _reached >= 0 ? _reached : null;

    /// <summary>The position of goal <paramref name="index"/>.</summary>
    /// <param name="index">Goal index in <c>[0, GoalCount)</c>.</param>
    /// <returns>The goal's <c>(x, y)</c>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is out of range.</exception>
    public static (double X, double Y) Goal(int index)
    {
        if ((uint)index >= (uint)GoalXs.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Goal index must be in [0, {GoalXs.Length}).");
        return (GoalXs[index], GoalYs[index]);
    }

    /// <summary>
    /// The <see cref="MultiGoal"/> inside <paramref name="environment"/>, looking through <see cref="TimeLimit"/> and
    /// <see cref="RescaleAction"/> wrappers, or null when there is none (another task).
    /// </summary>
    /// <param name="environment">An environment, possibly wrapped.</param>
    /// <returns>The inner MultiGoal instance, or null.</returns>
    public static MultiGoal? Find(IEnvironment? environment)
    {
        while (true)
        {
            switch (environment)
            {
                case MultiGoal m: return m;
                case TimeLimit t: environment = t.Inner; break;
                case RescaleAction r: environment = r.Inner; break;
                case CheckedEnvironment c: environment = c.Inner; break;
                default: return null;
            }
        }
    }

    /// <summary>
    /// Puts the point at <c>(x, y)</c>, clipped into the arena, for tests and custom starts; counts as a reset, so
    /// <see cref="Step"/> may follow. The random stream is untouched.
    /// </summary>
    /// <param name="x">Start x.</param>
    /// <param name="y">Start y.</param>
    /// <param name="observation">Receives the observation; length 2.</param>
    /// <exception cref="ArgumentException"><paramref name="observation"/> does not have length 2.</exception>
    public void SetState(double x, double y, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 2);
        _x = Math.Clamp(x, -ArenaHalfWidth, ArenaHalfWidth);
        _y = Math.Clamp(y, -ArenaHalfWidth, ArenaHalfWidth);
        _ready = true;
        _reached = -1;
        Observe(observation);
    }

    /// <inheritdoc/>
    public void Reset(ulong? seed, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, 2);
        _rng.Begin(seed);
        // p0 = mu + sigma N(0, I) with mu = 0 (reference reset), the normals by Box-Muller from two stream uniforms.
        double u1 = _rng.Uniform(0.0, 1.0), u2 = _rng.Uniform(0.0, 1.0);
        var (n1, n2) = Philox.BoxMuller((float)u1, (float)u2);
        _x = Math.Clamp(InitialSigma * n1, -ArenaHalfWidth, ArenaHalfWidth);
        _y = Math.Clamp(InitialSigma * n2, -ArenaHalfWidth, ArenaHalfWidth);
        _ready = true;
        _reached = -1;
        Observe(observation);
    }

    /// <inheritdoc/>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvironmentChecks.Action(Id, action, 2);
        EnvironmentChecks.Observation(Id, observation, 2);
        EnvironmentChecks.WasReset(Id, _ready);

        double ax = Math.Clamp((double)action[0], -1.0, 1.0);
        double ay = Math.Clamp((double)action[1], -1.0, 1.0);
        // Point dynamics: p' = clip(p + a, arena) (no dynamics noise in the reference).
        _x = Math.Clamp(_x + ax, -ArenaHalfWidth, ArenaHalfWidth);
        _y = Math.Clamp(_y + ay, -ArenaHalfWidth, ArenaHalfWidth);

        int nearest = 0;
        double best = double.PositiveInfinity;
        for (int g = 0; g < GoalXs.Length; g++)
        {
            double dx = _x - GoalXs[g], dy = _y - GoalYs[g];
            double d2 = dx * dx + dy * dy;
            if (d2 < best)
            {
                best = d2;
                nearest = g;
            }
        }
        bool terminated = Math.Sqrt(best) < GoalThreshold;
        _reached = terminated ? nearest : -1;
        // SQL MultiGoal reward: r = -c_a |a|^2 - c_d min_g |p' - g|^2, + goal reward on arrival.
        double reward = -ActuationCost * (ax * ax + ay * ay) - DistanceCost * best + (terminated ? GoalReward : 0.0);

        Observe(observation);
        return new StepResult((float)reward, terminated, Truncated: false);
    }

    void Observe(Span<float> observation)
    {
        observation[0] = (float)_x;
        observation[1] = (float)_y;
    }
}
