using System;
using System.Numerics;

namespace Sac.Core.Compute;

/// <summary>
/// The one log-sum-exp of the library: the soft maximum <c>t * log(sum_i exp(x_i / t))</c> that every exact soft value
/// over a discrete set is (soft DQN's targets, soft dynamic programming, tabular soft Q-learning) and that Soft
/// Q-Learning's importance-sampled value is built on.
/// </summary>
public static class SoftMaximum
{
    /// <summary>
    /// <c>m + t * (log(sum_i exp((x_i - m) / t)) + offset)</c> with <c>m = max_i x_i</c>, in double: the soft maximum
    /// <c>t * logsumexp(x / t)</c> plus <c>t * offset</c>, shifted by the maximum so that no term overflows or
    /// underflows to a zero sum for any <c>t &gt; 0</c>, however small. The maximum's own term is <c>exp(0) = 1</c>, so
    /// with <c>offset = 0</c> the value lies in <c>[max x, max x + t log n]</c>; <c>t = 0</c> gives <c>max x</c>.
    /// </summary>
    /// <typeparam name="T">float or double.</typeparam>
    /// <param name="x">At least one value.</param>
    /// <param name="temperature">t, finite and at least 0 (checked by the callers, which name their own parameter).</param>
    /// <param name="offset">Added to the log-sum inside the scaling (Soft Q-Learning's <c>|A| log 2 - log M</c>); 0 for the plain soft maximum.</param>
    /// <returns>The value; the maximum itself when it is not finite (NaN when any input is NaN, +inf when any is +inf,
    /// -inf when all are).</returns>
    /// <exception cref="ArgumentException"><paramref name="x"/> is empty.</exception>
    public static double Of<T>(ReadOnlySpan<T> x, double temperature, double offset = 0.0) where T : IFloatingPointIeee754<T>
    {
        if (x.IsEmpty)
            throw new ArgumentException("the soft maximum needs at least one value; x is empty.", nameof(x));
        double m = double.NegativeInfinity;
        for (int i = 0; i < x.Length; i++)
        {
            double v = double.CreateTruncating(x[i]);
            if (double.IsNaN(v)) return double.NaN;
            if (v > m) m = v;
        }
        if (temperature == 0.0 || !double.IsFinite(m))
            return m;
        double sum = 0.0;
        for (int i = 0; i < x.Length; i++)
            sum += Math.Exp((double.CreateTruncating(x[i]) - m) / temperature);
        return m + temperature * (Math.Log(sum) + offset);
    }
}
