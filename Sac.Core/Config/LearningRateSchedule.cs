using System;
using System.Globalization;

namespace Sac.Core.Config;

/// <summary>How every optimizer's learning rate changes over a run, as Stable-Baselines3 schedules it.</summary>
public enum LearningRateSchedule
{
    /// <summary>The configured rate throughout.</summary>
    Constant = 0,

    /// <summary>
    /// The configured rate times the progress remaining, <c>1 - steps / total</c>: linear from the full rate at the start
    /// to zero at the last step (RL Zoo writes it <c>lin_7.3e-4</c>).
    /// </summary>
    Linear = 1,
}

/// <summary>The learning-rate factor a schedule gives at a point of a run, and RL Zoo's written form.</summary>
public static class LearningRateSchedules
{
    /// <summary>RL Zoo's prefix of a linear schedule's rate: <c>lin_7.3e-4</c>.</summary>
    public const string LinearPrefix = "lin_";

    /// <summary>
    /// The factor on every optimizer's configured learning rate for the updates after environment step
    /// <paramref name="steps"/> of a run of <paramref name="total"/> steps: 1 for <see cref="LearningRateSchedule.Constant"/>;
    /// the progress remaining <c>1 - steps / total</c>, never below 0, for <see cref="LearningRateSchedule.Linear"/>
    /// (Stable-Baselines3's <c>progress_remaining</c> after the step). With no known length (<paramref name="total"/>
    /// 0 or less) the factor is 1.
    /// </summary>
    /// <param name="schedule">The schedule.</param>
    /// <param name="steps">Environment steps taken, this step included.</param>
    /// <param name="total">The run's length in environment steps, or 0 when unknown.</param>
    /// <returns>The factor, in [0, 1].</returns>
    public static float Factor(LearningRateSchedule schedule, long steps, long total) =>
        schedule == LearningRateSchedule.Linear && total > 0
            ? (float)Math.Clamp(1.0 - (double)steps / total, 0.0, 1.0)
            : 1f;

    /// <summary>
    /// Reads a learning rate written as RL Zoo writes schedules: <c>lin_RATE</c> is <paramref name="rate"/> under a
    /// linear schedule.
    /// </summary>
    /// <param name="text">The text, such as <c>lin_7.3e-4</c>.</param>
    /// <param name="rate">The rate, when the text is a schedule.</param>
    /// <returns>Whether the text is <c>lin_</c> and a finite number.</returns>
    public static bool TryParseLinear(string text, out float rate)
    {
        rate = 0f;
        return text is not null && text.StartsWith(LinearPrefix, StringComparison.Ordinal)
            && float.TryParse(text.AsSpan(LinearPrefix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out rate)
            && float.IsFinite(rate);
    }
}
