namespace Sac.Core.Config;

/// <summary>The schedule every off-policy algorithm's configuration has: replay, update timing and evaluation.</summary>
public interface IOffPolicyConfig : IConfig
{
    /// <summary>The run's seed.</summary>
    ulong Seed { get; }

    /// <summary>Replay buffer capacity, in transitions.</summary>
    int BufferSize { get; }

    /// <summary>Transitions per gradient step.</summary>
    int BatchSize { get; }

    /// <summary>Environment steps of warm-up acting before the first update.</summary>
    int LearningStarts { get; }

    /// <summary>Environment steps between rounds of updates.</summary>
    int TrainFrequency { get; }

    /// <summary>Gradient steps per round; -1 for as many as the environment steps of the round (TrainFrequency times the environments stepped together).</summary>
    int GradientSteps { get; }

    /// <summary>Environment steps between evaluations (0: none).</summary>
    int EvalInterval { get; }

    /// <summary>Episodes per evaluation.</summary>
    int EvalEpisodes { get; }

    /// <summary>How every optimizer's learning rate changes over the run.</summary>
    LearningRateSchedule LearningRateSchedule { get; }

    /// <summary>Copies of the environment stepped together (SB3's n_envs); at least 1.</summary>
    int NEnvs { get; }

    /// <summary>Observation and reward normalisation (SB3's VecNormalize), or null for none.</summary>
    NormalizeSettings? Normalize { get; }

    /// <summary>The discount factor (the normalised rewards' returns use it too).</summary>
    float Gamma { get; }
}
