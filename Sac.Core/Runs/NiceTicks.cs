using System;
using System.Globalization;

namespace Sac.Core.Runs;

/// <summary>An axis from "nice" ticks: the range widened to whole steps, the step of the form 1, 2 or 5 times a power of ten.</summary>
/// <param name="Min">The first tick, at or below the smallest value.</param>
/// <param name="Max">The last tick, at or above the largest value.</param>
/// <param name="Step">The distance between ticks.</param>
/// <param name="Ticks">The tick values from <paramref name="Min"/> to <paramref name="Max"/>.</param>
/// <param name="Labels">The tick labels, formatted with exactly the decimals the step needs.</param>
internal sealed record AxisScale(double Min, double Max, double Step, double[] Ticks, string[] Labels);

/// <summary>Chooses axis ticks a reader can count in: steps of 1, 2 or 5 times a power of ten (Heckbert, "Nice numbers for graph labels", 1990).</summary>
internal static class NiceTicks
{
    // A bound on ticks whatever rounding does, so a pathological range cannot produce a huge SVG.
    const int MaxTicks = 40;

    /// <summary>A scale covering <c>[min, max]</c> with about <paramref name="target"/> intervals; both must be finite, and equal values are widened first.</summary>
    public static AxisScale For(double min, double max, int target = 5)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max))
            throw new ArgumentException($"Axis limits must be finite, got [{min}, {max}].");
        if (min > max) (min, max) = (max, min);
        if (min == max)
        {
            // A constant series still needs an axis; centre it in a band of ±10% (or ±1 around zero).
            double pad = min == 0 ? 1 : Math.Abs(min) * 0.1;
            min -= pad;
            max += pad;
        }

        // Divide before subtracting, so a range near double.MaxValue does not overflow.
        double step = Nice(max / target - min / target);
        int exponent = (int)Math.Floor(Math.Log10(step) + 1e-9);
        int decimals = Math.Clamp(-exponent, 0, 15);
        double first = Math.Floor(min / step), last = Math.Ceiling(max / step);
        int count = (int)Math.Min(last - first + 1, MaxTicks);
        var ticks = new double[count];
        var labels = new string[count];
        for (int i = 0; i < count; i++)
        {
            // k * step from integers, not repeated addition, so errors do not accumulate along the axis.
            ticks[i] = (first + i) * step;
            labels[i] = Format(ticks[i], decimals);
        }
        return new AxisScale(ticks[0], ticks[^1], step, ticks, labels);
    }

    /// <summary>Rounds a rough step to the nearest of 1, 2, 5 or 10 times a power of ten.</summary>
    static double Nice(double rough)
    {
        if (!(rough > 0) || !double.IsFinite(rough)) return 1;
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double fraction = rough / power;
        double nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
        return nice * power;
    }

    /// <summary>A tick value as text: fixed-point with the step's decimals, or scientific for very large or small magnitudes.</summary>
    public static string Format(double value, int decimals)
    {
        double rounded = Math.Round(value, decimals);
        if (rounded == 0) return "0"; // never "-0"
        double magnitude = Math.Abs(rounded);
        if (magnitude >= 1e9 || decimals > 6)
            return rounded.ToString("0.######E+0", CultureInfo.InvariantCulture);
        return rounded.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }
}
