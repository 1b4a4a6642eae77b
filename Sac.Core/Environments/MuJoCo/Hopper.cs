namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>Hopper-v4</c>: a planar one-legged robot (torso, thigh, leg, foot) hops forward with 3 torques in
/// <c>[-1, 1]</c>.
/// </summary>
/// <remarks>
/// Model <c>hopper</c> (timestep 0.002), frame skip 4, so <c>dt = 0.008</c>. Observation (11): <c>qpos[1:]</c> then
/// <c>clip(qvel, -10, 10)</c>. Reward: <c>x_velocity + 1 - 0.001 sum(a^2)</c> (the healthy bonus is paid on every
/// step, the terminating one included). Healthy, with strict bounds: <c>0.7 &lt; z</c>, <c>-0.2 &lt; angle &lt; 0.2</c>
/// and every element of <c>(qpos[2:], qvel)</c> inside <c>(-100, 100)</c>; unhealthy terminates. Reset noise 0.005,
/// uniform on positions and velocities.
/// </remarks>
public sealed class Hopper : PlanarLocomotion
{
    /// <summary>The registered id.</summary>
    public const string EnvironmentId = "Hopper-v4";

    const double MinZ = 0.7, MinAngle = -0.2, MaxAngle = 0.2, StateBound = 100.0;

    /// <summary>Makes the environment.</summary>
    public Hopper()
        : base(EnvironmentId, "hopper", 4, 11, 5e-3, VelocityResetNoise.Uniform, forwardWeight: 1.0, controlWeight: 1e-3, healthyReward: 1.0, velocityClip: 10.0) { }

    /// <summary>Gymnasium's <c>is_healthy</c>: <c>0.7 &lt; z</c>, <c>|angle| &lt; 0.2</c>, <c>|(qpos[2:], qvel)| &lt; 100</c>, all strict.</summary>
    /// <returns>Whether the hopper is healthy.</returns>
    public override bool IsHealthy()
    {
        var qpos = Simulation.Position;
        double z = qpos[1], angle = qpos[2];
        if (!(MinZ < z) || !(MinAngle < angle && angle < MaxAngle)) return false;
        for (int i = 2; i < qpos.Length; i++)
            if (!(-StateBound < qpos[i] && qpos[i] < StateBound)) return false;
        foreach (var v in Simulation.Velocity)
            if (!(-StateBound < v && v < StateBound)) return false;
        return true;
    }
}
