using System;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>Humanoid-v4</c>: a 3-D humanoid of 17 actuated joints walks forward with torques in
/// <c>[-0.4, 0.4]</c>.
/// </summary>
/// <remarks>
/// Model <c>humanoid</c> (timestep 0.003), frame skip 5, so <c>dt = 0.015</c>. Observation (376): <c>qpos[2:]</c> (22),
/// <c>qvel</c> (23), <c>cinert</c> (14 x 10), <c>cvel</c> (14 x 6), <c>qfrc_actuator</c> (23) and <c>cfrc_ext</c>
/// (14 x 6), the world body included. Reward: <c>1.25 x_velocity + 5 - 0.1 sum(ctrl^2)</c>, with the velocity of the
/// mass-weighted centre of the bodies' centres of mass (v4 has no contact cost). Healthy, strict: <c>1 &lt; z &lt; 2</c>;
/// unhealthy terminates. Reset noise 0.01, uniform on positions and velocities.
/// </remarks>
public sealed class Humanoid : MuJoCoEnvironment
{
    /// <summary>The registered id.</summary>
    public const string EnvironmentId = "Humanoid-v4";

    const double ForwardRewardWeight = 1.25, ControlCostWeight = 0.1, HealthyReward = 5.0, MinZ = 1.0, MaxZ = 2.0;

    readonly double[] _mass;
    readonly double _totalMass;

    /// <summary>Makes the environment.</summary>
    public Humanoid() : base(EnvironmentId, "humanoid", 5, 376, 1e-2, VelocityResetNoise.Uniform)
    {
        _mass = Simulation.Model.BodyMass.ToArray();
        foreach (var m in _mass) _totalMass += m;
    }

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
    protected override LocomotionReward Reward(double xVelocity, double yVelocity) =>
        new(ForwardRewardWeight * xVelocity, HealthyReward, ControlCost(ControlCostWeight), 0, xVelocity, yVelocity);

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
        int at = Write(Simulation.Position, 2, observation, 0);
        at = Write(Simulation.Velocity, 0, observation, at);
        at = Write(Simulation.ComInertia, 0, observation, at);
        at = Write(Simulation.ComVelocity, 0, observation, at);
        at = Write(Simulation.ActuatorForce, 0, observation, at);
        Write(Simulation.ExternalForce, 0, observation, at);
    }
}
