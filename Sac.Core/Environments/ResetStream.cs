using System;
using Sac.Core.Random;

namespace Sac.Core.Environments;

/// <summary>
/// The random stream an environment draws its initial states from: a Philox key plus the index of the next uniform,
/// so <c>Reset(seed)</c> restarts it and <c>Reset(null)</c> continues it, as Gymnasium's <c>np_random</c> does.
/// </summary>
/// <remarks>A mutable struct: keep it in a (non-readonly) field and call it through that field.</remarks>
internal struct ResetStream
{
    // Folded into the seed's key so the environment streams differ from any other use of the same seed in a run
    // (e.g. the agent's own Philox streams keyed by PhiloxKey.FromSeed(seed)).
    const uint EnvironmentTag = 0x454E5653; // "ENVS"

    PhiloxKey _key;
    ulong _next;
    bool _seeded;

    /// <summary>Restarts the stream from <paramref name="seed"/>: the same seed gives the same draws.</summary>
    /// <param name="seed">The seed passed to Reset.</param>
    public void Seed(ulong seed)
    {
        _key = PhiloxKey.FromSeed(seed).FoldIn(EnvironmentTag);
        _next = 0;
        _seeded = true;
    }

    /// <summary>Restarts from <paramref name="seed"/> when it is given; otherwise continues (seeding from entropy once).</summary>
    /// <param name="seed">The seed passed to Reset, or null.</param>
    public void Begin(ulong? seed)
    {
        if (seed is ulong s) Seed(s);
        // Gymnasium seeds an unseeded environment from OS entropy on its first reset.
        else if (!_seeded) Seed(((ulong)System.Random.Shared.NextInt64() << 1) ^ (ulong)System.Random.Shared.NextInt64());
    }

    /// <summary>The next draw, uniform in the open interval (<paramref name="low"/>, <paramref name="high"/>).</summary>
    /// <param name="low">Lower end.</param>
    /// <param name="high">Upper end.</param>
    /// <returns><c>low + (high - low) * u</c> with <c>u</c> the next Philox uniform in (0, 1).</returns>
    public double Uniform(double low, double high)
    {
        double u = Philox.Uniform(_key, _next++);
        return low + (high - low) * u;
    }

    /// <summary>The next standard normal draw, from two uniforms by the Box-Muller transform in double precision.</summary>
    /// <returns>A draw from N(0, 1).</returns>
    public double Normal()
    {
        double u1 = Philox.Uniform(_key, _next++);
        double u2 = Philox.Uniform(_key, _next++);
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
