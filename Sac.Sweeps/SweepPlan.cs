using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Sac.Sweeps;

/// <summary>The runs of a sweep and where each one lives in the sweep directory.</summary>
public static partial class SweepPlan
{
    /// <summary>The sub-directory of the sweep directory holding the run directories.</summary>
    public const string RunsFolder = "runs";

    /// <summary>The sub-directory holding each configuration's keys as a JSON file (the run's <c>--config</c>).</summary>
    public const string ConfigsFolder = "configs";

    /// <summary>The sub-directory holding each run's status file.</summary>
    public const string StatusFolder = "status";

    [GeneratedRegex("[^A-Za-z0-9._=-]")]
    private static partial Regex Unsafe();

    /// <summary>Every combination of the axes' values, the first axis varying slowest.</summary>
    /// <param name="axes">Each key with its values.</param>
    /// <returns>The combinations, each a (key, value) per axis in order.</returns>
    public static IEnumerable<IReadOnlyList<(string Key, JsonNode? Value)>> Product(IReadOnlyList<(string Key, JsonNode?[] Values)> axes)
    {
        IEnumerable<IReadOnlyList<(string, JsonNode?)>> combinations = [[]];
        foreach (var (key, values) in axes)
            combinations = combinations.SelectMany(c => values.Select(v => (IReadOnlyList<(string, JsonNode?)>)[.. c, (key, v)])).ToList();
        return combinations;
    }

    /// <summary>A value as it appears in a label: strings bare, everything else as compact JSON.</summary>
    /// <param name="value">The JSON value.</param>
    /// <returns>Its text.</returns>
    public static string Render(JsonNode? value) =>
        value is JsonValue s && s.TryGetValue(out string? text) ? text : value?.ToJsonString() ?? "null";

    /// <summary>A configuration label as a file or directory name (characters other than letters, digits, '.', '=', '_'
    /// and '-' become '_').</summary>
    /// <param name="label">The label.</param>
    /// <returns>The name.</returns>
    public static string FileName(string label) => Unsafe().Replace(label, "_");

    /// <summary>
    /// The runs of a sweep, in a fixed order (environment, algorithm, configuration, seed), each named
    /// <c>ENV_ALGO_CONFIG_sSEED</c> under <c>SWEEP/runs</c>.
    /// </summary>
    /// <param name="spec">A valid specification.</param>
    /// <param name="sweepDirectory">The sweep directory, absolute (every silo reaches it under the same path).</param>
    /// <returns>The runs.</returns>
    public static IReadOnlyList<RunOrder> Expand(SweepSpec spec, string sweepDirectory)
    {
        var names = ConfigurationFileNames(spec.Configurations);
        var runs = new List<RunOrder>();
        foreach (string env in spec.Environments)
            foreach (string algo in spec.Algorithms)
                for (int c = 0; c < spec.Configurations.Count; c++)
                    foreach (ulong seed in spec.Seeds)
                        runs.Add(new RunOrder(
                            $"{env}_{algo}_{names[c]}_s{seed}", sweepDirectory, env, algo, seed, spec.Steps,
                            spec.Configurations[c].Label, Path.Combine(sweepDirectory, ConfigsFolder, names[c] + ".json"),
                            spec.CheckpointEvery, spec.EvalEpisodes, spec.EvalSeed, spec.MaxAttempts));
        return runs;
    }

    /// <summary>The file name of each configuration (its label made safe; a clash takes the configuration's position).</summary>
    /// <param name="configurations">The configurations.</param>
    /// <returns>One distinct name per configuration.</returns>
    public static IReadOnlyList<string> ConfigurationFileNames(IReadOnlyList<SweepConfiguration> configurations)
    {
        var names = new List<string>();
        for (int i = 0; i < configurations.Count; i++)
        {
            string name = FileName(configurations[i].Label);
            names.Add(names.Contains(name) || name.Length > 120 ? $"config{i + 1}" : name);
        }
        return names;
    }

    /// <summary>Makes the sweep directory: <c>spec.json</c> (the spec as given), the configuration files and the
    /// folders for runs and their status. A directory that holds another sweep is refused.</summary>
    /// <param name="spec">The specification.</param>
    /// <param name="specText">The specification's JSON text, kept as <c>spec.json</c>.</param>
    /// <param name="sweepDirectory">The sweep directory, absolute.</param>
    /// <exception cref="SweepSpecException">The directory already holds a different sweep.</exception>
    public static void Prepare(SweepSpec spec, string specText, string sweepDirectory)
    {
        string stored = Path.Combine(sweepDirectory, "spec.json");
        if (File.Exists(stored) && File.ReadAllText(stored).Trim() != specText.Trim())
            throw new SweepSpecException([$"{sweepDirectory} holds another sweep (its spec.json differs); choose another 'out' or remove it"]);
        Directory.CreateDirectory(Path.Combine(sweepDirectory, RunsFolder));
        Directory.CreateDirectory(Path.Combine(sweepDirectory, ConfigsFolder));
        Directory.CreateDirectory(Path.Combine(sweepDirectory, StatusFolder));
        File.WriteAllText(stored, specText);
        var names = ConfigurationFileNames(spec.Configurations);
        for (int c = 0; c < spec.Configurations.Count; c++)
            File.WriteAllText(Path.Combine(sweepDirectory, ConfigsFolder, names[c] + ".json"), spec.Configurations[c].Overrides);
    }
}
