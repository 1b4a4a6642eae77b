using System;
using System.Runtime.Intrinsics.X86;
using Sac.Core.Compute;
using Sac.Core.Random;

namespace Sac.Core.Data;

/// <summary>
/// A fixed-capacity experience replay buffer: a ring of transitions stored as structure-of-arrays (one preallocated,
/// row-major array per field), with uniform sampling with replacement driven only by an explicit Philox key.
/// </summary>
/// <remarks>
/// <para>
/// <b>Layout.</b> Transition number <c>t</c> (counting from 0 over the buffer's whole life) is written to slot
/// <c>t % Capacity</c>; when the ring is full, each <see cref="Add(ReadOnlySpan{float}, ReadOnlySpan{float}, float, ReadOnlySpan{float}, bool, bool)"/>
/// overwrites the oldest transition. Slots <c>[0, Count)</c> are always the stored ones, so <see cref="Position"/> is
/// both the next slot written and, once the ring is full, the slot of the oldest transition.
/// </para>
/// <para>
/// <b>Sampling.</b> Row <c>j</c> of draw number <c>d</c> with batch size <c>B</c> is slot
/// <c>Philox.UniformInt(key, d * B + j, Count)</c>. The batch is thus a pure function of the key, the draw number,
/// the batch size and the stored data, whatever was sampled before; distinct draws read disjoint stream indices. The
/// caller owns the key (give replay its own, e.g. by <see cref="PhiloxKey.Split(int)"/>) and counts draws, typically
/// one per gradient step.
/// </para>
/// <para>
/// <b>Terminated vs truncated.</b> Both flags are stored, independently: <c>terminated</c> stops bootstrapping,
/// <c>truncated</c> (a time limit) does not and is kept for diagnostics.
/// </para>
/// <para>
/// <b>Checkpoints.</b> <see cref="Observations"/>, <see cref="Actions"/>, <see cref="Rewards"/>,
/// <see cref="NextObservations"/>, <see cref="Terminated"/>, <see cref="Truncated"/> and <see cref="TotalAdded"/> are
/// the complete state; <see cref="Restore"/> rebuilds a buffer that stores, adds and samples exactly as the original.
/// </para>
/// <para>Not thread-safe: one writer, and no sampling while adding.</para>
/// </remarks>
public sealed class ReplayBuffer
{
    readonly float[] observations;
    readonly float[] actions;
    readonly float[] rewards;
    readonly float[] nextObservations;
    // Flags as 0f/1f so sampling copies them straight into a Batch, whose target arithmetic wants floats.
    readonly float[] terminated;
    readonly float[] truncated;
    // The slots of the batch being sampled: grown to the largest batch once, then reused.
    int[] slotScratch = Array.Empty<int>();

    /// <summary>Allocates an empty buffer; all memory is taken here, none later.</summary>
    /// <param name="capacity">Maximum number of transitions kept; at least 1 (SB3's <c>buffer_size</c>).</param>
    /// <param name="observationSize">Length of one observation; at least 1.</param>
    /// <param name="actionSize">Length of one action; at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is below 1 (the exception names which).</exception>
    /// <exception cref="ArgumentException"><c>capacity * observationSize</c> or <c>capacity * actionSize</c> exceeds the largest .NET array.</exception>
    public ReplayBuffer(int capacity, int observationSize, int actionSize)
    {
        Capacity = DataChecks.Positive(capacity, nameof(capacity));
        ObservationSize = DataChecks.Positive(observationSize, nameof(observationSize));
        ActionSize = DataChecks.Positive(actionSize, nameof(actionSize));
        observations = new float[DataChecks.ArrayLength(capacity, nameof(capacity), observationSize, nameof(observationSize))];
        actions = new float[DataChecks.ArrayLength(capacity, nameof(capacity), actionSize, nameof(actionSize))];
        rewards = new float[capacity];
        nextObservations = new float[observations.Length];
        terminated = new float[capacity];
        truncated = new float[capacity];
    }

    /// <summary>Maximum number of transitions kept; the oldest is overwritten beyond it.</summary>
    public int Capacity { get; }

    /// <summary>Length of one observation.</summary>
    public int ObservationSize { get; }

    /// <summary>Length of one action.</summary>
    public int ActionSize { get; }

    /// <summary>Number of transitions stored: <c>min(TotalAdded, Capacity)</c>. They occupy slots <c>[0, Count)</c>.</summary>
    public int Count { get; private set; }

    /// <summary>The slot the next transition goes to, <c>TotalAdded % Capacity</c>; once the buffer is full, also the slot of the oldest transition.</summary>
    public int Position { get; private set; }

    /// <summary>Number of transitions ever added, including those since overwritten.</summary>
    public long TotalAdded { get; private set; }

    /// <summary>Stored observations, row-major <c>[Count x ObservationSize]</c> by slot (not by age); row <c>i</c> is slot <c>i</c>.</summary>
    public ReadOnlySpan<float> Observations => observations.AsSpan(0, Count * ObservationSize);

    /// <summary>Stored actions, row-major <c>[Count x ActionSize]</c> by slot.</summary>
    public ReadOnlySpan<float> Actions => actions.AsSpan(0, Count * ActionSize);

    /// <summary>Stored rewards <c>[Count]</c> by slot.</summary>
    public ReadOnlySpan<float> Rewards => rewards.AsSpan(0, Count);

    /// <summary>Stored next observations, row-major <c>[Count x ObservationSize]</c> by slot.</summary>
    public ReadOnlySpan<float> NextObservations => nextObservations.AsSpan(0, Count * ObservationSize);

    /// <summary>Stored terminated flags <c>[Count]</c> by slot, each exactly <c>0f</c> or <c>1f</c>.</summary>
    public ReadOnlySpan<float> Terminated => terminated.AsSpan(0, Count);

    /// <summary>Stored truncated flags <c>[Count]</c> by slot, each exactly <c>0f</c> or <c>1f</c>.</summary>
    public ReadOnlySpan<float> Truncated => truncated.AsSpan(0, Count);

    /// <summary>
    /// Stores one transition in O(1) without allocating, overwriting the oldest when the buffer is full. The inputs are
    /// copied; the caller may reuse its buffers at once. Everything is checked before anything is written, so a
    /// rejected transition leaves the buffer unchanged.
    /// </summary>
    /// <param name="observation">The observation <c>s</c>; <see cref="ObservationSize"/> finite values.</param>
    /// <param name="action">The action <c>a</c>; <see cref="ActionSize"/> finite values.</param>
    /// <param name="reward">The reward <c>r</c>; finite.</param>
    /// <param name="nextObservation">The next observation <c>s'</c>; <see cref="ObservationSize"/> finite values.</param>
    /// <param name="terminated">The step reached a terminal state (no bootstrap).</param>
    /// <param name="truncated">The episode was cut off by a time limit (still bootstraps).</param>
    /// <exception cref="ArgumentException">A span has the wrong length, or a value is not finite (the exception names the argument and index).</exception>
    public void Add(
        ReadOnlySpan<float> observation,
        ReadOnlySpan<float> action,
        float reward,
        ReadOnlySpan<float> nextObservation,
        bool terminated,
        bool truncated)
    {
        CheckLength(observation.Length, ObservationSize, nameof(observation), nameof(ObservationSize));
        CheckLength(action.Length, ActionSize, nameof(action), nameof(ActionSize));
        CheckLength(nextObservation.Length, ObservationSize, nameof(nextObservation), nameof(ObservationSize));
        DataChecks.Finite(observation, nameof(observation));
        DataChecks.Finite(action, nameof(action));
        if (!float.IsFinite(reward))
            throw new ArgumentException($"reward must be finite, got {reward}.", nameof(reward));
        DataChecks.Finite(nextObservation, nameof(nextObservation));

        int slot = Position;
        observation.CopyTo(observations.AsSpan(slot * ObservationSize, ObservationSize));
        action.CopyTo(actions.AsSpan(slot * ActionSize, ActionSize));
        rewards[slot] = reward;
        nextObservation.CopyTo(nextObservations.AsSpan(slot * ObservationSize, ObservationSize));
        this.terminated[slot] = terminated ? 1f : 0f;
        this.truncated[slot] = truncated ? 1f : 0f;

        Position = slot + 1 == Capacity ? 0 : slot + 1;
        if (Count < Capacity) Count++;
        TotalAdded++;
    }

    /// <summary>Stores <paramref name="transition"/>; see the span overload. Convenient, but the transition itself was an allocation.</summary>
    /// <param name="transition">The transition; its observation and action lengths must match the buffer's.</param>
    /// <exception cref="ArgumentNullException"><paramref name="transition"/> is null.</exception>
    /// <exception cref="ArgumentException">An array length differs from the buffer's sizes.</exception>
    public void Add(Transition transition)
    {
        ArgumentNullException.ThrowIfNull(transition);
        Add(transition.Observation, transition.Action, transition.Reward, transition.NextObservation,
            transition.Terminated, transition.Truncated);
    }

    /// <summary>
    /// Fills <paramref name="into"/> with <c>into.Size</c> transitions drawn uniformly, with replacement, from the
    /// stored ones: row <c>j</c> is slot <c>Philox.UniformInt(key, draw * into.Size + j, Count)</c>. Deterministic
    /// and allocation-free; the same key, draw, batch size and contents always give the same batch.
    /// </summary>
    /// <param name="key">The replay sampling key; give replay a key of its own.</param>
    /// <param name="draw">The draw number, usually the gradient-step count; distinct draws use disjoint stream indices.</param>
    /// <param name="into">The batch to overwrite; its observation and action sizes must match the buffer's.</param>
    /// <exception cref="ArgumentNullException"><paramref name="into"/> is null.</exception>
    /// <exception cref="ArgumentException">The batch's observation or action size differs from the buffer's.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>draw * into.Size</c> passes the last stream index.</exception>
    /// <exception cref="InvalidOperationException">The buffer is empty.</exception>
    public void Sample(PhiloxKey key, ulong draw, Batch into)
    {
        Span<int> slots = SlotsFor(into);
        SampleSlots(key, draw, slots);
        Gather(slots, into, 0, into.Size);
    }

    /// <summary>
    /// <see cref="Sample(PhiloxKey, ulong, Batch)"/> with the batch's rows shared among the parts of
    /// <paramref name="team"/>: each part draws and copies its own run of rows, so the cache misses of a buffer far
    /// larger than the caches are waited on by every core at once. The batch is the same whatever the team's size.
    /// </summary>
    /// <param name="key">The replay sampling key.</param>
    /// <param name="draw">The draw number.</param>
    /// <param name="into">The batch to overwrite; its observation and action sizes must match the buffer's.</param>
    /// <param name="team">The threads to share the rows among; one part samples as the three-argument overload.</param>
    /// <exception cref="ArgumentNullException"><paramref name="into"/> or <paramref name="team"/> is null.</exception>
    /// <exception cref="ArgumentException">The batch's observation or action size differs from the buffer's.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>draw * into.Size</c> passes the last stream index.</exception>
    /// <exception cref="InvalidOperationException">The buffer is empty.</exception>
    public void Sample(PhiloxKey key, ulong draw, Batch into, WorkerTeam team)
    {
        ArgumentNullException.ThrowIfNull(team);
        if (team.Size == 1) { Sample(key, draw, into); return; }
        SlotsFor(into);
        // Every check is made here, so no part can fail.
        sharedDraw ??= new SharedDraw(this);
        sharedDraw.Set(key, FirstStreamIndex(draw, into.Size), into);
        try { team.Run(sharedDraw); }
        finally { sharedDraw.Clear(); }
    }

    SharedDraw? sharedDraw;

    // The slot scratch for a batch of into's size, once into is checked against the buffer's sizes.
    Span<int> SlotsFor(Batch into)
    {
        ArgumentNullException.ThrowIfNull(into);
        CheckLength(into.ObservationSize, ObservationSize, "into.ObservationSize", nameof(ObservationSize));
        CheckLength(into.ActionSize, ActionSize, "into.ActionSize", nameof(ActionSize));
        if (slotScratch.Length < into.Size) slotScratch = new int[into.Size];
        return slotScratch.AsSpan(0, into.Size);
    }

    // One batch drawn by the parts of a team, each its own run of rows.
    sealed class SharedDraw(ReplayBuffer buffer) : IPartitionedWork
    {
        PhiloxKey key;
        ulong first;
        Batch? into;

        public void Set(PhiloxKey key, ulong first, Batch into) { this.key = key; this.first = first; this.into = into; }
        public void Clear() => into = null;

        public void Execute(int part, int parts)
        {
            Batch batch = into!;
            int size = batch.Size, j0 = (int)((long)size * part / parts), j1 = (int)((long)size * (part + 1) / parts);
            Span<int> slots = buffer.slotScratch.AsSpan(0, size);
            buffer.DrawSlots(key, first, slots, j0, j1);
            buffer.Gather(slots, batch, j0, j1);
        }
    }

    // Rows PrefetchDistance ahead are requested while the current row is copied: the slots are random over a buffer
    // far larger than the caches, so a plain loop waits on one row's misses at a time (137 us for 256 rows of a 1M
    // buffer against 75 with the misses in flight together).
    const int PrefetchDistance = 16;

    // Rows [j0, j1) of the batch from their slots.
    unsafe void Gather(ReadOnlySpan<int> slots, Batch into, int j0, int j1)
    {
        int o = ObservationSize, a = ActionSize;
        float[] bObs = into.Observations, bAct = into.Actions, bNext = into.NextObservations;
        fixed (float* obs = observations, act = actions, rew = rewards, next = nextObservations, term = terminated, trunc = truncated)
        {
            for (int j = j0; j < j1; j++)
            {
                if (Sse.IsSupported && j + PrefetchDistance < j1)
                {
                    long ahead = slots[j + PrefetchDistance];
                    Sse.Prefetch0(obs + ahead * o);
                    Sse.Prefetch0(obs + ahead * o + o - 1);
                    Sse.Prefetch0(next + ahead * o);
                    Sse.Prefetch0(next + ahead * o + o - 1);
                    Sse.Prefetch0(act + ahead * a);
                    Sse.Prefetch0(act + ahead * a + a - 1);
                    Sse.Prefetch0(rew + ahead);
                    Sse.Prefetch0(term + ahead);
                    Sse.Prefetch0(trunc + ahead);
                }
                int slot = slots[j];
                new ReadOnlySpan<float>(obs + (long)slot * o, o).CopyTo(bObs.AsSpan(j * o, o));
                new ReadOnlySpan<float>(act + (long)slot * a, a).CopyTo(bAct.AsSpan(j * a, a));
                into.Rewards[j] = rew[slot];
                new ReadOnlySpan<float>(next + (long)slot * o, o).CopyTo(bNext.AsSpan(j * o, o));
                into.Terminated[j] = term[slot];
                into.Truncated[j] = trunc[slot];
            }
        }
    }

    /// <summary>
    /// Writes the slots that <see cref="Sample(PhiloxKey, ulong, Batch)"/> would gather for a batch of <c>slots.Length</c> rows, without
    /// copying any data: <c>slots[j] = Philox.UniformInt(key, draw * slots.Length + j, Count)</c>. For a backend that
    /// keeps its own copy of the buffer (a GPU gathering on the device) and for diagnostics.
    /// </summary>
    /// <param name="key">The replay sampling key.</param>
    /// <param name="draw">The draw number.</param>
    /// <param name="slots">Where to write; its length is the batch size, at least 1.</param>
    /// <exception cref="ArgumentException"><paramref name="slots"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>draw * slots.Length</c> passes the last stream index.</exception>
    /// <exception cref="InvalidOperationException">The buffer is empty.</exception>
    public void SampleSlots(PhiloxKey key, ulong draw, Span<int> slots)
    {
        if (slots.Length == 0)
            throw new ArgumentException("slots must have at least one element (the batch size).", nameof(slots));
        DrawSlots(key, FirstStreamIndex(draw, slots.Length), slots, 0, slots.Length);
    }

    // Slots [j0, j1) of a batch whose rows use stream indices from `first`.
    void DrawSlots(PhiloxKey key, ulong first, Span<int> slots, int j0, int j1)
    {
        for (int j = j0; j < j1; j++)
            slots[j] = Philox.UniformInt(key, first + (ulong)j, Count);
    }

    /// <summary>Copies the transition in <paramref name="slot"/> out as a record, for inspection and tests (it allocates).</summary>
    /// <param name="slot">A stored slot, in <c>[0, Count)</c>.</param>
    /// <returns>A new transition equal to the one stored there.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> is outside <c>[0, Count)</c>.</exception>
    public Transition GetTransition(int slot)
    {
        if ((uint)slot >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(slot), slot, $"slot must lie in [0, Count = {Count}), got {slot}.");
        int o = ObservationSize, a = ActionSize;
        return new Transition(
            observations.AsSpan(slot * o, o).ToArray(),
            actions.AsSpan(slot * a, a).ToArray(),
            rewards[slot],
            nextObservations.AsSpan(slot * o, o).ToArray(),
            terminated[slot] != 0f,
            truncated[slot] != 0f);
    }

    /// <summary>
    /// Rebuilds a buffer from a snapshot of its state (the spans this class exposes and <see cref="TotalAdded"/>). The
    /// result stores, adds and samples exactly as the buffer the snapshot was taken from.
    /// </summary>
    /// <param name="capacity">The original <see cref="Capacity"/>.</param>
    /// <param name="observationSize">The original <see cref="ObservationSize"/>.</param>
    /// <param name="actionSize">The original <see cref="ActionSize"/>.</param>
    /// <param name="totalAdded">The original <see cref="TotalAdded"/>; non-negative. It fixes <c>Count = min(totalAdded, capacity)</c> and <c>Position = totalAdded % capacity</c>.</param>
    /// <param name="observations">The original <see cref="Observations"/>: <c>Count * observationSize</c> finite values.</param>
    /// <param name="actions">The original <see cref="Actions"/>: <c>Count * actionSize</c> finite values.</param>
    /// <param name="rewards">The original <see cref="Rewards"/>: <c>Count</c> finite values.</param>
    /// <param name="nextObservations">The original <see cref="NextObservations"/>: <c>Count * observationSize</c> finite values.</param>
    /// <param name="terminated">The original <see cref="Terminated"/>: <c>Count</c> values, each 0 or 1.</param>
    /// <param name="truncated">The original <see cref="Truncated"/>: <c>Count</c> values, each 0 or 1.</param>
    /// <returns>The restored buffer, owning fresh arrays.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A size is below 1, or <paramref name="totalAdded"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length disagrees with the sizes, a value is not finite, or a flag is not 0 or 1 (the exception names the argument).</exception>
    public static ReplayBuffer Restore(
        int capacity,
        int observationSize,
        int actionSize,
        long totalAdded,
        ReadOnlySpan<float> observations,
        ReadOnlySpan<float> actions,
        ReadOnlySpan<float> rewards,
        ReadOnlySpan<float> nextObservations,
        ReadOnlySpan<float> terminated,
        ReadOnlySpan<float> truncated)
    {
        var buffer = new ReplayBuffer(capacity, observationSize, actionSize);
        ArgumentOutOfRangeException.ThrowIfNegative(totalAdded);
        int count = (int)Math.Min(totalAdded, capacity);
        string rows = $"Count = min(totalAdded, capacity) = {count}";
        CheckSnapshot(observations, count * observationSize, nameof(observations), $"{rows} x observationSize {observationSize}");
        CheckSnapshot(actions, count * actionSize, nameof(actions), $"{rows} x actionSize {actionSize}");
        CheckSnapshot(rewards, count, nameof(rewards), rows);
        CheckSnapshot(nextObservations, count * observationSize, nameof(nextObservations), $"{rows} x observationSize {observationSize}");
        CheckSnapshot(terminated, count, nameof(terminated), rows);
        CheckSnapshot(truncated, count, nameof(truncated), rows);
        DataChecks.Flags(terminated, nameof(terminated));
        DataChecks.Flags(truncated, nameof(truncated));

        observations.CopyTo(buffer.observations);
        actions.CopyTo(buffer.actions);
        rewards.CopyTo(buffer.rewards);
        nextObservations.CopyTo(buffer.nextObservations);
        terminated.CopyTo(buffer.terminated);
        truncated.CopyTo(buffer.truncated);
        buffer.Count = count;
        buffer.Position = (int)(totalAdded % capacity);
        buffer.TotalAdded = totalAdded;
        return buffer;
    }

    static void CheckSnapshot(ReadOnlySpan<float> values, int expected, string name, string why)
    {
        if (values.Length != expected)
            throw new ArgumentException($"{name} has {values.Length} values but {why} needs {expected}.", name);
        DataChecks.Finite(values, name);
    }

    static void CheckLength(int actual, int expected, string name, string sizeName)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} is {actual} but the buffer's {sizeName} is {expected}.", name);
    }

    ulong FirstStreamIndex(ulong draw, int batchSize)
    {
        if (Count == 0)
            throw new InvalidOperationException("Cannot sample from an empty replay buffer; add transitions first.");
        ulong b = (ulong)batchSize;
        // The rows of draw d use stream indices [d * B, d * B + B); refuse a draw whose range would wrap around.
        if (draw > (ulong.MaxValue - (b - 1)) / b)
            throw new ArgumentOutOfRangeException(nameof(draw), draw, $"draw * batch size ({batchSize}) passes the last stream index.");
        return draw * b;
    }
}
