using System;

namespace Sac.Core.Environments;

/// <summary>
/// An environment whose actions are the integers <c>0 .. ActionCount - 1</c>, as Gymnasium's <c>spaces.Discrete</c>.
/// </summary>
/// <remarks>
/// Such an environment still implements <see cref="IEnvironment"/>: <see cref="IEnvironment.Step"/> takes the index as
/// <c>action[0]</c> (a float holding an integer), and <see cref="IEnvironment.ActionSpace"/> reports the box
/// <c>[0, ActionCount - 1]</c> of dimension 1. A non-integral or out-of-range index is refused with an
/// <see cref="ArgumentException"/>. Do not wrap a discrete environment in <see cref="RescaleAction"/>: its continuous
/// output would land between the indices.
/// </remarks>
public interface IDiscreteActions
{
    /// <summary>The number of actions <c>|A|</c>, at least 1; the valid indices are <c>0 .. ActionCount - 1</c>.</summary>
    int ActionCount { get; }
}

/// <summary>Finds the discrete action set of an environment through the wrappers that keep its actions as they are.</summary>
public static class DiscreteActions
{
    /// <summary>
    /// The action count of <paramref name="environment"/> when it, or the environment inside any number of
    /// <see cref="TimeLimit"/> wrappers (which <see cref="EnvironmentRegistry.Make"/> adds), implements
    /// <see cref="IDiscreteActions"/>; otherwise null. <see cref="CheckedEnvironment"/> is looked through as well: it
    /// passes actions on unchanged. <see cref="RescaleAction"/> is not looked through: it turns the
    /// environment's actions into a continuous box.
    /// </summary>
    /// <param name="environment">The environment, possibly wrapped.</param>
    /// <returns>The number of actions, or null for a continuous-action environment.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="environment"/> is null.</exception>
    public static int? TryGetActionCount(IEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        IEnvironment env = environment;
        while (true)
        {
            if (env is IDiscreteActions discrete) return discrete.ActionCount;
            if (env is TimeLimit limit) env = limit.Inner;
            else if (env is CheckedEnvironment checkedEnv) env = checkedEnv.Inner;
            else if (env is NormalizeObservation normalized) env = normalized.Inner;
            else return null;
        }
    }

    /// <summary>The action count of a discrete-action environment, as <see cref="TryGetActionCount"/> finds it.</summary>
    /// <param name="environment">The environment, possibly wrapped in <see cref="TimeLimit"/>.</param>
    /// <returns>The number of actions.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="environment"/> is null.</exception>
    /// <exception cref="ArgumentException">The environment has continuous actions; the message names it.</exception>
    public static int ActionCount(IEnvironment environment) =>
        TryGetActionCount(environment)
        ?? throw new ArgumentException(
            $"{environment.Id}: this environment has continuous actions ({environment.ActionSpace}); a discrete-action algorithm needs an environment implementing IDiscreteActions, such as CartPole-v1.",
            nameof(environment));
}
