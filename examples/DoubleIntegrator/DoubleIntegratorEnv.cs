using Sac.Core.Environments;
using Sac.Core.Random;

namespace DoubleIntegratorExample;

/// <summary>
/// A 1-D double integrator: a unit mass at position x with velocity v, pushed by a force a in [-1, 1].
/// Reward -(x^2 + 0.1 v^2 + 0.01 a^2); 200 steps of dt = 0.1; never terminates.
/// </summary>
/// <remarks>The [Environment] mark is what `sac train --plugin DoubleIntegrator.dll` looks for.</remarks>
[Environment(Id, MaxEpisodeSteps = 200)]
public sealed class DoubleIntegrator : IEnvironment
{
    public const string Id = "DoubleIntegrator-v0";
    const double Dt = 0.1;

    static readonly Box Observations = new([-10f, -10f], [10f, 10f]);
    static readonly Box Actions = Box.Uniform(1, -1f, 1f);

    PhiloxKey _key;
    ulong _draw;
    double _x, _v;

    string IEnvironment.Id => Id;
    public Box ObservationSpace => Observations;
    public Box ActionSpace => Actions;
    public int? MaxEpisodeSteps => 200;

    public void Reset(ulong? seed, Span<float> observation)
    {
        if (seed is ulong s) (_key, _draw) = (PhiloxKey.FromSeed(s), 0);
        // Start anywhere in [-1, 1] at rest-ish.
        _x = 2.0 * Philox.Uniform(_key, _draw++) - 1.0;
        _v = 0.5 * Philox.Uniform(_key, _draw++) - 0.25;
        Observe(observation);
    }

    public StepResult Step(ReadOnlySpan<float> action, Span<float> observation)
    {
        double a = Math.Clamp(action[0], -1f, 1f);
        double reward = -(_x * _x + 0.1 * _v * _v + 0.01 * a * a);
        // Semi-implicit Euler: velocity first, then position; both kept inside the observation box.
        _v = Math.Clamp(_v + a * Dt, -10.0, 10.0);
        _x = Math.Clamp(_x + _v * Dt, -10.0, 10.0);
        Observe(observation);
        return new StepResult((float)reward, Terminated: false, Truncated: false);
    }

    void Observe(Span<float> observation)
    {
        observation[0] = (float)_x;
        observation[1] = (float)_v;
    }
}
