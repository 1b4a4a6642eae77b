using System;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// The planar tasks (HalfCheetah, Hopper, Walker2d): the root slides along x (<c>qpos[0]</c>), whose change over
/// <c>dt</c> is the rewarded velocity; the observation is <c>qpos[1:]</c> then <c>qvel</c> (clipped for some tasks);
/// the reward is <c>forward_weight * x_velocity + healthy_reward - control_weight * sum(a^2)</c>.
/// </summary>
public abstract class PlanarLocomotion : MuJoCoEnvironment
{
    readonly double _forwardWeight, _controlWeight, _healthyReward, _velocityClip;

    /// <summary>Makes the task.</summary>
    /// <param name="id">The registered id.</param>
    /// <param name="modelName">The built-in model.</param>
    /// <param name="frameSkip">Timesteps per action.</param>
    /// <param name="observationDimension"><c>nq - 1 + nv</c>.</param>
    /// <param name="resetNoiseScale">Scale of the reset noise.</param>
    /// <param name="velocityNoise">Distribution of the velocity noise.</param>
    /// <param name="forwardWeight">Weight of the x velocity.</param>
    /// <param name="controlWeight">Weight of the control cost.</param>
    /// <param name="healthyReward">Bonus paid every step (0 for none).</param>
    /// <param name="velocityClip">Bound of the observed velocities, or infinity.</param>
    protected PlanarLocomotion(string id, string modelName, int frameSkip, int observationDimension, double resetNoiseScale,
        VelocityResetNoise velocityNoise, double forwardWeight, double controlWeight, double healthyReward, double velocityClip)
        : base(id, modelName, frameSkip, observationDimension, resetNoiseScale, velocityNoise)
    {
        _forwardWeight = forwardWeight;
        _controlWeight = controlWeight;
        _healthyReward = healthyReward;
        _velocityClip = velocityClip;
    }

    /// <inheritdoc/>
    protected sealed override (double X, double Y) ForwardPosition() => (Simulation.Position[0], 0);

    /// <inheritdoc/>
    protected sealed override LocomotionReward Reward(double xVelocity, double yVelocity) =>
        new(_forwardWeight * xVelocity, _healthyReward, ControlCost(_controlWeight), 0, xVelocity, 0);

    /// <inheritdoc/>
    protected sealed override void Observe(Span<float> observation)
    {
        int at = Write(Simulation.Position, 1, observation, 0);
        Write(Simulation.Velocity, 0, observation, at, _velocityClip);
    }
}
