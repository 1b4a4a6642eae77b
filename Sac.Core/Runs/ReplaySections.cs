using System;
using Sac.Core.Data;

namespace Sac.Core.Runs;

/// <summary>
/// The replay-buffer sections every checkpoint format shares, written and read in one place: <c>replay.shape</c>
/// (int64 capacity, observation size, action size, total added), then the buffer's stored slots as float32
/// <c>replay.observations</c>, <c>replay.actions</c>, <c>replay.rewards</c>, <c>replay.next_observations</c>,
/// <c>replay.terminated</c> and <c>replay.truncated</c>.
/// </summary>
internal static class ReplaySections
{
    /// <summary>Writes <paramref name="replay"/>'s sections.</summary>
    internal static void Emit(CheckpointWriter w, ReplayBuffer replay)
    {
        w.Int64s("replay.shape", [replay.Capacity, replay.ObservationSize, replay.ActionSize, replay.TotalAdded]);
        w.Floats("replay.observations", replay.Observations);
        w.Floats("replay.actions", replay.Actions);
        w.Floats("replay.rewards", replay.Rewards);
        w.Floats("replay.next_observations", replay.NextObservations);
        w.Floats("replay.terminated", replay.Terminated);
        w.Floats("replay.truncated", replay.Truncated);
    }

    /// <summary>
    /// Reads the replay sections of a checkpoint whose header implies observations of
    /// <paramref name="observationSize"/> and actions of <paramref name="actionSize"/>; <paramref name="context"/>
    /// ends the messages about section lengths ("for observation size 3, ...").
    /// </summary>
    internal static ReplayBuffer Read(CheckpointReader r, int observationSize, int actionSize, string context)
    {
        long[] shape = CheckpointFraming.Int64s(r, "replay.shape", 4);
        long capacity = shape[0], storedObservation = shape[1], storedAction = shape[2], totalAdded = shape[3];
        if (capacity < 1 || capacity > int.MaxValue)
            throw r.Fail(CheckpointFailure.Malformed, $"the replay buffer's capacity is {capacity}; it must lie in [1, {int.MaxValue}].");
        if (storedObservation != observationSize || storedAction != actionSize)
            throw r.Fail(CheckpointFailure.ShapeMismatch,
                $"the replay buffer stores observations of {storedObservation} and actions of {storedAction}, but the header says {observationSize} and {actionSize}.");
        if (totalAdded < 0)
            throw r.Fail(CheckpointFailure.Malformed, $"the replay buffer's total-added count is {totalAdded}; it is never negative.");

        long count = Math.Min(totalAdded, capacity);
        string rows = $"(Count = min(total added {totalAdded}, capacity {capacity}) = {count}";
        string obs = $"{count * observationSize} {rows} x observation size {observationSize})";
        string act = $"{count * actionSize} {rows} x action size {actionSize})";
        string one = $"{count} {rows})";
        float[] observations = Floats(r, "replay.observations", count * observationSize, obs, context);
        float[] actions = Floats(r, "replay.actions", count * actionSize, act, context);
        float[] rewards = Floats(r, "replay.rewards", count, one, context);
        float[] nextObservations = Floats(r, "replay.next_observations", count * observationSize, obs, context);
        float[] terminated = Floats(r, "replay.terminated", count, one, context);
        float[] truncated = Floats(r, "replay.truncated", count, one, context);
        try
        {
            return ReplayBuffer.Restore((int)capacity, observationSize, actionSize, totalAdded,
                observations, actions, rewards, nextObservations, terminated, truncated);
        }
        catch (ArgumentException e)
        {
            throw r.Fail(CheckpointFailure.Malformed, $"the replay buffer is invalid: {e.Message}", e);
        }
        catch (OutOfMemoryException e)
        {
            // The capacity is preallocated, unlike the stored rows, so it is the one size the file length cannot bound.
            throw r.Fail(CheckpointFailure.Malformed,
                $"the replay buffer's capacity {capacity} x (2 x observation size {observationSize} + action size {actionSize} + 3) floats cannot be allocated.", e);
        }
    }

    static float[] Floats(CheckpointReader r, string name, long expected, string description, string context)
    {
        long count = r.SectionHead(name, CheckpointSectionType.Float32);
        if (count != expected)
            throw r.Fail(CheckpointFailure.ShapeMismatch, $"section '{name}' has {count} floats, expected {description} {context}.");
        return r.Floats(name, count);
    }
}
