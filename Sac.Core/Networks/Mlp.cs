using System;
using Sac.Core.Compute;
using Sac.Core.Random;

namespace Sac.Core.Networks;

/// <summary>
/// A multilayer perceptron over one flat float32 parameter vector: initialisation, forward pass, and the exact
/// vector-Jacobian product with respect to both parameters and input.
/// </summary>
/// <remarks>
/// Layer <c>l</c> computes <c>Y_l = act(Y_{l-1} W_l^T + b_l)</c> with <c>W_l</c> stored <c>[out, in]</c> (see
/// <see cref="MlpSpec"/>), so forward is GEMM NT, the weight gradient <c>dW = dZ^T X</c> is GEMM TN and the input
/// gradient <c>dX = dZ W</c> is GEMM NN. Forward and backward allocate nothing: every buffer lives in an
/// <see cref="MlpWorkspace"/> or is passed in by the caller. Everything runs on the calling thread.
/// </remarks>
public static class Mlp
{
    /// <summary>Allocates a parameter vector for <paramref name="spec"/> and fills it as <see cref="Init"/> does.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="key">The random stream key.</param>
    /// <returns>A new array of <see cref="MlpSpec.ParameterCount"/> floats.</returns>
    public static float[] InitParameters(MlpSpec spec, PhiloxKey key)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var p = new float[spec.ParameterCount];
        Init(spec, key, p);
        return p;
    }

    /// <summary>
    /// PyTorch <c>nn.Linear</c> default initialisation: every weight and bias of layer <c>l</c> drawn from
    /// <c>U(-1/sqrt(fan_in), 1/sqrt(fan_in))</c> (for the weights this is <c>kaiming_uniform_</c> with <c>a = sqrt(5)</c>).
    /// </summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="key">The random stream key; parameter <c>i</c> uses counter <c>i</c>, so the values do not depend on how the vector is split.</param>
    /// <param name="parameters">Exactly <see cref="MlpSpec.ParameterCount"/> floats, overwritten.</param>
    /// <exception cref="ArgumentException"><paramref name="parameters"/> has the wrong length.</exception>
    public static void Init(MlpSpec spec, PhiloxKey key, Span<float> parameters)
    {
        ArgumentNullException.ThrowIfNull(spec);
        CheckParameters(spec, parameters.Length, nameof(parameters));
        for (int l = 0; l < spec.LayerCount; l++)
        {
            int fanIn = spec.FanIn(l), fanOut = spec.FanOut(l);
            float bound = (float)(1.0 / Math.Sqrt(fanIn));
            FillSymmetric(key, spec.WeightOffset(l), parameters.Slice(spec.WeightOffset(l), fanOut * fanIn), bound);
            FillSymmetric(key, spec.BiasOffset(l), parameters.Slice(spec.BiasOffset(l), fanOut), bound);
        }
    }

    /// <summary>
    /// Runs the network on <paramref name="batch"/> rows of <paramref name="input"/> and keeps in
    /// <paramref name="ws"/> what <see cref="Backward"/> needs.
    /// </summary>
    /// <param name="gemm">The matrix-multiply provider.</param>
    /// <param name="spec">The network shape; must equal <c>ws.Spec</c>.</param>
    /// <param name="parameters">The flat parameter vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="input">The input <c>[batch, InputSize]</c> row-major; copied into the workspace.</param>
    /// <param name="batch">Rows in this call, in <c>[1, ws.MaxBatch]</c>.</param>
    /// <param name="ws">The workspace that receives the activations.</param>
    /// <returns>A view of the output <c>[batch, OutputSize]</c> inside <paramref name="ws"/>, valid until its next forward.</returns>
    /// <exception cref="ArgumentException">A size does not match the spec, the batch, or the workspace.</exception>
    public static ReadOnlySpan<float> Forward(IGemm gemm, MlpSpec spec, ReadOnlySpan<float> parameters,
        ReadOnlySpan<float> input, int batch, MlpWorkspace ws)
    {
        CheckCommon(gemm, spec, parameters.Length, ws, batch);
        int inSize = spec.InputSize;
        if (input.Length != batch * inSize)
            throw new ArgumentException($"input has {input.Length} elements, expected batch * InputSize = {batch} * {inSize} = {batch * inSize}.", nameof(input));

        ws.LastBatch = 0;   // a forward that throws half-way must not leave stale activations usable by backward
        Span<float> x0 = ws.Input.AsSpan(0, batch * inSize);
        input.CopyTo(x0);
        ReadOnlySpan<float> x = x0;
        for (int l = 0; l < spec.LayerCount; l++)
        {
            int fi = spec.FanIn(l), fo = spec.FanOut(l);
            ReadOnlySpan<float> w = parameters.Slice(spec.WeightOffset(l), fo * fi);
            Span<float> z = ws.Outputs[l].AsSpan(0, batch * fo);
            gemm.Sgemm(Transpose.No, Transpose.Yes, batch, fo, fi, 1f, x, fi, w, fi, 0f, z, fo);   // Z = X W^T
            FusedOps.BiasActivationForward(z, batch, fo, parameters.Slice(spec.BiasOffset(l), fo), spec.LayerActivation(l));   // Y = act(Z + b)
            x = z;
        }
        ws.LastBatch = batch;
        return x;
    }

    /// <summary>
    /// The vector-Jacobian product of the last <see cref="Forward"/> on <paramref name="ws"/>: given
    /// <c>dL/dY</c>, writes <c>dL/dparameters</c> and <c>dL/dinput</c>.
    /// </summary>
    /// <param name="gemm">The matrix-multiply provider.</param>
    /// <param name="spec">The network shape; must equal <c>ws.Spec</c>.</param>
    /// <param name="parameters">The same parameter vector the forward pass used.</param>
    /// <param name="ws">The workspace the forward pass filled.</param>
    /// <param name="batch">The batch size of that forward pass.</param>
    /// <param name="outputGrad">Gradient of the loss with respect to the output, <c>[batch, OutputSize]</c>.</param>
    /// <param name="parameterGrad">
    /// Receives the parameter gradient in the flat layout, exactly <see cref="MlpSpec.ParameterCount"/> floats, or empty
    /// to skip the weight and bias gradients (e.g. the SAC actor's <c>dQ/da</c> through a frozen critic).
    /// </param>
    /// <param name="inputGrad">Receives the input gradient <c>[batch, InputSize]</c>, or empty to skip it (and the first layer's <c>dX</c> product).</param>
    /// <param name="accumulate">Add into <paramref name="parameterGrad"/> instead of overwriting it; <paramref name="inputGrad"/> is always overwritten.</param>
    /// <exception cref="ArgumentException">A size does not match the spec, the workspace, or the last forward's batch.</exception>
    public static void Backward(IGemm gemm, MlpSpec spec, ReadOnlySpan<float> parameters, MlpWorkspace ws, int batch,
        ReadOnlySpan<float> outputGrad, Span<float> parameterGrad, Span<float> inputGrad, bool accumulate = false)
    {
        CheckCommon(gemm, spec, parameters.Length, ws, batch);
        if (ws.LastBatch != batch)
            throw new ArgumentException(ws.LastBatch == 0
                ? $"batch is {batch} but the workspace holds no completed forward pass; call Forward first."
                : $"batch is {batch} but the last forward pass on this workspace used {ws.LastBatch}.", nameof(batch));
        int inSize = spec.InputSize, outSize = spec.OutputSize;
        if (outputGrad.Length != batch * outSize)
            throw new ArgumentException($"outputGrad has {outputGrad.Length} elements, expected batch * OutputSize = {batch} * {outSize} = {batch * outSize}.", nameof(outputGrad));
        if (!parameterGrad.IsEmpty && parameterGrad.Length != spec.ParameterCount)
            throw new ArgumentException($"parameterGrad has {parameterGrad.Length} elements, expected 0 (skip) or ParameterCount = {spec.ParameterCount}.", nameof(parameterGrad));
        if (!inputGrad.IsEmpty && inputGrad.Length != batch * inSize)
            throw new ArgumentException($"inputGrad has {inputGrad.Length} elements, expected 0 (skip) or batch * InputSize = {batch} * {inSize} = {batch * inSize}.", nameof(inputGrad));

        bool wantParams = !parameterGrad.IsEmpty, wantInput = !inputGrad.IsEmpty;
        if (!wantParams && !wantInput) return;
        float beta = accumulate ? 1f : 0f;
        int last = spec.LayerCount - 1;

        // dZ_L = dY * act'(Y_L); with an identity output the caller's gradient is dZ_L itself and needs no copy.
        ReadOnlySpan<float> dz;
        float[] next = ws.GradA, spare = ws.GradB;
        if (spec.Output == Activation.Identity)
        {
            dz = outputGrad;
        }
        else
        {
            Span<float> g = ws.GradA.AsSpan(0, batch * outSize);
            outputGrad.CopyTo(g);
            FusedOps.ActivationBackward(ws.Outputs[last].AsSpan(0, batch * outSize), g, spec.Output);
            dz = g;
            (next, spare) = (spare, next);
        }

        for (int l = last; l >= 0; l--)
        {
            int fi = spec.FanIn(l), fo = spec.FanOut(l);
            ReadOnlySpan<float> x = l == 0 ? ws.Input.AsSpan(0, batch * fi) : ws.Outputs[l - 1].AsSpan(0, batch * fi);
            if (wantParams)
            {
                Span<float> dw = parameterGrad.Slice(spec.WeightOffset(l), fo * fi);
                gemm.Sgemm(Transpose.Yes, Transpose.No, fo, fi, batch, 1f, dz, fo, x, fi, beta, dw, fi);   // dW = dZ^T X
                FusedOps.ColumnSums(dz, batch, fo, parameterGrad.Slice(spec.BiasOffset(l), fo), accumulate);   // db = 1^T dZ
            }
            ReadOnlySpan<float> w = parameters.Slice(spec.WeightOffset(l), fo * fi);
            if (l > 0)
            {
                Span<float> dx = next.AsSpan(0, batch * fi);
                gemm.Sgemm(Transpose.No, Transpose.No, batch, fi, fo, 1f, dz, fo, w, fi, 0f, dx, fi);   // dY_{l-1} = dZ W
                FusedOps.ActivationBackward(x, dx, spec.Hidden);   // dZ_{l-1} = dY_{l-1} * act'(Y_{l-1})
                dz = dx;
                (next, spare) = (spare, next);
            }
            else if (wantInput)
            {
                gemm.Sgemm(Transpose.No, Transpose.No, batch, fi, fo, 1f, dz, fo, w, fi, 0f, inputGrad, fi);   // dX = dZ W
            }
        }
    }

    /// <summary>View of layer <paramref name="layer"/>'s weight <c>[out, in]</c> inside a flat parameter vector.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="parameters">The flat vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public static Span<float> LayerWeights(MlpSpec spec, float[] parameters, int layer) =>
        LayerWeights(spec, parameters.AsSpan(), layer);

    /// <summary>View of layer <paramref name="layer"/>'s weight <c>[out, in]</c> inside a flat parameter vector.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="parameters">The flat vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public static Span<float> LayerWeights(MlpSpec spec, Span<float> parameters, int layer)
    {
        ArgumentNullException.ThrowIfNull(spec);
        CheckParameters(spec, parameters.Length, nameof(parameters));
        return parameters.Slice(spec.WeightOffset(layer), spec.FanOut(layer) * spec.FanIn(layer));
    }

    /// <summary>Read-only view of layer <paramref name="layer"/>'s weight <c>[out, in]</c> inside a flat parameter vector.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="parameters">The flat vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public static ReadOnlySpan<float> LayerWeights(MlpSpec spec, ReadOnlySpan<float> parameters, int layer)
    {
        ArgumentNullException.ThrowIfNull(spec);
        CheckParameters(spec, parameters.Length, nameof(parameters));
        return parameters.Slice(spec.WeightOffset(layer), spec.FanOut(layer) * spec.FanIn(layer));
    }

    /// <summary>View of layer <paramref name="layer"/>'s bias <c>[out]</c> inside a flat parameter vector.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="parameters">The flat vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public static Span<float> LayerBias(MlpSpec spec, float[] parameters, int layer) =>
        LayerBias(spec, parameters.AsSpan(), layer);

    /// <summary>View of layer <paramref name="layer"/>'s bias <c>[out]</c> inside a flat parameter vector.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="parameters">The flat vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public static Span<float> LayerBias(MlpSpec spec, Span<float> parameters, int layer)
    {
        ArgumentNullException.ThrowIfNull(spec);
        CheckParameters(spec, parameters.Length, nameof(parameters));
        return parameters.Slice(spec.BiasOffset(layer), spec.FanOut(layer));
    }

    /// <summary>Read-only view of layer <paramref name="layer"/>'s bias <c>[out]</c> inside a flat parameter vector.</summary>
    /// <param name="spec">The network shape.</param>
    /// <param name="parameters">The flat vector, exactly <see cref="MlpSpec.ParameterCount"/> floats.</param>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public static ReadOnlySpan<float> LayerBias(MlpSpec spec, ReadOnlySpan<float> parameters, int layer)
    {
        ArgumentNullException.ThrowIfNull(spec);
        CheckParameters(spec, parameters.Length, nameof(parameters));
        return parameters.Slice(spec.BiasOffset(layer), spec.FanOut(layer));
    }

    // u ~ U(0, 1) -> (2u - 1) * bound ~ U(-bound, bound); |2u - 1| < 1, so rounding never leaves [-bound, bound].
    static void FillSymmetric(PhiloxKey key, int offset, Span<float> dest, float bound)
    {
        Philox.FillUniform(key, (ulong)offset, dest);
        for (int i = 0; i < dest.Length; i++)
            dest[i] = (2f * dest[i] - 1f) * bound;
    }

    static void CheckCommon(IGemm gemm, MlpSpec spec, int parameterLength, MlpWorkspace ws, int batch)
    {
        ArgumentNullException.ThrowIfNull(gemm);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(ws);
        if (!ReferenceEquals(ws.Spec, spec) && !ws.Spec.Equals(spec))
            throw new ArgumentException($"ws was built for {ws.Spec} but the call passes {spec}.", nameof(ws));
        CheckParameters(spec, parameterLength, "parameters");
        if (batch < 1 || batch > ws.MaxBatch)
            throw new ArgumentException($"batch is {batch}; it must be in [1, {ws.MaxBatch}] (the workspace's maxBatch).", nameof(batch));
    }

    static void CheckParameters(MlpSpec spec, int length, string name)
    {
        if (length != spec.ParameterCount)
            throw new ArgumentException($"{name} has {length} elements, expected ParameterCount = {spec.ParameterCount}.", name);
    }
}
