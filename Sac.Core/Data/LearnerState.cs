using Sac.Core.Optim;
using Sac.Core.Random;

namespace Sac.Core.Data;

/// <summary>
/// Everything a SAC learner carries from one gradient step to the next: online and target parameters, optimizer
/// states, the temperature, the step count and the RNG key. Parameters are flat vectors in the layout of
/// <see cref="Sac.Core.Networks.MlpSpec"/>; the twin critics are one vector, Q1's parameters then Q2's.
/// </summary>
/// <remarks>
/// A value type, so an update returns its successor without allocating. The arrays are the learner's buffers:
/// an update writes the new parameters and moments into them in place and returns the state that owns them, so a
/// state handed to an update must not be used afterwards (copy it with <see cref="DeepCopy"/> to keep a snapshot).
/// </remarks>
/// <param name="Actor">Policy network parameters: observation to <c>[mean, log-std]</c>, 2·|A| outputs.</param>
/// <param name="Critic">Twin soft Q-network parameters, Q1 then Q2; input <c>[observation, action]</c>.</param>
/// <param name="TargetCritic">Polyak-averaged copy of <paramref name="Critic"/> (SAC v2); SAC v1 bootstraps from the target value network instead and leaves this at the critics' initial values.</param>
/// <param name="Value">SAC v1 state-value network V_psi; null for v2.</param>
/// <param name="TargetValue">SAC v1 target value network; null for v2.</param>
/// <param name="ActorOptimizer">Adam state of the actor.</param>
/// <param name="CriticOptimizer">Adam state of both critics (one optimizer over the joint vector, as SB3).</param>
/// <param name="AlphaOptimizer">Adam state of log alpha (one element).</param>
/// <param name="ValueOptimizer">Adam state of the v1 value network; null for v2.</param>
/// <param name="LogAlpha">Log of the entropy temperature alpha.</param>
/// <param name="Step">Gradient steps taken.</param>
/// <param name="Key">Root RNG key; each step derives its noise from it and <paramref name="Step"/>.</param>
public readonly record struct LearnerState(
    float[] Actor,
    float[] Critic,
    float[] TargetCritic,
    float[]? Value,
    float[]? TargetValue,
    AdamState ActorOptimizer,
    AdamState CriticOptimizer,
    AdamState AlphaOptimizer,
    AdamState? ValueOptimizer,
    float LogAlpha,
    long Step,
    PhiloxKey Key)
{
    /// <summary>The entropy temperature <c>exp(LogAlpha)</c>.</summary>
    public float Alpha => System.MathF.Exp(LogAlpha);

    /// <summary>A deep copy: every parameter and moment array is duplicated.</summary>
    public LearnerState DeepCopy() => this with
    {
        Actor = (float[])Actor.Clone(),
        Critic = (float[])Critic.Clone(),
        TargetCritic = (float[])TargetCritic.Clone(),
        Value = (float[]?)Value?.Clone(),
        TargetValue = (float[]?)TargetValue?.Clone(),
        ActorOptimizer = CloneAdam(ActorOptimizer),
        CriticOptimizer = CloneAdam(CriticOptimizer),
        AlphaOptimizer = CloneAdam(AlphaOptimizer),
        ValueOptimizer = ValueOptimizer is { } v ? CloneAdam(v) : null,
    };

    /// <summary>The same arrays with the optimizer states and temperature one update step produced.</summary>
    /// <param name="actor">The actor's Adam state.</param>
    /// <param name="critic">The critics' Adam state.</param>
    /// <param name="alpha">Log alpha's Adam state.</param>
    /// <param name="value">The v1 value network's Adam state (null for v2).</param>
    /// <param name="logAlpha">The log temperature.</param>
    /// <returns>The state with those fields replaced.</returns>
    public LearnerState WithOptimizers(AdamState actor, AdamState critic, AdamState alpha, AdamState? value, float logAlpha) =>
        this with { ActorOptimizer = actor, CriticOptimizer = critic, AlphaOptimizer = alpha, ValueOptimizer = value, LogAlpha = logAlpha };

    /// <summary>The same state with another gradient-step count.</summary>
    /// <param name="step">Gradient steps taken.</param>
    /// <returns>The state with <see cref="Step"/> replaced.</returns>
    public LearnerState WithStep(long step) => this with { Step = step };

    /// <summary>The same arrays with another temperature and step count (what a device learner reports after its
    /// updates, while the host holds only the actor current).</summary>
    /// <param name="logAlpha">The log temperature.</param>
    /// <param name="step">Gradient steps taken.</param>
    /// <returns>The state with those two fields replaced.</returns>
    public LearnerState WithProgress(float logAlpha, long step) => this with { LogAlpha = logAlpha, Step = step };

    static AdamState CloneAdam(AdamState s) =>
        new(s.Step, (float[])s.FirstMoment.Clone(), (float[])s.SecondMoment.Clone());
}
