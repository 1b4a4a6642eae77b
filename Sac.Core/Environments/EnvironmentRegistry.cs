using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace Sac.Core.Environments;

/// <summary>
/// The registry of built-in environments, as Gymnasium's <c>gym.make</c>: each id with its registered episode limit.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>id</term><description>limit</description></listheader>
/// <item><term><c>Pendulum-v1</c></term><description>200 steps (<see cref="Pendulum"/>)</description></item>
/// <item><term><c>MountainCarContinuous-v0</c></term><description>999 steps (<see cref="MountainCarContinuous"/>)</description></item>
/// <item><term><c>PointGoal-v0</c></term><description>50 steps (<see cref="PointGoal"/>)</description></item>
/// <item><term><c>CartPole-v1</c></term><description>500 steps (<see cref="CartPole"/>; discrete actions, see <see cref="IDiscreteActions"/>)</description></item>
/// <item><term><c>MultiGoal-v0</c></term><description>30 steps (<see cref="MultiGoal"/>)</description></item>
/// </list>
/// </remarks>
public static class EnvironmentRegistry
{
    static readonly string[] KnownIds = [Pendulum.EnvironmentId, MountainCarContinuous.EnvironmentId, PointGoal.EnvironmentId, CartPole.EnvironmentId, MultiGoal.EnvironmentId];

    /// <summary>The registered ids, in a fixed order.</summary>
    public static IReadOnlyList<string> Ids { get; } = new ReadOnlyCollection<string>(KnownIds);

    /// <summary>
    /// Makes a fresh environment wrapped in a <see cref="TimeLimit"/> with its registered limit. It takes native
    /// actions; wrap it in <see cref="RescaleAction"/> to act in <c>[-1, 1]^n</c>.
    /// </summary>
    /// <param name="id">A registered id (exact, case-sensitive), one of <see cref="Ids"/>.</param>
    /// <returns>The time-limited environment; reset it before stepping.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="id"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="id"/> is not registered; the message lists the known ids.</exception>
    public static IEnvironment Make(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        return id switch
        {
            Pendulum.EnvironmentId => new TimeLimit(new Pendulum(), Pendulum.RegisteredMaxEpisodeSteps),
            MountainCarContinuous.EnvironmentId => new TimeLimit(new MountainCarContinuous(), MountainCarContinuous.RegisteredMaxEpisodeSteps),
            PointGoal.EnvironmentId => new TimeLimit(new PointGoal(), PointGoal.RegisteredMaxEpisodeSteps),
            CartPole.EnvironmentId => new TimeLimit(new CartPole(), CartPole.RegisteredMaxEpisodeSteps),
            MultiGoal.EnvironmentId => new TimeLimit(new MultiGoal(), MultiGoal.RegisteredMaxEpisodeSteps),
            _ => throw new ArgumentException($"Unknown environment id '{id}'. Known ids: {string.Join(", ", KnownIds)}.", nameof(id)),
        };
    }

    /// <summary>
    /// Makes the environment as <see cref="Make"/> does, wrapped in a <see cref="CheckedEnvironment"/>: every action,
    /// observation and reward is checked, and the first malformed one throws an
    /// <see cref="EnvironmentCheckException"/>. It takes native actions, checked against the native action box; to
    /// act in <c>[-1, 1]^n</c> and check the agent's own actions, wrap the other way round:
    /// <c>new CheckedEnvironment(new RescaleAction(EnvironmentRegistry.Make(id)))</c>.
    /// </summary>
    /// <param name="id">A registered id (exact, case-sensitive), one of <see cref="Ids"/>.</param>
    /// <returns>The checked, time-limited environment; reset it before stepping.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="id"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="id"/> is not registered; the message lists the known ids.</exception>
    public static CheckedEnvironment MakeChecked(string id) => new(Make(id));
}
