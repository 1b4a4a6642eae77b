using System;
using System.Collections.Generic;
using Sac.Core.Compute;

namespace Sac.Core.Config;

/// <summary>
/// Every hyperparameter of Soft Q-Learning (Haarnoja et al. 2017), with the defaults of the authors' MultiGoal
/// experiment (<c>examples/multigoal_sql.py</c> of the reference implementation) unless a property says otherwise.
/// Each property is checked when it is set (by an object initializer or a <c>with</c> expression), and a bad value
/// throws <see cref="ArgumentException"/> naming the property. Rules between properties are reported by
/// <see cref="Validate"/>, and <see cref="ThrowIfInvalid"/> throws on them.
/// </summary>
/// <remarks>
/// <para>
/// The learner: a soft Q-network <c>Q(s, a)</c> on <c>[s, a]</c> with a target copy; the soft value of the next state
/// by importance sampling with <see cref="ValueParticles"/> uniform actions (SQL eq. 10); a sampling network
/// <c>a = f(xi; s)</c> (tanh output, so actions stay in <c>[-1, 1]^|A|</c>) trained by amortised SVGD with
/// <see cref="KernelParticles"/> particles per state, split into fixed and updated ones by
/// <see cref="KernelUpdateRatio"/> (SQL eqs. 13-14, appendix C). The policy IS the sampler.
/// </para>
/// <para>
/// The temperature enters twice, as in the reference: the rewards are multiplied by <see cref="RewardScale"/>, and the
/// energy is <c>Q / Alpha</c>. The reference keeps <c>Alpha = 1</c> and sets the temperature through the reward scale
/// (0.1 on MultiGoal, i.e. an effective temperature of 10 in reward units). Records compare by value, hidden sizes
/// included.
/// </para>
/// </remarks>
public sealed record SqlConfig : IOffPolicyConfig
{
    /// <summary>Adam step size of the Q-network; finite and greater than zero. Reference MultiGoal: 3e-4 (<c>qf_lr</c>).</summary>
    public float QLearningRate { get; init => field = ConfigChecks.PositiveFinite(value, nameof(QLearningRate)); } = 3e-4f;

    /// <summary>Adam step size of the sampling network; finite and greater than zero. Reference MultiGoal: 3e-4 (<c>policy_lr</c>).</summary>
    public float SamplerLearningRate { get; init => field = ConfigChecks.PositiveFinite(value, nameof(SamplerLearningRate)); } = 3e-4f;

    /// <summary>Replay buffer capacity in transitions; at least 1. Reference: 1_000_000 (<c>max_replay_buffer_size</c>).</summary>
    public int BufferSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(BufferSize)); } = 1_000_000;

    /// <summary>Transitions per minibatch, sampled uniformly with replacement; at least 1 and at most <see cref="BufferSize"/>. Reference MultiGoal: 64.</summary>
    public int BatchSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(BatchSize)); } = 64;

    /// <summary>Discount factor of the soft Bellman target; in <c>[0, 1]</c>. Reference: 0.99 (<c>discount</c>).</summary>
    public float Gamma { get; init => field = ConfigChecks.UnitClosed(value, nameof(Gamma)); } = 0.99f;

    /// <summary>
    /// The temperature <c>alpha</c> of the energy-based policy <c>pi(a|s) ∝ exp(Q(s, a) / alpha)</c>; finite and greater
    /// than zero. Reference: 1 (implicit; the temperature is set through <see cref="RewardScale"/>).
    /// </summary>
    public float Alpha { get; init => field = ConfigChecks.PositiveFinite(value, nameof(Alpha)); } = 1f;

    /// <summary>Factor applied to every reward in the Q-target; finite and greater than zero. Reference MultiGoal: 0.1 (<c>reward_scale</c>).</summary>
    public float RewardScale { get; init => field = ConfigChecks.PositiveFinite(value, nameof(RewardScale)); } = 0.1f;

    /// <summary>
    /// Weight of the online Q-network in the target update, <c>target = tau * online + (1 - tau) * target</c>; in
    /// <c>(0, 1]</c>. Default 1: the reference copies the online network into the target (a hard update).
    /// </summary>
    public float Tau { get; init => field = ConfigChecks.UnitLeftOpen(value, nameof(Tau)); } = 1f;

    /// <summary>Gradient steps between target updates; at least 1. Reference MultiGoal: 1000 (<c>td_target_update_interval</c>).</summary>
    public int TargetUpdateInterval { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(TargetUpdateInterval)); } = 1000;

    /// <summary>
    /// Uniform action samples per next state in the importance-sampled soft value (SQL eq. 10); at least 1.
    /// Reference MultiGoal: 16 (<c>value_n_particles</c>).
    /// </summary>
    public int ValueParticles { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(ValueParticles)); } = 16;

    /// <summary>SVGD particles per state, fixed and updated together; at least 2. Reference MultiGoal: 32 (<c>kernel_n_particles</c>).</summary>
    public int KernelParticles { get; init => field = ConfigChecks.AtLeast(value, 2, nameof(KernelParticles)); } = 32;

    /// <summary>
    /// Fraction of the SVGD particles that are updated (the rest are the fixed particles of the empirical expectation);
    /// in <c>(0, 1)</c>, and both parts must hold at least one particle. Reference: 0.5 (<c>kernel_update_ratio</c>).
    /// </summary>
    public float KernelUpdateRatio { get; init => field = OpenUnit(value, nameof(KernelUpdateRatio)); } = 0.5f;

    /// <summary>Smallest RBF kernel bandwidth <c>h</c>, guarding against collapsed particles; finite and greater than zero. Reference: 1e-3 (<c>h_min</c>).</summary>
    public float KernelMinBandwidth { get; init => field = ConfigChecks.PositiveFinite(value, nameof(KernelMinBandwidth)); } = 1e-3f;

    /// <summary>
    /// Add the tanh change-of-variables term <c>sum log(1 - a^2 + 1e-6)</c> to the SVGD target log-density
    /// <c>Q / alpha</c>, as the reference does; it keeps particles off the faces of the action box. Default on.
    /// </summary>
    public bool SquashCorrection { get; init; } = true;

    /// <summary>
    /// Environment steps taken with uniformly random actions, and without gradient updates, before learning starts;
    /// zero or more. Reference: 100 (<c>min_pool_size</c>; the reference acts with the untrained sampler meanwhile).
    /// </summary>
    public int LearningStarts { get; init => field = ConfigChecks.AtLeast(value, 0, nameof(LearningStarts)); } = 100;

    /// <summary>Environment steps between training phases; at least 1. Reference: 1.</summary>
    public int TrainFrequency { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(TrainFrequency)); } = 1;

    /// <summary>Gradient steps per training phase; at least 1, or -1 for as many as the environment steps collected in the phase. Reference: 1 (<c>n_train_repeat</c>).</summary>
    public int GradientSteps { get; init => field = ConfigChecks.GradientSteps(value, nameof(GradientSteps)); } = 1;

    /// <summary>
    /// The nonlinearity after every hidden layer of the Q-network and the sampler (their output layers keep their own:
    /// linear for Q, tanh for the sampler): <see cref="Compute.Activation.Relu"/>, <see cref="Compute.Activation.Tanh"/>,
    /// <see cref="Compute.Activation.Elu"/> or <see cref="Compute.Activation.LeakyRelu"/>. Default ReLU (the reference
    /// implementation's, and SB3's <c>activation_fn</c>). In JSON, <c>"activation"</c> takes the name in any case
    /// (<c>"ELU"</c>, <c>"LeakyReLU"</c>).
    /// </summary>
    public Activation Activation { get; init => field = ConfigChecks.HiddenActivation(value, nameof(Activation)); } = Activation.Relu;

    /// <summary>
    /// Hidden layer widths of the Q-network; non-empty, each at least 1. Reference MultiGoal: [128, 128]
    /// (the paper's other experiments use two layers of 100 or 200). Copied when set and compared by contents.
    /// </summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = new SizeList([128, 128]);

    /// <summary>Hidden layer widths of the sampling network <c>f(xi; s)</c>; non-empty, each at least 1. Reference MultiGoal: [128, 128].</summary>
    public IReadOnlyList<int> SamplerHiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(SamplerHiddenSizes)); }
        = new SizeList([128, 128]);

    /// <summary>
    /// Environment steps between evaluations of the (stochastic) sampling policy; zero turns periodic evaluation off.
    /// Default 1000. The reference evaluates after every epoch of 100 steps.
    /// </summary>
    public int EvalInterval { get; init => field = ConfigChecks.AtLeast(value, 0, nameof(EvalInterval)); } = 1000;

    /// <summary>Episodes per evaluation; at least 1. Reference: 10 (<c>eval_n_episodes</c>).</summary>
    public int EvalEpisodes { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(EvalEpisodes)); } = 10;

    /// <summary>How every optimizer's learning rate changes over a run (Stable-Baselines3's schedules): constant, or
    /// linear to zero at the run's last step; a defined <see cref="Config.LearningRateSchedule"/> value.</summary>
    public LearningRateSchedule LearningRateSchedule { get; init => field = ConfigChecks.Defined(value, nameof(LearningRateSchedule)); } = LearningRateSchedule.Constant;

    /// <summary>The seed every random stream of a run is derived from. Any value. Default 0.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// When set, each network's gradient is clipped to this global L2 norm before its Adam step; finite and greater
    /// than zero. <see langword="null"/> (the default, as the reference) means no clipping.
    /// </summary>
    public float? MaxGradNorm { get; init => field = ConfigChecks.OptionalPositiveFinite(value, nameof(MaxGradNorm)); }

    /// <summary>SVGD particles per state that are updated: <c>floor(KernelParticles * KernelUpdateRatio)</c>, as the reference rounds.</summary>
    public int UpdatedParticles => (int)(KernelParticles * KernelUpdateRatio);

    /// <summary>SVGD particles per state that are fixed (the expectation's samples): <c>KernelParticles - UpdatedParticles</c>.</summary>
    public int FixedParticles => KernelParticles - UpdatedParticles;

    /// <summary>
    /// Copies of the environment stepped together (Stable-Baselines3's and RL Zoo's <c>n_envs</c>; <c>--n-envs</c>);
    /// at least 1 (the default), written to JSON only above 1.
    /// </summary>
    public int NEnvs { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(NEnvs)); } = 1;

    /// <summary>
    /// Observation and reward normalisation with Stable-Baselines3's VecNormalize semantics (RL Zoo's <c>normalize</c>),
    /// or null (the default) for none; written to JSON only when set.
    /// </summary>
    public NormalizeSettings? Normalize { get; init; }

    /// <summary>
    /// Every problem with this configuration at once, each message naming its property: the per-property rules
    /// (rechecked, so the list is complete on its own) and the rules between properties. Empty when valid.
    /// </summary>
    /// <returns>One message per problem, in property order; empty when valid.</returns>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        void Add(string? problem)
        {
            if (problem is not null) problems.Add(problem);
        }

        Add(ConfigChecks.PositiveFiniteProblem(QLearningRate, nameof(QLearningRate)));
        Add(ConfigChecks.PositiveFiniteProblem(SamplerLearningRate, nameof(SamplerLearningRate)));
        Add(ConfigChecks.AtLeastProblem(BufferSize, 1, nameof(BufferSize)));
        Add(ConfigChecks.AtLeastProblem(BatchSize, 1, nameof(BatchSize)));
        if (BatchSize > BufferSize)
            Add($"{nameof(BatchSize)} ({BatchSize}) must not exceed {nameof(BufferSize)} ({BufferSize}).");
        Add(ConfigChecks.UnitClosedProblem(Gamma, nameof(Gamma)));
        Add(ConfigChecks.PositiveFiniteProblem(Alpha, nameof(Alpha)));
        Add(ConfigChecks.PositiveFiniteProblem(RewardScale, nameof(RewardScale)));
        Add(ConfigChecks.UnitLeftOpenProblem(Tau, nameof(Tau)));
        Add(ConfigChecks.AtLeastProblem(TargetUpdateInterval, 1, nameof(TargetUpdateInterval)));
        Add(ConfigChecks.AtLeastProblem(ValueParticles, 1, nameof(ValueParticles)));
        Add(ConfigChecks.AtLeastProblem(KernelParticles, 2, nameof(KernelParticles)));
        Add(OpenUnitProblem(KernelUpdateRatio, nameof(KernelUpdateRatio)));
        if (KernelParticles >= 2 && KernelUpdateRatio > 0f && KernelUpdateRatio < 1f && (UpdatedParticles < 1 || FixedParticles < 1))
            Add($"{nameof(KernelUpdateRatio)} ({KernelUpdateRatio}) of {nameof(KernelParticles)} ({KernelParticles}) leaves {UpdatedParticles} updated and {FixedParticles} fixed particles; each part needs at least one.");
        Add(ConfigChecks.PositiveFiniteProblem(KernelMinBandwidth, nameof(KernelMinBandwidth)));
        Add(ConfigChecks.AtLeastProblem(LearningStarts, 0, nameof(LearningStarts)));
        Add(ConfigChecks.AtLeastProblem(TrainFrequency, 1, nameof(TrainFrequency)));
        Add(ConfigChecks.GradientStepsProblem(GradientSteps, nameof(GradientSteps)));
        Add(ConfigChecks.SizesProblem(HiddenSizes, nameof(HiddenSizes)));
        Add(ConfigChecks.HiddenActivationProblem(Activation, nameof(Activation)));
        Add(ConfigChecks.SizesProblem(SamplerHiddenSizes, nameof(SamplerHiddenSizes)));
        Add(ConfigChecks.AtLeastProblem(EvalInterval, 0, nameof(EvalInterval)));
        Add(ConfigChecks.AtLeastProblem(EvalEpisodes, 1, nameof(EvalEpisodes)));
        Add(ConfigChecks.DefinedProblem(LearningRateSchedule, nameof(LearningRateSchedule)));
        if (MaxGradNorm is float maxNorm) Add(ConfigChecks.PositiveFiniteProblem(maxNorm, nameof(MaxGradNorm)));
        Add(ConfigChecks.AtLeastProblem(NEnvs, 1, nameof(NEnvs)));
        if (Normalize is not null) problems.AddRange(Normalize.Validate(nameof(Normalize)));
        return problems;
    }

    /// <summary>Returns this configuration when <see cref="Validate"/> finds nothing; otherwise throws listing every problem.</summary>
    /// <returns>This instance, so a call can end an initializer expression.</returns>
    /// <exception cref="ArgumentException">At least one problem; the message lists them all, one per line.</exception>
    public SqlConfig ThrowIfInvalid()
    {
        IReadOnlyList<string> problems = Validate();
        if (problems.Count > 0)
            throw new ArgumentException(
                $"Invalid SqlConfig ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}):{Environment.NewLine}  "
                + string.Join(Environment.NewLine + "  ", problems));
        return this;
    }

    static string? OpenUnitProblem(float value, string name) =>
        value > 0f && value < 1f ? null : $"{name} must lie in (0, 1), got {value}.";

    static float OpenUnit(float value, string name) =>
        OpenUnitProblem(value, name) is string problem ? throw new ArgumentException(problem, name) : value;
}
