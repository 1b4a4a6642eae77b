using System;

namespace Sac.Core.Runs;

/// <summary>
/// One environment's running episode in a run that steps several copies of the environment together
/// (<see cref="TrainingProgress.Environments"/>): what a resumed run needs to rebuild that copy.
/// </summary>
/// <param name="Episodes">Episodes this copy finished; it has been reset once more than this.</param>
/// <param name="EpisodeReturn">Return accumulated in its running episode.</param>
/// <param name="EpisodeLength">Steps taken in its running episode; the checkpoint stores that many of its actions.</param>
public sealed record EnvironmentProgress(int Episodes, double EpisodeReturn, int EpisodeLength)
{
    /// <summary>Episodes this copy finished; zero or more.</summary>
    public int Episodes { get; init => field = NotNegative(value, nameof(Episodes)); } = NotNegative(Episodes, nameof(Episodes));

    /// <summary>Return accumulated in its running episode; finite.</summary>
    public double EpisodeReturn { get; init => field = Finite(value, nameof(EpisodeReturn)); } = Finite(EpisodeReturn, nameof(EpisodeReturn));

    /// <summary>Steps taken in its running episode; zero or more.</summary>
    public int EpisodeLength { get; init => field = NotNegative(value, nameof(EpisodeLength)); } = NotNegative(EpisodeLength, nameof(EpisodeLength));

    static int NotNegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be zero or more, got {value}.", name);

    static double Finite(double value, string name) =>
        double.IsFinite(value) ? value : throw new ArgumentException($"{name} must be finite, got {value}.", name);
}
