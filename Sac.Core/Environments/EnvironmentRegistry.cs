using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using Sac.Core.Environments.MuJoCo;

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
/// <item><term><c>HalfCheetah-v4</c>, <c>HalfCheetah-v5</c></term><description>1000 steps (<see cref="HalfCheetah"/>; MuJoCo)</description></item>
/// <item><term><c>Hopper-v4</c></term><description>1000 steps (<see cref="Hopper"/>; MuJoCo)</description></item>
/// <item><term><c>Walker2d-v4</c></term><description>1000 steps (<see cref="Walker2d"/>; MuJoCo)</description></item>
/// <item><term><c>Ant-v4</c></term><description>1000 steps (<see cref="Ant"/>; MuJoCo)</description></item>
/// <item><term><c>Humanoid-v4</c></term><description>1000 steps (<see cref="Humanoid"/>; MuJoCo)</description></item>
/// </list>
/// The MuJoCo environments need Debian's <c>libmujoco2.2.2</c> (<see cref="MuJoCoRuntime"/>); without it they stay
/// listed, <see cref="IsAvailable"/> says why they cannot be made, and <see cref="Make"/> throws
/// <see cref="MuJoCoUnavailableException"/>, whose message ends with the install command.
/// </remarks>
public static class EnvironmentRegistry
{
    static readonly string[] MuJoCoIds =
        [HalfCheetah.EnvironmentId, HalfCheetah.V5EnvironmentId, Hopper.EnvironmentId, Walker2d.EnvironmentId, Ant.EnvironmentId, Humanoid.EnvironmentId];

    static readonly string[] KnownIds =
        [Pendulum.EnvironmentId, MountainCarContinuous.EnvironmentId, PointGoal.EnvironmentId, CartPole.EnvironmentId, MultiGoal.EnvironmentId, .. MuJoCoIds];

    /// <summary>Whether <paramref name="id"/> is one of the MuJoCo environments, which need libmujoco.</summary>
    /// <param name="id">An environment id.</param>
    /// <returns>True for the MuJoCo ids.</returns>
    public static bool RequiresMuJoCo(string id) => Array.IndexOf(MuJoCoIds, id) >= 0;

    /// <summary>Whether <paramref name="id"/> can be made in this process.</summary>
    /// <param name="id">A registered id.</param>
    /// <param name="reason">Empty when it can; otherwise one line saying why, ending with the install command.</param>
    /// <returns>True when <see cref="Make"/> will succeed for this id.</returns>
    public static bool IsAvailable(string id, out string reason)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (Array.IndexOf(KnownIds, id) < 0)
        {
            reason = $"Unknown environment id '{id}'. Known ids: {string.Join(", ", KnownIds)}.";
            return false;
        }
        if (RequiresMuJoCo(id) && !MuJoCoRuntime.IsAvailable)
        {
            reason = $"{id} needs MuJoCo 2.2.2, which is not available here ({MuJoCoRuntime.UnavailableReason}); install it with: {MuJoCoRuntime.InstallCommand}";
            return false;
        }
        reason = "";
        return true;
    }

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
    /// <exception cref="MuJoCoUnavailableException"><paramref name="id"/> is a MuJoCo environment and libmujoco 2.2.2 cannot be loaded.</exception>
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
            HalfCheetah.EnvironmentId or HalfCheetah.V5EnvironmentId => Locomotion(id, () => new HalfCheetah(id)),
            Hopper.EnvironmentId => Locomotion(id, () => new Hopper()),
            Walker2d.EnvironmentId => Locomotion(id, () => new Walker2d()),
            Ant.EnvironmentId => Locomotion(id, () => new Ant()),
            Humanoid.EnvironmentId => Locomotion(id, () => new Humanoid()),
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

    static TimeLimit Locomotion(string id, Func<MuJoCoEnvironment> make)
    {
        if (!MuJoCoRuntime.IsAvailable)
            throw new MuJoCoUnavailableException(MuJoCoRuntime.UnavailableReason);
        return new TimeLimit(make(), MuJoCoEnvironment.RegisteredMaxEpisodeSteps);
    }
}
