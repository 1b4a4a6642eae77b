using System;
using System.Runtime.InteropServices;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// One simulation state (<c>mjData</c>) of a shared <see cref="MuJoCoModel"/>: positions, velocities, controls and the
/// quantities MuJoCo derives from them, as spans over MuJoCo's own memory. Stepping allocates nothing.
/// </summary>
/// <remarks>
/// <para>
/// Every call that runs MuJoCo checks its outcome: a MuJoCo error, or a warning that the state went bad (MuJoCo's
/// <c>BADQPOS</c>, <c>BADQVEL</c>, <c>BADQACC</c>, <c>BADCTRL</c>: a NaN or infinity, after which MuJoCo silently resets
/// the state), throws a <see cref="MuJoCoSimulationException"/> naming <see cref="Name"/> and the step. After that the
/// simulation must be <see cref="Reset"/> before it steps again.
/// </para>
/// <para>Not thread-safe; different simulations of one model may run on different threads.</para>
/// </remarks>
public sealed unsafe class MuJoCoSimulation : IDisposable
{
    // mjtWarning values from 4 on mean a non-finite number was found and the state was reset by MuJoCo.
    const int FirstBadStateWarning = 4;
    static readonly string[] WarningNames = ["INERTIA", "CONTACTFULL", "CNSTRFULL", "VGEOMFULL", "BADQPOS", "BADQVEL", "BADQACC", "BADCTRL"];
    static readonly string[] WarningMeanings =
    [
        "(near) singular inertia matrix", "too many contacts", "too many constraints", "too many visual geoms",
        "bad number in qpos", "bad number in qvel", "bad number in qacc", "bad number in ctrl",
    ];

    readonly MuJoCoModel _model;
    readonly nint _m;
    nint _d;
    byte* _error;
    bool _needsReset;

    /// <summary>Makes a simulation of <paramref name="model"/> in its reference configuration (<c>mj_makeData</c>).</summary>
    /// <param name="model">The model; it must outlive the simulation.</param>
    /// <param name="name">The name that messages use (an environment id); the model's name when null.</param>
    /// <exception cref="MuJoCoModelException">MuJoCo could not allocate the data.</exception>
    public MuJoCoSimulation(MuJoCoModel model, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _m = model.Handle;
        Name = name ?? model.Name;
        _d = MuJoCoNative.MakeData(_m, model.Name);
        _error = (byte*)NativeMemory.AllocZeroed(MuJoCoNative.ErrorBufferSize);
        Nq = model.Nq;
        Nv = model.Nv;
        Nu = model.Nu;
        NBody = model.NBody;
    }

    /// <summary>The name messages use.</summary>
    public string Name { get; }

    /// <summary>The model simulated.</summary>
    public MuJoCoModel Model => _model;

    /// <summary><see cref="MuJoCoModel.Nq"/>.</summary>
    public int Nq { get; }

    /// <summary><see cref="MuJoCoModel.Nv"/>.</summary>
    public int Nv { get; }

    /// <summary><see cref="MuJoCoModel.Nu"/>.</summary>
    public int Nu { get; }

    /// <summary><see cref="MuJoCoModel.NBody"/>.</summary>
    public int NBody { get; }

    /// <summary><see cref="Step"/> calls since the last <see cref="Reset"/>.</summary>
    public long StepsSinceReset { get; private set; }

    nint D => _d != 0 ? _d : throw new ObjectDisposedException(nameof(MuJoCoSimulation), $"MuJoCo simulation {Name} was disposed.");

    Span<double> Field(int offset, int length) => new(*(double**)(D + offset), length);

    /// <summary>Simulation time in seconds.</summary>
    public double Time => *(double*)(D + MuJoCoLayout.Data_time);

    /// <summary>Generalized positions <c>qpos</c> (length <see cref="Nq"/>); writable, then call <see cref="Forward"/>.</summary>
    public Span<double> Position => Field(MuJoCoLayout.Data_qpos, Nq);

    /// <summary>Generalized velocities <c>qvel</c> (length <see cref="Nv"/>); writable, then call <see cref="Forward"/>.</summary>
    public Span<double> Velocity => Field(MuJoCoLayout.Data_qvel, Nv);

    /// <summary>Actuator controls <c>ctrl</c> (length <see cref="Nu"/>), applied by the next <see cref="Step"/>.</summary>
    public Span<double> Control => Field(MuJoCoLayout.Data_ctrl, Nu);

    /// <summary>Generalized accelerations <c>qacc</c> (length <see cref="Nv"/>).</summary>
    public ReadOnlySpan<double> Acceleration => Field(MuJoCoLayout.Data_qacc, Nv);

    /// <summary>Cartesian body frame positions <c>xpos</c> (<see cref="NBody"/> x 3).</summary>
    public ReadOnlySpan<double> BodyPosition => Field(MuJoCoLayout.Data_xpos, 3 * NBody);

    /// <summary>Cartesian positions of the bodies' centres of mass <c>xipos</c> (<see cref="NBody"/> x 3).</summary>
    public ReadOnlySpan<double> BodyCenterOfMass => Field(MuJoCoLayout.Data_xipos, 3 * NBody);

    /// <summary>Body inertias in the centre-of-mass frame <c>cinert</c> (<see cref="NBody"/> x 10).</summary>
    public ReadOnlySpan<double> ComInertia => Field(MuJoCoLayout.Data_cinert, 10 * NBody);

    /// <summary>Body velocities in the centre-of-mass frame <c>cvel</c> (<see cref="NBody"/> x 6).</summary>
    public ReadOnlySpan<double> ComVelocity => Field(MuJoCoLayout.Data_cvel, 6 * NBody);

    /// <summary>Actuator forces in joint space <c>qfrc_actuator</c> (length <see cref="Nv"/>).</summary>
    public ReadOnlySpan<double> ActuatorForce => Field(MuJoCoLayout.Data_qfrc_actuator, Nv);

    /// <summary>External (contact) forces on each body in the centre-of-mass frame <c>cfrc_ext</c> (<see cref="NBody"/> x 6), as of the last step.</summary>
    public ReadOnlySpan<double> ExternalForce => Field(MuJoCoLayout.Data_cfrc_ext, 6 * NBody);

    /// <summary>Restores the reference configuration (<c>mj_resetData</c>: <c>qpos0</c>, zero velocity, control and time).</summary>
    /// <exception cref="MuJoCoSimulationException">MuJoCo raised an error.</exception>
    public void Reset()
    {
        StepsSinceReset = 0;
        if (MuJoCoNative.Reset(_m, D, _error) != 0) Fail("MuJoCo error: " + MuJoCoNative.Text(_error));
        _needsReset = false;
    }

    /// <summary>Recomputes everything derived from the current positions and velocities (<c>mj_forward</c>), as after setting a state.</summary>
    /// <exception cref="MuJoCoSimulationException">MuJoCo raised an error, or the state holds a NaN or infinity.</exception>
    public void Forward()
    {
        RequireReset();
        if (MuJoCoNative.Forward(_m, D, _error) != 0) Fail("MuJoCo error: " + MuJoCoNative.Text(_error));
        CheckWarnings();
    }

    /// <summary>
    /// Advances <paramref name="frames"/> timesteps with the current <see cref="Control"/> (<c>mj_step</c> each), then
    /// computes the post-constraint quantities (<c>mj_rnePostConstraint</c>: <see cref="ExternalForce"/>), as Gymnasium's
    /// MuJoCo environments do. Counts as one step in messages.
    /// </summary>
    /// <param name="frames">Timesteps to advance, at least 1 (an environment's frame skip).</param>
    /// <exception cref="MuJoCoSimulationException">MuJoCo raised an error, or a NaN or infinity appeared in the state or controls.</exception>
    /// <exception cref="InvalidOperationException">An earlier failure left the simulation needing a <see cref="Reset"/>.</exception>
    public void Step(int frames)
    {
        if (frames < 1) throw new ArgumentOutOfRangeException(nameof(frames), frames, "At least one frame.");
        RequireReset();
        StepsSinceReset++;
        if (MuJoCoNative.Step(_m, D, frames, _error) != 0) Fail("MuJoCo error: " + MuJoCoNative.Text(_error));
        CheckWarnings();
    }

    void RequireReset()
    {
        if (_needsReset)
            throw new InvalidOperationException($"{Name}: the simulation failed at step {StepsSinceReset} and must be reset before it steps again.");
    }

    void CheckWarnings()
    {
        byte* stats = (byte*)D + MuJoCoLayout.Data_warning;
        for (int w = FirstBadStateWarning; w < MuJoCoLayout.WarningCount; w++)
        {
            int* stat = (int*)(stats + w * MuJoCoLayout.SizeOfWarningStat);
            int count = *(int*)((byte*)stat + MuJoCoLayout.WarningStat_number);
            if (count > 0)
            {
                int info = *stat; // lastinfo: the offending index
                Fail($"MuJoCo warning {WarningNames[w]} ({WarningMeanings[w]}) at index {info}; MuJoCo reset the state");
            }
        }
    }

    /// <summary>Counts of the warnings that do not invalidate the state (singular inertia, full contact or constraint buffers) since the last reset, in mjtWarning order.</summary>
    /// <param name="counts">Receives at least 4 counts.</param>
    public void NonFatalWarnings(Span<int> counts)
    {
        byte* stats = (byte*)D + MuJoCoLayout.Data_warning;
        for (int w = 0; w < FirstBadStateWarning && w < counts.Length; w++)
            counts[w] = *(int*)(stats + w * MuJoCoLayout.SizeOfWarningStat + MuJoCoLayout.WarningStat_number);
    }

    void Fail(string problem)
    {
        _needsReset = true;
        throw new MuJoCoSimulationException(Name, StepsSinceReset, problem);
    }

    /// <summary>Frees the simulation state.</summary>
    public void Dispose()
    {
        if (_d != 0)
        {
            MuJoCoNative.DeleteData(_d);
            _d = 0;
        }
        if (_error != null)
        {
            NativeMemory.Free(_error);
            _error = null;
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native state of a simulation that was never disposed.</summary>
    ~MuJoCoSimulation()
    {
        if (_d != 0) MuJoCoNative.DeleteData(_d);
        if (_error != null) NativeMemory.Free(_error);
    }
}
