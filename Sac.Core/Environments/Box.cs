using System;
using System.Text;

namespace Sac.Core.Environments;

/// <summary>
/// A box-shaped space: the Cartesian product of closed intervals <c>[Low[i], High[i]]</c>, as Gymnasium's
/// <c>spaces.Box</c> with <c>dtype=float32</c>. Used for both observation and action spaces.
/// </summary>
/// <remarks>
/// Bounds may be infinite (<c>Low[i] = -inf</c>, <c>High[i] = +inf</c>) for unbounded observation components; action
/// boxes that <see cref="RescaleAction"/> maps onto must be finite (<see cref="IsBounded"/>). The constructor copies the
/// bound arrays; treat <see cref="Low"/> and <see cref="High"/> as read-only. Equality compares the bounds element by
/// element.
/// </remarks>
public sealed record Box
{
    /// <summary>Makes a box from its per-component bounds, copying both arrays.</summary>
    /// <param name="low">Lower bounds, one per component; finite or <c>-inf</c>.</param>
    /// <param name="high">Upper bounds, one per component; finite or <c>+inf</c>, and at least <paramref name="low"/>.</param>
    /// <exception cref="ArgumentNullException">Either array is null.</exception>
    /// <exception cref="ArgumentException">
    /// The arrays are empty or differ in length, a bound is NaN, a lower bound is <c>+inf</c>, an upper bound is
    /// <c>-inf</c>, or some <c>low[i] &gt; high[i]</c>.
    /// </exception>
    public Box(float[] low, float[] high)
    {
        ArgumentNullException.ThrowIfNull(low);
        ArgumentNullException.ThrowIfNull(high);
        if (low.Length == 0)
            throw new ArgumentException("A box needs at least one dimension; low is empty.", nameof(low));
        if (low.Length != high.Length)
            throw new ArgumentException($"low has {low.Length} components but high has {high.Length}.", nameof(high));
        for (int i = 0; i < low.Length; i++)
        {
            float lo = low[i], hi = high[i];
            if (float.IsNaN(lo) || float.IsNaN(hi))
                throw new ArgumentException($"Component {i} has a NaN bound [{lo}, {hi}].", float.IsNaN(lo) ? nameof(low) : nameof(high));
            if (float.IsPositiveInfinity(lo))
                throw new ArgumentException($"Component {i} has lower bound +inf.", nameof(low));
            if (float.IsNegativeInfinity(hi))
                throw new ArgumentException($"Component {i} has upper bound -inf.", nameof(high));
            if (lo > hi)
                throw new ArgumentException($"Component {i} has low {lo} > high {hi}.", nameof(low));
        }
        Low = (float[])low.Clone();
        High = (float[])high.Clone();
    }

    /// <summary>Makes the box <c>[low, high]^dimension</c>, the same interval in every component.</summary>
    /// <param name="dimension">Number of components, at least 1.</param>
    /// <param name="low">Lower bound of every component.</param>
    /// <param name="high">Upper bound of every component.</param>
    /// <returns>The box.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimension"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">The bounds are invalid, as for the main constructor.</exception>
    public static Box Uniform(int dimension, float low, float high)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        var lo = new float[dimension];
        var hi = new float[dimension];
        Array.Fill(lo, low);
        Array.Fill(hi, high);
        return new Box(lo, hi);
    }

    /// <summary>Per-component lower bounds (a private copy; do not modify).</summary>
    public float[] Low { get; }

    /// <summary>Per-component upper bounds (a private copy; do not modify).</summary>
    public float[] High { get; }

    /// <summary>Number of components, <c>Low.Length</c>.</summary>
    public int Dimension => Low.Length;

    /// <summary>True when every bound is finite, so points of the box can be mapped to and from <c>[-1, 1]^n</c>.</summary>
    public bool IsBounded
    {
        get
        {
            for (int i = 0; i < Low.Length; i++)
                if (!float.IsFinite(Low[i]) || !float.IsFinite(High[i])) return false;
            return true;
        }
    }

    /// <summary>
    /// Whether <paramref name="x"/> lies in the box: it has <see cref="Dimension"/> components and
    /// <c>Low[i] &lt;= x[i] &lt;= High[i]</c> for each (so a NaN component is never contained).
    /// </summary>
    /// <param name="x">The point to test.</param>
    /// <returns>True when the point is inside the closed box.</returns>
    public bool Contains(ReadOnlySpan<float> x)
    {
        if (x.Length != Low.Length) return false;
        for (int i = 0; i < x.Length; i++)
            if (!(x[i] >= Low[i] && x[i] <= High[i])) return false;
        return true;
    }

    /// <summary>Whether <paramref name="other"/> has the same bounds, component by component.</summary>
    /// <param name="other">The box to compare with.</param>
    /// <returns>True when both boxes have equal <see cref="Low"/> and <see cref="High"/> sequences.</returns>
    public bool Equals(Box? other) =>
        other is not null && Low.AsSpan().SequenceEqual(other.Low) && High.AsSpan().SequenceEqual(other.High);

    /// <summary>A hash of the bounds, consistent with <see cref="Equals(Box)"/>.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (float v in Low) h.Add(v);
        foreach (float v in High) h.Add(v);
        return h.ToHashCode();
    }

    /// <summary>Writes the box as <c>Box([lo0, lo1], [hi0, hi1])</c>.</summary>
    /// <param name="builder">Where the record's members are written.</param>
    /// <returns>True: members were written.</returns>
    bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Low = [").AppendJoin(", ", Low).Append("], High = [").AppendJoin(", ", High).Append(']');
        return true;
    }
}
