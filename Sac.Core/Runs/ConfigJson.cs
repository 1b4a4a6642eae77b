using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Sac.Core.Config;

namespace Sac.Core.Runs;

/// <summary>
/// JSON for <see cref="SacConfig"/> and <see cref="RunInfo"/>: indented, camelCase keys, enums by name. Reading is
/// strict about structure and lenient about completeness: an unknown or repeated key is an error that names it (a
/// typo must not silently fall back to a default), while a missing key keeps its default, so
/// <c>{"batchSize": 64}</c> is a complete configuration file.
/// </summary>
/// <remarks>
/// Errors name the source (a file path, usually) and the key: structural problems (not JSON, an unknown, repeated or
/// missing key, a value of the wrong JSON type) throw <see cref="FormatException"/>; a well-typed value that breaks a
/// rule (<c>"batchSize": 0</c>, or a batch larger than the buffer) throws <see cref="ArgumentException"/> with the
/// rule's own message. Comments and trailing commas are accepted, since these files are written by hand.
/// </remarks>
public static partial class ConfigJson
{
    static readonly JsonSerializerOptions Options = CreateOptions();

    static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            // The structural pass below reports unknown keys with better messages; this stays as the backstop.
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            AllowDuplicateProperties = false,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { OmitDefaultActivation, OmitSdeKeysWhenOff, OmitUnsetOffPolicyKeys } },
        };
        // Names only: an integer would bypass the names users read in the file and in the docs.
        options.Converters.Add(new JsonStringEnumConverter(namingPolicy: null, allowIntegerValues: false));
        options.MakeReadOnly();
        return options;
    }

    // The hidden activation is written only when it is not ReLU, the default, so a ReLU configuration's file (and a
    // checkpoint's copy of it) is byte for byte what it was before the key existed.
    static void OmitDefaultActivation(JsonTypeInfo type)
    {
        foreach (JsonPropertyInfo property in type.Properties)
            if (property.PropertyType == typeof(Sac.Core.Compute.Activation))
                property.ShouldSerialize = static (_, value) => value is not Sac.Core.Compute.Activation.Relu;
    }

    // Normalisation is written only when set and nEnvs only above 1, so files of runs without them stay as they were
    // before the keys existed.
    static void OmitUnsetOffPolicyKeys(JsonTypeInfo type)
    {
        foreach (JsonPropertyInfo property in type.Properties)
            if (property.PropertyType == typeof(NormalizeSettings))
                property.ShouldSerialize = static (_, value) => value is not null;
            else if (property.Name == "nEnvs" && typeof(IOffPolicyConfig).IsAssignableFrom(type.Type))
                property.ShouldSerialize = static (_, value) => value is int n && n != 1;
    }

    // SacConfig's gSDE keys are written only when UseSde is on: files without gSDE stay as they were before the keys.
    static void OmitSdeKeysWhenOff(JsonTypeInfo type)
    {
        if (type.Type != typeof(SacConfig)) return;
        foreach (JsonPropertyInfo property in type.Properties)
            if (Array.Exists(SacConfig.SdeKeys, k => JsonNamingPolicy.CamelCase.ConvertName(k) == property.Name))
                property.ShouldSerialize = static (config, _) => ((SacConfig)config).UseSde;
    }

    static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Writes every field of <paramref name="config"/> as indented JSON with camelCase keys and enums by name; unset optional fields are written as <c>null</c>, and <c>activation</c> only when it is not ReLU.</summary>
    /// <param name="config">The configuration.</param>
    /// <returns>The JSON text; <see cref="Deserialize"/> turns it back into an equal configuration.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static string Serialize(SacConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return JsonSerializer.Serialize(config, Options);
    }

    /// <summary>
    /// Reads a configuration. Keys that are absent keep their <see cref="SacConfig"/> defaults; unknown and repeated
    /// keys are rejected; the result is checked with <see cref="SacConfig.Validate"/>.
    /// </summary>
    /// <param name="json">The JSON text: one object.</param>
    /// <param name="source">Where the text came from, such as a file path; every error message starts with it.</param>
    /// <returns>The configuration, valid as a whole.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="FormatException">The text is not JSON, not an object, or has an unknown, repeated or wrongly typed key (the message names it and the source).</exception>
    /// <exception cref="ArgumentException">A value breaks a rule of <see cref="SacConfig"/>; the message names the source, the key and the rule, and <see cref="ArgumentException.ParamName"/> is the key.</exception>
    public static SacConfig Deserialize(string json, string source)
    {
        SacConfig config = Read<SacConfig>(json, source);
        ThrowIfInvalid(config, source, "");
        return config;
    }

    /// <summary>Reads a configuration file, as <see cref="Deserialize"/> with the path as the source.</summary>
    /// <param name="path">The JSON file.</param>
    /// <returns>The configuration, valid as a whole.</returns>
    /// <exception cref="FileNotFoundException">No file exists at <paramref name="path"/>.</exception>
    /// <exception cref="FormatException">As <see cref="Deserialize"/>.</exception>
    /// <exception cref="ArgumentException">As <see cref="Deserialize"/>.</exception>
    public static SacConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no configuration file exists at this path.", path);
        return Deserialize(File.ReadAllText(path), path);
    }

    /// <summary>Any configuration record as indented camelCase JSON with enum names, the format <c>--config</c> reads.</summary>
    public static string Serialize<T>(T config) where T : class, IConfig
    {
        ArgumentNullException.ThrowIfNull(config);
        return JsonSerializer.Serialize(config, Options);
    }

    /// <summary>
    /// Reads any configuration record with the same rules as <see cref="Deserialize(string, string)"/>: unknown and
    /// duplicate keys rejected by name, bad values naming their key, missing keys keeping their defaults, and the
    /// record's own <see cref="IConfig.Validate"/> applied.
    /// </summary>
    public static T Deserialize<T>(string json, string source) where T : class, IConfig
    {
        T config = Read<T>(json, source);
        ThrowIfInvalid(config, source, "");
        return config;
    }

    /// <summary>Writes a run's full resolved configuration, as <c>sac train</c> stores it in <c>config.json</c>: indented, camelCase, the <see cref="SacConfig"/> under <c>"config"</c>.</summary>
    /// <param name="info">The run.</param>
    /// <returns>The JSON text; <see cref="DeserializeRun"/> turns it back into an equal record.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="info"/> is null.</exception>
    public static string SerializeRun(RunInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return JsonSerializer.Serialize(info, Options);
    }

    /// <summary>
    /// Reads what <see cref="SerializeRun"/> wrote. Every top-level key is required; inside <c>"config"</c> missing
    /// keys keep their defaults. Unknown and repeated keys are rejected at every level.
    /// </summary>
    /// <param name="json">The JSON text: one object.</param>
    /// <param name="source">Where the text came from; every error message starts with it.</param>
    /// <returns>The run description, its configuration valid as a whole.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="FormatException">The text is not JSON, or a key is unknown, repeated, missing or wrongly typed (the message names it and the source).</exception>
    /// <exception cref="ArgumentException">A value breaks a rule; the message names the source and the key.</exception>
    public static RunInfo DeserializeRun(string json, string source)
    {
        RunInfo info = Read<RunInfo>(json, source);
        ThrowIfInvalid(info.Config, source, "config.");
        return info;
    }

    /// <summary>
    /// RL Zoo's written schedules in one layer of configuration keys: every learning rate given as <c>"lin_RATE"</c>
    /// becomes the number, with <c>"learningRateSchedule": "Linear"</c> added. For callers that layer configurations
    /// (a preset under a user's file), so that the user's schedule is expanded before the layers meet.
    /// </summary>
    /// <param name="json">One JSON object of configuration keys.</param>
    /// <param name="source">Where the text came from; error messages start with it.</param>
    /// <returns>The text, rewritten when it holds a <c>lin_</c> rate.</returns>
    /// <exception cref="FormatException">A <c>lin_</c> value is not a number, or the text also sets another schedule.</exception>
    public static string ExpandLearningRateSchedules(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        return ScheduledRates.Rewrite(json, source, DocumentOptions);
    }

    static T Read<T>(string json, string source) where T : class
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        if (typeof(IOffPolicyConfig).IsAssignableFrom(typeof(T))) json = ScheduledRates.Rewrite(json, source, DocumentOptions);
        var problems = CheckStructure(json, source, Options.GetTypeInfo(typeof(T)));
        // Values of the wrong JSON type (a string for a number, an unknown enum name, null for a list), each key read
        // on its own so that every one is named, together with the structural problems: one message for all of them.
        problems.AddRange(TypeProblems<T>(json));
        if (problems.Count == 1) throw new FormatException($"{source}: {problems[0]}");
        if (problems.Count > 1) throw new FormatException($"{source}: {problems.Count} problems: {string.Join("; ", problems.Select(x => x.TrimEnd('.')))}.");
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options)
                ?? throw new FormatException($"{source}: expected a JSON object, got null.");
        }
        catch (JsonException e)
        {
            // Structure and each key's type passed on their own: a type error that only shows in combination.
            string path = DisplayPath(e.Path);
            string expected = Describe(PropertyAt(typeof(T), e.Path)?.PropertyType);
            string where = e.LineNumber is long line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw new FormatException($"{source}: the value of '{path}'{where} has the wrong type; expected {expected}.", e);
        }
        catch (ArgumentException e)
        {
            throw AllInvalid<T>(json, source, Invalid(source, e));
        }
    }

    /// <summary>The wrong-type value of each top-level key of a known name, each read on its own.</summary>
    static List<string> TypeProblems<T>(string json) where T : class
    {
        var problems = new List<string>();
        System.Text.Json.Nodes.JsonObject? root;
        try { root = System.Text.Json.Nodes.JsonNode.Parse(json, documentOptions: DocumentOptions) as System.Text.Json.Nodes.JsonObject; }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException) { return problems; }
        if (root is null) return problems;
        var type = Options.GetTypeInfo(typeof(T));
        // A record with required keys cannot be read one key at a time: the combined read reports its type error.
        if (type.Properties.Any(p => p.IsRequired || p.AssociatedParameter is { HasDefaultValue: false, IsMemberInitializer: false }))
            return problems;
        List<KeyValuePair<string, System.Text.Json.Nodes.JsonNode?>> members;
        // A repeated key is already reported by the structural pass.
        try { members = [.. root]; }
        catch (ArgumentException) { return problems; }
        foreach (var (key, value) in members)
        {
            var property = type.Properties.FirstOrDefault(p => p.Name == key);
            if (property is null) continue;
            var single = new System.Text.Json.Nodes.JsonObject { [key] = value?.DeepClone() };
            try
            {
                // Only the JSON types matter here; a value that breaks a rule is reported with the rules.
                JsonSerializer.Deserialize(single.ToJsonString(), typeof(T), Options);
            }
            catch (JsonException e)
            {
                string path = DisplayPath(e.Path);
                problems.Add($"the value of '{(path.Length > 0 ? path : key)}' has the wrong type; expected {Describe(PropertyAt(typeof(T), e.Path)?.PropertyType ?? property.PropertyType)}.");
            }
            catch (ArgumentException)
            {
            }
            catch (FormatException)
            {
            }
        }
        return problems;
    }

    /// <summary>
    /// Every key's rule violation at once: each key of the top-level object is read on its own (the others at their
    /// defaults), so one message names every bad value, not just the first the reader met.
    /// </summary>
    static ArgumentException AllInvalid<T>(string json, string source, ArgumentException first) where T : class
    {
        var problems = new List<string>();
        string? firstKey = null;
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(json) is not System.Text.Json.Nodes.JsonObject root) return first;
            foreach (var (key, value) in root)
            {
                var single = new System.Text.Json.Nodes.JsonObject { [key] = value?.DeepClone() };
                try
                {
                    JsonSerializer.Deserialize<T>(single.ToJsonString(), Options);
                }
                catch (ArgumentException e)
                {
                    ArgumentException named = Invalid(source, e);
                    firstKey ??= named.ParamName;
                    string text = named.Message[(source.Length + 2)..];
                    string suffix = $" (Parameter '{named.ParamName}')";
                    problems.Add(text.EndsWith(suffix, StringComparison.Ordinal) ? text[..^suffix.Length] : text);
                }
                catch (JsonException)
                {
                    // A key that only fails together with others (or a required one missing on its own): the first
                    // error already covers it.
                }
            }
        }
        catch (JsonException)
        {
            return first;
        }
        return problems.Count <= 1
            ? first
            : new ArgumentException($"{source}: {problems.Count} invalid values: {string.Join("; ", problems)}", firstKey, first);
    }

    static void ThrowIfInvalid(IConfig config, string source, string prefix)
    {
        IReadOnlyList<string> problems = config.Validate();
        if (problems.Count > 0)
            throw new ArgumentException($"{source}: invalid configuration{(prefix.Length > 0 ? $" in '{prefix.TrimEnd('.')}'" : "")}: {string.Join(" ", problems)}");
    }

    /// <summary>A setter's rule violation, restated with the source and the JSON key; the key becomes the ParamName.</summary>
    static ArgumentException Invalid(string source, ArgumentException e)
    {
        string key = e.ParamName is { Length: > 0 } p ? JsonNamingPolicy.CamelCase.ConvertName(p) : "?";
        string message = e.Message;
        // ArgumentException appends " (Parameter 'X')"; the key is already in our message.
        string suffix = $" (Parameter '{e.ParamName}')";
        if (e.ParamName is not null && message.EndsWith(suffix, StringComparison.Ordinal))
            message = message[..^suffix.Length];
        return new ArgumentException($"{source}: invalid value for '{key}': {message}", key, e);
    }

    // ---------- the structural pass ----------

    static List<string> CheckStructure(string json, string source, JsonTypeInfo root)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is long line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw new FormatException($"{source}: not valid JSON{where}: {StripLocation(e.Message)}", e);
        }
        var problems = new List<string>();
        using (document)
            CheckObject(document.RootElement, root, "", source, problems);
        return problems;
    }

    static void CheckObject(JsonElement element, JsonTypeInfo type, string path, string source, List<string> problems)
    {
        string where = path.Length == 0 ? "the document" : $"'{path}'";
        if (element.ValueKind != JsonValueKind.Object)
            throw new FormatException($"{source}: {where} must be a JSON object, got {Kind(element.ValueKind)}.");

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty member in element.EnumerateObject())
        {
            string key = path + member.Name;
            if (!seen.Add(member.Name))
            {
                problems.Add($"the key '{key}' appears more than once.");
                continue;
            }
            JsonPropertyInfo? property = type.Properties.FirstOrDefault(p => p.Name == member.Name);
            if (property is null)
            {
                problems.Add($"unknown key '{key}'{Suggestion(member.Name, type)}. The known keys{(path.Length > 0 ? $" of '{path.TrimEnd('.')}'" : "")} are: {string.Join(", ", type.Properties.Select(p => p.Name))}.");
                continue;
            }
            JsonTypeInfo inner = Options.GetTypeInfo(property.PropertyType);
            if (inner.Kind == JsonTypeInfoKind.Object && member.Value.ValueKind == JsonValueKind.Object)
                CheckObject(member.Value, inner, key + ".", source, problems);
        }

        foreach (JsonPropertyInfo property in type.Properties)
        {
            // Constructor parameters without a default are what a record needs; init-only properties have defaults.
            bool required = property.IsRequired || property.AssociatedParameter is { HasDefaultValue: false, IsMemberInitializer: false };
            if (required && !seen.Contains(property.Name))
                problems.Add($"the key '{path}{property.Name}' is missing; it is required.");
        }
    }

    static string Suggestion(string unknown, JsonTypeInfo type)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (JsonPropertyInfo p in type.Properties)
        {
            int d = string.Equals(p.Name, unknown, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(p.Name, unknown);
            if (d < bestDistance)
            {
                bestDistance = d;
                best = p.Name;
            }
        }
        // Only near misses: a suggestion for an unrelated word would mislead more than it helps.
        return best is not null && bestDistance <= Math.Max(1, unknown.Length / 4) ? $" (did you mean '{best}'? keys are case-sensitive)" : "";
    }

    /// <summary>Levenshtein edit distance, case-insensitive.</summary>
    static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    // ---------- describing a type error ----------

    /// <summary>The property a JSON path such as <c>$.config.hiddenSizes[1]</c> ends in (ignoring array indices), or null.</summary>
    static JsonPropertyInfo? PropertyAt(Type root, string? path)
    {
        if (path is null) return null;
        JsonPropertyInfo? property = null;
        Type type = root;
        foreach (Match segment in PathSegment().Matches(path))
        {
            string name = segment.Groups[1].Success ? segment.Groups[1].Value : segment.Groups[2].Success ? segment.Groups[2].Value.Replace("''", "'") : "";
            if (name.Length == 0) continue;
            property = Options.GetTypeInfo(type).Properties.FirstOrDefault(p => p.Name == name);
            if (property is null) return null;
            type = property.PropertyType;
        }
        return property;
    }

    [GeneratedRegex(@"\.([^.\[]+)|\['((?:[^']|'')*)'\]|\[\d+\]")]
    private static partial Regex PathSegment();

    static string DisplayPath(string? path) =>
        path is null || path == "$" ? "(document)" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    static string Describe(Type? type)
    {
        if (type is null) return "a value of the documented type";
        if (Nullable.GetUnderlyingType(type) is Type inner) return Describe(inner) + " or null";
        // A configuration's activation names the hidden layers' nonlinearity: identity is not among them.
        if (type == typeof(Sac.Core.Compute.Activation))
            return "one of " + string.Join(", ", ConfigChecks.HiddenActivations.Select(n => $"\"{n}\"")) + " (any case, such as \"ELU\" or \"LeakyReLU\")";
        if (type.IsEnum) return "one of " + string.Join(", ", Enum.GetNames(type).Select(n => $"\"{n}\""));
        if (type == typeof(int) || type == typeof(long)) return "an integer";
        if (type == typeof(ulong)) return "a non-negative integer";
        if (type == typeof(float) || type == typeof(double)) return "a number";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(string)) return "a string";
        if (typeof(IEnumerable<int>).IsAssignableFrom(type)) return "an array of integers";
        return "a JSON object";
    }

    static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    static string StripLocation(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut < 0 ? message : message[..cut];
    }
}
