using System;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sac.Core.Config;

namespace Sac.Core.Runs;

/// <summary>
/// RL Zoo's written schedules in a configuration: a learning rate given as <c>"lin_7.3e-4"</c> is the rate 7.3e-4 under
/// <see cref="LearningRateSchedule.Linear"/>, which then applies to every optimizer of the algorithm (as one
/// <c>learning_rate</c> does in Stable-Baselines3).
/// </summary>
internal static class ScheduledRates
{
    const string ScheduleKey = "learningRateSchedule";

    static bool IsRateKey(string key) => key.EndsWith("LearningRate", StringComparison.Ordinal) || key == "learningRate";

    /// <summary>
    /// The configuration text with every <c>"lin_RATE"</c> learning rate written as the number and
    /// <c>"learningRateSchedule": "Linear"</c> added; the text unchanged when it has none, or is not an object that
    /// parses (the reader's own checks then name the problem).
    /// </summary>
    /// <exception cref="FormatException">A <c>lin_</c> value is not a number, or the text also asks for another schedule.</exception>
    internal static string Rewrite(string json, string source, JsonDocumentOptions options)
    {
        if (!json.Contains("\"" + LearningRateSchedules.LinearPrefix, StringComparison.Ordinal)) return json;
        JsonObject root;
        try
        {
            if (JsonNode.Parse(json, documentOptions: options) is not JsonObject o) return json;
            root = o;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            return json;
        }
        var linear = root.Where(p => IsRateKey(p.Key) && p.Value is JsonValue v && v.GetValueKind() == JsonValueKind.String).ToList();
        if (linear.Count == 0) return json;
        foreach (var (key, value) in linear)
        {
            string text = value!.GetValue<string>();
            if (!LearningRateSchedules.TryParseLinear(text, out float rate))
                throw new FormatException($"{source}: '{key}' is \"{text}\"; a learning rate is a number, or \"lin_RATE\" for a linear schedule (e.g. \"lin_7.3e-4\").");
            root[key] = rate;
        }
        if (root[ScheduleKey] is JsonValue given && given.GetValueKind() == JsonValueKind.String
            && given.GetValue<string>() != nameof(LearningRateSchedule.Linear))
            throw new FormatException(
                $"{source}: '{linear[0].Key}' is a linear schedule (\"lin_...\"), but '{ScheduleKey}' is \"{given.GetValue<string>()}\"; one schedule applies to every optimizer.");
        root[ScheduleKey] = nameof(LearningRateSchedule.Linear);
        return root.ToJsonString();
    }
}
