namespace Sac.Sweeps;

/// <summary>
/// Trains a run as <c>sac train</c> does, supplied by the host of a silo: fresh, or continued from the newest
/// checkpoint of its run directory, then evaluates its final checkpoint.
/// </summary>
public interface IRunExecutor
{
    /// <summary>Trains the run to its end (nothing when its final checkpoint exists) and evaluates it. Blocking.</summary>
    /// <param name="order">The run.</param>
    /// <param name="note">Receives a line on what is happening (e.g. from which step the run continues).</param>
    /// <returns>The final evaluation.</returns>
    /// <exception cref="RunFaultException">The run cannot go on (a numerical fault, a bad configuration).</exception>
    /// <exception cref="RunInterruptedException">The process is stopping; the run continues elsewhere.</exception>
    RunEvaluation Execute(RunOrder order, Action<string> note);
}

/// <summary>The final evaluation of a run's final checkpoint.</summary>
/// <param name="Mean">Mean return.</param>
/// <param name="Std">Standard deviation of the returns.</param>
public sealed record RunEvaluation(double Mean, double Std);

/// <summary>A run stopped by a fault of its own: it is reported, and not retried.</summary>
/// <param name="message">What went wrong.</param>
public sealed class RunFaultException(string message) : Exception(message);

/// <summary>A run stopped because its process is stopping (SIGINT, SIGTERM), after writing a checkpoint.</summary>
/// <param name="message">What happened.</param>
public sealed class RunInterruptedException(string message) : Exception(message);
