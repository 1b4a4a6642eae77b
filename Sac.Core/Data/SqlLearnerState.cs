using Sac.Core.Optim;
using Sac.Core.Random;

namespace Sac.Core.Data;

/// <summary>
/// Everything a Soft Q-Learning learner carries from one gradient step to the next: the soft Q-network and its
/// target, the SVGD sampling network, their Adam states, the step count and the RNG key. Parameters are flat vectors
/// in the layout of <see cref="Sac.Core.Networks.MlpSpec"/>.
/// </summary>
/// <remarks>
/// A value type, so an update returns its successor without allocating. As with <see cref="LearnerState"/>, the arrays
/// are the learner's buffers: an update writes into them in place and returns the state that owns them, so a state
/// handed to an update must not be used afterwards (copy it with <see cref="DeepCopy"/> to keep a snapshot).
/// </remarks>
/// <param name="Q">Soft Q-network parameters: <c>[observation, action]</c> to one value.</param>
/// <param name="TargetQ">The target copy of <paramref name="Q"/> the soft value of the next state is computed from.</param>
/// <param name="Sampler">Sampling network parameters: <c>[observation, noise]</c> to a tanh-squashed action.</param>
/// <param name="QOptimizer">Adam state of the Q-network.</param>
/// <param name="SamplerOptimizer">Adam state of the sampling network.</param>
/// <param name="Step">Gradient steps taken.</param>
/// <param name="Key">Root RNG key; each step derives its noise from it and <paramref name="Step"/>.</param>
public readonly record struct SqlLearnerState(
    float[] Q,
    float[] TargetQ,
    float[] Sampler,
    AdamState QOptimizer,
    AdamState SamplerOptimizer,
    long Step,
    PhiloxKey Key)
{
    /// <summary>The same arrays with the optimizer states one update step produced.</summary>
    /// <param name="q">The Q-network's Adam state.</param>
    /// <param name="sampler">The sampling network's Adam state.</param>
    /// <returns>The state with both optimizers replaced.</returns>
    public SqlLearnerState WithOptimizers(AdamState q, AdamState sampler) => this with { QOptimizer = q, SamplerOptimizer = sampler };

    /// <summary>The same state with another gradient-step count.</summary>
    /// <param name="step">Gradient steps taken.</param>
    /// <returns>The state with <see cref="Step"/> replaced.</returns>
    public SqlLearnerState WithStep(long step) => this with { Step = step };

    /// <summary>A deep copy: every parameter and moment array is duplicated.</summary>
    /// <returns>A state sharing no array with this one.</returns>
    public SqlLearnerState DeepCopy() => this with
    {
        Q = (float[])Q.Clone(),
        TargetQ = (float[])TargetQ.Clone(),
        Sampler = (float[])Sampler.Clone(),
        QOptimizer = CloneAdam(QOptimizer),
        SamplerOptimizer = CloneAdam(SamplerOptimizer),
    };

    static AdamState CloneAdam(AdamState s) =>
        new(s.Step, (float[])s.FirstMoment.Clone(), (float[])s.SecondMoment.Clone());
}
