using System.Text.Json.Nodes;

namespace Sac.Sweeps;

/// <summary>One configuration of a sweep: a label and the configuration keys it sets over the environment's preset.</summary>
/// <param name="Label">The name that identifies the configuration in run names, the summary and the plots.</param>
/// <param name="Overrides">The configuration keys as a JSON object, e.g. <c>{"tau":0.01}</c>; <c>{}</c> for the preset alone.</param>
public sealed record SweepConfiguration(string Label, string Overrides);

/// <summary>
/// A sweep: every environment, algorithm, configuration and seed combined, each combination one run of
/// <c>sac train</c> (see <see cref="SweepSpecReader"/> for the JSON it is read from).
/// </summary>
/// <param name="Name">The sweep's name (default: the spec file's name).</param>
/// <param name="Out">The sweep directory, on storage every silo reaches.</param>
/// <param name="Environments">Environment ids.</param>
/// <param name="Algorithms">Algorithm names (sac, sac-v1, sql, dqn, double-dqn, soft-dqn).</param>
/// <param name="Seeds">Training seeds.</param>
/// <param name="Steps">Environment steps of each run; null for the environment's default.</param>
/// <param name="CheckpointEvery">Steps between checkpoints; null for the default of <c>sac train</c>.</param>
/// <param name="Configurations">The configurations: the grid's combinations, the listed ones, or the preset alone.</param>
/// <param name="EvalEpisodes">Episodes of each run's final evaluation.</param>
/// <param name="EvalSeed">Seed of the first episode of each final evaluation.</param>
/// <param name="MaxAttempts">How many times a run may be started (its first start and each resume after its silo was lost).</param>
public sealed record SweepSpec(
    string Name,
    string Out,
    IReadOnlyList<string> Environments,
    IReadOnlyList<string> Algorithms,
    IReadOnlyList<ulong> Seeds,
    long? Steps,
    long? CheckpointEvery,
    IReadOnlyList<SweepConfiguration> Configurations,
    int EvalEpisodes,
    ulong EvalSeed,
    int MaxAttempts)
{
    /// <summary>The number of runs: environments x algorithms x configurations x seeds.</summary>
    public int RunCount => Environments.Count * Algorithms.Count * Configurations.Count * Seeds.Count;
}

/// <summary>A sweep specification with problems: every one of them, named.</summary>
public sealed class SweepSpecException : Exception
{
    /// <summary>Creates the error from its problems.</summary>
    /// <param name="problems">What is wrong, one entry per problem.</param>
    public SweepSpecException(IReadOnlyList<string> problems) : base(string.Join("; ", problems)) => Problems = problems;

    /// <summary>What is wrong, one entry per problem.</summary>
    public IReadOnlyList<string> Problems { get; }
}

/// <summary>What reading a specification gave: the spec (its readable parts, for further checks) and every problem.</summary>
/// <param name="Spec">The specification as far as it could be read (lists hold only their valid entries).</param>
/// <param name="Problems">Every problem found; empty for a valid specification.</param>
public sealed record SweepSpecReading(SweepSpec Spec, IReadOnlyList<string> Problems)
{
    /// <summary>The spec, or a <see cref="SweepSpecException"/> naming every problem.</summary>
    /// <returns>The valid specification.</returns>
    public SweepSpec OrThrow() => Problems.Count == 0 ? Spec : throw new SweepSpecException(Problems);

    /// <summary>This reading with more problems (found by checks the reader cannot make, such as unknown environments).</summary>
    /// <param name="more">The further problems.</param>
    /// <returns>The reading with every problem.</returns>
    public SweepSpecReading With(IEnumerable<string> more) => this with { Problems = [.. Problems, .. more] };
}
