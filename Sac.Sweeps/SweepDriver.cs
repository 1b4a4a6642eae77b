using System.Diagnostics;

namespace Sac.Sweeps;

/// <summary>Something that happened to a run, as the client saw it.</summary>
/// <param name="Utc">When.</param>
/// <param name="Elapsed">Seconds since the sweep started.</param>
/// <param name="RunId">The run.</param>
/// <param name="What">What happened, in words.</param>
public sealed record SweepEvent(DateTime Utc, double Elapsed, string RunId, string What);

/// <summary>
/// Carries a sweep through the cluster: asks each unfinished run's grain, every <c>poll</c>, to make sure the run is
/// under way. Placement, membership and the loss of silos are Orleans' work: a call to a run whose silo was lost
/// fails until Orleans declares that silo dead, and then activates the run's grain on a live silo, which continues the
/// run from its newest checkpoint.
/// </summary>
public static class SweepDriver
{
    /// <summary>Runs a sweep to its end: every run done or failed.</summary>
    /// <param name="client">A connected cluster client.</param>
    /// <param name="runs">The runs.</param>
    /// <param name="onEvent">Receives each change of a run's state, silo or message.</param>
    /// <param name="poll">Time between rounds of calls.</param>
    /// <param name="timeout">Gives up after this long (null: never).</param>
    /// <param name="stop">Stops waiting (the runs go on in the cluster).</param>
    /// <returns>The final status of every run, in the order given.</returns>
    /// <exception cref="TimeoutException">Runs were unfinished when <paramref name="timeout"/> ran out.</exception>
    public static async Task<IReadOnlyList<RunStatus>> RunAsync(
        IGrainFactory client, IReadOnlyList<RunOrder> runs, Action<SweepEvent> onEvent, TimeSpan poll, TimeSpan? timeout, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        var last = runs.ToDictionary(r => r.RunId, r => RunStatusFile.Read(r.StatusPath, r.RunId));
        var unreachable = new HashSet<string>();
        void Say(string run, string what) => onEvent(new SweepEvent(DateTime.UtcNow, clock.Elapsed.TotalSeconds, run, what));
        while (true)
        {
            var open = runs.Where(r => !last[r.RunId].IsFinished).ToList();
            if (open.Count == 0) break;
            if (timeout is { } limit && clock.Elapsed > limit)
                throw new TimeoutException($"{open.Count} of {runs.Count} runs unfinished after {limit.TotalSeconds:0} s: {string.Join(", ", open.Select(r => r.RunId))}");
            var answers = await Task.WhenAll(open.Select(async r =>
            {
                try
                {
                    return (Run: r, Status: await client.GetGrain<IRunGrain>(r.GrainKey).Ensure(r), Error: (Exception?)null);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    return (Run: r, Status: (RunStatus?)null, Error: (Exception?)e);
                }
            }));
            foreach (var (run, status, error) in answers)
            {
                var before = last[run.RunId];
                if (status is null)
                {
                    if (unreachable.Add(run.RunId)) Say(run.RunId, $"unreachable (last on {before.Silo ?? "no silo"}): {error!.GetType().Name}");
                    continue;
                }
                if (unreachable.Remove(run.RunId)) Say(run.RunId, "reachable again");
                if (Changed(before, status)) Say(run.RunId, Describe(status));
                last[run.RunId] = status;
            }
            await Task.Delay(poll, stop);
        }
        return [.. runs.Select(r => last[r.RunId])];
    }

    private static bool Changed(RunStatus before, RunStatus now) =>
        now.State != before.State || (now.State != RunState.Waiting && (now.Silo != before.Silo || now.Attempts != before.Attempts || now.Message != before.Message));

    /// <summary>A status in words: state, silo, attempt and message.</summary>
    /// <param name="s">The status.</param>
    /// <returns>One line.</returns>
    public static string Describe(RunStatus s) =>
        $"{s.State.ToString().ToLowerInvariant()}{(s.Silo is null ? "" : $" on {s.Silo}")}{(s.Attempts > 0 ? $" (attempt {s.Attempts})" : "")}{(s.Message is null ? "" : $": {s.Message}")}";
}
