namespace Sac.Fs

open System

/// <summary>Argument checks shared by the batch functions. They allocate only on the path that throws.</summary>
module internal Guard =

    /// Throws when a batch or row width is negative.
    let size (name: string) (value: int) =
        if value < 0 then
            raise (ArgumentOutOfRangeException(name, value, $"{name} must be non-negative, got {value}."))

    /// Throws when the number of environments stepped together is below 1.
    let environments (value: int) =
        if value < 1 then invalidArg "environments" $"the number of environments must be at least 1, got {value}."

    /// Throws when a buffer named name holds fewer than needed elements.
    let atLeast (name: string) (length: int) (needed: int) =
        if length < needed then
            invalidArg name $"{name} has {length} elements, but at least {needed} are needed."

    /// batch * width, checked for overflow.
    let product (batch: int) (width: int) : int =
        let n = int64 batch * int64 width
        if n > int64 Int32.MaxValue then
            invalidArg "batch" $"batch * width = {n} does not fit in an Int32."
        int n

    /// <summary>A learning-rate schedule's factor: in [0, 1].</summary>
    let learningRateFactor (factor: float32) =
        if not (factor >= 0.0f && factor <= 1.0f) then
            invalidArg "learningRateFactor" $"The learning-rate factor must lie in [0, 1], got {factor}."
