namespace Sac.Sweeps;

/// <summary>Where a run stands.</summary>
public enum RunState
{
    /// <summary>Not started yet (or its silo stopped and it waits to continue elsewhere).</summary>
    Pending,

    /// <summary>Placed on a silo that has no free run slot; it is placed again.</summary>
    Waiting,

    /// <summary>Training (or evaluating) on a silo.</summary>
    Running,

    /// <summary>Finished and evaluated.</summary>
    Done,

    /// <summary>Stopped by a fault (reported, not retried).</summary>
    Failed,
}

/// <summary>A run's status, as its grain reports it and its status file keeps it.</summary>
/// <param name="RunId">The run.</param>
/// <param name="State">Where it stands.</param>
/// <param name="Silo">The silo it runs (or ran) on, or null.</param>
/// <param name="Attempts">How many times it has been started.</param>
/// <param name="Message">What happened last, in words, or null.</param>
/// <param name="FinalMean">The final evaluation's mean return, once done.</param>
/// <param name="FinalStd">The final evaluation's standard deviation, once done.</param>
/// <param name="UpdatedUtc">When this status was written.</param>
[GenerateSerializer, Immutable, Alias("Sac.Sweeps.RunStatus")]
public sealed record RunStatus(
    [property: Id(0)] string RunId,
    [property: Id(1)] RunState State,
    [property: Id(2)] string? Silo,
    [property: Id(3)] int Attempts,
    [property: Id(4)] string? Message,
    [property: Id(5)] double? FinalMean,
    [property: Id(6)] double? FinalStd,
    [property: Id(7)] DateTime UpdatedUtc)
{
    /// <summary>Whether the run is over (done or failed).</summary>
    public bool IsFinished => State is RunState.Done or RunState.Failed;

    /// <summary>The status of a run not started yet.</summary>
    /// <param name="runId">The run.</param>
    /// <returns>Its pending status.</returns>
    public static RunStatus Initial(string runId) => new(runId, RunState.Pending, null, 0, null, null, null, DateTime.UtcNow);
}
