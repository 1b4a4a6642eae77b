using System;

namespace Sac.Core.Data;

/// <summary>Argument checks shared by the data types, so every bad value fails the same way and names its field.</summary>
internal static class DataChecks
{
    /// <summary>Throws naming <paramref name="name"/> and the first bad index when a value is NaN or infinite.</summary>
    internal static void Finite(ReadOnlySpan<float> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            // One NaN in replay poisons every network that trains on it, long after the step that produced it.
            if (!float.IsFinite(values[i]))
                throw new ArgumentException($"{name}[{i}] must be finite, got {values[i]}.", name);
        }
    }

    /// <summary>Throws naming <paramref name="name"/> and the first bad index when a flag is not exactly 0 or 1.</summary>
    internal static void Flags(ReadOnlySpan<float> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (v != 0f && v != 1f)
                throw new ArgumentException($"{name}[{i}] must be 0 or 1, got {v}.", name);
        }
    }

    /// <summary>Returns <paramref name="value"/> when it is at least one; otherwise throws naming <paramref name="name"/>.</summary>
    internal static int Positive(int value, string name)
    {
        if (value < 1)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1, got {value}.");
        return value;
    }

    /// <summary>
    /// Returns <c>rows * width</c> when it fits in one .NET array; otherwise throws naming both sizes, so a huge
    /// buffer fails at construction with a clear message rather than with an overflowed index later.
    /// </summary>
    internal static int ArrayLength(int rows, string rowsName, int width, string widthName)
    {
        long length = (long)rows * width;
        if (length > Array.MaxLength)
            throw new ArgumentException(
                $"{rowsName} ({rows}) x {widthName} ({width}) = {length} floats exceeds the largest array ({Array.MaxLength}).",
                rowsName);
        return (int)length;
    }
}
