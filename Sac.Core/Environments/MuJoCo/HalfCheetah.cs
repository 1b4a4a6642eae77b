namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// Gymnasium's <c>HalfCheetah-v4</c> (and <c>HalfCheetah-v5</c>, the same task): a planar cheetah of 9 joints runs
/// forward with 6 torques in <c>[-1, 1]</c>.
/// </summary>
/// <remarks>
/// Model <c>half_cheetah</c> (timestep 0.01), frame skip 5, so <c>dt = 0.05</c>. Observation (17): <c>qpos[1:]</c>
/// then <c>qvel</c>. Reward: <c>x_velocity - 0.1 sum(a^2)</c>, with <c>x_velocity</c> the change of <c>qpos[0]</c>
/// over <c>dt</c>. Never terminates. Reset noise 0.1: uniform on positions, normal on velocities.
/// </remarks>
public sealed class HalfCheetah : PlanarLocomotion
{
    /// <summary>The v4 id.</summary>
    public const string EnvironmentId = "HalfCheetah-v4";

    /// <summary>The v5 id: the same dynamics, reward and reset.</summary>
    public const string V5EnvironmentId = "HalfCheetah-v5";

    /// <summary>Makes the environment (<c>HalfCheetah-v4</c>).</summary>
    public HalfCheetah() : this(EnvironmentId) { }

    /// <summary>Makes the environment under <paramref name="id"/>, <c>HalfCheetah-v4</c> or <c>HalfCheetah-v5</c>.</summary>
    /// <param name="id">The id reported.</param>
    public HalfCheetah(string id)
        : base(id, "half_cheetah", 5, 17, 0.1, VelocityResetNoise.Normal, forwardWeight: 1.0, controlWeight: 0.1, healthyReward: 0, velocityClip: double.PositiveInfinity) { }

    /// <summary>Always true: HalfCheetah never terminates.</summary>
    /// <returns>True.</returns>
    public override bool IsHealthy() => true;
}
