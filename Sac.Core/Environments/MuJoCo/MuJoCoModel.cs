using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// A compiled MuJoCo model (<c>mjModel</c>): read-only once loaded, so one instance serves any number of
/// <see cref="MuJoCoSimulation"/>s, on any threads.
/// </summary>
/// <remarks>
/// Built-in models (<see cref="BuiltIn"/>) are loaded once per process and shared; disposing them does nothing. A model
/// from <see cref="LoadFile"/> or <see cref="LoadXml"/> belongs to the caller: dispose it after every simulation made
/// from it.
/// </remarks>
public sealed unsafe class MuJoCoModel : IDisposable
{
    // mj_loadXML takes a global lock of its own; this one also serialises the built-in cache.
    static readonly Lock LoadLock = new();
    static readonly Dictionary<string, MuJoCoModel> BuiltIns = new(StringComparer.Ordinal);

    /// <summary>The names of the built-in models: <c>half_cheetah</c>, <c>hopper</c>, <c>walker2d</c>, <c>ant</c>, <c>humanoid</c>.</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } = ["half_cheetah", "hopper", "walker2d", "ant", "humanoid"];

    nint _handle;
    readonly bool _shared;

    MuJoCoModel(nint handle, string name, bool shared)
    {
        _handle = handle;
        Name = name;
        _shared = shared;
    }

    /// <summary>The file path or built-in name the model was loaded from.</summary>
    public string Name { get; }

    internal nint Handle => _handle != 0 ? _handle : throw new ObjectDisposedException(nameof(MuJoCoModel), $"MuJoCo model {Name} was disposed.");

    /// <summary>Number of generalized coordinates, <c>dim(qpos)</c>.</summary>
    public int Nq => *(int*)(Handle + MuJoCoLayout.Model_nq);

    /// <summary>Number of degrees of freedom, <c>dim(qvel)</c>.</summary>
    public int Nv => *(int*)(Handle + MuJoCoLayout.Model_nv);

    /// <summary>Number of actuators, <c>dim(ctrl)</c>.</summary>
    public int Nu => *(int*)(Handle + MuJoCoLayout.Model_nu);

    /// <summary>Number of bodies, the world body included.</summary>
    public int NBody => *(int*)(Handle + MuJoCoLayout.Model_nbody);

    /// <summary>Number of joints.</summary>
    public int NJoint => *(int*)(Handle + MuJoCoLayout.Model_njnt);

    /// <summary>Number of geoms.</summary>
    public int NGeom => *(int*)(Handle + MuJoCoLayout.Model_ngeom);

    /// <summary>The simulation timestep in seconds (<c>opt.timestep</c>).</summary>
    public double Timestep => *(double*)(Handle + MuJoCoLayout.Model_opt_timestep);

    /// <summary>The reference configuration <c>qpos0</c>, which <c>mj_resetData</c> restores (length <see cref="Nq"/>).</summary>
    public ReadOnlySpan<double> Qpos0 => new(*(double**)(Handle + MuJoCoLayout.Model_qpos0), Nq);

    /// <summary>The mass of each body (length <see cref="NBody"/>; the world body's is 0).</summary>
    public ReadOnlySpan<double> BodyMass => new(*(double**)(Handle + MuJoCoLayout.Model_body_mass), NBody);

    /// <summary>Each actuator's control range as (low, high) pairs (length <c>2 Nu</c>).</summary>
    public ReadOnlySpan<double> ActuatorControlRange => new(*(double**)(Handle + MuJoCoLayout.Model_actuator_ctrlrange), 2 * Nu);

    /// <summary>Each actuator's gear (force scale); the first of its six gear entries.</summary>
    /// <param name="actuator">The actuator index, in <c>[0, Nu)</c>.</param>
    /// <returns><c>actuator_gear[6 actuator]</c>.</returns>
    public double ActuatorGear(int actuator)
    {
        if ((uint)actuator >= (uint)Nu) throw new ArgumentOutOfRangeException(nameof(actuator), actuator, $"The model has {Nu} actuators.");
        return (*(double**)(Handle + MuJoCoLayout.Model_actuator_gear))[6 * actuator];
    }

    /// <summary>The index of the named body.</summary>
    /// <param name="name">The body's name in the MJCF file.</param>
    /// <returns>Its index into per-body arrays such as <see cref="MuJoCoSimulation.BodyPosition"/>.</returns>
    /// <exception cref="MuJoCoModelException">The model has no body of that name.</exception>
    public int BodyId(string name) => Id(MuJoCoLayout.ObjBody, "body", name);

    /// <summary>The index of the named joint.</summary>
    /// <param name="name">The joint's name in the MJCF file.</param>
    /// <returns>Its joint index.</returns>
    /// <exception cref="MuJoCoModelException">The model has no joint of that name.</exception>
    public int JointId(string name) => Id(MuJoCoLayout.ObjJoint, "joint", name);

    /// <summary>The index of the named actuator.</summary>
    /// <param name="name">The actuator's name in the MJCF file.</param>
    /// <returns>Its index into <see cref="MuJoCoSimulation.Control"/>.</returns>
    /// <exception cref="MuJoCoModelException">The model has no actuator of that name.</exception>
    public int ActuatorId(string name) => Id(MuJoCoLayout.ObjActuator, "actuator", name);

    int Id(int type, string kind, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int id = MuJoCoNative.NameToId(Handle, type, name);
        return id >= 0 ? id : throw new MuJoCoModelException(Name, $"no {kind} named '{name}'");
    }

    /// <summary>Loads and compiles an MJCF file.</summary>
    /// <param name="path">The model file.</param>
    /// <returns>The model, owned by the caller.</returns>
    /// <exception cref="MuJoCoUnavailableException">MuJoCo 2.2.2 is not installed.</exception>
    /// <exception cref="MuJoCoModelException">The file is missing, malformed or does not compile; the message is MuJoCo's, with the file.</exception>
    public static MuJoCoModel LoadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        MuJoCoRuntime.EnsureAvailable();
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new MuJoCoModelException(path, "no such file");
        lock (LoadLock) return new MuJoCoModel(MuJoCoNative.LoadXml(full, path), path, shared: false);
    }

    /// <summary>Compiles a model from MJCF text.</summary>
    /// <param name="xml">The MJCF document.</param>
    /// <param name="name">A name for messages.</param>
    /// <returns>The model, owned by the caller.</returns>
    /// <exception cref="MuJoCoUnavailableException">MuJoCo 2.2.2 is not installed.</exception>
    /// <exception cref="MuJoCoModelException">The text is malformed or does not compile.</exception>
    public static MuJoCoModel LoadXml(string xml, string name)
    {
        ArgumentNullException.ThrowIfNull(xml);
        ArgumentNullException.ThrowIfNull(name);
        MuJoCoRuntime.EnsureAvailable();
        // 2.2.2 reads models from files (or a virtual file system whose layout is version-specific): use a private temporary file.
        var dir = Directory.CreateTempSubdirectory("sac-mujoco-");
        try
        {
            var file = Path.Combine(dir.FullName, "model.xml");
            File.WriteAllText(file, xml);
            lock (LoadLock) return new MuJoCoModel(MuJoCoNative.LoadXml(file, name), name, shared: false);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>One of the library's own models (<see cref="BuiltInNames"/>), loaded once and shared by every caller.</summary>
    /// <param name="name">A built-in model name, e.g. <c>"hopper"</c>.</param>
    /// <returns>The shared model; disposing it does nothing.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a built-in model.</exception>
    /// <exception cref="MuJoCoUnavailableException">MuJoCo 2.2.2 is not installed.</exception>
    public static MuJoCoModel BuiltIn(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (LoadLock)
        {
            if (BuiltIns.TryGetValue(name, out var cached)) return cached;
        }
        var xml = BuiltInXml(name);
        var model = LoadXml(xml, name + ".xml");
        var shared = new MuJoCoModel(model._handle, model.Name, shared: true);
        model._handle = 0;
        lock (LoadLock)
        {
            if (BuiltIns.TryGetValue(name, out var raced))
            {
                MuJoCoNative.DeleteModel(shared._handle);
                return raced;
            }
            BuiltIns[name] = shared;
            return shared;
        }
    }

    /// <summary>The MJCF text of a built-in model, as embedded in Sac.Core.</summary>
    /// <param name="name">A built-in model name, e.g. <c>"hopper"</c>.</param>
    /// <returns>The document.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a built-in model.</exception>
    public static string BuiltInXml(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        using var stream = typeof(MuJoCoModel).Assembly.GetManifestResourceStream($"Sac.Core.MuJoCo.{name}.xml")
            ?? throw new ArgumentException($"No built-in MuJoCo model '{name}' (known: {string.Join(", ", BuiltInNames)}).", nameof(name));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Frees the model unless it is a shared built-in. Dispose its simulations first.</summary>
    public void Dispose()
    {
        if (_shared || _handle == 0) return;
        MuJoCoNative.DeleteModel(_handle);
        _handle = 0;
    }
}
