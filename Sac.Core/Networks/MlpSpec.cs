using System;
using System.Text;
using Sac.Core.Compute;

namespace Sac.Core.Networks;

/// <summary>
/// The shape of a multilayer perceptron: layer widths, hidden and output activations, and the layout of its single
/// flat float32 parameter vector.
/// </summary>
/// <remarks>
/// Layer <c>l</c> maps width <c>Sizes[l]</c> to <c>Sizes[l + 1]</c>. The parameter vector holds, for each layer in
/// order, the weight <c>W_l</c> as <c>[out, in]</c> row-major (the PyTorch <c>nn.Linear</c> layout) followed by the
/// bias <c>b_l</c> of length <c>out</c>, so a layer computes <c>y = act(x W^T + b)</c>. Hidden layers use
/// <see cref="Hidden"/>; the last layer uses <see cref="Output"/>. Equality compares the widths element-wise.
/// </remarks>
public sealed record MlpSpec
{
    readonly int[] _sizes;
    readonly int[] _weightOffsets;
    readonly int[] _biasOffsets;
    readonly Activation _hidden;
    readonly Activation _output;

    /// <summary>Creates a validated spec.</summary>
    /// <param name="sizes">Widths from input to output, at least two entries, all positive, e.g. <c>[23, 256, 256, 1]</c>. The array is copied.</param>
    /// <param name="hidden">Activation after every layer but the last.</param>
    /// <param name="output">Activation after the last layer.</param>
    /// <exception cref="ArgumentException">A width is missing or not positive, the parameter count exceeds <see cref="int.MaxValue"/>, or an activation is undefined.</exception>
    public MlpSpec(int[] sizes, Activation hidden = Activation.Relu, Activation output = Activation.Identity)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Length < 2)
            throw new ArgumentException($"Sizes needs at least 2 entries (input and output width), got {sizes.Length}.", nameof(Sizes));
        for (int i = 0; i < sizes.Length; i++)
            if (sizes[i] <= 0)
                throw new ArgumentException($"Sizes[{i}] is {sizes[i]}; every width must be positive.", nameof(Sizes));
        _sizes = (int[])sizes.Clone();
        Hidden = hidden;
        Output = output;

        int layers = _sizes.Length - 1;
        _weightOffsets = new int[layers];
        _biasOffsets = new int[layers];
        long offset = 0;
        for (int l = 0; l < layers; l++)
        {
            _weightOffsets[l] = checked((int)offset);
            offset += (long)_sizes[l + 1] * _sizes[l];
            if (offset > int.MaxValue)
                throw new ArgumentException($"Sizes give more than {int.MaxValue} parameters by layer {l}; a flat span cannot hold them.", nameof(Sizes));
            _biasOffsets[l] = (int)offset;
            offset += _sizes[l + 1];
            if (offset > int.MaxValue)
                throw new ArgumentException($"Sizes give more than {int.MaxValue} parameters by layer {l}; a flat span cannot hold them.", nameof(Sizes));
        }
        ParameterCount = (int)offset;
        int max = 0;
        foreach (int s in _sizes) max = Math.Max(max, s);
        MaxWidth = max;
    }

    /// <summary>Widths from input to output. This is the spec's own copy: read it, do not modify it.</summary>
    public int[] Sizes => _sizes;

    /// <summary>Activation after every layer but the last (default <see cref="Activation.Relu"/>).</summary>
    public Activation Hidden
    {
        get => _hidden;
        init => _hidden = Defined(value, nameof(Hidden));
    }

    /// <summary>Activation after the last layer (default <see cref="Activation.Identity"/>).</summary>
    public Activation Output
    {
        get => _output;
        init => _output = Defined(value, nameof(Output));
    }

    /// <summary>Width of the network input, <c>Sizes[0]</c>.</summary>
    public int InputSize => _sizes[0];

    /// <summary>Width of the network output, the last entry of <see cref="Sizes"/>.</summary>
    public int OutputSize => _sizes[^1];

    /// <summary>Number of affine layers, <c>Sizes.Length - 1</c>.</summary>
    public int LayerCount => _sizes.Length - 1;

    /// <summary>Total length of the flat parameter vector: <c>sum_l out_l * in_l + out_l</c>.</summary>
    public int ParameterCount { get; }

    /// <summary>The largest entry of <see cref="Sizes"/>, input included.</summary>
    public int MaxWidth { get; }

    /// <summary>Input width (fan-in) of layer <paramref name="layer"/>, <c>Sizes[layer]</c>.</summary>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public int FanIn(int layer) => _sizes[CheckLayer(layer)];

    /// <summary>Output width (fan-out) of layer <paramref name="layer"/>, <c>Sizes[layer + 1]</c>.</summary>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public int FanOut(int layer) => _sizes[CheckLayer(layer) + 1];

    /// <summary>Activation applied after layer <paramref name="layer"/>: <see cref="Output"/> for the last, <see cref="Hidden"/> otherwise.</summary>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public Activation LayerActivation(int layer) => CheckLayer(layer) == LayerCount - 1 ? _output : _hidden;

    /// <summary>Offset of layer <paramref name="layer"/>'s weight <c>[out, in]</c> in the flat parameter vector.</summary>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public int WeightOffset(int layer) => _weightOffsets[CheckLayer(layer)];

    /// <summary>Offset of layer <paramref name="layer"/>'s bias <c>[out]</c> in the flat parameter vector.</summary>
    /// <param name="layer">Layer index in <c>[0, LayerCount)</c>.</param>
    public int BiasOffset(int layer) => _biasOffsets[CheckLayer(layer)];

    /// <summary>Value equality: same widths element by element and the same activations.</summary>
    /// <param name="other">The spec to compare with.</param>
    public bool Equals(MlpSpec? other) =>
        other is not null
        && (ReferenceEquals(this, other)
            || (_hidden == other._hidden && _output == other._output && _sizes.AsSpan().SequenceEqual(other._sizes)));

    /// <summary>Hash over the widths and activations, consistent with <see cref="Equals(MlpSpec?)"/>.</summary>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int s in _sizes) h.Add(s);
        h.Add(_hidden);
        h.Add(_output);
        return h.ToHashCode();
    }

    bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Sizes = [").AppendJoin(", ", _sizes).Append("], Hidden = ").Append(_hidden)
            .Append(", Output = ").Append(_output);
        return true;
    }

    int CheckLayer(int layer)
    {
        if ((uint)layer >= (uint)LayerCount)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer index must be in [0, {LayerCount}).");
        return layer;
    }

    static Activation Defined(Activation value, string name) =>
        value is Activation.Identity or Activation.Relu or Activation.Tanh or Activation.Elu or Activation.LeakyRelu
            ? value
            : throw new ArgumentException($"{name} is {(int)value}, not a defined Activation.", name);
}
