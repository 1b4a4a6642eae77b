using System;
using System.Globalization;

namespace Sac.Core.Environments;

/// <summary>
/// An environment broke its contract: an action given to it, an observation it wrote or a reward it returned was
/// malformed (wrong length, not finite, or outside the action space). Thrown by <see cref="CheckedEnvironment"/>.
/// </summary>
/// <remarks>
/// The message names every field, for example <c>Pendulum-v1, step 412: observation[2] is NaN</c> or
/// <c>PointGoal-v0, step 7: action[1] = 1.5 is outside the action space [-1, 1]</c>.
/// </remarks>
public sealed class EnvironmentCheckException : Exception
{
    /// <summary>The quantity name of an action problem.</summary>
    public const string ActionQuantity = "action";

    /// <summary>The quantity name of an observation problem.</summary>
    public const string ObservationQuantity = "observation";

    /// <summary>The quantity name of a reward problem.</summary>
    public const string RewardQuantity = "reward";

    /// <summary>Creates the exception; the message is <c>"{environmentId}, step {step}: {quantity}[{index}] {problem}"</c> (no <c>[index]</c> when it is -1).</summary>
    /// <param name="environmentId">The environment's id.</param>
    /// <param name="step">The step number, as <see cref="Step"/> defines it.</param>
    /// <param name="atReset">The problem was found in the observation written by Reset rather than by Step.</param>
    /// <param name="quantity">"action", "observation" or "reward".</param>
    /// <param name="index">The offending element, or -1 when the problem is the whole quantity (a length, or the reward).</param>
    /// <param name="value">The offending value (for a length problem, the length found).</param>
    /// <param name="problem">What is wrong, as the end of a sentence, e.g. <c>"is NaN"</c>.</param>
    public EnvironmentCheckException(string environmentId, long step, bool atReset, string quantity, int index, double value, string problem)
        : base(Format(environmentId, step, atReset, quantity, index, problem))
    {
        EnvironmentId = environmentId;
        Step = step;
        AtReset = atReset;
        Quantity = quantity;
        Index = index;
        Value = value;
    }

    /// <summary>The id of the environment that broke its contract.</summary>
    public string EnvironmentId { get; }

    /// <summary>
    /// Steps taken through the checking wrapper since it was constructed (not since the last reset, so the number
    /// matches a training log's step count): the 1-based number of the <c>Step</c> call that failed, or, when
    /// <see cref="AtReset"/> is true, the number of steps completed before that reset (0 before the first step).
    /// </summary>
    public long Step { get; }

    /// <summary>True when the problem was found in the initial observation written by <c>Reset</c>.</summary>
    public bool AtReset { get; }

    /// <summary>Which quantity was wrong: <c>"action"</c>, <c>"observation"</c> or <c>"reward"</c>.</summary>
    public string Quantity { get; }

    /// <summary>The offending element, or -1 when the problem concerns the whole quantity (its length, or the scalar reward).</summary>
    public int Index { get; }

    /// <summary>The offending value: the element (or reward), or the length found when the length was wrong.</summary>
    public double Value { get; }

    static string Format(string id, long step, bool atReset, string quantity, int index, string problem)
    {
        string where = atReset ? $"step {step} (reset)" : $"step {step}";
        string what = index >= 0 ? $"{quantity}[{index}]" : quantity;
        return string.Create(CultureInfo.InvariantCulture, $"{id}, {where}: {what} {problem}");
    }
}
