using System;

namespace Sac.Core.Data;

/// <summary>
/// A minibatch of transitions in structure-of-arrays layout: one flat, row-major array per field, allocated once and
/// refilled by <see cref="ReplayBuffer.Sample(Random.PhiloxKey, ulong, Batch)"/> at every update, so the training loop
/// allocates nothing per step. Row <c>j</c> of every array belongs to the same transition.
/// </summary>
/// <remarks>
/// The arrays are exposed directly because the update kernels (GEMM, fused ops, the CUDA upload) read them in place;
/// the sizes never change after construction. The flags are floats rather than booleans so the soft Bellman target
/// can use them arithmetically: <c>y = r + gamma * (1 - terminated) * (min Q'(s', a') - alpha * log pi(a'|s'))</c>.
/// </remarks>
public sealed class Batch
{
    /// <summary>Allocates a zeroed batch of <paramref name="size"/> rows.</summary>
    /// <param name="size">Number of transitions per batch; at least 1.</param>
    /// <param name="observationSize">Length of one observation; at least 1.</param>
    /// <param name="actionSize">Length of one action; at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is below 1 (the exception names which).</exception>
    /// <exception cref="ArgumentException">A field's array would exceed the largest .NET array.</exception>
    public Batch(int size, int observationSize, int actionSize)
    {
        Size = DataChecks.Positive(size, nameof(size));
        ObservationSize = DataChecks.Positive(observationSize, nameof(observationSize));
        ActionSize = DataChecks.Positive(actionSize, nameof(actionSize));
        Observations = new float[DataChecks.ArrayLength(size, nameof(size), observationSize, nameof(observationSize))];
        Actions = new float[DataChecks.ArrayLength(size, nameof(size), actionSize, nameof(actionSize))];
        Rewards = new float[size];
        NextObservations = new float[Observations.Length];
        Terminated = new float[size];
        Truncated = new float[size];
    }

    /// <summary>Number of transitions (rows) in the batch.</summary>
    public int Size { get; }

    /// <summary>Length of one observation (columns of <see cref="Observations"/> and <see cref="NextObservations"/>).</summary>
    public int ObservationSize { get; }

    /// <summary>Length of one action (columns of <see cref="Actions"/>).</summary>
    public int ActionSize { get; }

    /// <summary>Observations <c>s</c>, row-major <c>[Size x ObservationSize]</c>: row <c>j</c> starts at <c>j * ObservationSize</c>.</summary>
    public float[] Observations { get; }

    /// <summary>Actions <c>a</c>, row-major <c>[Size x ActionSize]</c>: row <c>j</c> starts at <c>j * ActionSize</c>.</summary>
    public float[] Actions { get; }

    /// <summary>Rewards <c>r</c>, one per row <c>[Size]</c>.</summary>
    public float[] Rewards { get; }

    /// <summary>Next observations <c>s'</c>, row-major <c>[Size x ObservationSize]</c>, laid out as <see cref="Observations"/>.</summary>
    public float[] NextObservations { get; }

    /// <summary>
    /// <c>1f</c> where the step reached a terminal state, else <c>0f</c>, one per row <c>[Size]</c>. The target folds it
    /// into the discount as <c>gamma * (1 - terminated)</c>, so terminal rows do not bootstrap.
    /// </summary>
    public float[] Terminated { get; }

    /// <summary>
    /// <c>1f</c> where the episode was cut off by a time limit, else <c>0f</c>, one per row <c>[Size]</c>. Kept for
    /// diagnostics only: a truncated step still bootstraps, so the target must not use this to stop bootstrapping.
    /// </summary>
    public float[] Truncated { get; }

    /// <summary>The observation of row <paramref name="row"/>, a view into <see cref="Observations"/>.</summary>
    /// <param name="row">Row number in <c>[0, Size)</c>.</param>
    /// <returns>A span of <see cref="ObservationSize"/> floats.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="row"/> is outside <c>[0, Size)</c>.</exception>
    public Span<float> ObservationRow(int row) => Observations.AsSpan(CheckRow(row) * ObservationSize, ObservationSize);

    /// <summary>The action of row <paramref name="row"/>, a view into <see cref="Actions"/>.</summary>
    /// <param name="row">Row number in <c>[0, Size)</c>.</param>
    /// <returns>A span of <see cref="ActionSize"/> floats.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="row"/> is outside <c>[0, Size)</c>.</exception>
    public Span<float> ActionRow(int row) => Actions.AsSpan(CheckRow(row) * ActionSize, ActionSize);

    /// <summary>The next observation of row <paramref name="row"/>, a view into <see cref="NextObservations"/>.</summary>
    /// <param name="row">Row number in <c>[0, Size)</c>.</param>
    /// <returns>A span of <see cref="ObservationSize"/> floats.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="row"/> is outside <c>[0, Size)</c>.</exception>
    public Span<float> NextObservationRow(int row) => NextObservations.AsSpan(CheckRow(row) * ObservationSize, ObservationSize);

    int CheckRow(int row)
    {
        if ((uint)row >= (uint)Size)
            throw new ArgumentOutOfRangeException(nameof(row), row, $"row must lie in [0, {Size}), got {row}.");
        return row;
    }
}
