using System;

namespace Sac.Core.Networks;

/// <summary>
/// Preallocated buffers for <see cref="Mlp.Forward"/> and <see cref="Mlp.Backward"/> on one <see cref="MlpSpec"/>,
/// sized for batches of up to <see cref="MaxBatch"/> rows, so neither pass allocates.
/// </summary>
/// <remarks>
/// Holds a copy of the last input, every layer's post-activation output (backward needs them for the weight
/// gradients and the activation derivatives), and two ping-pong buffers for the gradient with respect to a layer's
/// pre-activation. A workspace serves one forward/backward pair at a time: it is not thread-safe, and a second
/// forward overwrites what the first left for backward.
/// </remarks>
public sealed class MlpWorkspace
{
    internal readonly float[] Input;
    internal readonly float[][] Outputs;
    internal readonly float[] GradA;
    internal readonly float[] GradB;

    /// <summary>Allocates the buffers for <paramref name="spec"/> at batch size up to <paramref name="maxBatch"/>.</summary>
    /// <param name="spec">The network shape the workspace serves.</param>
    /// <param name="maxBatch">Largest batch a call may use; at least 1.</param>
    /// <exception cref="ArgumentException"><paramref name="maxBatch"/> is not positive or the buffers would exceed array limits.</exception>
    public MlpWorkspace(MlpSpec spec, int maxBatch)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (maxBatch < 1)
            throw new ArgumentException($"maxBatch must be at least 1, got {maxBatch}.", nameof(maxBatch));
        Spec = spec;
        MaxBatch = maxBatch;
        Input = new float[Size(maxBatch, spec.InputSize)];
        Outputs = new float[spec.LayerCount][];
        int gradWidth = 0;
        for (int l = 0; l < spec.LayerCount; l++)
        {
            Outputs[l] = new float[Size(maxBatch, spec.FanOut(l))];
            gradWidth = Math.Max(gradWidth, spec.FanOut(l));   // dZ of every layer; the network input's gradient goes to the caller.
        }
        GradA = new float[Size(maxBatch, gradWidth)];
        GradB = new float[Size(maxBatch, gradWidth)];
        LastBatch = 0;
    }

    /// <summary>The network shape these buffers are laid out for.</summary>
    public MlpSpec Spec { get; }

    /// <summary>The largest batch size a forward or backward call may use.</summary>
    public int MaxBatch { get; }

    /// <summary>Batch size of the last successful <see cref="Mlp.Forward"/>, or 0 before the first.</summary>
    public int LastBatch { get; internal set; }

    /// <summary>
    /// A view of layer <paramref name="layer"/>'s post-activation output <c>[LastBatch, FanOut(layer)]</c> from the last forward pass.
    /// </summary>
    /// <param name="layer">Layer index in <c>[0, Spec.LayerCount)</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public ReadOnlySpan<float> LayerOutput(int layer)
    {
        int width = Spec.FanOut(layer);   // validates the index before the array is touched
        return Outputs[layer].AsSpan(0, LastBatch * width);
    }

    static int Size(int batch, int width)
    {
        long n = (long)batch * width;
        if (n > Array.MaxLength)
            throw new ArgumentException($"maxBatch {batch} times width {width} = {n} floats exceeds the array limit.", "maxBatch");
        return (int)n;
    }
}
