namespace Sac.Sweeps;

/// <summary>
/// One run of a sweep as an Orleans grain, keyed by its run directory. Orleans places it on a silo; when that silo is
/// lost, the next call places it on another one, which continues the run from its newest checkpoint.
/// </summary>
public interface IRunGrain : IGrainWithStringKey
{
    /// <summary>
    /// Makes sure the run is under way: starts (or continues) it when this activation is not training it yet and the
    /// silo has a free run slot, and reports where it stands. Calling it again is harmless; it returns at once.
    /// </summary>
    /// <param name="order">The run.</param>
    /// <returns>The run's status.</returns>
    [Alias("Ensure")]
    Task<RunStatus> Ensure(RunOrder order);
}
