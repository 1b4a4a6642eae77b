using System;
using System.Collections.Generic;
using Sac.Core.Compute;

namespace Sac.Core.Config;

/// <summary>Which member of the DQN family to run (seed 004: Q-learning, DQN, Double DQN, then soft).</summary>
public enum DqnVariant
{
    /// <summary>
    /// DQN (Mnih et al. 2015): target <c>y = r + gamma (1 - terminated) max_a' Q_target(s', a')</c>, epsilon-greedy
    /// exploration. What SB3's <c>DQN</c> implements.
    /// </summary>
    Dqn,

    /// <summary>
    /// Double DQN (van Hasselt et al. 2016): the online network picks <c>a* = argmax_a' Q(s', a')</c> and the target
    /// network evaluates it, <c>y = r + gamma (1 - terminated) Q_target(s', a*)</c>; never above the DQN target for the
    /// same networks. Epsilon-greedy exploration.
    /// </summary>
    DoubleDqn,

    /// <summary>
    /// Soft DQN (soft Q-learning over a discrete action set, Haarnoja et al. 2017): the soft value
    /// <c>V(s') = alpha logsumexp(Q_target(s', .) / alpha)</c> replaces the max, and the behaviour policy is the
    /// Boltzmann policy <c>softmax(Q(s, .) / alpha)</c> instead of epsilon-greedy. Temperature <see cref="DqnConfig.Temperature"/>.
    /// </summary>
    SoftDqn,
}

/// <summary>The regression loss on the TD error <c>d = Q(s, a) - y</c>.</summary>
public enum TdLoss
{
    /// <summary>
    /// Huber loss with threshold 1 (PyTorch's <c>smooth_l1_loss</c>, what SB3's DQN uses): <c>0.5 d^2</c> for
    /// <c>|d| &lt; 1</c>, <c>|d| - 0.5</c> otherwise, so its gradient is <c>clamp(d, -1, 1)</c>.
    /// </summary>
    Huber,

    /// <summary>Half the squared error, <c>0.5 d^2</c>, with gradient <c>d</c>.</summary>
    Squared,
}

/// <summary>
/// Every hyperparameter of DQN, Double DQN and soft DQN, with RL Baselines3 Zoo's <c>CartPole-v1</c> DQN entry as the
/// defaults (<c>hyperparams/dqn.yml</c>: learning rate 2.3e-3, batch 64, buffer 100k, learning starts 1000, gamma
/// 0.99, target update interval 10, train frequency 256, gradient steps 128, exploration fraction 0.16, final
/// epsilon 0.04, net_arch [256, 256], 5e4 timesteps) and SB3's <c>DQN</c> defaults elsewhere (initial epsilon 1,
/// gradient-norm clipping at 10, Huber loss, hard target copies with tau 1). Each property is checked when it is set (by an
/// object initializer or a <c>with</c> expression), and a bad value throws <see cref="ArgumentException"/> naming the
/// property. Rules between properties are reported by <see cref="Validate"/>, and <see cref="ThrowIfInvalid"/> throws on them.
/// </summary>
/// <remarks>Records compare by value, <see cref="HiddenSizes"/> included.</remarks>
public sealed record DqnConfig : IOffPolicyConfig
{
    /// <summary>Which algorithm to run; a defined <see cref="DqnVariant"/>. Default <see cref="DqnVariant.Dqn"/>, what SB3 implements.</summary>
    public DqnVariant Variant { get; init => field = ConfigChecks.Defined(value, nameof(Variant)); } = DqnVariant.Dqn;

    /// <summary>Adam step size of the Q-network; finite and greater than zero. RL Zoo CartPole-v1: 2.3e-3 (SB3 default 1e-4).</summary>
    public float LearningRate { get; init => field = ConfigChecks.PositiveFinite(value, nameof(LearningRate)); } = 2.3e-3f;

    /// <summary>Replay buffer capacity in transitions; at least 1. RL Zoo CartPole-v1: 100_000.</summary>
    public int BufferSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(BufferSize)); } = 100_000;

    /// <summary>Transitions per minibatch, sampled uniformly with replacement; at least 1 and at most <see cref="BufferSize"/>. RL Zoo CartPole-v1: 64.</summary>
    public int BatchSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(BatchSize)); } = 64;

    /// <summary>Environment steps taken with uniformly random actions, and without updates, before learning starts; zero or more. RL Zoo CartPole-v1: 1000.</summary>
    public int LearningStarts { get; init => field = ConfigChecks.AtLeast(value, 0, nameof(LearningStarts)); } = 1000;

    /// <summary>Discount factor <c>gamma</c>; in <c>[0, 1]</c>. RL Zoo CartPole-v1: 0.99.</summary>
    public float Gamma { get; init => field = ConfigChecks.UnitClosed(value, nameof(Gamma)); } = 0.99f;

    /// <summary>
    /// Environment steps between hard copies of the online network into the target network (<c>tau = 1</c>), counted
    /// in environment steps as SB3 counts <c>target_update_interval</c> (its <c>_on_step</c> runs once per step, whether
    /// or not a training phase follows); at least 1. RL Zoo CartPole-v1: 10. With train frequency 256 this means the
    /// target is the online network as it was at the end of the previous training phase, so each phase adds one Bellman
    /// backup: after <c>k</c> phases Q is near <c>(1 - gamma^k) / (1 - gamma)</c>, about 85 of CartPole's 100 at 50k
    /// steps (k = 192), and still rising when the run ends.
    /// </summary>
    public int TargetUpdateInterval { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(TargetUpdateInterval)); } = 10;

    /// <summary>
    /// Polyak coefficient of the target update every <see cref="TargetUpdateInterval"/> steps,
    /// <c>target = tau * online + (1 - tau) * target</c>; in <c>(0, 1]</c>. SB3 default: 1, a hard copy (<c>tau</c>).
    /// </summary>
    public float Tau { get; init => field = ConfigChecks.UnitLeftOpen(value, nameof(Tau)); } = 1f;

    /// <summary>Environment steps between training phases; at least 1. RL Zoo CartPole-v1: 256 (SB3 default 4).</summary>
    public int TrainFrequency { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(TrainFrequency)); } = 256;

    /// <summary>Gradient steps per training phase; at least 1, or -1 for as many as the environment steps collected in the phase (SB3's -1). RL Zoo CartPole-v1: 128 (SB3 default 1).</summary>
    public int GradientSteps { get; init => field = ConfigChecks.GradientSteps(value, nameof(GradientSteps)); } = 128;

    /// <summary>
    /// Fraction of <see cref="TotalTimesteps"/> over which epsilon falls linearly from
    /// <see cref="ExplorationInitialEps"/> to <see cref="ExplorationFinalEps"/> (SB3's <c>get_linear_fn</c>); in
    /// <c>[0, 1]</c>, 0 meaning the final epsilon from the start. RL Zoo CartPole-v1: 0.16 (SB3 default 0.1).
    /// Used by <see cref="DqnVariant.Dqn"/> and <see cref="DqnVariant.DoubleDqn"/>.
    /// </summary>
    public float ExplorationFraction { get; init => field = ConfigChecks.UnitClosed(value, nameof(ExplorationFraction)); } = 0.16f;

    /// <summary>Epsilon at step 0; in <c>[0, 1]</c>. SB3 default: 1.0 (<c>exploration_initial_eps</c>).</summary>
    public float ExplorationInitialEps { get; init => field = ConfigChecks.UnitClosed(value, nameof(ExplorationInitialEps)); } = 1.0f;

    /// <summary>Epsilon once the schedule has run out; in <c>[0, 1]</c>. RL Zoo CartPole-v1: 0.04 (SB3 default 0.05).</summary>
    public float ExplorationFinalEps { get; init => field = ConfigChecks.UnitClosed(value, nameof(ExplorationFinalEps)); } = 0.04f;

    /// <summary>
    /// The run length the exploration schedule is laid out over (SB3's <c>total_timesteps</c> given to <c>learn</c>):
    /// epsilon reaches its final value at step <c>ExplorationFraction * TotalTimesteps</c>; at least 1. A trainer runs
    /// as many steps as it is asked to; set this to the same number. RL Zoo CartPole-v1: 50_000 (<c>n_timesteps: 5e4</c>).
    /// </summary>
    public long TotalTimesteps { get; init => field = PositiveSteps(value, nameof(TotalTimesteps)); } = 50_000;

    /// <summary>
    /// The nonlinearity after every hidden layer of the Q-network (its output layer stays linear):
    /// <see cref="Compute.Activation.Relu"/>, <see cref="Compute.Activation.Tanh"/>, <see cref="Compute.Activation.Elu"/>
    /// or <see cref="Compute.Activation.LeakyRelu"/>. Default ReLU (SB3's <c>activation_fn</c>). In JSON,
    /// <c>"activation"</c> takes the name in any case (<c>"ELU"</c>, <c>"LeakyReLU"</c>).
    /// </summary>
    public Activation Activation { get; init => field = ConfigChecks.HiddenActivation(value, nameof(Activation)); } = Activation.Relu;

    /// <summary>
    /// Hidden layer widths of the Q-network (each followed by <see cref="Activation"/>; the output layer is linear with
    /// one unit per action); non-empty, each at least 1. RL Zoo CartPole-v1: [256, 256] (SB3 default [64, 64]). Copied when set and compared by contents.
    /// </summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = new SizeList([256, 256]);

    /// <summary>
    /// The gradient is clipped to this global L2 norm before each Adam step; finite and greater than zero, or
    /// <see langword="null"/> for no clipping. SB3 default: 10 (<c>max_grad_norm</c>).
    /// </summary>
    public float? MaxGradNorm { get; init => field = ConfigChecks.OptionalPositiveFinite(value, nameof(MaxGradNorm)); } = 10f;

    /// <summary>The loss on the TD error; a defined <see cref="Config.TdLoss"/>. SB3 default: <see cref="TdLoss.Huber"/> (<c>smooth_l1_loss</c>).</summary>
    public TdLoss Loss { get; init => field = ConfigChecks.Defined(value, nameof(Loss)); } = TdLoss.Huber;

    /// <summary>
    /// The temperature <c>alpha</c> of <see cref="DqnVariant.SoftDqn"/>: the soft value is
    /// <c>alpha logsumexp(Q / alpha)</c>, within <c>[max Q, max Q + alpha log |A|]</c>, and the behaviour policy is
    /// <c>softmax(Q / alpha)</c>; finite and greater than zero. Ignored by the other variants. Default 0.01: CartPole's
    /// returns put Q near <c>1 / (1 - gamma) = 100</c>, and the gaps between the two actions' values there are of order
    /// 0.01 to 1, so alpha 0.01 keeps an entropy bonus (at most <c>alpha log 2 / (1 - gamma) ≈ 0.7</c> in value) that
    /// does not blur the greedy choice while the Boltzmann policy still explores where the actions are nearly tied.
    /// Tuned on CartPole-v1 with the other defaults, 50k steps, 5 seeds, 20 greedy episodes every 5000 steps: alpha
    /// 0.003, 0.01, 0.03 and 0.1 reached a mean return of 475 on 5, 5, 4 and 5 seeds, and 0.01 ended best (4 of 5
    /// final evaluations at 500).
    /// </summary>
    public float Temperature { get; init => field = ConfigChecks.PositiveFinite(value, nameof(Temperature)); } = 0.01f;

    /// <summary>Environment steps between greedy evaluations; zero turns periodic evaluation off. Default 5000.</summary>
    public int EvalInterval { get; init => field = ConfigChecks.AtLeast(value, 0, nameof(EvalInterval)); } = 5000;

    /// <summary>Episodes per evaluation; at least 1. Default 10.</summary>
    public int EvalEpisodes { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(EvalEpisodes)); } = 10;

    /// <summary>How every optimizer's learning rate changes over a run (Stable-Baselines3's schedules): constant, or
    /// linear to zero at the run's last step; a defined <see cref="Config.LearningRateSchedule"/> value.</summary>
    public LearningRateSchedule LearningRateSchedule { get; init => field = ConfigChecks.Defined(value, nameof(LearningRateSchedule)); } = LearningRateSchedule.Constant;

    /// <summary>The seed every random stream of a run is derived from. Any value; default 0.</summary>
    public ulong Seed { get; init; }

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
    /// Every problem with this configuration at once, each message naming its property; empty when valid. Includes
    /// the per-property rules (rechecked, so the list is complete on its own) and <see cref="BatchSize"/> &lt;=
    /// <see cref="BufferSize"/>.
    /// </summary>
    /// <returns>One message per problem, in property order.</returns>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        void Add(string? problem)
        {
            if (problem is not null) problems.Add(problem);
        }

        Add(ConfigChecks.DefinedProblem(Variant, nameof(Variant)));
        Add(ConfigChecks.PositiveFiniteProblem(LearningRate, nameof(LearningRate)));
        Add(ConfigChecks.AtLeastProblem(BufferSize, 1, nameof(BufferSize)));
        Add(ConfigChecks.AtLeastProblem(BatchSize, 1, nameof(BatchSize)));
        if (BatchSize > BufferSize)
            Add($"{nameof(BatchSize)} ({BatchSize}) must not exceed {nameof(BufferSize)} ({BufferSize}).");
        Add(ConfigChecks.AtLeastProblem(LearningStarts, 0, nameof(LearningStarts)));
        Add(ConfigChecks.UnitClosedProblem(Gamma, nameof(Gamma)));
        Add(ConfigChecks.AtLeastProblem(TargetUpdateInterval, 1, nameof(TargetUpdateInterval)));
        Add(ConfigChecks.UnitLeftOpenProblem(Tau, nameof(Tau)));
        Add(ConfigChecks.AtLeastProblem(TrainFrequency, 1, nameof(TrainFrequency)));
        Add(ConfigChecks.GradientStepsProblem(GradientSteps, nameof(GradientSteps)));
        Add(ConfigChecks.UnitClosedProblem(ExplorationFraction, nameof(ExplorationFraction)));
        Add(ConfigChecks.UnitClosedProblem(ExplorationInitialEps, nameof(ExplorationInitialEps)));
        Add(ConfigChecks.UnitClosedProblem(ExplorationFinalEps, nameof(ExplorationFinalEps)));
        Add(PositiveStepsProblem(TotalTimesteps, nameof(TotalTimesteps)));
        Add(ConfigChecks.SizesProblem(HiddenSizes, nameof(HiddenSizes)));
        Add(ConfigChecks.HiddenActivationProblem(Activation, nameof(Activation)));
        if (MaxGradNorm is float maxNorm) Add(ConfigChecks.PositiveFiniteProblem(maxNorm, nameof(MaxGradNorm)));
        Add(ConfigChecks.DefinedProblem(Loss, nameof(Loss)));
        Add(ConfigChecks.PositiveFiniteProblem(Temperature, nameof(Temperature)));
        Add(ConfigChecks.AtLeastProblem(EvalInterval, 0, nameof(EvalInterval)));
        Add(ConfigChecks.AtLeastProblem(EvalEpisodes, 1, nameof(EvalEpisodes)));
        Add(ConfigChecks.DefinedProblem(LearningRateSchedule, nameof(LearningRateSchedule)));
        Add(ConfigChecks.AtLeastProblem(NEnvs, 1, nameof(NEnvs)));
        if (Normalize is not null) problems.AddRange(Normalize.Validate(nameof(Normalize)));
        return problems;
    }

    /// <summary>Returns this configuration when <see cref="Validate"/> finds nothing; otherwise throws listing every problem.</summary>
    /// <returns>This instance.</returns>
    /// <exception cref="ArgumentException">At least one problem; the message lists them all, one per line.</exception>
    public DqnConfig ThrowIfInvalid()
    {
        IReadOnlyList<string> problems = Validate();
        if (problems.Count > 0)
            throw new ArgumentException(
                $"Invalid DqnConfig ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}):{Environment.NewLine}  "
                + string.Join(Environment.NewLine + "  ", problems));
        return this;
    }

    static string? PositiveStepsProblem(long value, string name) =>
        value >= 1 ? null : $"{name} must be at least 1, got {value}.";

    static long PositiveSteps(long value, string name) =>
        PositiveStepsProblem(value, name) is string problem ? throw new ArgumentException(problem, name) : value;
}
