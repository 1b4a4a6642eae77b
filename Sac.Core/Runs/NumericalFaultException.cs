using System;

namespace Sac.Core.Runs;

/// <summary>
/// A loss, gradient or parameter became NaN or infinite. Thrown by a trainer at the update where the value first
/// appears, before anything is saved, so the last checkpoint written stays the last good one.
/// </summary>
public sealed class NumericalFaultException : Exception
{
    /// <summary>Describes a non-finite value found after an update.</summary>
    /// <param name="quantity">What held it, such as <c>"critic gradient"</c> or <c>"actor parameters"</c>.</param>
    /// <param name="environmentStep">The environment step whose update produced it.</param>
    /// <param name="update">The learner's update count at that update (1 for the first).</param>
    /// <param name="index">The element's index within <paramref name="quantity"/>, or -1 for a scalar.</param>
    /// <param name="value">The value found (NaN or an infinity).</param>
    public NumericalFaultException(string quantity, long environmentStep, long update, int index, float value)
        : base($"numerical fault at environment step {environmentStep} (update {update}): {quantity}{(index >= 0 ? $"[{index}]" : "")} is {Describe(value)}")
    {
        Quantity = quantity;
        EnvironmentStep = environmentStep;
        Update = update;
        Index = index;
        Value = value;
    }

    /// <summary>What held the value, such as <c>"critic loss"</c>, <c>"actor gradient"</c> or <c>"critic parameters"</c>.</summary>
    public string Quantity { get; }

    /// <summary>The environment step whose update produced the value.</summary>
    public long EnvironmentStep { get; }

    /// <summary>The learner's update count at that update (1 for the first).</summary>
    public long Update { get; }

    /// <summary>The element's index within <see cref="Quantity"/>, or -1 for a scalar.</summary>
    public int Index { get; }

    /// <summary>The value found: NaN or an infinity.</summary>
    public float Value { get; }

    static string Describe(float value) =>
        float.IsNaN(value) ? "NaN" : float.IsPositiveInfinity(value) ? "+infinity" : float.IsNegativeInfinity(value) ? "-infinity" : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
