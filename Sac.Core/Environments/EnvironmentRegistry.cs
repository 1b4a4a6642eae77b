using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.Loader;
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
/// <item><term><c>Ant-v4</c>, <c>Ant-v5</c></term><description>1000 steps (<see cref="Ant"/>; MuJoCo)</description></item>
/// <item><term><c>Humanoid-v4</c>, <c>Humanoid-v5</c></term><description>1000 steps (<see cref="Humanoid"/>; MuJoCo)</description></item>
/// </list>
/// The MuJoCo environments need Debian's <c>libmujoco2.2.2</c> (<see cref="MuJoCoRuntime"/>); without it they stay
/// listed, <see cref="IsAvailable"/> says why they cannot be made, and <see cref="Make"/> throws
/// <see cref="MuJoCoUnavailableException"/>, whose message ends with the install command.
/// </remarks>
public static class EnvironmentRegistry
{
    static readonly string[] MuJoCoIds =
        [HalfCheetah.EnvironmentId, HalfCheetah.V5EnvironmentId, Hopper.EnvironmentId, Walker2d.EnvironmentId, Ant.EnvironmentId, Ant.V5EnvironmentId,
         Humanoid.EnvironmentId, Humanoid.V5EnvironmentId];

    static readonly string[] BuiltInIds =
        [Pendulum.EnvironmentId, MountainCarContinuous.EnvironmentId, PointGoal.EnvironmentId, CartPole.EnvironmentId, MultiGoal.EnvironmentId, .. MuJoCoIds];

    sealed record Registration(Func<IEnvironment> Factory, int? MaxEpisodeSteps, string Source);

    static readonly object Gate = new();
    static readonly List<string> UserIds = [];
    static readonly Dictionary<string, Registration> UserEnvironments = new(StringComparer.Ordinal);
    static readonly HashSet<string> PluginDirectories = new(StringComparer.Ordinal);

    static string[] KnownIds
    {
        get { lock (Gate) return [.. BuiltInIds, .. UserIds]; }
    }

    /// <summary>Whether <paramref name="id"/> is one of the library's own environments (not a registered one).</summary>
    /// <param name="id">An environment id.</param>
    /// <returns>True for the built-in ids.</returns>
    public static bool IsBuiltIn(string id) => Array.IndexOf(BuiltInIds, id) >= 0;

    /// <summary>
    /// Registers a user's environment under <paramref name="id"/>, so that every place an id goes (trainers, the
    /// command line, evaluation, config files) can make it, as Gymnasium's <c>register</c> does.
    /// </summary>
    /// <param name="id">The id, e.g. <c>"DoubleIntegrator-v0"</c>: non-empty, no whitespace, not a built-in id. The
    /// environments the factory makes must report it as their <see cref="IEnvironment.Id"/>.</param>
    /// <param name="factory">Makes a fresh, independent instance on each call (a training run makes two: one to train
    /// on, one to evaluate on).</param>
    /// <param name="maxEpisodeSteps">The episode limit <see cref="Make"/> enforces with <see cref="TimeLimit"/>; null
    /// takes the environment's own <see cref="IEnvironment.MaxEpisodeSteps"/> (no limit when that is null too).</param>
    /// <exception cref="ArgumentException">The id is malformed, built in, or already registered by another source.</exception>
    public static void Register(string id, Func<IEnvironment> factory, int? maxEpisodeSteps = null) =>
        Register(id, factory, maxEpisodeSteps, "Register");

    static void Register(string id, Func<IEnvironment> factory, int? maxEpisodeSteps, string source)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(factory);
        if (id.Length == 0 || id.Any(char.IsWhiteSpace))
            throw new ArgumentException($"Environment id '{id}' must be non-empty and contain no whitespace.", nameof(id));
        if (IsBuiltIn(id))
            throw new ArgumentException($"Environment id '{id}' is a built-in environment and cannot be registered again.", nameof(id));
        if (maxEpisodeSteps is int limit && limit < 1)
            throw new ArgumentOutOfRangeException(nameof(maxEpisodeSteps), limit, $"{id}: the episode limit must be at least 1 step.");
        lock (Gate)
        {
            if (UserEnvironments.TryGetValue(id, out var existing))
            {
                // Loading the same plugin twice is harmless; two different sources for one id are an error.
                if (existing.Source == source && source != "Register") return;
                throw new ArgumentException($"Environment id '{id}' is already registered (by {existing.Source}).", nameof(id));
            }
            UserEnvironments[id] = new Registration(factory, maxEpisodeSteps, source);
            UserIds.Add(id);
        }
    }

    /// <summary>
    /// Registers every public class of <paramref name="assembly"/> marked with <see cref="EnvironmentAttribute"/>.
    /// </summary>
    /// <param name="assembly">The assembly to scan.</param>
    /// <returns>The ids registered, in the order found.</returns>
    /// <exception cref="EnvironmentPluginException">A marked class is not a public <see cref="IEnvironment"/> with a
    /// public parameterless constructor, or the assembly marks none.</exception>
    /// <exception cref="ArgumentException">A marked id is malformed, built in, or registered by another source.</exception>
    public static IReadOnlyList<string> RegisterAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var source = assembly.Location.Length > 0 ? assembly.Location : assembly.FullName ?? "an assembly";
        var ids = new List<string>();
        Type[] types;
        try { types = assembly.GetExportedTypes(); }
        catch (Exception e) when (e is ReflectionTypeLoadException or FileNotFoundException or FileLoadException)
        {
            throw new EnvironmentPluginException($"{source}: its types could not be loaded ({e.Message})", e);
        }
        foreach (var type in types)
        {
            if (type.GetCustomAttribute<EnvironmentAttribute>() is not { } mark) continue;
            if (!typeof(IEnvironment).IsAssignableFrom(type) || type.IsAbstract)
                throw new EnvironmentPluginException($"{source}: {type.FullName} is marked [Environment(\"{mark.Id}\")] but is not a concrete IEnvironment.");
            if (type.GetConstructor(Type.EmptyTypes) is not { } ctor)
                throw new EnvironmentPluginException($"{source}: {type.FullName} is marked [Environment(\"{mark.Id}\")] but has no public parameterless constructor.");
            Register(mark.Id, () => (IEnvironment)ctor.Invoke(null), mark.MaxEpisodeSteps > 0 ? mark.MaxEpisodeSteps : null, source);
            ids.Add(mark.Id);
        }
        if (ids.Count == 0)
            throw new EnvironmentPluginException($"{source}: no public class marked [Environment(\"Id-v0\")] implementing IEnvironment.");
        return ids;
    }

    /// <summary>Loads a plugin assembly from a file and registers its marked environments (<see cref="RegisterAssembly"/>).</summary>
    /// <param name="path">The assembly file, e.g. <c>bin/Release/net10.0/MyEnvs.dll</c>.</param>
    /// <returns>The ids registered.</returns>
    /// <exception cref="EnvironmentPluginException">The file is missing or not a loadable .NET assembly, or marks no environment.</exception>
    public static IReadOnlyList<string> LoadPlugin(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new EnvironmentPluginException($"{path}: no such file");
        Assembly assembly;
        // The plugin's own dependencies (those the host does not already have) are found beside it.
        var dir = Path.GetDirectoryName(full)!;
        lock (Gate)
        {
            if (PluginDirectories.Add(dir))
                AssemblyLoadContext.Default.Resolving += (context, name) =>
                {
                    var candidate = Path.Combine(dir, name.Name + ".dll");
                    return File.Exists(candidate) ? context.LoadFromAssemblyPath(candidate) : null;
                };
        }
        try { assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(full); }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException)
        {
            throw new EnvironmentPluginException($"{path}: not a loadable .NET assembly ({e.Message})", e);
        }
        return RegisterAssembly(assembly);
    }

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

    /// <summary>The ids <see cref="Make"/> knows: the built-in ones in a fixed order, then the registered ones in registration order.</summary>
    public static IReadOnlyList<string> Ids => new ReadOnlyCollection<string>(KnownIds);

    /// <summary>
    /// Makes a fresh environment wrapped in a <see cref="TimeLimit"/> with its registered limit. It takes native
    /// actions; wrap it in <see cref="RescaleAction"/> to act in <c>[-1, 1]^n</c>.
    /// </summary>
    /// <param name="id">A registered id (exact, case-sensitive), one of <see cref="Ids"/>.</param>
    /// <returns>The time-limited environment (a registered one without any limit is returned as made); reset it before stepping.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="id"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="id"/> is not registered; the message lists the known ids.</exception>
    /// <exception cref="InvalidOperationException">A registered factory returned null or an environment with another id.</exception>
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
            Ant.EnvironmentId or Ant.V5EnvironmentId => Locomotion(id, () => new Ant(id)),
            Humanoid.EnvironmentId or Humanoid.V5EnvironmentId => Locomotion(id, () => new Humanoid(id)),
            _ => MakeRegistered(id),
        };
    }

    static IEnvironment MakeRegistered(string id)
    {
        Registration? registration;
        lock (Gate) UserEnvironments.TryGetValue(id, out registration);
        if (registration is null)
            throw new ArgumentException($"Unknown environment id '{id}'. Known ids: {string.Join(", ", KnownIds)}.", nameof(id));
        var env = registration.Factory()
            ?? throw new InvalidOperationException($"The factory registered for {id} returned null.");
        if (env.Id != id)
            throw new InvalidOperationException($"The environment registered as {id} reports the id '{env.Id}'; they must be the same.");
        return (registration.MaxEpisodeSteps ?? env.MaxEpisodeSteps) is int limit ? new TimeLimit(env, limit) : env;
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
