using Sac.Core.Optim;
using Sac.Core.Random;

namespace Sac.Core.Data;

/// <summary>
/// Everything a DQN-family learner (DQN, Double DQN, soft DQN) carries from one gradient step to the next: the online
/// and target Q-network parameters, the Adam state, the step count and the RNG key. Parameters are flat vectors in the
/// layout of <see cref="Sac.Core.Networks.MlpSpec"/> for the network <c>[observation, hidden..., |A|]</c>: one output
/// per action.
/// </summary>
/// <remarks>
/// A value type, so an update returns its successor without allocating. The arrays are the learner's buffers: an
/// update writes the new parameters and moments into them in place and returns the state that owns them, so a state
/// handed to an update must not be used afterwards (copy it with <see cref="DeepCopy"/> to keep a snapshot).
/// </remarks>
/// <param name="QNetwork">Online Q-network parameters <c>theta</c>: observation to one Q-value per action.</param>
/// <param name="TargetQNetwork">Target network parameters <c>theta^-</c>, a hard copy of <paramref name="QNetwork"/> taken every <c>TargetUpdateInterval</c> environment steps.</param>
/// <param name="Optimizer">Adam state of <paramref name="QNetwork"/>.</param>
/// <param name="Step">Gradient steps taken.</param>
/// <param name="Key">Root RNG key of the learner, derived from the run's seed.</param>
public readonly record struct DqnLearnerState(
    float[] QNetwork,
    float[] TargetQNetwork,
    AdamState Optimizer,
    long Step,
    PhiloxKey Key)
{
    /// <summary>The same arrays with the optimizer state one update step produced.</summary>
    /// <param name="optimizer">The Q-network's Adam state.</param>
    /// <returns>The state with <see cref="Optimizer"/> replaced.</returns>
    public DqnLearnerState WithOptimizer(AdamState optimizer) => this with { Optimizer = optimizer };

    /// <summary>The same state with another gradient-step count.</summary>
    /// <param name="step">Gradient steps taken.</param>
    /// <returns>The state with <see cref="Step"/> replaced.</returns>
    public DqnLearnerState WithStep(long step) => this with { Step = step };

    /// <summary>A deep copy: both parameter vectors and both moment arrays are duplicated.</summary>
    /// <returns>A state that shares no array with this one.</returns>
    public DqnLearnerState DeepCopy() => this with
    {
        QNetwork = (float[])QNetwork.Clone(),
        TargetQNetwork = (float[])TargetQNetwork.Clone(),
        Optimizer = Optimizer with
        {
            FirstMoment = (float[])Optimizer.FirstMoment.Clone(),
            SecondMoment = (float[])Optimizer.SecondMoment.Clone(),
        },
    };
}
