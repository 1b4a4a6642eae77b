using System;
using System.Threading;

namespace Sac.Core.Compute;

/// <summary>
/// A fixed team of worker threads for fork-join kernels. The caller runs part 0 itself; parts 1..T-1 run on
/// persistent background threads that spin briefly before sleeping, so the sub-millisecond GEMMs of SAC's
/// networks are not dominated by thread-pool dispatch.
/// </summary>
/// <remarks>
/// One call at a time: <see cref="Run"/> is not re-entrant and must not be called concurrently on the same team.
/// Work is handed over as an <see cref="IPartitionedWork"/> instance so the hot path allocates nothing.
/// </remarks>
public sealed class WorkerTeam : IDisposable
{
    readonly Thread[] threads;
    readonly SemaphoreSlim[] wake;
    IPartitionedWork? work;
    int generation;
    int remaining;
    volatile bool disposed;

    // PAUSE-spinning (no system call) covers the gaps between the forks of one update, tens of microseconds at most;
    // past that a waiter yields its core for a while, then sleeps on its semaphore.
    const int SpinsBeforeYield = 1_000;
    const int SpinsBeforeSleep = SpinsBeforeYield + 2_000;
    Exception? failure;

    /// <summary>Creates a team of <paramref name="size"/> parts (the calling thread plus size-1 workers).</summary>
    public WorkerTeam(int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "A worker team needs at least one part.");
        Size = size;
        threads = new Thread[size - 1];
        wake = new SemaphoreSlim[size - 1];
        for (int i = 0; i < threads.Length; i++)
        {
            wake[i] = new SemaphoreSlim(0);
            int part = i + 1;
            threads[i] = new Thread(() => Loop(part)) { IsBackground = true, Name = $"sac-worker-{part}" };
            threads[i].Start();
        }
    }

    /// <summary>Number of parts a <see cref="Run"/> call splits into.</summary>
    public int Size { get; }

    /// <summary>Runs <c>work.Execute(part, Size)</c> for every part and returns when all have finished.</summary>
    public void Run(IPartitionedWork work)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Size == 1) { work.Execute(0, 1); return; }
        this.work = work;
        failure = null;
        Volatile.Write(ref remaining, Size - 1);
        Interlocked.Increment(ref generation);
        for (int i = 0; i < wake.Length; i++)
            if (wake[i].CurrentCount == 0) wake[i].Release();
        try { work.Execute(0, Size); }
        finally
        {
            // The other parts end microseconds after this one: spin on PAUSE, yielding only if that runs long.
            int spins = 0;
            while (Volatile.Read(ref remaining) != 0)
            {
                if (++spins < SpinsBeforeYield) Thread.SpinWait(4);
                else Thread.Yield();
            }
            this.work = null;
        }
        if (failure is not null) throw new AggregateException("A worker part failed.", failure);
    }

    void Loop(int part)
    {
        int seen = 0;
        while (!disposed)
        {
            // Spin a little first: GEMMs of one network pass arrive microseconds apart.
            int spins = 0;
            while (Volatile.Read(ref generation) == seen && !disposed)
            {
                if (++spins < SpinsBeforeYield) Thread.SpinWait(4);
                else if (spins < SpinsBeforeSleep) Thread.Yield();
                else { wake[part - 1].Wait(); spins = 0; }
            }
            if (disposed) return;
            seen = Volatile.Read(ref generation);
            try { work!.Execute(part, Size); }
            catch (Exception e) { failure = e; }
            Interlocked.Decrement(ref remaining);
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var w in wake) w.Release();
    }
}

/// <summary>Work that a <see cref="WorkerTeam"/> splits into parts.</summary>
public interface IPartitionedWork
{
    /// <summary>Executes part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Execute(int part, int parts);
}
