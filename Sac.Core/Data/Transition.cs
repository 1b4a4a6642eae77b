using System;
using System.Text;

namespace Sac.Core.Data;

/// <summary>
/// One environment step <c>(s, a, r, s', terminated, truncated)</c> with Gymnasium's step semantics. Every field is
/// checked when it is set, by the constructor or by a <c>with</c> expression, and a bad value throws
/// <see cref="ArgumentException"/> naming the field (and the index, for a non-finite array element).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Terminated"/> and <see cref="Truncated"/> are kept apart on purpose: a terminated step is a true end of
/// the task, so its target does not bootstrap (<c>y = r</c>); a truncated step only hit a time limit, so its target
/// still bootstraps from <see cref="NextObservation"/>. Folding the two into one <c>done</c> flag is the classic bug
/// that biases values near time limits.
/// </para>
/// <para>
/// The arrays are copied when set, so reusing an observation buffer in an environment loop cannot change a transition
/// already made. The properties hand out those private copies; treat them as read-only. Equality compares array
/// contents, not references, so two transitions holding the same numbers are equal.
/// </para>
/// <para>
/// A <c>with</c> expression sets its properties one at a time against the existing values, so changing the
/// observation length needs a new <see cref="Transition"/>: <c>t with { Observation = longer }</c> fails because
/// <see cref="NextObservation"/> still has the old length.
/// </para>
/// </remarks>
/// <param name="Observation">The observation <c>s</c> the action was taken in; non-empty, finite.</param>
/// <param name="Action">The action <c>a</c> taken; non-empty, finite.</param>
/// <param name="Reward">The reward <c>r</c> received for the step; finite.</param>
/// <param name="NextObservation">The observation <c>s'</c> after the step; the same length as <paramref name="Observation"/>, finite.</param>
/// <param name="Terminated">The step reached a terminal state: the target must not bootstrap from <c>s'</c>.</param>
/// <param name="Truncated">The episode was cut off (time limit) without reaching a terminal state: the target still bootstraps.</param>
public sealed record Transition(
    float[] Observation,
    float[] Action,
    float Reward,
    float[] NextObservation,
    bool Terminated,
    bool Truncated)
{
    /// <summary>The observation <c>s</c> the action was taken in; non-empty, every value finite. A private copy of what was set.</summary>
    // In a `with` expression the setter runs on a clone, so this.NextObservation is the length it must still match.
    public float[] Observation { get; init => field = CheckObservation(value, this.NextObservation); }
        // Initializers run in declaration order, so NextObservation is still null here and is compared when it is set.
        = CheckObservation(Observation, null);

    /// <summary>The action <c>a</c> taken; non-empty, every value finite. A private copy of what was set.</summary>
    public float[] Action { get; init => field = CheckVector(value, nameof(Action)); }
        = CheckVector(Action, nameof(Action));

    /// <summary>The reward <c>r</c> received for the step; finite.</summary>
    public float Reward { get; init => field = CheckReward(value); } = CheckReward(Reward);

    /// <summary>
    /// The observation <c>s'</c> after the step; the same length as <see cref="Observation"/>, every value finite.
    /// It is stored even when <see cref="Terminated"/> is set (the target ignores it then), so the replay layout is uniform.
    /// </summary>
    public float[] NextObservation { get; init => field = CheckNextObservation(value, this.Observation); }
        = CheckNextObservation(NextObservation, Observation);

    /// <summary>The step reached a terminal state, so the soft Bellman target is <c>r</c> alone (no bootstrap).</summary>
    public bool Terminated { get; init; } = Terminated;

    /// <summary>The episode was cut off by a time limit; the target still bootstraps from <see cref="NextObservation"/>.</summary>
    public bool Truncated { get; init; } = Truncated;

    /// <summary>Compares all six fields, the arrays element by element.</summary>
    /// <param name="other">The transition to compare with.</param>
    /// <returns><see langword="true"/> when every field, and every array element, is equal.</returns>
    public bool Equals(Transition? other) =>
        other is not null
        && Reward.Equals(other.Reward)
        && Terminated == other.Terminated
        && Truncated == other.Truncated
        && Observation.AsSpan().SequenceEqual(other.Observation)
        && Action.AsSpan().SequenceEqual(other.Action)
        && NextObservation.AsSpan().SequenceEqual(other.NextObservation);

    /// <summary>A hash over all six fields that agrees with <see cref="Equals(Transition)"/> (array contents, not references).</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Reward);
        hash.Add(Terminated);
        hash.Add(Truncated);
        // float.GetHashCode maps 0 and -0 to the same value, as Equals treats them as equal.
        foreach (float x in Observation) hash.Add(x);
        foreach (float x in Action) hash.Add(x);
        foreach (float x in NextObservation) hash.Add(x);
        return hash.ToHashCode();
    }

    // Replaces the synthesized member list so ToString shows array contents instead of "System.Single[]".
    bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Observation = ");
        AppendArray(builder, Observation);
        builder.Append(", Action = ");
        AppendArray(builder, Action);
        builder.Append(", Reward = ").Append(Reward);
        builder.Append(", NextObservation = ");
        AppendArray(builder, NextObservation);
        builder.Append(", Terminated = ").Append(Terminated);
        builder.Append(", Truncated = ").Append(Truncated);
        return true;
    }

    static void AppendArray(StringBuilder builder, float[] values)
    {
        builder.Append('[');
        for (int i = 0; i < values.Length; i++)
        {
            if (i > 0) builder.Append(", ");
            builder.Append(values[i]);
        }
        builder.Append(']');
    }

    static float[] CheckVector(float[]? value, string name)
    {
        if (value is null)
            throw new ArgumentNullException(name, $"{name} must not be null.");
        if (value.Length == 0)
            throw new ArgumentException($"{name} must have at least one element.", name);
        DataChecks.Finite(value, name);
        return (float[])value.Clone();
    }

    static float[] CheckObservation(float[]? value, float[]? nextObservation)
    {
        float[] copy = CheckVector(value, nameof(Observation));
        if (nextObservation is not null && nextObservation.Length != copy.Length)
            throw new ArgumentException(
                $"{nameof(Observation)} has {copy.Length} elements but {nameof(NextObservation)} has {nextObservation.Length}; they must match.",
                nameof(Observation));
        return copy;
    }

    static float[] CheckNextObservation(float[]? value, float[]? observation)
    {
        float[] copy = CheckVector(value, nameof(NextObservation));
        if (observation is not null && observation.Length != copy.Length)
            throw new ArgumentException(
                $"{nameof(NextObservation)} has {copy.Length} elements but {nameof(Observation)} has {observation.Length}; they must match.",
                nameof(NextObservation));
        return copy;
    }

    static float CheckReward(float value)
    {
        if (!float.IsFinite(value))
            throw new ArgumentException($"{nameof(Reward)} must be finite, got {value}.", nameof(Reward));
        return value;
    }
}
