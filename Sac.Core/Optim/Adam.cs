using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sac.Core.Optim;

/// <summary>
/// Hyperparameters of <see cref="Adam"/>. Every field is checked when it is set, by the constructor or by a
/// <c>with</c> expression, and a bad value throws <see cref="ArgumentException"/> naming the field.
/// </summary>
/// <param name="LearningRate">Step size <c>lr</c>; finite and greater than zero.</param>
/// <param name="Beta1">Decay rate of the first-moment (mean) estimate; in <c>[0, 1)</c>.</param>
/// <param name="Beta2">Decay rate of the second-moment (uncentered variance) estimate; in <c>[0, 1)</c>.</param>
/// <param name="Epsilon">Added to <c>sqrt(vhat)</c> in the denominator (PyTorch placement); finite and greater than zero.</param>
/// <param name="MaxGradNorm">When set, the gradient is first clipped to this global L2 norm; finite and greater than zero.</param>
public sealed record AdamConfig(
    float LearningRate = 3e-4f,
    float Beta1 = 0.9f,
    float Beta2 = 0.999f,
    float Epsilon = 1e-8f,
    float? MaxGradNorm = null)
{
    /// <summary>Step size <c>lr</c>; finite and greater than zero.</summary>
    public float LearningRate { get; init => field = OptimChecks.PositiveFinite(value, nameof(LearningRate)); }
        = OptimChecks.PositiveFinite(LearningRate, nameof(LearningRate));

    /// <summary>Decay rate of the first-moment (mean) estimate; in <c>[0, 1)</c>.</summary>
    public float Beta1 { get; init => field = OptimChecks.UnitHalfOpen(value, nameof(Beta1)); }
        = OptimChecks.UnitHalfOpen(Beta1, nameof(Beta1));

    /// <summary>Decay rate of the second-moment (uncentered variance) estimate; in <c>[0, 1)</c>.</summary>
    public float Beta2 { get; init => field = OptimChecks.UnitHalfOpen(value, nameof(Beta2)); }
        = OptimChecks.UnitHalfOpen(Beta2, nameof(Beta2));

    /// <summary>Added to <c>sqrt(vhat)</c> in the denominator, as PyTorch places it; finite and greater than zero.</summary>
    public float Epsilon { get; init => field = OptimChecks.PositiveFinite(value, nameof(Epsilon)); }
        = OptimChecks.PositiveFinite(Epsilon, nameof(Epsilon));

    /// <summary>When set, the gradient is clipped to this global L2 norm before the moments see it; finite and greater than zero.</summary>
    public float? MaxGradNorm { get; init => field = CheckMaxGradNorm(value); } = CheckMaxGradNorm(MaxGradNorm);

    static float? CheckMaxGradNorm(float? value) =>
        value is float v ? OptimChecks.PositiveFinite(v, nameof(MaxGradNorm)) : null;
}

/// <summary>
/// Adam's optimizer state: the step count and the two moment buffers. The buffers are updated in place by
/// <see cref="Adam.Update(AdamConfig, AdamState, System.ReadOnlySpan{float}, System.Span{float})"/>, which returns a new state value carrying the incremented step, so threading the
/// state through a training loop allocates nothing.
/// </summary>
/// <param name="Step">Number of updates applied so far; zero after <see cref="Adam.Init"/>.</param>
/// <param name="FirstMoment">Exponential moving average of the gradient, <c>m</c>, one entry per parameter.</param>
/// <param name="SecondMoment">Exponential moving average of the squared gradient, <c>v</c>, one entry per parameter.</param>
public readonly record struct AdamState(long Step, float[] FirstMoment, float[] SecondMoment);

/// <summary>
/// Adam (Kingma &amp; Ba 2015) over a flat single-precision parameter vector, as an init/update pair over
/// explicit state. Numerics follow <c>torch.optim.Adam</c>: <c>p -= lr * mhat / (sqrt(vhat) + eps)</c>.
/// </summary>
public static class Adam
{
    /// <summary>Creates the state for <paramref name="parameterCount"/> parameters: step zero and zeroed moments.</summary>
    /// <param name="parameterCount">Length of the flat parameter vector; non-negative.</param>
    /// <returns>A fresh state owning two new buffers.</returns>
    public static AdamState Init(int parameterCount)
    {
        OptimChecks.Count(parameterCount, nameof(parameterCount));
        return new AdamState(0, new float[parameterCount], new float[parameterCount]);
    }

    /// <summary>
    /// Applies one Adam step: clips the gradient if <see cref="AdamConfig.MaxGradNorm"/> is set, updates both
    /// moments in place, and writes the bias-corrected step into <paramref name="parameters"/>. Allocates nothing.
    /// </summary>
    /// <param name="config">The hyperparameters.</param>
    /// <param name="state">The state from <see cref="Init"/> or the previous update; its buffers are overwritten.</param>
    /// <param name="gradients">The loss gradient at <paramref name="parameters"/>; read only, never scaled in place.</param>
    /// <param name="parameters">The parameters, updated in place.</param>
    /// <returns>The state after this step (same buffers, step incremented).</returns>
    /// <exception cref="ArgumentException">A span or buffer length differs from the others, or the state is uninitialized.</exception>
    public static AdamState Update(AdamConfig config, AdamState state, ReadOnlySpan<float> gradients, Span<float> parameters) =>
        Update(config, 1f, state, gradients, parameters);

    /// <summary>
    /// As <see cref="Update(AdamConfig, AdamState, ReadOnlySpan{float}, Span{float})"/>, at the learning rate
    /// <c>config.LearningRate * learningRateFactor</c> (a schedule's factor; 1 is the configured rate bit for bit).
    /// </summary>
    /// <param name="config">The hyperparameters.</param>
    /// <param name="learningRateFactor">The schedule's factor on the learning rate, in [0, 1].</param>
    /// <param name="state">The state from <see cref="Init"/> or the previous update; its buffers are overwritten.</param>
    /// <param name="gradients">The loss gradient at <paramref name="parameters"/>; read only.</param>
    /// <param name="parameters">The parameters, updated in place.</param>
    /// <returns>The state after this step (same buffers, step incremented).</returns>
    /// <exception cref="ArgumentException">A span or buffer length differs from the others, or the state is uninitialized.</exception>
    public static AdamState Update(AdamConfig config, float learningRateFactor, AdamState state, ReadOnlySpan<float> gradients, Span<float> parameters)
    {
        ArgumentNullException.ThrowIfNull(config);
        float[] m = state.FirstMoment ?? throw new ArgumentException("state.FirstMoment is null; create the state with Adam.Init.", nameof(state));
        float[] v = state.SecondMoment ?? throw new ArgumentException("state.SecondMoment is null; create the state with Adam.Init.", nameof(state));
        int n = parameters.Length;
        OptimChecks.SameLength(n, gradients.Length, nameof(gradients));
        OptimChecks.SameLength(n, m.Length, "state.FirstMoment");
        OptimChecks.SameLength(n, v.Length, "state.SecondMoment");
        long step = state.Step + 1;
        Step(config, learningRateFactor, step, gradients, parameters, m, v);
        return state with { Step = step };
    }

    /// <summary>
    /// The arithmetic of <see cref="Update(AdamConfig, AdamState, ReadOnlySpan{float}, Span{float})"/> over caller-owned moment buffers, for callers that keep the moments
    /// elsewhere than in an <see cref="AdamState"/> (a sub-range of a larger buffer, a backend array): clips the
    /// gradient if <see cref="AdamConfig.MaxGradNorm"/> is set, updates <paramref name="firstMoment"/> and
    /// <paramref name="secondMoment"/> in place, and writes the bias-corrected step into <paramref name="parameters"/>.
    /// Allocates nothing.
    /// </summary>
    /// <param name="config">The hyperparameters.</param>
    /// <param name="step">The step number t of this update, 1 for the first (the bias corrections use it).</param>
    /// <param name="gradients">The loss gradient at <paramref name="parameters"/>; read only, never scaled in place.</param>
    /// <param name="parameters">The parameters, updated in place.</param>
    /// <param name="firstMoment">m, one entry per parameter, updated in place.</param>
    /// <param name="secondMoment">v, one entry per parameter, updated in place.</param>
    /// <exception cref="ArgumentException">A span length differs from the others.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is below 1.</exception>
    public static void Step(AdamConfig config, long step, ReadOnlySpan<float> gradients, Span<float> parameters,
        Span<float> firstMoment, Span<float> secondMoment) =>
        Step(config, 1f, step, gradients, parameters, firstMoment, secondMoment);

    /// <summary>
    /// As <see cref="Step(AdamConfig, long, ReadOnlySpan{float}, Span{float}, Span{float}, Span{float})"/>, at the
    /// learning rate <c>config.LearningRate * learningRateFactor</c> (1 is the configured rate bit for bit).
    /// </summary>
    /// <param name="config">The hyperparameters.</param>
    /// <param name="learningRateFactor">The schedule's factor on the learning rate, in [0, 1].</param>
    /// <param name="step">The step number t of this update, 1 for the first.</param>
    /// <param name="gradients">The loss gradient at <paramref name="parameters"/>; read only.</param>
    /// <param name="parameters">The parameters, updated in place.</param>
    /// <param name="firstMoment">m, updated in place.</param>
    /// <param name="secondMoment">v, updated in place.</param>
    /// <exception cref="ArgumentException">A span length differs from the others, or the factor is outside [0, 1].</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is below 1.</exception>
    public static void Step(AdamConfig config, float learningRateFactor, long step, ReadOnlySpan<float> gradients, Span<float> parameters,
        Span<float> firstMoment, Span<float> secondMoment)
    {
        OptimChecks.UnitClosed(learningRateFactor, nameof(learningRateFactor));
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1L);
        int n = parameters.Length;
        OptimChecks.SameLength(n, gradients.Length, nameof(gradients));
        OptimChecks.SameLength(n, firstMoment.Length, nameof(firstMoment));
        OptimChecks.SameLength(n, secondMoment.Length, nameof(secondMoment));

        // clip_grad_norm_ folded into the moment update as a scalar, so the caller's span is never written.
        float scale = config.MaxGradNorm is float maxNorm
            ? GradientClipping.ScaleFactorUnchecked(maxNorm, GradientClipping.GlobalNorm(gradients))
            : 1f;

        float beta1 = config.Beta1, beta2 = config.Beta2;
        float oneMinusBeta1 = 1f - beta1, oneMinusBeta2 = 1f - beta2;
        // Bias corrections 1 - beta^t in double: in float, beta2^t rounds badly for beta2 near 1.
        double correction1 = 1.0 - Math.Pow(beta1, step);
        double correction2 = 1.0 - Math.Pow(beta2, step);
        // Adam (Kingma & Ba 2015, Alg. 1), PyTorch form: p -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps).
        float stepSize = (float)((config.LearningRate * learningRateFactor) / correction1);
        float invSqrtCorrection2 = (float)(1.0 / Math.Sqrt(correction2));
        float eps = config.Epsilon;

        ref float gRef = ref MemoryMarshal.GetReference(gradients);
        ref float pRef = ref MemoryMarshal.GetReference(parameters);
        ref float mRef = ref MemoryMarshal.GetReference(firstMoment);
        ref float vRef = ref MemoryMarshal.GetReference(secondMoment);

        // The vector body and the scalar tail perform the same IEEE operations in the same order (no FMA),
        // so results do not depend on the vector width or on where the tail starts.
        int i = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vScale = new Vector<float>(scale);
            var vBeta1 = new Vector<float>(beta1);
            var vBeta2 = new Vector<float>(beta2);
            var vOneMinusBeta1 = new Vector<float>(oneMinusBeta1);
            var vOneMinusBeta2 = new Vector<float>(oneMinusBeta2);
            var vStepSize = new Vector<float>(stepSize);
            var vInvSqrtCorrection2 = new Vector<float>(invSqrtCorrection2);
            var vEps = new Vector<float>(eps);
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
            {
                nuint k = (nuint)i;
                Vector<float> g = Vector.LoadUnsafe(ref gRef, k) * vScale;
                Vector<float> mi = vBeta1 * Vector.LoadUnsafe(ref mRef, k) + vOneMinusBeta1 * g;
                Vector<float> vi = vBeta2 * Vector.LoadUnsafe(ref vRef, k) + vOneMinusBeta2 * (g * g);
                Vector<float> denom = Vector.SquareRoot(vi) * vInvSqrtCorrection2 + vEps;
                Vector<float> p = Vector.LoadUnsafe(ref pRef, k) - vStepSize * mi / denom;
                mi.StoreUnsafe(ref mRef, k);
                vi.StoreUnsafe(ref vRef, k);
                p.StoreUnsafe(ref pRef, k);
            }
        }
        for (; i < n; i++)
        {
            float g = Unsafe.Add(ref gRef, i) * scale;
            ref float mi = ref Unsafe.Add(ref mRef, i);
            ref float vi = ref Unsafe.Add(ref vRef, i);
            mi = beta1 * mi + oneMinusBeta1 * g;
            vi = beta2 * vi + oneMinusBeta2 * (g * g);
            float denom = MathF.Sqrt(vi) * invSqrtCorrection2 + eps;
            Unsafe.Add(ref pRef, i) -= stepSize * mi / denom;
        }
    }
}
