using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Sac.Core.Environments;

/// <summary>
/// Argument and call-order checks shared by the environments. The throwing paths live in separate non-inlined
/// methods so the message formatting never runs (or allocates) on a valid step.
/// </summary>
internal static class EnvironmentChecks
{
    /// <summary>Throws unless <paramref name="action"/> has <paramref name="expected"/> components.</summary>
    /// <param name="id">Environment id, named in the message.</param>
    /// <param name="action">The action given to Step.</param>
    /// <param name="expected">The action space's dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Action(string id, ReadOnlySpan<float> action, int expected)
    {
        if (action.Length != expected) ThrowLength(id, "action", action.Length, expected);
    }

    /// <summary>Throws unless <paramref name="observation"/> has room for exactly <paramref name="expected"/> components.</summary>
    /// <param name="id">Environment id, named in the message.</param>
    /// <param name="observation">The span the observation goes into.</param>
    /// <param name="expected">The observation space's dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Observation(string id, Span<float> observation, int expected)
    {
        if (observation.Length != expected) ThrowLength(id, "observation", observation.Length, expected);
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> unless the environment has been reset.</summary>
    /// <param name="id">Environment id, named in the message.</param>
    /// <param name="wasReset">Whether Reset has been called.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WasReset(string id, bool wasReset)
    {
        if (!wasReset) ThrowNotReset(id);
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    static void ThrowLength(string id, string what, int actual, int expected) =>
        throw new ArgumentException($"{id}: the {what} has length {actual}, but this environment needs exactly {expected}.", what);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    static void ThrowNotReset(string id) =>
        throw new InvalidOperationException($"{id}: Step was called before Reset; reset the environment to start an episode.");
}
