using System;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Sac.Core.Compute;

/// <summary>
/// Element-wise and reduction kernels that sit between the GEMMs of a network: bias plus activation, activation
/// derivatives, bias gradients, and the numerically stable softplus and log-sum-exp used by the SAC losses.
/// </summary>
/// <remarks>
/// Matrices are row-major and dense (<c>rows * cols</c> elements, no padding). Nothing here allocates on the heap,
/// nothing is multi-threaded, and every reduction adds in a fixed order, so results depend only on the inputs and the
/// instruction set, never on timing.
/// </remarks>
[SkipLocalsInit]   // the stack scratch is always written before it is read; zeroing it cost more than the small-row work
public static class FusedOps
{
    // Softplus and log-sum-exp work through fixed-size stack chunks so they can use vectorised Exp/Log without
    // heap scratch; 256 floats keep each chunk inside L1 next to its operands.
    const int Chunk = 256;

    /// <summary>The slope of <see cref="Activation.LeakyRelu"/> below zero, 0.01 (PyTorch's <c>negative_slope</c> default).</summary>
    public const float LeakyReluSlope = 0.01f;

    /// <summary>
    /// In place <c>z[i, j] = act(z[i, j] + bias[j])</c>: adds the bias row to every row, then applies the activation.
    /// </summary>
    /// <param name="z">Pre-activations, <c>rows x cols</c> row-major; overwritten with the activations.</param>
    /// <param name="rows">Number of rows (the batch).</param>
    /// <param name="cols">Number of columns (the layer width).</param>
    /// <param name="bias">The bias row, exactly <paramref name="cols"/> elements.</param>
    /// <param name="act">The activation to apply.</param>
    /// <exception cref="ArgumentException">A length does not match <paramref name="rows"/> and <paramref name="cols"/>, or <paramref name="act"/> is undefined.</exception>
    public static void BiasActivationForward(Span<float> z, int rows, int cols, ReadOnlySpan<float> bias, Activation act)
    {
        CheckMatrix(z.Length, rows, cols, nameof(z));
        if (bias.Length != cols)
            throw new ArgumentException($"bias has {bias.Length} elements, expected cols = {cols}.", nameof(bias));
        CheckActivation(act, nameof(act));
        switch (act)
        {
            case Activation.Identity:
                for (int i = 0; i < rows; i++)
                {
                    Span<float> row = z.Slice(i * cols, cols);
                    TensorPrimitives.Add(row, bias, row);
                }
                break;
            case Activation.Relu:
                // Fused so the row is read and written once: y = max(z + b, 0).
                for (int i = 0; i < rows; i++)
                    InPlaceKernel.Run<AddBiasRelu>(bias, z.Slice(i * cols, cols));
                break;
            // y = tanh(z + b) and ELU(z + b), row by row: the vectorised exp and tanh take another path for a short
            // tail than for full vectors, so a whole-matrix call would make a row's values depend on the rows around it.
            case Activation.Tanh:
                for (int i = 0; i < rows; i++)
                {
                    Span<float> row = z.Slice(i * cols, cols);
                    TensorPrimitives.Add(row, bias, row);
                    TensorPrimitives.Tanh(row, row);
                }
                break;
            case Activation.Elu:
                for (int i = 0; i < rows; i++)
                {
                    Span<float> row = z.Slice(i * cols, cols);
                    TensorPrimitives.Add(row, bias, row);
                    Elu(row);
                }
                break;
            case Activation.LeakyRelu:
                for (int i = 0; i < rows; i++)
                    InPlaceKernel.Run<AddBiasLeakyRelu>(bias, z.Slice(i * cols, cols));
                break;
        }
    }

    /// <summary>
    /// In place <c>dy *= act'(z)</c>, with the derivative written through the activation's output <c>y = act(z)</c>:
    /// ReLU uses <c>[y &gt; 0]</c>, tanh uses <c>1 - y^2</c>, ELU uses 1 for <c>y &gt; 0</c> and <c>y + 1</c> otherwise,
    /// LeakyReLU uses 1 for <c>y &gt; 0</c> and <see cref="LeakyReluSlope"/> otherwise, identity leaves
    /// <paramref name="dy"/> unchanged. At <c>y = 0</c> (so <c>z = 0</c>) each takes its negative piece's slope, as
    /// ReLU's 0 there does.
    /// </summary>
    /// <param name="y">The activation outputs from the forward pass.</param>
    /// <param name="dy">Gradient with respect to <paramref name="y"/>; overwritten with the gradient with respect to the pre-activation.</param>
    /// <param name="act">The activation that produced <paramref name="y"/>.</param>
    /// <exception cref="ArgumentException">The spans differ in length, or <paramref name="act"/> is undefined.</exception>
    public static void ActivationBackward(ReadOnlySpan<float> y, Span<float> dy, Activation act)
    {
        if (y.Length != dy.Length)
            throw new ArgumentException($"dy has {dy.Length} elements but y has {y.Length}; they must match.", nameof(dy));
        CheckActivation(act, nameof(act));
        switch (act)
        {
            case Activation.Relu: InPlaceKernel.Run<ReluBackward>(y, dy); break;
            case Activation.Tanh: InPlaceKernel.Run<TanhBackward>(y, dy); break;
            case Activation.Elu: InPlaceKernel.Run<EluBackward>(y, dy); break;
            case Activation.LeakyRelu: InPlaceKernel.Run<LeakyReluBackward>(y, dy); break;
        }
    }

    /// <summary>
    /// Column sums <c>dest[j] = sum_i x[i, j]</c> (the bias gradient of a layer); with <paramref name="accumulate"/>
    /// the sums are added to <paramref name="dest"/> instead.
    /// </summary>
    /// <param name="x">A <c>rows x cols</c> row-major matrix.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="cols">Number of columns.</param>
    /// <param name="dest">Exactly <paramref name="cols"/> elements.</param>
    /// <param name="accumulate">Add <c>dest[j] + sum</c> instead of overwriting.</param>
    /// <remarks>Each column is summed top to bottom in row order, whatever the vector width, then added to the prior value.</remarks>
    /// <exception cref="ArgumentException">A length does not match <paramref name="rows"/> and <paramref name="cols"/>.</exception>
    public static void ColumnSums(ReadOnlySpan<float> x, int rows, int cols, Span<float> dest, bool accumulate)
    {
        CheckMatrix(x.Length, rows, cols, nameof(x));
        if (dest.Length != cols)
            throw new ArgumentException($"dest has {dest.Length} elements, expected cols = {cols}.", nameof(dest));
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float d0 = ref MemoryMarshal.GetReference(dest);
        nuint stride = (nuint)cols;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // Four independent accumulators per pass hide the add latency; each lane still sums one column in row order.
            for (; j <= cols - 64; j += 64)
            {
                Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
                nuint p = (nuint)j;
                for (int i = 0; i < rows; i++, p += stride)
                {
                    a0 += Vector512.LoadUnsafe(ref x0, p);
                    a1 += Vector512.LoadUnsafe(ref x0, p + 16);
                    a2 += Vector512.LoadUnsafe(ref x0, p + 32);
                    a3 += Vector512.LoadUnsafe(ref x0, p + 48);
                }
                Store(a0, ref d0, (nuint)j, accumulate);
                Store(a1, ref d0, (nuint)j + 16, accumulate);
                Store(a2, ref d0, (nuint)j + 32, accumulate);
                Store(a3, ref d0, (nuint)j + 48, accumulate);
            }
            for (; j <= cols - 16; j += 16)
            {
                Vector512<float> a = Vector512<float>.Zero;
                nuint p = (nuint)j;
                for (int i = 0; i < rows; i++, p += stride)
                    a += Vector512.LoadUnsafe(ref x0, p);
                Store(a, ref d0, (nuint)j, accumulate);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j <= cols - 8; j += 8)
            {
                Vector256<float> a = Vector256<float>.Zero;
                nuint p = (nuint)j;
                for (int i = 0; i < rows; i++, p += stride)
                    a += Vector256.LoadUnsafe(ref x0, p);
                if (accumulate) a = Vector256.LoadUnsafe(ref d0, (nuint)j) + a;
                a.StoreUnsafe(ref d0, (nuint)j);
            }
        }
        for (; j < cols; j++)
        {
            float s = 0f;
            for (int i = 0; i < rows; i++)
                s += x[i * cols + j];
            dest[j] = accumulate ? dest[j] + s : s;
        }
    }

    /// <summary>
    /// Row sums <c>dest[i] = sum_j x[i, j]</c>; with <paramref name="accumulate"/> the sums are added to <paramref name="dest"/> instead.
    /// </summary>
    /// <param name="x">A <c>rows x cols</c> row-major matrix.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="cols">Number of columns.</param>
    /// <param name="dest">Exactly <paramref name="rows"/> elements.</param>
    /// <param name="accumulate">Add <c>dest[i] + sum</c> instead of overwriting.</param>
    /// <exception cref="ArgumentException">A length does not match <paramref name="rows"/> and <paramref name="cols"/>.</exception>
    public static void RowSums(ReadOnlySpan<float> x, int rows, int cols, Span<float> dest, bool accumulate)
    {
        CheckMatrix(x.Length, rows, cols, nameof(x));
        if (dest.Length != rows)
            throw new ArgumentException($"dest has {dest.Length} elements, expected rows = {rows}.", nameof(dest));
        for (int i = 0; i < rows; i++)
        {
            float s = TensorPrimitives.Sum(x.Slice(i * cols, cols));
            dest[i] = accumulate ? dest[i] + s : s;
        }
    }

    /// <summary>
    /// Numerically stable <c>softplus(x) = log(1 + exp(x))</c>, computed as <c>max(x, 0) + log1p(exp(-|x|))</c> so
    /// large <c>|x|</c> neither overflows nor loses the small tail <c>exp(x)</c> for very negative <c>x</c>.
    /// </summary>
    /// <param name="x">Inputs.</param>
    /// <param name="dest">Outputs, same length as <paramref name="x"/>; may be the same memory as <paramref name="x"/>.</param>
    /// <remarks>Vectorised float32 <c>exp</c>/<c>log</c>: results are within a few ulp of the exact value (tested to 2e-6 relative).</remarks>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    public static void Softplus(ReadOnlySpan<float> x, Span<float> dest)
    {
        if (x.Length != dest.Length)
            throw new ArgumentException($"dest has {dest.Length} elements but x has {x.Length}; they must match.", nameof(dest));
        Span<float> e = stackalloc float[Chunk];
        Span<float> u = stackalloc float[Chunk];
        Span<float> l = stackalloc float[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            ReadOnlySpan<float> xc = x.Slice(start, n);
            Span<float> ec = e[..n], uc = u[..n], lc = l[..n];
            TensorPrimitives.Abs(xc, ec);
            TensorPrimitives.Negate(ec, ec);
            TensorPrimitives.Exp(ec, ec);        // e = exp(-|x|) in (0, 1]
            TensorPrimitives.Add(ec, 1f, uc);    // u = fl(1 + e)
            TensorPrimitives.Log(uc, lc);        // l = log(u)
            SoftplusCombine(xc, ec, uc, lc, dest.Slice(start, n));
        }
    }

    /// <summary>
    /// The index of the first element that is NaN or infinite, or -1 when every element is finite: the cheap check the
    /// trainers run on losses, gradients and parameters after each update.
    /// </summary>
    /// <param name="x">Values to check.</param>
    /// <returns>The first non-finite element's index, or -1.</returns>
    public static int IndexOfNonFinite(ReadOnlySpan<float> x)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int w = System.Numerics.Vector<float>.Count;
            ref float xRef = ref MemoryMarshal.GetReference(x);
            // v - v is 0 for every finite v and NaN for NaN or an infinity, so one compare checks a whole vector.
            for (; i <= x.Length - w; i += w)
            {
                var v = System.Numerics.Vector.LoadUnsafe(ref xRef, (nuint)i);
                if (!System.Numerics.Vector.EqualsAll(v - v, System.Numerics.Vector<float>.Zero)) break;
            }
        }
        for (; i < x.Length; i++)
            if (!float.IsFinite(x[i])) return i;
        return -1;
    }

    // softplus = max(x, 0) + log1p(e), with log1p(e) = e when fl(1 + e) == 1, else log(u) * e / (u - 1)
    // (Goldberg's correction: the rounding error of u cancels between log(u) and u - 1).
    static void SoftplusCombine(ReadOnlySpan<float> x, ReadOnlySpan<float> e, ReadOnlySpan<float> u, ReadOnlySpan<float> l, Span<float> dest)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float er = ref MemoryMarshal.GetReference(e);
        ref float ur = ref MemoryMarshal.GetReference(u);
        ref float lr = ref MemoryMarshal.GetReference(l);
        ref float dr = ref MemoryMarshal.GetReference(dest);
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> one = Vector512<float>.One;
            for (; i <= n - 16; i += 16)
            {
                Vector512<float> xv = Vector512.LoadUnsafe(ref xr, (nuint)i);
                Vector512<float> ev = Vector512.LoadUnsafe(ref er, (nuint)i);
                Vector512<float> uv = Vector512.LoadUnsafe(ref ur, (nuint)i);
                Vector512<float> lv = Vector512.LoadUnsafe(ref lr, (nuint)i);
                Vector512<float> l1p = Vector512.ConditionalSelect(Vector512.Equals(uv, one), ev, lv * ev / (uv - one));
                Vector512<float> pos = Vector512.AndNot(xv, Vector512.LessThan(xv, Vector512<float>.Zero));
                (pos + l1p).StoreUnsafe(ref dr, (nuint)i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> one = Vector256<float>.One;
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> xv = Vector256.LoadUnsafe(ref xr, (nuint)i);
                Vector256<float> ev = Vector256.LoadUnsafe(ref er, (nuint)i);
                Vector256<float> uv = Vector256.LoadUnsafe(ref ur, (nuint)i);
                Vector256<float> lv = Vector256.LoadUnsafe(ref lr, (nuint)i);
                Vector256<float> l1p = Vector256.ConditionalSelect(Vector256.Equals(uv, one), ev, lv * ev / (uv - one));
                Vector256<float> pos = Vector256.AndNot(xv, Vector256.LessThan(xv, Vector256<float>.Zero));
                (pos + l1p).StoreUnsafe(ref dr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float xv = x[i], ev = e[i], uv = u[i];
            float l1p = uv == 1f ? ev : l[i] * ev / (uv - 1f);
            dest[i] = (xv < 0f ? 0f : xv) + l1p;
        }
    }

    // ELU (alpha = 1, Clevert et al. 2016, eq. 15): y = z for z > 0, exp(z) - 1 otherwise, computed as
    // max(z, min(exp(min(z, 0)) - 1, 0)). The vectorised exp is a few ulp off, exp(0) included (it may give 1 + 2^-23),
    // so its result is held to [z, 0], where expm1(z) lies for every z <= 0: for z > 0 the max keeps z exactly, next
    // to 0 it keeps a rounded exp(z) - 1 from leaving that range, and min(z, 0) keeps exp from overflowing. NaN stays
    // NaN, -inf gives -1.
    static void Elu(Span<float> z)
    {
        Span<float> e = stackalloc float[Chunk];
        for (int start = 0; start < z.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, z.Length - start);
            Span<float> zc = z.Slice(start, n), ec = e[..n];
            TensorPrimitives.Min(zc, 0f, ec);
            TensorPrimitives.Exp(ec, ec);
            TensorPrimitives.Subtract(ec, 1f, ec);
            TensorPrimitives.Min(ec, 0f, ec);
            TensorPrimitives.Max(zc, ec, zc);
        }
    }

    // Each activation's two element-wise steps (InPlaceKernel): the forward pass d = act(d + bias), x the bias row,
    // and the backward pass d = dy * act'(.) through the output, x = y.

    // y = z + b, as TensorPrimitives.Add computes it (identity's step, for a GEMM that adds the bias itself).
    internal readonly struct AddBias : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> b, Vector512<float> z) => z + b;
        public static Vector256<float> Apply(Vector256<float> b, Vector256<float> z) => z + b;
        public static float Apply(float b, float z) => z + b;
    }

    // y = max(z + b, 0) written as "zero where negative" so a NaN pre-activation stays NaN and surfaces.
    internal readonly struct AddBiasRelu : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> b, Vector512<float> z) { var v = z + b; return Vector512.AndNot(v, Vector512.LessThan(v, Vector512<float>.Zero)); }
        public static Vector256<float> Apply(Vector256<float> b, Vector256<float> z) { var v = z + b; return Vector256.AndNot(v, Vector256.LessThan(v, Vector256<float>.Zero)); }
        public static float Apply(float b, float z) { float v = z + b; return v < 0f ? 0f : v; }
    }

    // dz = dy * [y > 0]: the mask clears the gradient wherever the unit was off.
    internal readonly struct ReluBackward : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> y, Vector512<float> d) => d & Vector512.GreaterThan(y, Vector512<float>.Zero);
        public static Vector256<float> Apply(Vector256<float> y, Vector256<float> d) => d & Vector256.GreaterThan(y, Vector256<float>.Zero);
        public static float Apply(float y, float d) => y > 0f ? d : 0f;
    }

    // y = z + b where that is not negative, LeakyReluSlope * (z + b) where it is; NaN fails "< 0" and stays NaN.
    internal readonly struct AddBiasLeakyRelu : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> b, Vector512<float> z) { var v = z + b; return Vector512.ConditionalSelect(Vector512.LessThan(v, Vector512<float>.Zero), v * LeakyReluSlope, v); }
        public static Vector256<float> Apply(Vector256<float> b, Vector256<float> z) { var v = z + b; return Vector256.ConditionalSelect(Vector256.LessThan(v, Vector256<float>.Zero), v * LeakyReluSlope, v); }
        public static float Apply(float b, float z) { float v = z + b; return v < 0f ? v * LeakyReluSlope : v; }
    }

    // dz = dy where y > 0, dy * (y + 1) elsewhere: ELU's derivative exp(z) = y + 1 on its negative piece.
    internal readonly struct EluBackward : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> y, Vector512<float> d) => Vector512.ConditionalSelect(Vector512.GreaterThan(y, Vector512<float>.Zero), d, d * (y + Vector512<float>.One));
        public static Vector256<float> Apply(Vector256<float> y, Vector256<float> d) => Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<float>.Zero), d, d * (y + Vector256<float>.One));
        public static float Apply(float y, float d) => y > 0f ? d : d * (y + 1f);
    }

    // dz = dy where y > 0, dy * LeakyReluSlope elsewhere (z = 0 included, as ReLU's mask there).
    internal readonly struct LeakyReluBackward : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> y, Vector512<float> d) => Vector512.ConditionalSelect(Vector512.GreaterThan(y, Vector512<float>.Zero), d, d * LeakyReluSlope);
        public static Vector256<float> Apply(Vector256<float> y, Vector256<float> d) => Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<float>.Zero), d, d * LeakyReluSlope);
        public static float Apply(float y, float d) => y > 0f ? d : d * LeakyReluSlope;
    }

    // dz = dy * (1 - y^2), the tanh derivative through its output.
    internal readonly struct TanhBackward : IInPlaceOp
    {
        public static Vector512<float> Apply(Vector512<float> y, Vector512<float> d) => d * (Vector512<float>.One - y * y);
        public static Vector256<float> Apply(Vector256<float> y, Vector256<float> d) => d * (Vector256<float>.One - y * y);
        public static float Apply(float y, float d) => d * (1f - y * y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(Vector512<float> sum, ref float dest, nuint offset, bool accumulate)
    {
        if (accumulate) sum = Vector512.LoadUnsafe(ref dest, offset) + sum;
        sum.StoreUnsafe(ref dest, offset);
    }

    /// <summary>
    /// Whether <see cref="BiasActivationForward"/> under <paramref name="act"/> computes each element alone, with the
    /// same operations whatever its place in a row (identity, ReLU, LeakyReLU), so that a GEMM may apply it as it
    /// writes C; tanh and ELU take another path for a row's short tail.
    /// </summary>
    internal static bool ForwardIsPerElement(Activation act) =>
        act is Activation.Identity or Activation.Relu or Activation.LeakyRelu;

    static void CheckMatrix(int length, int rows, int cols, string name)
    {
        if (rows < 0 || cols < 0)
            throw new ArgumentException($"{name}: rows and cols must be non-negative, got rows = {rows}, cols = {cols}.", name);
        if ((long)rows * cols != length)
            throw new ArgumentException($"{name} has {length} elements, expected rows * cols = {rows} * {cols} = {(long)rows * cols}.", name);
    }

    static void CheckActivation(Activation act, string name)
    {
        if (act is not (Activation.Identity or Activation.Relu or Activation.Tanh or Activation.Elu or Activation.LeakyRelu))
            throw new ArgumentException($"Unknown activation value {(int)act}.", name);
    }
}
