using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Sac.Sweeps;

/// <summary>
/// Reads a sweep specification from JSON, collecting every problem instead of stopping at the first:
/// <code>
/// {
///   "name": "pointgoal-tau",                  // optional: default the file's name
///   "out": "runs/sweeps/pointgoal-tau",       // optional: default runs/sweeps/NAME
///   "environments": ["PointGoal-v0"],
///   "algorithms": ["sac"],                    // optional: default ["sac"]
///   "seeds": [1, 2, 3],
///   "steps": 3000,                            // optional: the environment's default
///   "checkpointEvery": 500,                   // optional: the default of sac train
///   "grid": {"tau": [0.005, 0.01]},           // or "configs": [{"name": "fast", "tau": 0.01}, ...]
///   "evalEpisodes": 10, "evalSeed": 1000,     // the final evaluation of each run
///   "maxAttempts": 3                          // starts of a run, resumes after a lost silo included
/// }
/// </code>
/// </summary>
public static partial class SweepSpecReader
{
    private static readonly string[] Keys =
        ["name", "out", "environments", "algorithms", "seeds", "steps", "checkpointEvery", "grid", "configs", "evalEpisodes", "evalSeed", "maxAttempts"];

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex SafeName();

    /// <summary>Reads a specification file.</summary>
    /// <param name="path">The JSON file.</param>
    /// <returns>The spec as far as it could be read, and every problem (a missing file is one).</returns>
    public static SweepSpecReading ReadFile(string path)
    {
        string name = Path.GetFileNameWithoutExtension(path);
        if (!File.Exists(path)) return new(Empty(name), [$"--spec {path}: no such file"]);
        return Read(File.ReadAllText(path), path, name);
    }

    /// <summary>Reads a specification from its JSON text.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Where it came from, for the messages.</param>
    /// <param name="defaultName">The sweep's name when the JSON gives none.</param>
    /// <returns>The spec as far as it could be read, and every problem.</returns>
    public static SweepSpecReading Read(string json, string source, string defaultName)
    {
        var problems = new List<string>();
        JsonObject? o;
        try
        {
            o = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }) as JsonObject;
        }
        catch (JsonException e)
        {
            return new(Empty(defaultName), [$"{source}: not valid JSON ({e.Message})"]);
        }
        if (o is null) return new(Empty(defaultName), [$"{source}: expected a JSON object"]);
        foreach (var (key, _) in o)
            if (!Keys.Contains(key)) problems.Add($"{source}: unknown key '{key}' (known: {string.Join(", ", Keys)})");

        string name = Text(o, "name", source, problems) ?? defaultName;
        if (!SafeName().IsMatch(name)) problems.Add($"{source}: name '{name}' may hold only letters, digits, '.', '_' and '-'");
        string output = Text(o, "out", source, problems) ?? Path.Combine("runs", "sweeps", name);
        var environments = Strings(o, "environments", source, problems, required: true) ?? [];
        var algorithms = Strings(o, "algorithms", source, problems, required: false) ?? ["sac"];
        var seeds = Seeds(o, source, problems);
        long? steps = Integer(o, "steps", source, problems, 1);
        long? every = Integer(o, "checkpointEvery", source, problems, 1);
        int episodes = (int)(Integer(o, "evalEpisodes", source, problems, 1, int.MaxValue) ?? 10);
        ulong evalSeed = (ulong)(Integer(o, "evalSeed", source, problems, 0) ?? 1000);
        int attempts = (int)(Integer(o, "maxAttempts", source, problems, 1, 100) ?? 3);
        var configurations = Configurations(o, source, problems);
        var spec = new SweepSpec(name, output, environments, algorithms, seeds, steps, every, configurations, episodes, evalSeed, attempts);
        return new(spec, problems);
    }

    private static SweepSpec Empty(string name) =>
        new(name, Path.Combine("runs", "sweeps", name), [], [], [], null, null, [], 10, 1000, 3);

    private static string? Text(JsonObject o, string key, string source, List<string> problems)
    {
        if (!o.TryGetPropertyValue(key, out var v) || v is null) return null;
        if (v is JsonValue s && s.TryGetValue(out string? text) && !string.IsNullOrWhiteSpace(text)) return text;
        problems.Add($"{source}: '{key}' must be a non-empty string");
        return null;
    }

    private static long? Integer(JsonObject o, string key, string source, List<string> problems, long min, long max = long.MaxValue)
    {
        if (!o.TryGetPropertyValue(key, out var v) || v is null) return null;
        if (v is JsonValue n && n.TryGetValue(out long value) && value >= min && value <= max) return value;
        string range = max == long.MaxValue ? $"at least {min}" : $"from {min} to {max}";
        problems.Add($"{source}: '{key}' must be an integer {range}, got {v.ToJsonString()}");
        return null;
    }

    private static List<string>? Strings(JsonObject o, string key, string source, List<string> problems, bool required)
    {
        if (!o.TryGetPropertyValue(key, out var v) || v is null)
        {
            if (required) problems.Add($"{source}: '{key}' is required (a non-empty list of names)");
            return null;
        }
        if (v is not JsonArray a || a.Count == 0)
        {
            problems.Add($"{source}: '{key}' must be a non-empty list of names, got {v.ToJsonString()}");
            return [];
        }
        var names = new List<string>();
        foreach (var item in a)
        {
            if (item is JsonValue s && s.TryGetValue(out string? text) && !string.IsNullOrWhiteSpace(text))
            {
                if (names.Contains(text)) problems.Add($"{source}: '{key}' lists '{text}' more than once");
                else names.Add(text);
            }
            else problems.Add($"{source}: '{key}' holds {item?.ToJsonString() ?? "null"}, not a name");
        }
        return names;
    }

    private static List<ulong> Seeds(JsonObject o, string source, List<string> problems)
    {
        var seeds = new List<ulong>();
        if (!o.TryGetPropertyValue("seeds", out var v) || v is null)
        {
            problems.Add($"{source}: 'seeds' is required (a non-empty list of integers from 0)");
            return seeds;
        }
        if (v is not JsonArray a || a.Count == 0)
        {
            problems.Add($"{source}: 'seeds' must be a non-empty list of integers from 0, got {v.ToJsonString()}");
            return seeds;
        }
        foreach (var item in a)
        {
            if (item is JsonValue n && n.TryGetValue(out ulong seed))
            {
                if (seeds.Contains(seed)) problems.Add($"{source}: 'seeds' lists {seed} more than once");
                else seeds.Add(seed);
            }
            else problems.Add($"{source}: 'seeds' holds {item?.ToJsonString() ?? "null"}, not an integer from 0");
        }
        return seeds;
    }

    private static List<SweepConfiguration> Configurations(JsonObject o, string source, List<string> problems)
    {
        bool hasGrid = o.TryGetPropertyValue("grid", out var grid) && grid is not null;
        bool hasList = o.TryGetPropertyValue("configs", out var list) && list is not null;
        if (hasGrid && hasList)
        {
            problems.Add($"{source}: give 'grid' or 'configs', not both");
            return [];
        }
        if (hasGrid) return Grid(grid!, source, problems);
        if (hasList) return Listed(list!, source, problems);
        return [new SweepConfiguration("default", "{}")];
    }

    private static void CheckKey(string key, string where, List<string> problems)
    {
        // The seed of a run comes from 'seeds'; a configuration that set it would make the seeds meaningless.
        if (key == "seed") problems.Add($"{where}: sets 'seed'; seeds come from 'seeds'");
    }

    private static List<SweepConfiguration> Grid(JsonNode grid, string source, List<string> problems)
    {
        if (grid is not JsonObject g || g.Count == 0)
        {
            problems.Add($"{source}: 'grid' must be an object of configuration keys, each with a non-empty list of values");
            return [];
        }
        var axes = new List<(string Key, JsonNode?[] Values)>();
        foreach (var (key, values) in g)
        {
            CheckKey(key, $"{source}: grid", problems);
            if (values is JsonArray a && a.Count > 0)
            {
                axes.Add((key, [.. a]));
                foreach (var twice in a.GroupBy(v => SweepPlan.Render(v)).Where(same => same.Count() > 1))
                    problems.Add($"{source}: grid '{key}' lists {twice.Key} more than once");
            }
            else problems.Add($"{source}: grid '{key}' must be a non-empty list of values, got {values?.ToJsonString() ?? "null"}");
        }
        if (axes.Count != g.Count) return [];
        return SweepPlan.Product(axes).Select(combination =>
        {
            var overrides = new JsonObject();
            foreach (var (key, value) in combination) overrides[key] = value?.DeepClone();
            string label = string.Join(",", combination.Select(c => $"{c.Key}={SweepPlan.Render(c.Value)}"));
            return new SweepConfiguration(label, overrides.ToJsonString());
        }).ToList();
    }

    private static List<SweepConfiguration> Listed(JsonNode list, string source, List<string> problems)
    {
        if (list is not JsonArray a || a.Count == 0)
        {
            problems.Add($"{source}: 'configs' must be a non-empty list of objects of configuration keys");
            return [];
        }
        var configurations = new List<SweepConfiguration>();
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonObject item)
            {
                problems.Add($"{source}: configs[{i}] must be an object of configuration keys");
                continue;
            }
            var overrides = new JsonObject();
            string label = $"config{i + 1}";
            foreach (var (key, value) in item)
            {
                if (key == "name")
                {
                    if (value is JsonValue s && s.TryGetValue(out string? text) && SafeName().IsMatch(text)) label = text;
                    else problems.Add($"{source}: configs[{i}] name {value?.ToJsonString() ?? "null"} must be a string of letters, digits, '.', '_' and '-'");
                    continue;
                }
                CheckKey(key, $"{source}: configs[{i}]", problems);
                overrides[key] = value?.DeepClone();
            }
            if (configurations.Any(c => c.Label == label)) problems.Add($"{source}: configs name '{label}' more than once");
            else configurations.Add(new SweepConfiguration(label, overrides.ToJsonString()));
        }
        return configurations;
    }
}
