using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sac.Core.Optim;

/// <summary>
/// Hyperparameters of <see cref="Sgd"/>. Each field is checked when it is set, by the constructor or by a
/// <c>with</c> expression, and a bad value throws <see cref="ArgumentException"/> naming the field.
/// </summary>
/// <param name="LearningRate">Step size <c>lr</c>; finite and greater than zero.</param>
/// <param name="Momentum">Momentum coefficient <c>mu</c>; in <c>[0, 1)</c>, zero for plain gradient descent.</param>
/// <param name="Nesterov">Use Nesterov momentum; requires <paramref name="Momentum"/> greater than zero (checked by <see cref="Sgd.Init"/> and <see cref="Sgd.Update"/>).</param>
public sealed record SgdConfig(float LearningRate, float Momentum = 0f, bool Nesterov = false)
{
    /// <summary>Step size <c>lr</c>; finite and greater than zero.</summary>
    public float LearningRate { get; init => field = OptimChecks.PositiveFinite(value, nameof(LearningRate)); }
        = OptimChecks.PositiveFinite(LearningRate, nameof(LearningRate));

    /// <summary>Momentum coefficient <c>mu</c>; in <c>[0, 1)</c>, zero for plain gradient descent.</summary>
    public float Momentum { get; init => field = OptimChecks.UnitHalfOpen(value, nameof(Momentum)); }
        = OptimChecks.UnitHalfOpen(Momentum, nameof(Momentum));

    /// <summary>
    /// Use Nesterov momentum. The requirement that <see cref="Momentum"/> be positive is checked by
    /// <see cref="Sgd.Init"/> and <see cref="Sgd.Update"/>, not here, so a <c>with</c> expression may set the two fields in either order.
    /// </summary>
    public bool Nesterov { get; init; } = Nesterov;

    /// <summary>Throws when the fields are individually valid but inconsistent together.</summary>
    internal void CheckConsistent()
    {
        if (Nesterov && Momentum == 0f)
            throw new ArgumentException("Nesterov momentum requires Momentum greater than zero.", nameof(Nesterov));
    }
}

/// <summary>
/// SGD's optimizer state: the step count and, when momentum is used, the velocity buffer, which
/// <see cref="Sgd.Update"/> overwrites in place.
/// </summary>
/// <param name="Step">Number of updates applied so far; zero after <see cref="Sgd.Init"/>.</param>
/// <param name="Velocity">The momentum buffer <c>v</c>, one entry per parameter; null when <see cref="SgdConfig.Momentum"/> is zero.</param>
public readonly record struct SgdState(long Step, float[]? Velocity);

/// <summary>
/// Stochastic gradient descent with optional (Nesterov) momentum over a flat single-precision parameter
/// vector, as an init/update pair over explicit state. Numerics follow <c>torch.optim.SGD</c> with zero dampening.
/// </summary>
public static class Sgd
{
    /// <summary>Creates the state for <paramref name="parameterCount"/> parameters; the velocity is allocated only when momentum is used.</summary>
    /// <param name="config">The hyperparameters; they decide whether a velocity buffer is needed.</param>
    /// <param name="parameterCount">Length of the flat parameter vector; non-negative.</param>
    /// <returns>A fresh state at step zero with a zeroed velocity, or none.</returns>
    public static SgdState Init(SgdConfig config, int parameterCount)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.CheckConsistent();
        OptimChecks.Count(parameterCount, nameof(parameterCount));
        return new SgdState(0, config.Momentum > 0f ? new float[parameterCount] : null);
    }

    /// <summary>Applies one SGD step, updating the velocity and <paramref name="parameters"/> in place. Allocates nothing.</summary>
    /// <param name="config">The hyperparameters.</param>
    /// <param name="state">The state from <see cref="Init"/> or the previous update; its velocity is overwritten.</param>
    /// <param name="gradients">The loss gradient at <paramref name="parameters"/>; read only.</param>
    /// <param name="parameters">The parameters, updated in place.</param>
    /// <returns>The state after this step (same buffer, step incremented).</returns>
    /// <exception cref="ArgumentException">A length differs, or momentum is configured but the state has no velocity.</exception>
    public static SgdState Update(SgdConfig config, SgdState state, ReadOnlySpan<float> gradients, Span<float> parameters)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.CheckConsistent();
        int n = parameters.Length;
        OptimChecks.SameLength(n, gradients.Length, nameof(gradients));
        float lr = config.LearningRate, mu = config.Momentum;
        ref float gRef = ref MemoryMarshal.GetReference(gradients);
        ref float pRef = ref MemoryMarshal.GetReference(parameters);

        if (mu == 0f)
        {
            // Plain gradient descent: p -= lr * g.
            int j = 0;
            if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
            {
                var vLr = new Vector<float>(lr);
                for (; j <= n - Vector<float>.Count; j += Vector<float>.Count)
                {
                    nuint k = (nuint)j;
                    (Vector.LoadUnsafe(ref pRef, k) - vLr * Vector.LoadUnsafe(ref gRef, k)).StoreUnsafe(ref pRef, k);
                }
            }
            for (; j < n; j++)
                Unsafe.Add(ref pRef, j) -= lr * Unsafe.Add(ref gRef, j);
            return state with { Step = state.Step + 1 };
        }

        float[] velocity = state.Velocity
            ?? throw new ArgumentException("state.Velocity is null but Momentum is positive; create the state with Sgd.Init using this config.", nameof(state));
        OptimChecks.SameLength(n, velocity.Length, "state.Velocity");
        ref float vRef = ref MemoryMarshal.GetArrayDataReference(velocity);
        bool nesterov = config.Nesterov;

        // Vector body and scalar tail use identical operation order, so results do not depend on vector width.
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vLr = new Vector<float>(lr);
            var vMu = new Vector<float>(mu);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                nuint k = (nuint)i;
                Vector<float> g = Vector.LoadUnsafe(ref gRef, k);
                Vector<float> v = vMu * Vector.LoadUnsafe(ref vRef, k) + g;
                Vector<float> direction = nesterov ? g + vMu * v : v;
                (Vector.LoadUnsafe(ref pRef, k) - vLr * direction).StoreUnsafe(ref pRef, k);
                v.StoreUnsafe(ref vRef, k);
            }
        }
        for (; i < n; i++)
        {
            float g = Unsafe.Add(ref gRef, i);
            ref float v = ref Unsafe.Add(ref vRef, i);
            // PyTorch SGD momentum: v = mu*v + g; p -= lr*v, or Nesterov p -= lr*(g + mu*v).
            v = mu * v + g;
            Unsafe.Add(ref pRef, i) -= lr * (nesterov ? g + mu * v : v);
        }
        return state with { Step = state.Step + 1 };
    }
}
