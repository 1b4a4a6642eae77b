using System;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>Ant-v4</c>: a four-legged robot on a free joint walks forward with 8 torques in <c>[-1, 1]</c>.
/// </summary>
/// <remarks>
/// Model <c>ant</c> (timestep 0.01), frame skip 5, so <c>dt = 0.05</c>. Observation (27): <c>qpos[2:]</c> then
/// <c>qvel</c> (v4's default leaves out the contact forces). Reward: <c>x_velocity + 1 - 0.5 sum(a^2)</c>, the velocity
/// from the torso's body frame position (x, y). Healthy, with inclusive bounds: every element of <c>(qpos, qvel)</c>
/// finite and <c>0.2 &lt;= z &lt;= 1</c>; unhealthy terminates. Reset noise 0.1: uniform on positions, normal on
/// velocities.
/// </remarks>
public sealed class Ant : MuJoCoEnvironment
{
    /// <summary>The registered id.</summary>
    public const string EnvironmentId = "Ant-v4";

    const double ControlCostWeight = 0.5, HealthyReward = 1.0, MinZ = 0.2, MaxZ = 1.0;

    readonly int _torso;

    /// <summary>Makes the environment.</summary>
    public Ant() : base(EnvironmentId, "ant", 5, 27, 0.1, VelocityResetNoise.Normal) => _torso = Simulation.Model.BodyId("torso");

    /// <inheritdoc/>
    protected override (double X, double Y) ForwardPosition()
    {
        var xpos = Simulation.BodyPosition;
        return (xpos[3 * _torso], xpos[3 * _torso + 1]);
    }

    /// <inheritdoc/>
    protected override LocomotionReward Reward(double xVelocity, double yVelocity) =>
        new(xVelocity, HealthyReward, ControlCost(ControlCostWeight), 0, xVelocity, yVelocity);

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
        Write(Simulation.Velocity, 0, observation, at);
    }
}
