using System;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>Humanoid-v4</c> and <c>Humanoid-v5</c>: a 3-D humanoid of 17 actuated joints walks forward with
/// torques in <c>[-0.4, 0.4]</c>.
/// </summary>
/// <remarks>
/// <para>
/// <c>Humanoid-v4</c>. Model <c>humanoid</c> (timestep 0.003), frame skip 5, so <c>dt = 0.015</c>. Observation (376):
/// <c>qpos[2:]</c> (22), <c>qvel</c> (23), <c>cinert</c> (14 x 10), <c>cvel</c> (14 x 6), <c>qfrc_actuator</c> (23)
/// and <c>cfrc_ext</c> (14 x 6), the world body included. Reward: <c>1.25 x_velocity + 5 - 0.1 sum(ctrl^2)</c>, with
/// the velocity of the mass-weighted centre of the bodies' centres of mass (v4 has no contact cost). Healthy, strict:
/// <c>1 &lt; z &lt; 2</c>; unhealthy terminates. Reset noise 0.01, uniform on positions and velocities.
/// </para>
/// <para>
/// <c>Humanoid-v5</c> (Gymnasium's <c>humanoid_v5.py</c> defaults): the same model, frame skip, health rule, reset and
/// forward velocity. Observation (348): <c>qpos[2:]</c> (22), <c>qvel</c> (23), <c>cinert</c> (13 x 10), <c>cvel</c>
/// (13 x 6), <c>qfrc_actuator[6:]</c> (17) and <c>cfrc_ext</c> (13 x 6): the world body's rows and the free joint's
/// actuator forces (always 0) dropped. Reward:
/// <c>1.25 x_velocity + healthy - 0.1 sum(ctrl^2) - min(5e-7 sum(cfrc_ext^2), 10)</c>, where the healthy reward 5 is
/// paid only while healthy (0 on the step that terminates).
/// </para>
/// </remarks>
public sealed class Humanoid : MuJoCoEnvironment
{
    /// <summary>The v4 id.</summary>
    public const string EnvironmentId = "Humanoid-v4";

    /// <summary>The v5 id: world-body rows dropped from the observation, contact cost restored, healthy reward only while healthy.</summary>
    public const string V5EnvironmentId = "Humanoid-v5";

    const double ForwardRewardWeight = 1.25, ControlCostWeight = 0.1, HealthyReward = 5.0, MinZ = 1.0, MaxZ = 2.0;

    // v5: contact_cost_weight 5e-7, the cost clipped to contact_cost_range (-inf, 10) (v4 has no contact cost).
    const double ContactCostWeight = 5e-7, MaxContactCost = 10.0;

    const int V4ObservationDimension = 376, V5ObservationDimension = 348;

    readonly double[] _mass;
    readonly double _totalMass;
    readonly bool _v5;

    /// <summary>Makes the environment (<c>Humanoid-v4</c>).</summary>
    public Humanoid() : this(EnvironmentId) { }

    /// <summary>Makes the environment under <paramref name="id"/>, <c>Humanoid-v4</c> or <c>Humanoid-v5</c>.</summary>
    /// <param name="id">The version.</param>
    /// <exception cref="ArgumentException"><paramref name="id"/> is neither.</exception>
    public Humanoid(string id)
        : base(id, "humanoid", 5, IsV5(id) ? V5ObservationDimension : V4ObservationDimension, 1e-2, VelocityResetNoise.Uniform)
    {
        _v5 = IsV5(id);
        _mass = Simulation.Model.BodyMass.ToArray();
        foreach (var m in _mass) _totalMass += m;
    }

    static bool IsV5(string id) => id switch
    {
        EnvironmentId => false,
        V5EnvironmentId => true,
        _ => throw new ArgumentException($"Humanoid has the ids {EnvironmentId} and {V5EnvironmentId}, not '{id}'.", nameof(id)),
    };

    /// <summary>Gymnasium's <c>mass_center</c>: <c>sum(mass_i xipos_i) / sum(mass_i)</c>, (x, y).</summary>
    /// <returns>The centre of mass's x and y.</returns>
    protected override (double X, double Y) ForwardPosition()
    {
        var xipos = Simulation.BodyCenterOfMass;
        double x = 0, y = 0;
        for (int b = 0; b < _mass.Length; b++)
        {
            x += _mass[b] * xipos[3 * b];
            y += _mass[b] * xipos[3 * b + 1];
        }
        return (x / _totalMass, y / _totalMass);
    }

    /// <inheritdoc/>
    protected override LocomotionReward Reward(double xVelocity, double yVelocity)
    {
        if (!_v5) return new(ForwardRewardWeight * xVelocity, HealthyReward, ControlCost(ControlCostWeight), 0, xVelocity, yVelocity);
        // v5: healthy_reward = is_healthy * 5 (v4 paid it on the terminating step too).
        double healthy = IsHealthy() ? HealthyReward : 0;
        double sum = 0;
        foreach (var f in Simulation.ExternalForce) sum += f * f;
        double contact = Math.Min(ContactCostWeight * sum, MaxContactCost);
        return new(ForwardRewardWeight * xVelocity, healthy, ControlCost(ControlCostWeight), contact, xVelocity, yVelocity);
    }

    /// <summary>Gymnasium's <c>is_healthy</c>: <c>1 &lt; z &lt; 2</c>, strict.</summary>
    /// <returns>Whether the humanoid is healthy.</returns>
    public override bool IsHealthy()
    {
        double z = Simulation.Position[2];
        return MinZ < z && z < MaxZ;
    }

    /// <inheritdoc/>
    protected override void Observe(Span<float> observation)
    {
        // v5 drops the world body's rows of cinert, cvel and cfrc_ext and the free joint's 6 qfrc_actuator entries.
        int body = _v5 ? 1 : 0, dof = _v5 ? 6 : 0;
        int at = Write(Simulation.Position, 2, observation, 0);
        at = Write(Simulation.Velocity, 0, observation, at);
        at = Write(Simulation.ComInertia, 10 * body, observation, at);
        at = Write(Simulation.ComVelocity, 6 * body, observation, at);
        at = Write(Simulation.ActuatorForce, dof, observation, at);
        Write(Simulation.ExternalForce, 6 * body, observation, at);
    }
}
