using System;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>Ant-v4</c> and <c>Ant-v5</c>: a four-legged robot on a free joint walks forward with 8 torques in
/// <c>[-1, 1]</c>.
/// </summary>
/// <remarks>
/// <para>
/// <c>Ant-v4</c>. Model <c>ant</c> (timestep 0.01), frame skip 5, so <c>dt = 0.05</c>. Observation (27):
/// <c>qpos[2:]</c> then <c>qvel</c> (v4's default leaves out the contact forces). Reward:
/// <c>x_velocity + 1 - 0.5 sum(a^2)</c>, the velocity from the torso's body frame position (x, y). Healthy, with
/// inclusive bounds: every element of <c>(qpos, qvel)</c> finite and <c>0.2 &lt;= z &lt;= 1</c>; unhealthy
/// terminates. Reset noise 0.1: uniform on positions, normal on velocities.
/// </para>
/// <para>
/// <c>Ant-v5</c> (Gymnasium's <c>ant_v5.py</c> defaults): the same model, frame skip, health rule, reset and forward
/// velocity. Observation (105): <c>qpos[2:]</c>, <c>qvel</c>, then <c>cfrc_ext</c> of the 13 bodies after the world
/// body, each component clipped to <c>[-1, 1]</c>. Reward:
/// <c>x_velocity + healthy - 0.5 sum(a^2) - 5e-4 sum(clip(cfrc_ext, -1, 1)^2)</c>, where the healthy reward 1 is paid
/// only while healthy (0 on the step that terminates).
/// </para>
/// </remarks>
public sealed class Ant : MuJoCoEnvironment
{
    /// <summary>The v4 id.</summary>
    public const string EnvironmentId = "Ant-v4";

    /// <summary>The v5 id: contact forces observed and costed, healthy reward only while healthy.</summary>
    public const string V5EnvironmentId = "Ant-v5";

    const double ControlCostWeight = 0.5, HealthyReward = 1.0, MinZ = 0.2, MaxZ = 1.0;

    // v5: contact_cost_weight 5e-4 on cfrc_ext clipped to contact_force_range (-1, 1) (v4's default has no contact cost).
    const double ContactCostWeight = 5e-4, ContactForceBound = 1.0;

    const int V4ObservationDimension = 27, V5ObservationDimension = 105;

    readonly int _torso;
    readonly bool _v5;

    /// <summary>Makes the environment (<c>Ant-v4</c>).</summary>
    public Ant() : this(EnvironmentId) { }

    /// <summary>Makes the environment under <paramref name="id"/>, <c>Ant-v4</c> or <c>Ant-v5</c>.</summary>
    /// <param name="id">The version.</param>
    /// <exception cref="ArgumentException"><paramref name="id"/> is neither.</exception>
    public Ant(string id)
        : base(id, "ant", 5, IsV5(id) ? V5ObservationDimension : V4ObservationDimension, 0.1, VelocityResetNoise.Normal)
    {
        _v5 = IsV5(id);
        _torso = Simulation.Model.BodyId("torso");
    }

    static bool IsV5(string id) => id switch
    {
        EnvironmentId => false,
        V5EnvironmentId => true,
        _ => throw new ArgumentException($"Ant has the ids {EnvironmentId} and {V5EnvironmentId}, not '{id}'.", nameof(id)),
    };

    /// <inheritdoc/>
    protected override (double X, double Y) ForwardPosition()
    {
        var xpos = Simulation.BodyPosition;
        return (xpos[3 * _torso], xpos[3 * _torso + 1]);
    }

    /// <inheritdoc/>
    protected override LocomotionReward Reward(double xVelocity, double yVelocity)
    {
        if (!_v5) return new(xVelocity, HealthyReward, ControlCost(ControlCostWeight), 0, xVelocity, yVelocity);
        // v5: healthy_reward = is_healthy * 1 (v4 paid it on the terminating step too).
        double healthy = IsHealthy() ? HealthyReward : 0;
        double contact = 0;
        foreach (var f in Simulation.ExternalForce)
        {
            double c = Math.Clamp(f, -ContactForceBound, ContactForceBound);
            contact += c * c;
        }
        return new(xVelocity, healthy, ControlCost(ControlCostWeight), ContactCostWeight * contact, xVelocity, yVelocity);
    }

    /// <summary>Gymnasium's <c>is_healthy</c>: the state is finite and <c>0.2 &lt;= z &lt;= 1</c> (inclusive).</summary>
    /// <returns>Whether the ant is healthy.</returns>
    public override bool IsHealthy()
    {
        var qpos = Simulation.Position;
        foreach (var q in qpos) if (!double.IsFinite(q)) return false;
        foreach (var v in Simulation.Velocity) if (!double.IsFinite(v)) return false;
        return MinZ <= qpos[2] && qpos[2] <= MaxZ;
    }

    /// <inheritdoc/>
    protected override void Observe(Span<float> observation)
    {
        int at = Write(Simulation.Position, 2, observation, 0);
        at = Write(Simulation.Velocity, 0, observation, at);
        // v5: include_cfrc_ext_in_observation, the world body's row dropped, clipped to (-1, 1) (v4: not observed).
        if (_v5) Write(Simulation.ExternalForce, 6, observation, at, ContactForceBound);
    }
}
