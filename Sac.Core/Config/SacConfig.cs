using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Linq;
using Sac.Core.Compute;

namespace Sac.Core.Config;

/// <summary>How the actor's raw log-standard-deviation output is kept in <c>[LogStdMin, LogStdMax]</c>.</summary>
public enum LogStdBound
{
    /// <summary>
    /// Clamp: <c>log_std = clamp(x, LogStdMin, LogStdMax)</c>, with the bounds <c>[-20, 2]</c> of SB3 and the SAC
    /// authors' code. Outside the bounds the gradient is zero.
    /// </summary>
    Clamp,

    /// <summary>
    /// Smooth rescale: <c>log_std = LogStdMin + 0.5 * (LogStdMax - LogStdMin) * (tanh(x) + 1)</c>, as in Spinning Up
    /// and CleanRL, which use it with the tighter bounds <c>[-5, 2]</c> (set <see cref="SacConfig.LogStdMin"/> to -5).
    /// The gradient never vanishes completely.
    /// </summary>
    TanhRescale,
}

/// <summary>Which Soft Actor-Critic algorithm to run.</summary>
public enum SacVariant
{
    /// <summary>
    /// SAC v2 (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"): twin soft Q-functions with
    /// Polyak-averaged target Q-networks; the soft value is estimated from Q and the policy. What SB3 implements.
    /// </summary>
    V2,

    /// <summary>
    /// SAC v1 (Haarnoja et al. 2018, "Soft Actor-Critic: Off-Policy Maximum Entropy Deep RL with a Stochastic
    /// Actor"): a separate state-value network <c>V_psi</c> with a Polyak-averaged target <c>V_psi'</c> that the
    /// Q-targets bootstrap from.
    /// </summary>
    V1,
}

/// <summary>
/// Every hyperparameter of Soft Actor-Critic, with the defaults of Stable-Baselines3's <c>SAC</c> where SB3 has one.
/// Each property is checked when it is set (by an object initializer or a <c>with</c> expression), and a bad value
/// throws <see cref="ArgumentException"/> naming the property. Rules that involve two properties (such as
/// <see cref="BatchSize"/> &lt;= <see cref="BufferSize"/>) cannot be checked in a setter, because an initializer sets
/// properties one at a time; <see cref="Validate"/> reports them, and <see cref="ThrowIfInvalid"/> throws on them.
/// </summary>
/// <remarks>
/// SB3 uses one <c>learning_rate</c> for actor, critic and temperature; here each has its own property, all with
/// SB3's 3e-4. Records compare by value, <see cref="HiddenSizes"/> included.
/// </remarks>
public sealed record SacConfig : IOffPolicyConfig
{
    /// <summary>Adam step size of the actor (policy) network; finite and greater than zero. SB3 default: 3e-4 (<c>learning_rate</c>).</summary>
    public float ActorLearningRate { get; init => field = ConfigChecks.PositiveFinite(value, nameof(ActorLearningRate)); } = 3e-4f;

    /// <summary>Adam step size of the Q-networks (and of V in <see cref="SacVariant.V1"/>); finite and greater than zero. SB3 default: 3e-4 (<c>learning_rate</c>).</summary>
    public float CriticLearningRate { get; init => field = ConfigChecks.PositiveFinite(value, nameof(CriticLearningRate)); } = 3e-4f;

    /// <summary>Adam step size of <c>log alpha</c> when <see cref="AutoAlpha"/> is on; finite and greater than zero. SB3 default: 3e-4 (<c>learning_rate</c>).</summary>
    public float AlphaLearningRate { get; init => field = ConfigChecks.PositiveFinite(value, nameof(AlphaLearningRate)); } = 3e-4f;

    /// <summary>Replay buffer capacity in transitions; at least 1. SB3 default: 1_000_000 (<c>buffer_size</c>).</summary>
    public int BufferSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(BufferSize)); } = 1_000_000;

    /// <summary>Transitions per minibatch, sampled uniformly with replacement; at least 1 and at most <see cref="BufferSize"/>. SB3 default: 256 (<c>batch_size</c>).</summary>
    public int BatchSize { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(BatchSize)); } = 256;

    /// <summary>Polyak coefficient of the target networks, <c>target = tau * online + (1 - tau) * target</c>; in <c>(0, 1]</c> (1 is a hard copy). SB3 default: 0.005 (<c>tau</c>).</summary>
    public float Tau { get; init => field = ConfigChecks.UnitLeftOpen(value, nameof(Tau)); } = 0.005f;

    /// <summary>Discount factor <c>gamma</c> of the soft Bellman target; in <c>[0, 1]</c>. SB3 default: 0.99 (<c>gamma</c>).</summary>
    public float Gamma { get; init => field = ConfigChecks.UnitClosed(value, nameof(Gamma)); } = 0.99f;

    /// <summary>
    /// Environment steps taken with uniformly random actions, and without gradient updates, before learning starts;
    /// zero or more. SB3 default: 100 (<c>learning_starts</c>). It may be below <see cref="BatchSize"/>, as in SB3:
    /// sampling is with replacement. That it is below the run's total steps is the training loop's check.
    /// </summary>
    public int LearningStarts { get; init => field = ConfigChecks.AtLeast(value, 0, nameof(LearningStarts)); } = 100;

    /// <summary>Environment steps between training phases; at least 1. SB3 default: 1 (<c>train_freq</c>, counted in steps; SB3's per-episode mode is not offered).</summary>
    public int TrainFrequency { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(TrainFrequency)); } = 1;

    /// <summary>Gradient steps per training phase; at least 1, or -1 for as many as the environment steps collected in the phase (TrainFrequency times the number of environments). SB3 default: 1 (<c>gradient_steps</c>).</summary>
    public int GradientSteps { get; init => field = ConfigChecks.GradientSteps(value, nameof(GradientSteps)); } = 1;

    /// <summary>Gradient steps between Polyak updates of the target networks; at least 1. SB3 default: 1 (<c>target_update_interval</c>).</summary>
    public int TargetUpdateInterval { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(TargetUpdateInterval)); } = 1;

    /// <summary>
    /// Hidden layer widths of every network (actor, Q-functions, and V in <see cref="SacVariant.V1"/>); non-empty,
    /// each at least 1. SB3 default: [256, 256] (<c>net_arch</c> for SAC). The list is copied when set, so changing
    /// the source afterwards changes nothing here, and compared by contents.
    /// </summary>
    public IReadOnlyList<int> HiddenSizes { get; init => field = ConfigChecks.Sizes(value, nameof(HiddenSizes)); }
        = new SizeList([256, 256]);

    /// <summary>The actor's own hidden layer widths, or null for <see cref="HiddenSizes"/> (SB3's <c>net_arch=dict(pi=...)</c>).</summary>
    public IReadOnlyList<int>? ActorHiddenSizes { get; init => field = ConfigChecks.OptionalSizes(value, nameof(ActorHiddenSizes)); }

    /// <summary>The Q-networks' (and V's) own hidden layer widths, or null for <see cref="HiddenSizes"/> (SB3's <c>net_arch=dict(qf=...)</c>).</summary>
    public IReadOnlyList<int>? CriticHiddenSizes { get; init => field = ConfigChecks.OptionalSizes(value, nameof(CriticHiddenSizes)); }

    /// <summary>
    /// The nonlinearity after every hidden layer of every network (actor, Q-functions, and V in
    /// <see cref="SacVariant.V1"/>; the output layers stay linear): <see cref="Compute.Activation.Relu"/>,
    /// <see cref="Compute.Activation.Tanh"/>, <see cref="Compute.Activation.Elu"/> or
    /// <see cref="Compute.Activation.LeakyRelu"/>. SB3 default: ReLU (<c>activation_fn</c>, one for actor and critics).
    /// In JSON, <c>"activation"</c> takes the name in any case (<c>"ELU"</c>, <c>"LeakyReLU"</c>).
    /// </summary>
    public Activation Activation { get; init => field = ConfigChecks.HiddenActivation(value, nameof(Activation)); } = Activation.Relu;

    /// <summary>The actor's hidden layer widths in effect: <see cref="ActorHiddenSizes"/>, else <see cref="HiddenSizes"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> ResolvedActorHiddenSizes => ActorHiddenSizes ?? HiddenSizes;

    /// <summary>The critics' (and V's) hidden layer widths in effect: <see cref="CriticHiddenSizes"/>, else <see cref="HiddenSizes"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> ResolvedCriticHiddenSizes => CriticHiddenSizes ?? HiddenSizes;

    /// <summary>
    /// Entropy target of the temperature loss <c>-log_alpha * (log pi + target_entropy)</c>; finite when set.
    /// <see langword="null"/> means <c>-|A|</c>, minus the action dimension (see <see cref="ResolvedTargetEntropy"/>).
    /// SB3 default: <c>"auto"</c>, which is <c>-prod(action_shape)</c>. Used only when <see cref="AutoAlpha"/> is on.
    /// </summary>
    public float? TargetEntropy { get; init => field = ConfigChecks.OptionalFinite(value, nameof(TargetEntropy)); }

    /// <summary>
    /// The temperature <c>alpha</c> at the start (<c>log alpha = ln InitialAlpha</c>); finite and greater than zero.
    /// SB3 default: 1.0 (<c>ent_coef="auto"</c> starts at 1; <c>"auto_0.1"</c> would start at 0.1).
    /// </summary>
    public float InitialAlpha { get; init => field = ConfigChecks.PositiveFinite(value, nameof(InitialAlpha)); } = 1.0f;

    /// <summary>
    /// Tune <c>log alpha</c> by dual gradient descent toward <see cref="TargetEntropy"/>; when off, alpha stays at
    /// <see cref="InitialAlpha"/>. SB3 default: on (<c>ent_coef="auto"</c>; a numeric <c>ent_coef</c> is "off" with that alpha).
    /// </summary>
    public bool AutoAlpha { get; init; } = true;

    /// <summary>How the actor keeps its log-std in <c>[LogStdMin, LogStdMax]</c>; a defined <see cref="Config.LogStdBound"/> value. SB3 default: <see cref="LogStdBound.Clamp"/>.</summary>
    public LogStdBound LogStdBound { get; init => field = ConfigChecks.Defined(value, nameof(LogStdBound)); } = LogStdBound.Clamp;

    /// <summary>Lower bound of the actor's log-std; finite and below <see cref="LogStdMax"/>. SB3 default: -20 (<c>LOG_STD_MIN</c>); -5 is usual with <see cref="LogStdBound.TanhRescale"/>.</summary>
    public float LogStdMin { get; init => field = ConfigChecks.Finite(value, nameof(LogStdMin)); } = -20f;

    /// <summary>Upper bound of the actor's log-std; finite and above <see cref="LogStdMin"/>. SB3 default: 2 (<c>LOG_STD_MAX</c>).</summary>
    public float LogStdMax { get; init => field = ConfigChecks.Finite(value, nameof(LogStdMax)); } = 2f;

    /// <summary>
    /// Environment steps between evaluations of the deterministic policy; zero turns periodic evaluation off. Default
    /// 5000. SB3's <c>SAC</c> has no built-in evaluation; its <c>EvalCallback</c> defaults to <c>eval_freq=10000</c>.
    /// </summary>
    public int EvalInterval { get; init => field = ConfigChecks.AtLeast(value, 0, nameof(EvalInterval)); } = 5000;

    /// <summary>Episodes per evaluation; at least 1. Default 10. SB3's <c>EvalCallback</c> defaults to <c>n_eval_episodes=5</c>.</summary>
    public int EvalEpisodes { get; init => field = ConfigChecks.AtLeast(value, 1, nameof(EvalEpisodes)); } = 10;

    /// <summary>How every optimizer's learning rate changes over a run (Stable-Baselines3's schedules): constant, or
    /// linear to zero at the run's last step; a defined <see cref="Config.LearningRateSchedule"/> value.</summary>
    public LearningRateSchedule LearningRateSchedule { get; init => field = ConfigChecks.Defined(value, nameof(LearningRateSchedule)); } = LearningRateSchedule.Constant;

    /// <summary>
    /// The seed every random stream of a run is derived from (by <c>PhiloxKey.FromSeed</c> and splitting), so a run
    /// is reproducible from it. Any value. Default 0 (SB3's <c>seed</c> defaults to None, i.e. unseeded).
    /// </summary>
    public ulong Seed { get; init; }

    /// <summary>Which algorithm to run; a defined <see cref="SacVariant"/> value. Default <see cref="SacVariant.V2"/>, the only one SB3 implements.</summary>
    public SacVariant Variant { get; init => field = ConfigChecks.Defined(value, nameof(Variant)); } = SacVariant.V2;

    /// <summary>
    /// When set, every network's gradient is clipped to this global L2 norm before its Adam step; finite and greater
    /// than zero. <see langword="null"/> means no clipping. SB3 default: none (SB3's SAC does not clip).
    /// </summary>
    public float? MaxGradNorm { get; init => field = ConfigChecks.OptionalPositiveFinite(value, nameof(MaxGradNorm)); }

    /// <summary>
    /// Generalized State-Dependent Exploration (gSDE, Raffin et al. 2021) in place of the per-step Gaussian noise: the
    /// action noise is <c>phi(s) E</c>, the actor's last hidden features times a noise matrix <c>E</c> that is drawn
    /// again only at the start of each collection phase (and every <see cref="SdeSampleFrequency"/> steps), as SB3's
    /// <c>use_sde</c>. The actor's log-std is then a trained matrix (<see cref="LogStdInit"/>, <see cref="FullStd"/>)
    /// instead of a network output, and <see cref="LogStdBound"/> does not apply. SB3 default: off. Runs on the CPU
    /// only. The gSDE keys are written to JSON only when this is on.
    /// </summary>
    public bool UseSde { get; init; }

    /// <summary>
    /// With <see cref="UseSde"/>: environment steps between draws of the exploration matrix within a collection
    /// phase; -1 draws it only at the start of each phase (every <see cref="TrainFrequency"/> steps). -1 or at least
    /// 1. SB3 default: -1 (<c>sde_sample_freq</c>).
    /// </summary>
    public int SdeSampleFrequency { get; init => field = ConfigChecks.SampleFrequency(value, nameof(SdeSampleFrequency)); } = -1;

    /// <summary>With <see cref="UseSde"/>: the value every entry of the log-std matrix starts at; finite. SB3 default for gSDE: -3 (<c>log_std_init</c>).</summary>
    public float LogStdInit { get; init => field = ConfigChecks.Finite(value, nameof(LogStdInit)); } = -3f;

    /// <summary>With <see cref="UseSde"/>: one log-std per latent feature and action dimension (a latent x |A| matrix);
    /// false: one per latent feature, shared by every action dimension. SB3 default: true (<c>full_std</c>).</summary>
    public bool FullStd { get; init; } = true;

    /// <summary>With <see cref="UseSde"/>: std = exp(log_std) for log_std &lt;= 0 and log1p(log_std) + 1 above, which
    /// grows only logarithmically; false: std = exp(log_std). SB3 default: false (<c>use_expln</c>).</summary>
    public bool UseExpln { get; init; }

    /// <summary>
    /// With <see cref="UseSde"/>: let the actor loss's gradient reach the trunk through the latent features phi(s) in
    /// the noise phi(s) E and the variance phi(s)^2 std^2, as SB3's SAC actor does (its gSDE distribution is built with
    /// <c>learn_features=True</c>); false detaches phi there, so the trunk learns only through the mean (the default of
    /// SB3's on-policy algorithms). Default: true.
    /// </summary>
    public bool SdeLearnFeatures { get; init; } = true;

    /// <summary>With <see cref="UseSde"/>: act with the gSDE policy during the <see cref="LearningStarts"/> warm-up instead of
    /// uniformly random actions. SB3 default: false (<c>use_sde_at_warmup</c>).</summary>
    public bool UseSdeAtWarmup { get; init; }

    /// <summary>The JSON names of the gSDE keys, written only when <see cref="UseSde"/> is on so that configurations
    /// without gSDE serialize as they did before the keys existed.</summary>
    internal static readonly string[] SdeKeys =
        [nameof(UseSde), nameof(SdeSampleFrequency), nameof(LogStdInit), nameof(FullStd), nameof(UseExpln), nameof(UseSdeAtWarmup), nameof(SdeLearnFeatures)];

    /// <summary>The entropy target actually used: <see cref="TargetEntropy"/> when set, otherwise <c>-actionSize</c> (<c>-|A|</c>).</summary>
    /// <param name="actionSize">The action dimension <c>|A|</c>; at least 1.</param>
    /// <returns>The target entropy.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="actionSize"/> is below 1.</exception>
    public float ResolvedTargetEntropy(int actionSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(actionSize);
        return TargetEntropy ?? -actionSize;
    }

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
    /// Every problem with this configuration at once, each message naming its property: the per-property rules (which
    /// the setters already enforce, rechecked so this list is complete on its own) and the rules between properties,
    /// which no setter can check. An empty list means the configuration is valid.
    /// </summary>
    /// <returns>One message per problem, in property order; empty when valid.</returns>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        void Add(string? problem)
        {
            if (problem is not null) problems.Add(problem);
        }

        Add(ConfigChecks.PositiveFiniteProblem(ActorLearningRate, nameof(ActorLearningRate)));
        Add(ConfigChecks.PositiveFiniteProblem(CriticLearningRate, nameof(CriticLearningRate)));
        Add(ConfigChecks.PositiveFiniteProblem(AlphaLearningRate, nameof(AlphaLearningRate)));
        Add(ConfigChecks.AtLeastProblem(BufferSize, 1, nameof(BufferSize)));
        Add(ConfigChecks.AtLeastProblem(BatchSize, 1, nameof(BatchSize)));
        if (BatchSize > BufferSize)
            Add($"{nameof(BatchSize)} ({BatchSize}) must not exceed {nameof(BufferSize)} ({BufferSize}).");
        Add(ConfigChecks.UnitLeftOpenProblem(Tau, nameof(Tau)));
        Add(ConfigChecks.UnitClosedProblem(Gamma, nameof(Gamma)));
        Add(ConfigChecks.AtLeastProblem(LearningStarts, 0, nameof(LearningStarts)));
        Add(ConfigChecks.AtLeastProblem(TrainFrequency, 1, nameof(TrainFrequency)));
        Add(ConfigChecks.GradientStepsProblem(GradientSteps, nameof(GradientSteps)));
        Add(ConfigChecks.AtLeastProblem(TargetUpdateInterval, 1, nameof(TargetUpdateInterval)));
        Add(ConfigChecks.SizesProblem(HiddenSizes, nameof(HiddenSizes)));
        if (ActorHiddenSizes is not null) Add(ConfigChecks.SizesProblem(ActorHiddenSizes, nameof(ActorHiddenSizes)));
        if (CriticHiddenSizes is not null) Add(ConfigChecks.SizesProblem(CriticHiddenSizes, nameof(CriticHiddenSizes)));
        Add(ConfigChecks.HiddenActivationProblem(Activation, nameof(Activation)));
        if (TargetEntropy is float target) Add(ConfigChecks.FiniteProblem(target, nameof(TargetEntropy)));
        Add(ConfigChecks.PositiveFiniteProblem(InitialAlpha, nameof(InitialAlpha)));
        Add(ConfigChecks.DefinedProblem(LogStdBound, nameof(LogStdBound)));
        Add(ConfigChecks.FiniteProblem(LogStdMin, nameof(LogStdMin)));
        Add(ConfigChecks.FiniteProblem(LogStdMax, nameof(LogStdMax)));
        if (!(LogStdMin < LogStdMax))
            Add($"{nameof(LogStdMin)} ({LogStdMin}) must be below {nameof(LogStdMax)} ({LogStdMax}).");
        Add(ConfigChecks.AtLeastProblem(EvalInterval, 0, nameof(EvalInterval)));
        Add(ConfigChecks.AtLeastProblem(EvalEpisodes, 1, nameof(EvalEpisodes)));
        Add(ConfigChecks.DefinedProblem(LearningRateSchedule, nameof(LearningRateSchedule)));
        Add(ConfigChecks.DefinedProblem(Variant, nameof(Variant)));
        if (MaxGradNorm is float maxNorm) Add(ConfigChecks.PositiveFiniteProblem(maxNorm, nameof(MaxGradNorm)));
        Add(ConfigChecks.SampleFrequencyProblem(SdeSampleFrequency, nameof(SdeSampleFrequency)));
        Add(ConfigChecks.FiniteProblem(LogStdInit, nameof(LogStdInit)));
        Add(ConfigChecks.AtLeastProblem(NEnvs, 1, nameof(NEnvs)));
        if (Normalize is not null) problems.AddRange(Normalize.Validate(nameof(Normalize)));
        return problems;
    }

    /// <summary>Returns this configuration when <see cref="Validate"/> finds nothing; otherwise throws listing every problem.</summary>
    /// <returns>This instance, so a call can end an initializer expression.</returns>
    /// <exception cref="ArgumentException">At least one problem; the message lists them all, one per line.</exception>
    public SacConfig ThrowIfInvalid()
    {
        IReadOnlyList<string> problems = Validate();
        if (problems.Count > 0)
            throw new ArgumentException(
                $"Invalid SacConfig ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}):{Environment.NewLine}  "
                + string.Join(Environment.NewLine + "  ", problems));
        return this;
    }
}

/// <summary>An immutable list of layer widths with value equality, so two configurations with equal sizes are equal records.</summary>
internal sealed class SizeList(int[] sizes) : ReadOnlyCollection<int>(sizes), IEquatable<SizeList>
{
    public bool Equals(SizeList? other) =>
        other is not null && this.SequenceEqual(other);

    public override bool Equals(object? obj) => obj is SizeList other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int size in this) hash.Add(size);
        return hash.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(", ", this) + "]";
}

/// <summary>The configuration rules, each as a non-throwing "problem" form (for Validate) and a throwing form (for setters).</summary>
internal static class ConfigChecks
{
    static T Throw<T>(string? problem, T value, string name) =>
        problem is null ? value : throw new ArgumentException(problem, name);

    internal static string? PositiveFiniteProblem(float value, string name) =>
        // !(x > 0) also rejects NaN, which compares false to everything.
        !(value > 0f) || !float.IsFinite(value) ? $"{name} must be finite and greater than zero, got {value}." : null;

    internal static float PositiveFinite(float value, string name) => Throw(PositiveFiniteProblem(value, name), value, name);

    internal static float? OptionalPositiveFinite(float? value, string name) =>
        value is float v ? PositiveFinite(v, name) : null;

    internal static string? FiniteProblem(float value, string name) =>
        float.IsFinite(value) ? null : $"{name} must be finite, got {value}.";

    internal static float Finite(float value, string name) => Throw(FiniteProblem(value, name), value, name);

    internal static float? OptionalFinite(float? value, string name) => value is float v ? Finite(v, name) : null;

    internal static string? UnitLeftOpenProblem(float value, string name) =>
        value > 0f && value <= 1f ? null : $"{name} must lie in (0, 1], got {value}.";

    internal static float UnitLeftOpen(float value, string name) => Throw(UnitLeftOpenProblem(value, name), value, name);

    internal static string? UnitClosedProblem(float value, string name) =>
        value >= 0f && value <= 1f ? null : $"{name} must lie in [0, 1], got {value}.";

    internal static float UnitClosed(float value, string name) => Throw(UnitClosedProblem(value, name), value, name);

    internal static string? AtLeastProblem(int value, int min, string name) =>
        value >= min ? null : $"{name} must be at least {min}, got {value}.";

    internal static int AtLeast(int value, int min, string name) => Throw(AtLeastProblem(value, min, name), value, name);

    internal static string? SampleFrequencyProblem(int value, string name) =>
        value == -1 || value >= 1 ? null : $"{name} must be -1 (draw only at the start of each collection phase) or at least 1, got {value}.";

    internal static int SampleFrequency(int value, string name) => Throw(SampleFrequencyProblem(value, name), value, name);

    internal static string? GradientStepsProblem(int value, string name) =>
        value == -1 || value >= 1 ? null : $"{name} must be -1 (as many as the environment steps of the phase) or at least 1, got {value}.";

    internal static int GradientSteps(int value, string name) => Throw(GradientStepsProblem(value, name), value, name);

    internal static string? DefinedProblem<TEnum>(TEnum value, string name) where TEnum : struct, Enum =>
        // An out-of-range integer cast to the enum (easy from F# or JSON) would otherwise fall through every switch.
        Enum.IsDefined(value) ? null : $"{name} must be one of {string.Join(", ", Enum.GetNames<TEnum>())}, got {value}.";

    internal static TEnum Defined<TEnum>(TEnum value, string name) where TEnum : struct, Enum =>
        Throw(DefinedProblem(value, name), value, name);

    /// <summary>The activations a configuration may put after its hidden layers (identity would make the network linear).</summary>
    internal static readonly Activation[] HiddenActivations = [Activation.Relu, Activation.Tanh, Activation.Elu, Activation.LeakyRelu];

    internal static string? HiddenActivationProblem(Activation value, string name) =>
        Array.IndexOf(HiddenActivations, value) >= 0
            ? null
            : $"{name} must be one of {string.Join(", ", HiddenActivations)} (any case, such as \"ELU\" or \"LeakyReLU\"), got {(Enum.IsDefined(value) ? value.ToString() : ((int)value).ToString(System.Globalization.CultureInfo.InvariantCulture))}.";

    internal static Activation HiddenActivation(Activation value, string name) => Throw(HiddenActivationProblem(value, name), value, name);

    internal static string? SizesProblem(IReadOnlyList<int>? sizes, string name)
    {
        if (sizes is null) return $"{name} must not be null.";
        if (sizes.Count == 0) return $"{name} must list at least one hidden layer.";
        for (int i = 0; i < sizes.Count; i++)
            if (sizes[i] < 1) return $"{name}[{i}] must be at least 1, got {sizes[i]}.";
        return null;
    }

    internal static IReadOnlyList<int>? OptionalSizes(IReadOnlyList<int>? sizes, string name) =>
        sizes is null ? null : Sizes(sizes, name);

    internal static IReadOnlyList<int> Sizes(IReadOnlyList<int>? sizes, string name)
    {
        if (sizes is null) throw new ArgumentNullException(name, $"{name} must not be null.");
        Throw(SizesProblem(sizes, name), sizes, name);
        // Copy, so a caller's list cannot change a record after validation, and so equality is by contents.
        var copy = new int[sizes.Count];
        for (int i = 0; i < copy.Length; i++) copy[i] = sizes[i];
        return new SizeList(copy);
    }
}
