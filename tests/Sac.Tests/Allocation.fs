/// Allocation checks of hot paths: bytes a window of calls allocates on the calling thread.
module Allocation

open System

/// The fewest bytes <c>window</c> allocates on this thread over up to three runs, stopping at the first that allocates
/// nothing. A path that allocates on its calls shows in every run; a one-off allocation of the runtime's (a method
/// tiering up while the window runs, under a busy test run) shows in one run at most.
let leastAllocated (window: unit -> unit) : int64 =
    let rec go tries least =
        if tries = 0 || least = 0L then least
        else
            let before = GC.GetAllocatedBytesForCurrentThread()
            window ()
            go (tries - 1) (min least (GC.GetAllocatedBytesForCurrentThread() - before))
    go 3 Int64.MaxValue
