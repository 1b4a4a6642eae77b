namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>Walker2d-v4</c>: a planar two-legged robot walks forward with 6 torques in <c>[-1, 1]</c>.
/// </summary>
/// <remarks>
/// Model <c>walker2d</c> (timestep 0.002), frame skip 4, so <c>dt = 0.008</c>. Observation (17): <c>qpos[1:]</c> then
/// <c>clip(qvel, -10, 10)</c>. Reward: <c>x_velocity + 1 - 0.001 sum(a^2)</c>. Healthy, with strict bounds:
/// <c>0.8 &lt; z &lt; 2</c> and <c>-1 &lt; angle &lt; 1</c>; unhealthy terminates. Reset noise 0.005, uniform on
/// positions and velocities.
/// </remarks>
public sealed class Walker2d : PlanarLocomotion
{
    /// <summary>The registered id.</summary>
    public const string EnvironmentId = "Walker2d-v4";

    const double MinZ = 0.8, MaxZ = 2.0, MinAngle = -1.0, MaxAngle = 1.0;

    /// <summary>Makes the environment.</summary>
    public Walker2d()
        : base(EnvironmentId, "walker2d", 4, 17, 5e-3, VelocityResetNoise.Uniform, forwardWeight: 1.0, controlWeight: 1e-3, healthyReward: 1.0, velocityClip: 10.0) { }

    /// <summary>Gymnasium's <c>is_healthy</c>: <c>0.8 &lt; z &lt; 2</c> and <c>-1 &lt; angle &lt; 1</c>, strict.</summary>
    /// <returns>Whether the walker is healthy.</returns>
    public override bool IsHealthy()
    {
        var qpos = Simulation.Position;
        double z = qpos[1], angle = qpos[2];
        return MinZ < z && z < MaxZ && MinAngle < angle && angle < MaxAngle;
    }
}
