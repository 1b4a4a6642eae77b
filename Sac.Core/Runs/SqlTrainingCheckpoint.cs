using Sac.Core.Data;

namespace Sac.Core.Runs;

/// <summary>Everything a Soft Q-Learning checkpoint written during training holds (<see cref="SqlCheckpoint.LoadTraining"/>).</summary>
/// <param name="Header">Environment, sizes and, for a training checkpoint, the loop's progress.</param>
/// <param name="State">The learner, owning fresh arrays.</param>
/// <param name="Replay">The replay buffer when it was saved, otherwise null.</param>
/// <param name="EpisodeActions">The running episode's actions, <c>EpisodeLength x ActionSize</c> (empty without progress).</param>
public sealed record SqlTrainingCheckpoint(SqlCheckpointHeader Header, SqlLearnerState State, ReplayBuffer? Replay, float[] EpisodeActions);
