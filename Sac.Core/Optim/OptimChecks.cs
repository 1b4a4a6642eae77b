using System;

namespace Sac.Core.Optim;

/// <summary>Argument checks shared by the optimizers, so every bad value fails the same way and names its field.</summary>
internal static class OptimChecks
{
    /// <summary>Returns <paramref name="value"/> when it is finite and strictly positive; otherwise throws naming <paramref name="name"/>.</summary>
    internal static float PositiveFinite(float value, string name)
    {
        // !(x > 0) also rejects NaN, which compares false to everything.
        if (!(value > 0f) || !float.IsFinite(value))
            throw new ArgumentException($"{name} must be finite and greater than zero, got {value}.", name);
        return value;
    }

    /// <summary>Returns <paramref name="value"/> when it lies in <c>[0, 1)</c>; otherwise throws naming <paramref name="name"/>.</summary>
    internal static float UnitHalfOpen(float value, string name)
    {
        if (!(value >= 0f && value < 1f))
            throw new ArgumentException($"{name} must lie in [0, 1), got {value}.", name);
        return value;
    }

    /// <summary>Returns <paramref name="value"/> when it lies in <c>[0, 1]</c>; otherwise throws naming <paramref name="name"/>.</summary>
    internal static float UnitClosed(float value, string name)
    {
        if (!(value >= 0f && value <= 1f))
            throw new ArgumentException($"{name} must lie in [0, 1], got {value}.", name);
        return value;
    }

    /// <summary>Throws naming <paramref name="name"/> when a buffer's length differs from the parameter count.</summary>
    internal static void SameLength(int expected, int actual, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has {actual} elements but the parameter vector has {expected}.", name);
    }

    /// <summary>Throws when a parameter count is negative.</summary>
    internal static void Count(int parameterCount, string name)
    {
        if (parameterCount < 0)
            throw new ArgumentException($"{name} must be non-negative, got {parameterCount}.", name);
    }
}
