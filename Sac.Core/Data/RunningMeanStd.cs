using System;
using System.Numerics;

namespace Sac.Core.Data;

/// <summary>
/// Running mean and variance of a stream of vectors, as Stable-Baselines3's <c>RunningMeanStd</c>: each batch's mean
/// and (population) variance are merged into the totals with the parallel-moments rule, starting from mean 0,
/// variance 1 and a count of <see cref="InitialCount"/>. In float64; allocation-free after construction.
/// </summary>
public sealed class RunningMeanStd
{
    /// <summary>The count the statistics start from (SB3's epsilon, 1e-4): it keeps the first merge finite.</summary>
    public const double InitialCount = 1e-4;

    readonly double[] mean;
    readonly double[] variance;
    readonly double[] batchMean;
    readonly double[] batchVariance;

    /// <summary>Fresh statistics of vectors of <paramref name="size"/> values: mean 0, variance 1, count <see cref="InitialCount"/>.</summary>
    /// <param name="size">Values per vector; at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is below 1.</exception>
    public RunningMeanStd(int size)
    {
        Size = DataChecks.Positive(size, nameof(size));
        mean = new double[size];
        variance = new double[size];
        batchMean = new double[size];
        batchVariance = new double[size];
        variance.AsSpan().Fill(1.0);
        Count = InitialCount;
    }

    /// <summary>Values per vector.</summary>
    public int Size { get; }

    /// <summary>The running mean, one value per position.</summary>
    public ReadOnlySpan<double> Mean => mean;

    /// <summary>The running (population) variance, one value per position; never negative.</summary>
    public ReadOnlySpan<double> Variance => variance;

    /// <summary>The vectors seen so far, plus <see cref="InitialCount"/>.</summary>
    public double Count { get; private set; }

    /// <summary>Merges <paramref name="count"/> vectors, row-major in <paramref name="rows"/>, into the statistics.</summary>
    /// <param name="rows">count x <see cref="Size"/> values.</param>
    /// <param name="count">Rows; at least 1.</param>
    /// <exception cref="ArgumentException"><paramref name="rows"/> does not hold <paramref name="count"/> rows.</exception>
    public void Update(ReadOnlySpan<float> rows, int count) => Accumulate(rows, count);

    /// <summary>Merges <paramref name="count"/> vectors of float64 values; see the float32 overload.</summary>
    /// <param name="rows">count x <see cref="Size"/> values.</param>
    /// <param name="count">Rows; at least 1.</param>
    /// <exception cref="ArgumentException"><paramref name="rows"/> does not hold <paramref name="count"/> rows.</exception>
    public void Update(ReadOnlySpan<double> rows, int count) => Accumulate(rows, count);

    // The batch's mean and population variance (in float64), then the merge.
    void Accumulate<T>(ReadOnlySpan<T> rows, int count) where T : INumberBase<T>
    {
        CheckRows(rows.Length, count);
        int n = Size;
        batchMean.AsSpan().Clear();
        batchVariance.AsSpan().Clear();
        for (int i = 0; i < count; i++)
            for (int j = 0; j < n; j++) batchMean[j] += double.CreateTruncating(rows[i * n + j]);
        for (int j = 0; j < n; j++) batchMean[j] /= count;
        for (int i = 0; i < count; i++)
            for (int j = 0; j < n; j++)
            {
                double d = double.CreateTruncating(rows[i * n + j]) - batchMean[j];
                batchVariance[j] += d * d;
            }
        for (int j = 0; j < n; j++) batchVariance[j] /= count;
        Merge(count);
    }

    // Chan et al.'s parallel moments: the batch's mean and M2 joined to the totals'.
    void Merge(int count)
    {
        double total = Count + count;
        for (int j = 0; j < Size; j++)
        {
            double delta = batchMean[j] - mean[j];
            double m2 = variance[j] * Count + batchVariance[j] * count + delta * delta * Count * count / total;
            mean[j] += delta * count / total;
            variance[j] = m2 / total;
        }
        Count = total;
    }

    void CheckRows(int length, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one row is needed.");
        if (length != (long)count * Size)
            throw new ArgumentException($"Expected {count} rows of {Size} values ({(long)count * Size}), got {length}.", "rows");
    }

    /// <summary>Sets the statistics (a checkpoint's): <paramref name="newMean"/> and <paramref name="newVariance"/>
    /// of <see cref="Size"/> finite values, the variances non-negative, and a finite count of at least
    /// <see cref="InitialCount"/>.</summary>
    /// <param name="newMean">The mean.</param>
    /// <param name="newVariance">The variance.</param>
    /// <param name="count">The count.</param>
    /// <exception cref="ArgumentException">A length, value or the count is out of range (the message names it).</exception>
    public void Restore(ReadOnlySpan<double> newMean, ReadOnlySpan<double> newVariance, double count)
    {
        if (newMean.Length != Size) throw new ArgumentException($"The mean has {newMean.Length} values, the statistics {Size}.", nameof(newMean));
        if (newVariance.Length != Size) throw new ArgumentException($"The variance has {newVariance.Length} values, the statistics {Size}.", nameof(newVariance));
        for (int j = 0; j < Size; j++)
        {
            if (!double.IsFinite(newMean[j])) throw new ArgumentException($"mean[{j}] is {newMean[j]}; it must be finite.", nameof(newMean));
            if (!(double.IsFinite(newVariance[j]) && newVariance[j] >= 0))
                throw new ArgumentException($"variance[{j}] is {newVariance[j]}; it must be finite and non-negative.", nameof(newVariance));
        }
        if (!(double.IsFinite(count) && count >= InitialCount))
            throw new ArgumentException($"The count is {count}; it must be finite and at least {InitialCount}.", nameof(count));
        newMean.CopyTo(mean);
        newVariance.CopyTo(variance);
        Count = count;
    }
}
