using System;
using System.Linq;

namespace Sac.Core.Compute;

/// <summary>
/// A dense, row-major float32 tensor: a shape over one contiguous array. Views (<see cref="Span"/>, <see cref="Row"/>)
/// alias the storage, so kernels read and write it in place; nothing here allocates except construction and
/// <see cref="Reshape"/>'s small shape array.
/// </summary>
public sealed class Tensor
{
    readonly int[] shape;

    /// <summary>A zero tensor of the given shape (every extent at least 1).</summary>
    public Tensor(params int[] shape) : this(null, shape) { }

    Tensor(float[]? data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length == 0) throw new ArgumentException("A tensor needs at least one dimension.", nameof(shape));
        long count = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 1) throw new ArgumentException($"Dimension {i} of shape [{string.Join(", ", shape)}] is {shape[i]}; every extent must be at least 1.", nameof(shape));
            count *= shape[i];
            if (count > Array.MaxLength) throw new ArgumentException($"Shape [{string.Join(", ", shape)}] holds more elements than one array can.", nameof(shape));
        }
        if (data is not null && data.Length != count)
            throw new ArgumentException($"The array has {data.Length} elements but shape [{string.Join(", ", shape)}] needs {count}.", nameof(data));
        this.shape = (int[])shape.Clone();
        Data = data ?? new float[count];
    }

    /// <summary>Wraps an existing array (no copy) as a tensor of the given shape.</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new Tensor(data, shape);
    }

    /// <summary>The storage, row-major.</summary>
    public float[] Data { get; }

    /// <summary>The extents, outermost first (a copy).</summary>
    public int[] Shape => (int[])shape.Clone();

    /// <summary>Number of dimensions.</summary>
    public int Rank => shape.Length;

    /// <summary>Number of elements.</summary>
    public int Length => Data.Length;

    /// <summary>Extent of the first dimension.</summary>
    public int Rows => shape[0];

    /// <summary>Elements per first-dimension index (the row stride): the product of the other extents.</summary>
    public int Columns => Data.Length / shape[0];

    /// <summary>A view of all elements.</summary>
    public Span<float> Span => Data;

    /// <summary>A view of row <paramref name="i"/> (all elements with first index <paramref name="i"/>).</summary>
    public Span<float> Row(int i)
    {
        if ((uint)i >= (uint)shape[0]) throw new ArgumentOutOfRangeException(nameof(i), i, $"Row index must be in [0, {shape[0]}).");
        return Data.AsSpan(i * Columns, Columns);
    }

    /// <summary>Element (i, j) of a rank-2 tensor.</summary>
    public ref float this[int i, int j]
    {
        get
        {
            if (shape.Length != 2) throw new InvalidOperationException($"Two indices need a rank-2 tensor; this one has shape [{string.Join(", ", shape)}].");
            if ((uint)i >= (uint)shape[0] || (uint)j >= (uint)shape[1])
                throw new ArgumentOutOfRangeException(nameof(i), $"Index ({i}, {j}) is outside shape [{shape[0]}, {shape[1]}].");
            return ref Data[i * shape[1] + j];
        }
    }

    /// <summary>The same storage under another shape with the same element count (no copy).</summary>
    public Tensor Reshape(params int[] newShape)
    {
        ArgumentNullException.ThrowIfNull(newShape);
        long count = newShape.Aggregate(1L, (p, d) => p * d);
        if (count != Data.Length)
            throw new ArgumentException($"Cannot view [{string.Join(", ", shape)}] ({Data.Length} elements) as [{string.Join(", ", newShape)}] ({count}).", nameof(newShape));
        return new Tensor(Data, newShape);
    }

    /// <inheritdoc />
    public override string ToString() => $"Tensor[{string.Join(", ", shape)}]";
}

/// <summary>Shape-checked matrix products of rank-2 tensors through any <see cref="IGemm"/>.</summary>
public static class TensorGemm
{
    /// <summary>
    /// <c>c = alpha * op(a) * op(b) + beta * c</c> for rank-2 tensors, writing into the caller's <paramref name="c"/>;
    /// throws <see cref="ArgumentException"/> naming the operand whose shape does not fit.
    /// </summary>
    public static void Multiply(this IGemm gemm, Tensor a, Transpose transA, Tensor b, Transpose transB, Tensor c,
        float alpha = 1f, float beta = 0f)
    {
        ArgumentNullException.ThrowIfNull(gemm);
        foreach (var (t, name) in new[] { (a, nameof(a)), (b, nameof(b)), (c, nameof(c)) })
            if (t.Rank != 2) throw new ArgumentException($"Operand {name} must be rank 2, got {t}.", name);
        var (sa, sb, sc) = (a.Shape, b.Shape, c.Shape);
        int m = transA == Transpose.No ? sa[0] : sa[1], k = transA == Transpose.No ? sa[1] : sa[0];
        int kb = transB == Transpose.No ? sb[0] : sb[1], n = transB == Transpose.No ? sb[1] : sb[0];
        if (k != kb) throw new ArgumentException($"Inner dimensions differ: op(a) of {a} is {m}x{k}, op(b) of {b} is {kb}x{n}.", nameof(b));
        if (sc[0] != m || sc[1] != n) throw new ArgumentException($"Operand c is {c} but op(a) * op(b) is {m}x{n}.", nameof(c));
        gemm.Sgemm(transA, transB, m, n, k, alpha, a.Data, sa[1], b.Data, sb[1], beta, c.Data, sc[1]);
    }
}
