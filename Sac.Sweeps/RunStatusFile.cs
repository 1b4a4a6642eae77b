using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sac.Sweeps;

/// <summary>A run's status on shared storage (<c>SWEEP/status/RUN.json</c>): it outlives the silo that wrote it, so
/// the next silo knows how often the run was started, and <c>sac sweep --status</c> reads it without the cluster.</summary>
public static class RunStatusFile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The status stored for a run, or its initial status when there is none (or it cannot be read).</summary>
    /// <param name="path">The status file.</param>
    /// <param name="runId">The run.</param>
    /// <returns>The status.</returns>
    public static RunStatus Read(string path, string runId)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<RunStatus>(File.ReadAllText(path), Json) ?? RunStatus.Initial(runId) : RunStatus.Initial(runId);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return RunStatus.Initial(runId);
        }
    }

    /// <summary>Writes a status atomically (a temporary file renamed over the old one).</summary>
    /// <param name="path">The status file.</param>
    /// <param name="status">The status.</param>
    public static void Write(string path, RunStatus status)
    {
        string temporary = $"{path}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(status, Json));
        File.Move(temporary, path, overwrite: true);
    }
}
