using System;
using System.Text.Json;
using Sac.Core.Config;

namespace Sac.Core.Data;

/// <summary>
/// Stable-Baselines3's VecNormalize for an off-policy run of <see cref="Environments"/> environments: running
/// statistics of the observations and of the discounted return, updated while training, and the normalisation they
/// define. The statistics move only through <see cref="ObserveReset"/> and <see cref="ObserveStep"/>; everything else
/// reads them, which is what "frozen" means at evaluation and prediction.
/// </summary>
/// <remarks>
/// SB3's order per vectorised step: the returns are <c>returns * gamma + reward</c>, their statistics take them, the
/// observation statistics take the observations the environments now show (the next episode's first ones where an
/// episode ended), and the returns of ended episodes restart at 0. The replay buffer stores raw transitions;
/// <see cref="NormalizeBatch"/> normalises a minibatch with the statistics of the moment it is drawn.
/// </remarks>
public sealed class VecNormalize
{
    /// <summary>The metadata key a checkpoint stores the statistics under.</summary>
    public const string MetadataKey = "normalization";

    readonly double[] returns;

    /// <summary>Fresh statistics for <paramref name="environments"/> environments of <paramref name="observationSize"/> values.</summary>
    /// <param name="settings">What to normalise and the clips (validated).</param>
    /// <param name="observationSize">Values per observation; at least 1.</param>
    /// <param name="environments">Environments stepped together; at least 1.</param>
    /// <param name="gamma">The discount of the returns whose spread scales rewards, in [0, 1].</param>
    /// <exception cref="ArgumentException">Invalid settings, size, count or gamma (the message names it).</exception>
    public VecNormalize(NormalizeSettings settings, int observationSize, int environments, double gamma)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var problems = settings.Validate("Normalize");
        if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems), nameof(settings));
        if (!(gamma >= 0 && gamma <= 1)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "gamma must lie in [0, 1].");
        Settings = settings;
        Gamma = gamma;
        Environments = DataChecks.Positive(environments, nameof(environments));
        ObservationStatistics = new RunningMeanStd(observationSize);
        ReturnStatistics = new RunningMeanStd(1);
        returns = new double[environments];
    }

    /// <summary>What is normalised, and the clips.</summary>
    public NormalizeSettings Settings { get; }

    /// <summary>The discount of the returns.</summary>
    public double Gamma { get; }

    /// <summary>Environments stepped together.</summary>
    public int Environments { get; }

    /// <summary>Values per observation.</summary>
    public int ObservationSize => ObservationStatistics.Size;

    /// <summary>The observations' running statistics.</summary>
    public RunningMeanStd ObservationStatistics { get; }

    /// <summary>The discounted returns' running statistics (one value).</summary>
    public RunningMeanStd ReturnStatistics { get; }

    /// <summary>Each environment's discounted return of its running episode.</summary>
    public ReadOnlySpan<double> Returns => returns;

    /// <summary>The environments were reset and show <paramref name="observations"/> (one row each): the observation
    /// statistics take them and every return restarts at 0.</summary>
    /// <param name="observations"><see cref="Environments"/> rows.</param>
    public void ObserveReset(ReadOnlySpan<float> observations)
    {
        if (Settings.Observations) ObservationStatistics.Update(observations, Environments);
        returns.AsSpan().Clear();
    }

    /// <summary>One vectorised step: the returns and their statistics take <paramref name="rewards"/>, the observation
    /// statistics take <paramref name="observations"/> (what the environments show after the step, a fresh episode's
    /// first observation where <paramref name="ended"/>), and ended episodes' returns restart at 0.</summary>
    /// <param name="observations"><see cref="Environments"/> rows.</param>
    /// <param name="rewards">One raw reward per environment.</param>
    /// <param name="ended">Per environment: its episode terminated or was truncated.</param>
    public void ObserveStep(ReadOnlySpan<float> observations, ReadOnlySpan<float> rewards, ReadOnlySpan<bool> ended)
    {
        if (rewards.Length != Environments || ended.Length != Environments)
            throw new ArgumentException($"Expected {Environments} rewards and end flags, got {rewards.Length} and {ended.Length}.");
        if (Settings.Observations) ObservationStatistics.Update(observations, Environments);
        for (int i = 0; i < Environments; i++) returns[i] = returns[i] * Gamma + rewards[i];
        ReturnStatistics.Update(returns, Environments);
        for (int i = 0; i < Environments; i++)
            if (ended[i]) returns[i] = 0.0;
    }

    /// <summary>Writes clip((raw - mean) / sqrt(var + eps), ±ClipObservations) of each row; a copy when observations
    /// are not normalised. <paramref name="raw"/> and <paramref name="normalized"/> may be the same span.</summary>
    /// <param name="raw">Rows of <see cref="ObservationSize"/> values.</param>
    /// <param name="normalized">As many values.</param>
    public void NormalizeObservations(ReadOnlySpan<float> raw, Span<float> normalized)
    {
        int n = ObservationSize;
        if (raw.Length % n != 0 || normalized.Length != raw.Length)
            throw new ArgumentException($"Expected whole rows of {n} values in and out, got {raw.Length} in and {normalized.Length} out.");
        if (!Settings.Observations)
        {
            raw.CopyTo(normalized);
            return;
        }
        ReadOnlySpan<double> mean = ObservationStatistics.Mean, variance = ObservationStatistics.Variance;
        double clip = Settings.ClipObservations;
        for (int k = 0; k < raw.Length; k++)
        {
            int j = k % n;
            normalized[k] = (float)Math.Clamp((raw[k] - mean[j]) / Math.Sqrt(variance[j] + NormalizeSettings.Epsilon), -clip, clip);
        }
    }

    /// <summary>clip(reward / sqrt(var of the return + eps), ±ClipRewards); the reward itself when rewards are not normalised.</summary>
    /// <param name="reward">A raw reward.</param>
    /// <returns>The reward the learner sees.</returns>
    public float NormalizeReward(float reward) =>
        Settings.Rewards
            ? (float)Math.Clamp(reward / Math.Sqrt(ReturnStatistics.Variance[0] + NormalizeSettings.Epsilon), -Settings.ClipRewards, Settings.ClipRewards)
            : reward;

    /// <summary>Normalises a minibatch of raw transitions in place: observations, next observations and rewards.</summary>
    /// <param name="batch">A batch sampled from a replay buffer of raw transitions.</param>
    public void NormalizeBatch(Batch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        NormalizeObservations(batch.Observations, batch.Observations);
        NormalizeObservations(batch.NextObservations, batch.NextObservations);
        if (Settings.Rewards)
            for (int j = 0; j < batch.Size; j++) batch.Rewards[j] = NormalizeReward(batch.Rewards[j]);
    }

    /// <summary>The settings, gamma and statistics as JSON (float64 values round-trip exactly), for a checkpoint's metadata.</summary>
    /// <returns>The JSON text <see cref="Restore"/> and <see cref="FromJson"/> read.</returns>
    public string ToJson() =>
        JsonSerializer.Serialize(new Snapshot(Settings, Gamma,
            ObservationStatistics.Mean.ToArray(), ObservationStatistics.Variance.ToArray(), ObservationStatistics.Count,
            ReturnStatistics.Mean[0], ReturnStatistics.Variance[0], ReturnStatistics.Count, (double[])returns.Clone()), SnapshotJson);

    /// <summary>The normaliser <see cref="ToJson"/> wrote, with its settings, gamma, environment count and statistics
    /// (to evaluate or export a checkpoint).</summary>
    /// <param name="json">The text.</param>
    /// <returns>A normaliser equal to the one saved.</returns>
    /// <exception cref="FormatException">The text is not such a snapshot, or its values do not fit (the message says which).</exception>
    public static VecNormalize FromJson(string json)
    {
        Snapshot s = Parse(json);
        VecNormalize n;
        try
        {
            n = new VecNormalize(s.Settings!, s.ObservationMean!.Length, Math.Max(1, s.Returns!.Length), s.Gamma);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"The normalisation settings are not valid: {e.Message}", e);
        }
        n.Set(s);
        return n;
    }

    /// <summary>Sets the statistics from <see cref="ToJson"/>'s text, written by a run of the same settings, gamma
    /// and environment count.</summary>
    /// <param name="json">The text.</param>
    /// <exception cref="FormatException">The text is not such a snapshot, its settings or gamma differ from these, or
    /// its sizes or values do not fit (the message says which).</exception>
    public void Restore(string json)
    {
        Snapshot s = Parse(json);
        if (s.Settings != Settings)
            throw new FormatException($"The checkpoint normalised with {s.Settings}; the configuration asks for {Settings}.");
        if (s.Gamma != Gamma)
            throw new FormatException($"The checkpoint's returns were discounted with gamma {s.Gamma}; the configuration's gamma is {Gamma}.");
        Set(s);
    }

    static Snapshot Parse(string json)
    {
        Snapshot? s;
        try
        {
            s = JsonSerializer.Deserialize<Snapshot>(json, SnapshotJson);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new FormatException($"The normalisation statistics are not valid: {e.Message}", e);
        }
        if (s is null || s.Settings is null || s.ObservationMean is null || s.ObservationVariance is null || s.Returns is null)
            throw new FormatException("The normalisation statistics lack a field (settings, observationMean, observationVariance and returns are required).");
        return s;
    }

    void Set(Snapshot s)
    {
        if (s.Returns!.Length != Environments)
            throw new FormatException($"The normalisation statistics hold {s.Returns.Length} running returns; this run steps {Environments} environment(s).");
        try
        {
            ObservationStatistics.Restore(s.ObservationMean!, s.ObservationVariance!, s.ObservationCount);
            ReturnStatistics.Restore([s.ReturnMean], [s.ReturnVariance], s.ReturnCount);
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"The normalisation statistics do not fit observations of {ObservationSize}: {e.Message}", e);
        }
        foreach (double r in s.Returns)
            if (!double.IsFinite(r)) throw new FormatException($"A running return is {r}; it must be finite.");
        s.Returns.CopyTo(returns, 0);
    }

    static readonly JsonSerializerOptions SnapshotJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    sealed record Snapshot(
        NormalizeSettings? Settings, double Gamma, double[]? ObservationMean, double[]? ObservationVariance, double ObservationCount,
        double ReturnMean, double ReturnVariance, double ReturnCount, double[]? Returns);
}
