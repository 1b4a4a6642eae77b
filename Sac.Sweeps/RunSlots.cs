namespace Sac.Sweeps;

/// <summary>The run slots of one silo: at most <see cref="Capacity"/> runs train on it at once.</summary>
/// <param name="capacity">The number of slots (at least 1).</param>
public sealed class RunSlots(int capacity)
{
    private int _inUse;

    /// <summary>The number of slots.</summary>
    public int Capacity { get; } = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), "at least one run slot");

    /// <summary>The slots taken now.</summary>
    public int InUse => Volatile.Read(ref _inUse);

    /// <summary>Takes a slot if one is free.</summary>
    /// <returns>Whether a slot was taken.</returns>
    public bool TryTake()
    {
        while (true)
        {
            int used = Volatile.Read(ref _inUse);
            if (used >= Capacity) return false;
            if (Interlocked.CompareExchange(ref _inUse, used + 1, used) == used) return true;
        }
    }

    /// <summary>Gives a taken slot back.</summary>
    public void Release() => Interlocked.Decrement(ref _inUse);
}
