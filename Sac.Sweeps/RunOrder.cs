namespace Sac.Sweeps;

/// <summary>
/// One run of a sweep: what <c>sac train</c> is given for it. A run is fully described here, so any silo can start it
/// or, from its newest checkpoint, continue it.
/// </summary>
/// <param name="RunId">The run's name, unique in its sweep (<c>ENV_ALGO_CONFIG_sSEED</c>).</param>
/// <param name="SweepDirectory">The sweep directory, absolute, on storage every silo reaches.</param>
/// <param name="Environment">The environment id.</param>
/// <param name="Algorithm">The algorithm name.</param>
/// <param name="Seed">The training seed.</param>
/// <param name="Steps">Environment steps; null for the environment's default.</param>
/// <param name="Configuration">The configuration's label.</param>
/// <param name="ConfigFile">The configuration's keys as a JSON file (the run's <c>--config</c>).</param>
/// <param name="CheckpointEvery">Steps between checkpoints; null for the default.</param>
/// <param name="EvalEpisodes">Episodes of the final evaluation.</param>
/// <param name="EvalSeed">Seed of the final evaluation's first episode.</param>
/// <param name="MaxAttempts">How many times the run may be started.</param>
[GenerateSerializer, Immutable, Alias("Sac.Sweeps.RunOrder")]
public sealed record RunOrder(
    [property: Id(0)] string RunId,
    [property: Id(1)] string SweepDirectory,
    [property: Id(2)] string Environment,
    [property: Id(3)] string Algorithm,
    [property: Id(4)] ulong Seed,
    [property: Id(5)] long? Steps,
    [property: Id(6)] string Configuration,
    [property: Id(7)] string ConfigFile,
    [property: Id(8)] long? CheckpointEvery,
    [property: Id(9)] int EvalEpisodes,
    [property: Id(10)] ulong EvalSeed,
    [property: Id(11)] int MaxAttempts)
{
    /// <summary>The run directory: config.json, metrics.csv, checkpoints, as <c>sac train</c> writes them.</summary>
    public string RunDirectory => Path.Combine(SweepDirectory, SweepPlan.RunsFolder, RunId);

    /// <summary>The run's status file (see <see cref="RunStatusFile"/>).</summary>
    public string StatusPath => Path.Combine(SweepDirectory, SweepPlan.StatusFolder, RunId + ".json");

    /// <summary>The key of the run's grain: its run directory, unique across sweeps.</summary>
    public string GrainKey => RunDirectory;
}
