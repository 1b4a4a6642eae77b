namespace Sac.Core.Environments;

/// <summary>
/// What one environment step returns besides the observation (which the environment writes into the caller's span).
/// </summary>
/// <remarks>
/// Gymnasium's step API: <see cref="Terminated"/> means the MDP reached a true end state, so the value of the next
/// state is zero and a TD target must not bootstrap; <see cref="Truncated"/> means the episode was cut short from
/// outside the MDP (a time limit), so the target still bootstraps from the next state. Both may be true at once.
/// </remarks>
/// <param name="Reward">The reward for the transition just taken.</param>
/// <param name="Terminated">The episode ended in a terminal state of the MDP (no bootstrap).</param>
/// <param name="Truncated">The episode was cut off, typically by <see cref="TimeLimit"/> (bootstrap from the next state).</param>
public readonly record struct StepResult(float Reward, bool Terminated, bool Truncated)
{
    /// <summary>The episode is over for either reason, <c>Terminated || Truncated</c>: reset before stepping again.</summary>
    public bool Done => Terminated || Truncated;
}
