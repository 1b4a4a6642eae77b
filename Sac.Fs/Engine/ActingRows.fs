namespace Sac.Fs

/// <summary>
/// The buffers an algorithm acts for several environments with, made at the first batched step and made again only
/// when more rows are asked for than they hold, so acting allocates nothing once the environment count is known.
/// </summary>
/// <param name="make">Makes buffers with room for the given number of rows.</param>
/// <param name="rowsOf">The rows a buffer holds.</param>
[<Sealed>]
type ActingRows<'W>(make: int -> 'W, rowsOf: 'W -> int) =
    let mutable current : 'W option = None

    /// <summary>Buffers with room for at least <paramref name="count"/> rows.</summary>
    /// <param name="count">The rows one call acts on.</param>
    member _.For(count: int) : 'W =
        match current with
        | Some w when rowsOf w >= count -> w
        | _ ->
            let w = make count
            current <- Some w
            w
