using System;
using System.Runtime.CompilerServices;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>How a MuJoCo environment perturbs the initial velocities on reset (the positions always get uniform noise).</summary>
public enum VelocityResetNoise
{
    /// <summary><c>qvel = U(-scale, scale)</c> per component (Hopper, Walker2d, Humanoid).</summary>
    Uniform,

    /// <summary><c>qvel = scale * N(0, 1)</c> per component (HalfCheetah, Ant).</summary>
    Normal,
}

/// <summary>The terms of the last step's reward, as Gymnasium reports them in <c>info</c>.</summary>
/// <param name="Forward">The forward term: <c>forward_reward_weight * x_velocity</c>.</param>
/// <param name="Healthy">The healthy (alive) bonus, 0 for environments without one.</param>
/// <param name="Control">The control cost, subtracted.</param>
/// <param name="Contact">The contact cost, subtracted (0 where the version has none).</param>
/// <param name="XVelocity">The x velocity: the forward position's change over <c>dt</c>.</param>
/// <param name="YVelocity">The y velocity (0 for planar models).</param>
public readonly record struct LocomotionReward(double Forward, double Healthy, double Control, double Contact, double XVelocity, double YVelocity)
{
    /// <summary><c>Forward + Healthy - Control - Contact</c>, the step's reward.</summary>
    public double Total => Forward + Healthy - Control - Contact;
}

/// <summary>
/// A Gymnasium MuJoCo environment (v4 semantics): one <see cref="MuJoCoSimulation"/> of a shared built-in model,
/// stepped <see cref="FrameSkip"/> timesteps per action, with the reset noise, observation, reward and termination
/// its subclass defines. Stepping allocates nothing.
/// </summary>
/// <remarks>
/// <para>
/// Reset: <c>mj_resetData</c>, then <c>qpos = qpos0 + U(-s, s)</c> and <c>qvel</c> noise of scale <c>s</c> (uniform or
/// normal, per environment), drawn from the environment's Philox stream, then <c>mj_forward</c>. Step: the action
/// becomes <c>ctrl</c> (MuJoCo clamps it to the control range when applying it, and the cost uses it unclamped, as
/// Gymnasium does), then <see cref="FrameSkip"/> <c>mj_step</c>s and one <c>mj_rnePostConstraint</c>.
/// </para>
/// <para>
/// Episodes end by termination (an unhealthy state) only; the 1000-step limit is a truncation that
/// <see cref="EnvironmentRegistry.Make"/> adds through <see cref="TimeLimit"/>. MuJoCo errors and NaN states raise
/// <see cref="MuJoCoSimulationException"/> naming the environment and step.
/// </para>
/// </remarks>
public abstract class MuJoCoEnvironment : IEnvironment, IDisposable
{
    /// <summary>Gymnasium's episode limit for the locomotion tasks, 1000 steps.</summary>
    public const int RegisteredMaxEpisodeSteps = 1000;

    readonly MuJoCoSimulation _sim;
    readonly double[] _qpos0;
    readonly VelocityResetNoise _velocityNoise;
    ResetStream _rng;
    bool _ready;

    /// <summary>Makes the environment on a built-in model.</summary>
    /// <param name="id">The registered id, e.g. <c>"Hopper-v4"</c>.</param>
    /// <param name="modelName">The built-in model (<see cref="MuJoCoModel.BuiltInNames"/>).</param>
    /// <param name="frameSkip">Timesteps per action.</param>
    /// <param name="observationDimension">Length of the observation.</param>
    /// <param name="resetNoiseScale">Scale <c>s</c> of the reset noise.</param>
    /// <param name="velocityNoise">The distribution of the velocity noise.</param>
    /// <exception cref="MuJoCoUnavailableException">MuJoCo 2.2.2 is not installed.</exception>
    protected MuJoCoEnvironment(string id, string modelName, int frameSkip, int observationDimension, double resetNoiseScale, VelocityResetNoise velocityNoise)
    {
        Id = id;
        var model = MuJoCoModel.BuiltIn(modelName);
        _sim = new MuJoCoSimulation(model, id);
        _qpos0 = model.Qpos0.ToArray();
        FrameSkip = frameSkip;
        Dt = model.Timestep * frameSkip;
        ResetNoiseScale = resetNoiseScale;
        _velocityNoise = velocityNoise;
        ObservationSpace = Box.Uniform(observationDimension, float.NegativeInfinity, float.PositiveInfinity);
        var range = model.ActuatorControlRange;
        var low = new float[model.Nu];
        var high = new float[model.Nu];
        for (int i = 0; i < low.Length; i++)
        {
            low[i] = (float)range[2 * i];
            high[i] = (float)range[2 * i + 1];
        }
        ActionSpace = new Box(low, high);
    }

    /// <inheritdoc/>
    public string Id { get; }

    /// <summary>Unbounded in every component, as Gymnasium declares it.</summary>
    public Box ObservationSpace { get; }

    /// <summary>The actuators' control ranges.</summary>
    public Box ActionSpace { get; }

    /// <summary>1000 steps.</summary>
    public int? MaxEpisodeSteps => RegisteredMaxEpisodeSteps;

    /// <summary>Timesteps simulated per action.</summary>
    public int FrameSkip { get; }

    /// <summary>Seconds per action: the model's timestep times <see cref="FrameSkip"/>.</summary>
    public double Dt { get; }

    /// <summary>The scale of the reset noise.</summary>
    public double ResetNoiseScale { get; }

    /// <summary>The simulation, for reading the state (and, in tests, constructing one).</summary>
    public MuJoCoSimulation Simulation => _sim;

    /// <summary>The terms of the last step's reward.</summary>
    public LocomotionReward LastReward { get; private set; }

    /// <inheritdoc/>
    public void Reset(ulong? seed, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, ObservationSpace.Dimension);
        _rng.Begin(seed);
        _sim.Reset();
        var qpos = _sim.Position;
        for (int i = 0; i < qpos.Length; i++) qpos[i] = _qpos0[i] + _rng.Uniform(-ResetNoiseScale, ResetNoiseScale);
        var qvel = _sim.Velocity;
        for (int i = 0; i < qvel.Length; i++)
            qvel[i] = _velocityNoise == VelocityResetNoise.Normal ? ResetNoiseScale * _rng.Normal() : _rng.Uniform(-ResetNoiseScale, ResetNoiseScale);
        _sim.Forward();
        _ready = true;
        Observe(observation);
    }

    /// <summary>
    /// Sets the state directly (Gymnasium's <c>set_state</c>: positions, velocities, then <c>mj_forward</c>) and writes
    /// its observation; counts as a reset. For tests and custom starts.
    /// </summary>
    /// <param name="qpos">Generalized positions, length <c>nq</c>.</param>
    /// <param name="qvel">Generalized velocities, length <c>nv</c>.</param>
    /// <param name="observation">Receives the observation.</param>
    public void SetState(ReadOnlySpan<double> qpos, ReadOnlySpan<double> qvel, Span<float> observation)
    {
        EnvironmentChecks.Observation(Id, observation, ObservationSpace.Dimension);
        if (qpos.Length != _sim.Nq || qvel.Length != _sim.Nv)
            throw new ArgumentException($"{Id}: the state needs {_sim.Nq} positions and {_sim.Nv} velocities, got {qpos.Length} and {qvel.Length}.");
        _sim.Reset();
        qpos.CopyTo(_sim.Position);
        qvel.CopyTo(_sim.Velocity);
        _sim.Forward();
        _ready = true;
        Observe(observation);
    }

    /// <inheritdoc/>
    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        EnvironmentChecks.Action(Id, action, ActionSpace.Dimension);
        EnvironmentChecks.Observation(Id, observation, ObservationSpace.Dimension);
        EnvironmentChecks.WasReset(Id, _ready);
        var ctrl = _sim.Control;
        for (int i = 0; i < ctrl.Length; i++) ctrl[i] = action[i];
        var (xBefore, yBefore) = ForwardPosition();
        _sim.Step(FrameSkip);
        var (xAfter, yAfter) = ForwardPosition();
        var reward = Reward((xAfter - xBefore) / Dt, (yAfter - yBefore) / Dt);
        LastReward = reward;
        bool terminated = !IsHealthy();
        Observe(observation);
        return new StepResult((float)reward.Total, terminated, Truncated: false);
    }

    /// <summary>The position whose change over <see cref="Dt"/> is the rewarded velocity (x, y).</summary>
    /// <returns>The x and y coordinates (y is 0 for planar models).</returns>
    protected abstract (double X, double Y) ForwardPosition();

    /// <summary>The step's reward terms from the velocities and the simulation's state after the step.</summary>
    /// <param name="xVelocity">The forward position's x change over <see cref="Dt"/>.</param>
    /// <param name="yVelocity">Its y change over <see cref="Dt"/>.</param>
    /// <returns>The terms.</returns>
    protected abstract LocomotionReward Reward(double xVelocity, double yVelocity);

    /// <summary>Whether the current state is healthy; an unhealthy state terminates the episode.</summary>
    /// <returns>True while the episode may go on.</returns>
    public abstract bool IsHealthy();

    /// <summary>Writes the observation of the current state.</summary>
    /// <param name="observation">The destination, of the observation space's length.</param>
    protected abstract void Observe(Span<float> observation);

    /// <summary><c>weight * sum(ctrl^2)</c> over the controls as given (unclamped).</summary>
    /// <param name="weight">The control cost weight.</param>
    /// <returns>The control cost.</returns>
    protected double ControlCost(double weight)
    {
        double sum = 0;
        foreach (var c in _sim.Control) sum += c * c;
        return weight * sum;
    }

    /// <summary>Writes <paramref name="source"/> from <paramref name="start"/> on into <paramref name="dest"/> as float32, clipped to <c>[-clip, clip]</c> when <paramref name="clip"/> is finite.</summary>
    /// <param name="source">The values.</param>
    /// <param name="start">The first index taken.</param>
    /// <param name="dest">The destination.</param>
    /// <param name="at">Where in <paramref name="dest"/> to start writing.</param>
    /// <param name="clip">The clipping bound, or infinity.</param>
    /// <returns>The index after the last written element.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static int Write(ReadOnlySpan<double> source, int start, Span<float> dest, int at, double clip = double.PositiveInfinity)
    {
        for (int i = start; i < source.Length; i++) dest[at++] = (float)Math.Clamp(source[i], -clip, clip);
        return at;
    }

    /// <summary>Frees the simulation.</summary>
    public void Dispose()
    {
        _sim.Dispose();
        GC.SuppressFinalize(this);
    }
}
