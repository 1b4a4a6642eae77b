namespace Sac.Fs

open System

/// <summary>Row-block moves between row-major batch matrices: building critic inputs [s, a] and reading dL/da back.</summary>
[<RequireQualifiedAccess>]
module Rows =

    /// <summary>Rows [s, a] of a critic input: <c>dest[i] = [obs[i], act[i]]</c>, written into <paramref name="dest"/>.</summary>
    [<CompiledName("Concat")>]
    let concat (rows: int) (obsSize: int) (actSize: int) (obs: ReadOnlySpan<float32>) (act: ReadOnlySpan<float32>) (dest: Span<float32>) =
        let w = obsSize + actSize
        for i in 0 .. rows - 1 do
            obs.Slice(i * obsSize, obsSize).CopyTo(dest.Slice(i * w, obsSize))
            act.Slice(i * actSize, actSize).CopyTo(dest.Slice(i * w + obsSize, actSize))

    /// <summary>
    /// <c>dest[i, j] = x1[i, offset + j] + x2[i, offset + j]</c> for j &lt; cols: one column block of two row-major
    /// rows x width matrices, added (the actor's dL/da, summed over both critics' input gradients).
    /// </summary>
    [<CompiledName("SumColumnBlock")>]
    let sumColumnBlock (rows: int) (width: int) (offset: int) (cols: int) (x1: ReadOnlySpan<float32>) (x2: ReadOnlySpan<float32>) (dest: Span<float32>) =
        for i in 0 .. rows - 1 do
            for j in 0 .. cols - 1 do
                dest.[i * cols + j] <- x1.[i * width + offset + j] + x2.[i * width + offset + j]
