using System;
using Sac.Core.Config;

namespace Sac.Core.Runs;

/// <summary>
/// The full resolved configuration of a training run, as <c>sac train</c> writes it to <c>config.json</c> (see
/// <see cref="ConfigJson.SerializeRun"/>): what was run, on what, for how long, from which seed, where, and with
/// every hyperparameter. Every field is checked when it is set, and a bad value throws
/// <see cref="ArgumentException"/> naming the field.
/// </summary>
/// <param name="Algorithm">The algorithm, as given to <c>--algo</c> (such as <c>"sac"</c>); not blank.</param>
/// <param name="EnvironmentId">The environment, as given to <c>--env</c> (such as <c>"Pendulum-v1"</c>); not blank.</param>
/// <param name="Steps">Environment steps of the run; zero or more.</param>
/// <param name="Seed">The run's seed, as given to <c>--seed</c>.</param>
/// <param name="Device">Where the updates ran after <c>--device auto</c> was resolved (<c>"cpu"</c> or <c>"cuda"</c>); not blank.</param>
/// <param name="Config">Every hyperparameter, defaults filled in; not null.</param>
public sealed record RunInfo(string Algorithm, string EnvironmentId, long Steps, ulong Seed, string Device, SacConfig Config)
{
    /// <summary>The algorithm, as given to <c>--algo</c> (such as <c>"sac"</c>); not blank.</summary>
    public string Algorithm { get; init => field = NotBlank(value, nameof(Algorithm)); } = NotBlank(Algorithm, nameof(Algorithm));

    /// <summary>The environment, as given to <c>--env</c>; not blank.</summary>
    public string EnvironmentId { get; init => field = NotBlank(value, nameof(EnvironmentId)); } = NotBlank(EnvironmentId, nameof(EnvironmentId));

    /// <summary>Environment steps of the run; zero or more.</summary>
    public long Steps { get; init => field = NotNegative(value, nameof(Steps)); } = NotNegative(Steps, nameof(Steps));

    /// <summary>The run's seed, as given to <c>--seed</c>; any value.</summary>
    // Redeclared only to keep the JSON keys in parameter order (generated and declared properties would interleave).
    public ulong Seed { get; init; } = Seed;

    /// <summary>Where the updates ran (<c>"cpu"</c> or <c>"cuda"</c>); not blank.</summary>
    public string Device { get; init => field = NotBlank(value, nameof(Device)); } = NotBlank(Device, nameof(Device));

    /// <summary>
    /// The host's matrix-multiply provider the run started on, as <see cref="Sac.Core.Compute.GemmProvider.Describe"/>
    /// names it (<c>managed/avx512</c>, <c>openblas</c>, ...): a run is bitwise reproducible on the same provider, and
    /// rounds differently on another (a resume keeps this value and says when it continues on another provider). Null
    /// in files written before the key existed; written only when set.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Gemm { get; init; }

    /// <summary>Every hyperparameter of the run, defaults filled in; not null.</summary>
    public SacConfig Config { get; init => field = NotNull(value, nameof(Config)); } = NotNull(Config, nameof(Config));

    /// <summary>
    /// The length a resume extended the run to (<c>sac train --resume DIR --steps N</c>), or null when it still has
    /// the <see cref="Steps"/> it was started with; <see cref="Steps"/> itself stays the original request.
    /// </summary>
    public long? ExtendedTo { get; init => field = value is long v ? NotNegative(v, nameof(ExtendedTo)) : null; }

    /// <summary>The run's length now: <see cref="ExtendedTo"/> when a resume extended it, else <see cref="Steps"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long TotalSteps => ExtendedTo ?? Steps;

    static string NotBlank(string value, string name) =>
        string.IsNullOrWhiteSpace(value)
            ? throw new ArgumentException($"{name} must not be null or blank, got {(value is null ? "null" : $"'{value}'")}.", name)
            : value;

    static long NotNegative(long value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be zero or more, got {value}.", name);

    static SacConfig NotNull(SacConfig value, string name) =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null.");
}
