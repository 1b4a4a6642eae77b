using System;
using Sac.Core.Compute;
using Sac.Core.Config;
using Sac.Core.Optim;
using Sac.Core.Random;

namespace Sac.Cuda.Kernels;

/// <summary>
/// Plain-loop host ports of every kernel in <c>native/</c>, one method per kernel and named after it: the same
/// arithmetic in the same order, and for reductions the same partition into lanes and blocks and the same combine
/// tree. A GPU run is checked against these bit for bit; the tests check these against the library's definitions.
/// </summary>
/// <remarks>
/// Arguments follow the kernels' order (see <c>native/README.md</c>), with spans for device pointers and the element
/// counts taken from the spans. Lengths are checked; a mismatch throws <see cref="ArgumentException"/>.
/// </remarks>
public static class KernelReference
{
    /// <summary>The number of lanes every order-stable reduction works over (<c>SAC_LANES</c>), and the most blocks
    /// <c>sum_squares_partial</c> may be launched with.</summary>
    public const int Lanes = 256;

    const float Ln2 = 0.693147180559945309f;
    const float HalfLog2Pi = 0.918938533204672742f;

    /// <summary>Kernel <c>soft_target</c> (SAC v2, eqs. 2-3): <c>y = r + gamma (1 - terminated) (min(q1, q2) - alpha logPi)</c>.</summary>
    /// <param name="gamma">Discount.</param>
    /// <param name="alpha">Temperature.</param>
    /// <param name="reward">r, n.</param>
    /// <param name="terminated">1 where s' is terminal, n.</param>
    /// <param name="q1">Q1'(s', a'), n.</param>
    /// <param name="q2">Q2'(s', a'), n.</param>
    /// <param name="logPi">log pi(a'|s'), n.</param>
    /// <param name="target">Receives y, n.</param>
    public static void SoftTarget(float gamma, float alpha, ReadOnlySpan<float> reward, ReadOnlySpan<float> terminated,
        ReadOnlySpan<float> q1, ReadOnlySpan<float> q2, ReadOnlySpan<float> logPi, Span<float> target)
    {
        int n = target.Length;
        Same(n, reward.Length, nameof(reward));
        Same(n, terminated.Length, nameof(terminated));
        Same(n, q1.Length, nameof(q1));
        Same(n, q2.Length, nameof(q2));
        Same(n, logPi.Length, nameof(logPi));
        for (int i = 0; i < n; i++)
        {
            float v = KernelMath.Min(q1[i], q2[i]) - alpha * logPi[i];
            target[i] = reward[i] + gamma * (1.0f - terminated[i]) * v;
        }
    }

    /// <summary>Kernel <c>polyak</c>: <c>target = clamp(tau online + (1 - tau) target)</c> into <c>[min, max]</c> of
    /// the two values, visiting the elements in the kernel's split (scalar head, float4 body, scalar tail) decided from
    /// the spans' addresses, so the split's index arithmetic is exercised on the host too.</summary>
    /// <param name="tau">Weight of the online values.</param>
    /// <param name="online">Read only.</param>
    /// <param name="target">Updated in place.</param>
    public static unsafe void Polyak(float tau, ReadOnlySpan<float> online, Span<float> target)
    {
        Same(target.Length, online.Length, nameof(online));
        int n = target.Length;
        float keep = 1.0f - tau;
        fixed (float* o = online)
        fixed (float* t = target)
        {
            ulong mo = (ulong)o & 15UL, mt = (ulong)t & 15UL;
            long head = n, quads = 0;
            if (mo == mt && (mo & 3UL) == 0UL)
            {
                head = (long)(((16UL - mo) & 15UL) >> 2);
                if (head > n) head = n;
                quads = (n - head) >> 2;
            }
            for (long q = 0; q < quads; q++)
                for (long i = head + 4 * q; i < head + 4 * q + 4; i++)
                    t[i] = PolyakOne(tau, keep, o[i], t[i]);
            long tailStart = head + 4 * quads;
            long scalars = head + (n - tailStart);
            for (long s = 0; s < scalars; s++)
            {
                long i = s < head ? s : tailStart + (s - head);
                t[i] = PolyakOne(tau, keep, o[i], t[i]);
            }
        }
    }

    static float PolyakOne(float tau, float keep, float o, float t)
    {
        float mixed = tau * o + keep * t;
        return KernelMath.Min(KernelMath.Max(mixed, KernelMath.Min(o, t)), KernelMath.Max(o, t));
    }

    /// <summary>Kernel <c>sum_squares_partial</c> launched with <c>partials.Length</c> blocks: block b's lane L adds
    /// <c>g[i]^2</c> in double for <c>i = b 256 + L + k 256 B</c> in increasing k, and the 256 lanes are tree-summed.</summary>
    /// <param name="g">The gradient vector.</param>
    /// <param name="partials">Receives one partial sum per block; 1 to 256 elements (the grid size).</param>
    public static void SumSquaresPartial(ReadOnlySpan<float> g, Span<double> partials)
    {
        int blocks = partials.Length;
        if (blocks < 1 || blocks > Lanes)
            throw new ArgumentException($"partials has {blocks} elements; the grid must have 1 to {Lanes} blocks.", nameof(partials));
        Span<double> lanes = stackalloc double[Lanes];
        long stride = (long)Lanes * blocks;
        for (int b = 0; b < blocks; b++)
        {
            for (int lane = 0; lane < Lanes; lane++)
            {
                double acc = 0.0;
                for (long i = (long)b * Lanes + lane; i < g.Length; i += stride)
                {
                    double x = g[(int)i];
                    acc = acc + x * x;
                }
                lanes[lane] = acc;
            }
            partials[b] = TreeSum(lanes);
        }
    }

    /// <summary>The clip scale the <c>adam</c> kernel computes from the partials: lanes <c>j &lt; partials.Length</c>
    /// hold <c>partials[j]</c>, the rest 0, tree-summed; <c>min(1, maxNorm / ((float)sqrt(sum) + 1e-6))</c>. 1 when
    /// <paramref name="partials"/> is empty (no clipping).</summary>
    /// <param name="maxNorm">The largest gradient norm allowed.</param>
    /// <param name="partials">From <see cref="SumSquaresPartial"/>; at most 256.</param>
    /// <returns>The factor the gradient is multiplied by.</returns>
    public static float ClipScale(float maxNorm, ReadOnlySpan<double> partials)
    {
        if (partials.Length > Lanes)
            throw new ArgumentException($"partials has {partials.Length} elements, more than {Lanes}.", nameof(partials));
        if (partials.IsEmpty) return 1.0f;
        Span<double> lanes = stackalloc double[Lanes];
        for (int lane = 0; lane < Lanes; lane++)
            lanes[lane] = lane < partials.Length ? partials[lane] : 0.0;
        float norm = (float)Math.Sqrt(TreeSum(lanes));
        return KernelMath.Min(1.0f, maxNorm / (norm + GradientClipping.NormEpsilon));
    }

    /// <summary>
    /// The two step-dependent scalars the host passes to the <c>adam</c> kernel, computed as <see cref="Sac.Core.Optim.Adam.Update(Sac.Core.Optim.AdamConfig, Sac.Core.Optim.AdamState, System.ReadOnlySpan{float}, System.Span{float})"/>
    /// does: <c>stepSize = (float)(lr / (1 - beta1^t))</c> and <c>invSqrtCorrection2 = (float)(1 / sqrt(1 - beta2^t))</c>,
    /// with the bias corrections in double.
    /// </summary>
    /// <param name="config">Learning rate and betas.</param>
    /// <param name="step">The step number t (1 for the first update).</param>
    /// <param name="learningRateFactor">A schedule's factor on the learning rate (1: the configured rate).</param>
    /// <returns>The scalars to pass.</returns>
    public static (float StepSize, float InvSqrtCorrection2) AdamStepScalars(AdamConfig config, long step, float learningRateFactor = 1f)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1L);
        double correction1 = 1.0 - Math.Pow(config.Beta1, step);
        double correction2 = 1.0 - Math.Pow(config.Beta2, step);
        return ((float)((config.LearningRate * learningRateFactor) / correction1), (float)(1.0 / Math.Sqrt(correction2)));
    }

    /// <summary>Kernel <c>adam</c>: one Adam step (Kingma &amp; Ba 2015, Alg. 1, PyTorch form) with the gradient scaled
    /// by <see cref="ClipScale"/>: <c>m = b1 m + (1 - b1) g'</c>, <c>v = b2 v + (1 - b2) g'^2</c>,
    /// <c>p -= stepSize m / (sqrt(v) invSqrtCorrection2 + eps)</c>.</summary>
    /// <param name="stepSize">From <see cref="AdamStepScalars"/>.</param>
    /// <param name="invSqrtCorrection2">From <see cref="AdamStepScalars"/>.</param>
    /// <param name="beta1">First-moment decay.</param>
    /// <param name="beta2">Second-moment decay.</param>
    /// <param name="eps">Denominator epsilon.</param>
    /// <param name="maxNorm">Clip norm; unused when <paramref name="partials"/> is empty.</param>
    /// <param name="partials">From <see cref="SumSquaresPartial"/> over <paramref name="gradients"/>, or empty for no clipping.</param>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Read only.</param>
    /// <param name="firstMoment">m, updated in place.</param>
    /// <param name="secondMoment">v, updated in place.</param>
    public static void Adam(float stepSize, float invSqrtCorrection2, float beta1, float beta2, float eps, float maxNorm,
        ReadOnlySpan<double> partials, Span<float> parameters, ReadOnlySpan<float> gradients, Span<float> firstMoment,
        Span<float> secondMoment)
    {
        int n = parameters.Length;
        Same(n, gradients.Length, nameof(gradients));
        Same(n, firstMoment.Length, nameof(firstMoment));
        Same(n, secondMoment.Length, nameof(secondMoment));
        float scale = ClipScale(maxNorm, partials);
        float oneMinusBeta1 = 1.0f - beta1, oneMinusBeta2 = 1.0f - beta2;
        for (int i = 0; i < n; i++)
        {
            float g = gradients[i] * scale;
            float m = beta1 * firstMoment[i] + oneMinusBeta1 * g;
            float v = beta2 * secondMoment[i] + oneMinusBeta2 * (g * g);
            float denom = MathF.Sqrt(v) * invSqrtCorrection2 + eps;
            firstMoment[i] = m;
            secondMoment[i] = v;
            parameters[i] = parameters[i] - stepSize * m / denom;
        }
    }

    /// <summary>Kernel <c>tanh_gaussian_forward</c> (SAC v2, eq. 8; appendix C, eq. 21): per row of
    /// <c>[mean (A), raw (A)]</c>, <c>log sigma = bound(raw)</c>, <c>u = mu + sigma eps</c>, <c>action = tanh u</c> and
    /// <c>logPi = sum_j (-eps^2/2 - log sigma - log(2 pi)/2 - log(1 - tanh^2 u))</c> in index order.</summary>
    /// <param name="bound">Clamp or smooth rescale (the kernel's <c>bound</c> is its integer value).</param>
    /// <param name="logStdMin">Lower end of log sigma.</param>
    /// <param name="logStdMax">Upper end of log sigma.</param>
    /// <param name="rows">Rows B.</param>
    /// <param name="actDim">Action dimension A.</param>
    /// <param name="actorOutput">B x 2A.</param>
    /// <param name="noise">B x A standard normals.</param>
    /// <param name="action">Receives tanh u, B x A.</param>
    /// <param name="sigma">Receives sigma, B x A.</param>
    /// <param name="logStdGrad">Receives dlogSigma/draw, B x A.</param>
    /// <param name="logPi">Receives log pi, B.</param>
    public static void TanhGaussianForward(LogStdBound bound, float logStdMin, float logStdMax, int rows, int actDim,
        ReadOnlySpan<float> actorOutput, ReadOnlySpan<float> noise, Span<float> action, Span<float> sigma,
        Span<float> logStdGrad, Span<float> logPi)
    {
        int n = Matrix(rows, actDim);
        Same(2L * n, actorOutput.Length, nameof(actorOutput));
        Same(n, noise.Length, nameof(noise));
        Same(n, action.Length, nameof(action));
        Same(n, sigma.Length, nameof(sigma));
        Same(n, logStdGrad.Length, nameof(logStdGrad));
        Same(rows, logPi.Length, nameof(logPi));
        for (int i = 0; i < rows; i++)
        {
            ReadOnlySpan<float> mean = actorOutput.Slice(i * 2 * actDim, actDim);
            ReadOnlySpan<float> raw = actorOutput.Slice(i * 2 * actDim + actDim, actDim);
            float acc = 0.0f;
            for (int j = 0; j < actDim; j++)
            {
                int k = i * actDim + j;
                float r = raw[j];
                float ls, g;
                if (bound == LogStdBound.Clamp)
                {
                    if (r < logStdMin) { ls = logStdMin; g = 0.0f; }
                    else if (r > logStdMax) { ls = logStdMax; g = 0.0f; }
                    else { ls = r; g = 1.0f; }
                }
                else
                {
                    float t = KernelMath.Tanh(r);
                    float half = 0.5f * (logStdMax - logStdMin);
                    ls = logStdMin + half * (t + 1.0f);
                    g = half * (1.0f - t * t);
                }
                float s = KernelMath.Exp(ls);
                float e = noise[k];
                float u = mean[j] + s * e;
                action[k] = KernelMath.Tanh(u);
                sigma[k] = s;
                logStdGrad[k] = g;
                acc = acc + (-0.5f * e * e - ls - HalfLog2Pi - SquashCorrection(u));
            }
            logPi[i] = acc;
        }
    }

    /// <summary>The kernels' <c>log(1 - tanh(u)^2) = 2 (log 2 - |u| - softplus(-2|u|))</c>, with Goldberg's log1p.</summary>
    /// <param name="u">The pre-squash value.</param>
    /// <returns>The log-Jacobian of the squash.</returns>
    public static float SquashCorrection(float u)
    {
        float au = MathF.Abs(u);
        float e = KernelMath.Exp(-2.0f * au);
        float w = 1.0f + e;
        float log1p = w == 1.0f ? e : KernelMath.Log(w) * e / (w - 1.0f);
        return 2.0f * (Ln2 - au - log1p);
    }

    /// <summary>Kernel <c>tanh_gaussian_backward</c>: <c>du = dA (1 - a^2) + dLogPi 2a</c>, row i of the result is
    /// <c>[du (A), (du sigma eps - dLogPi) dlogSigma/draw (A)]</c>.</summary>
    /// <param name="rows">Rows B.</param>
    /// <param name="actDim">Action dimension A.</param>
    /// <param name="action">Forward actions, B x A.</param>
    /// <param name="sigma">Forward sigma, B x A.</param>
    /// <param name="noise">Forward noise, B x A.</param>
    /// <param name="logStdGrad">Forward dlogSigma/draw, B x A.</param>
    /// <param name="actionGrad">dL/da, B x A.</param>
    /// <param name="logPiGrad">dL/dlog pi, B.</param>
    /// <param name="actorOutputGrad">Receives dL/d(actor output), B x 2A.</param>
    public static void TanhGaussianBackward(int rows, int actDim, ReadOnlySpan<float> action, ReadOnlySpan<float> sigma,
        ReadOnlySpan<float> noise, ReadOnlySpan<float> logStdGrad, ReadOnlySpan<float> actionGrad,
        ReadOnlySpan<float> logPiGrad, Span<float> actorOutputGrad)
    {
        int n = Matrix(rows, actDim);
        Same(n, action.Length, nameof(action));
        Same(n, sigma.Length, nameof(sigma));
        Same(n, noise.Length, nameof(noise));
        Same(n, logStdGrad.Length, nameof(logStdGrad));
        Same(n, actionGrad.Length, nameof(actionGrad));
        Same(rows, logPiGrad.Length, nameof(logPiGrad));
        Same(2L * n, actorOutputGrad.Length, nameof(actorOutputGrad));
        for (int k = 0; k < n; k++)
        {
            int i = k / actDim, j = k - i * actDim;
            float a = action[k];
            float gl = logPiGrad[i];
            float du = actionGrad[k] * (1.0f - a * a) + gl * 2.0f * a;
            actorOutputGrad[i * 2 * actDim + j] = du;
            actorOutputGrad[i * 2 * actDim + actDim + j] = (du * sigma[k] * noise[k] - gl) * logStdGrad[k];
        }
    }

    /// <summary>Kernel <c>philox_uint32</c>: <c>dest[j]</c> is lane <c>i % 4</c> of
    /// <c>Block(key, low32(i / 4), high32(i / 4), 0, 0)</c> for <c>i = offset + j</c>, computed one block at a time.</summary>
    /// <param name="key">The stream key (the kernel takes <c>K0</c>, <c>K1</c>).</param>
    /// <param name="offset">Stream index of <c>dest[0]</c>.</param>
    /// <param name="dest">Receives the words.</param>
    public static void PhiloxUInt32(PhiloxKey key, ulong offset, Span<uint> dest)
    {
        int n = dest.Length;
        long blocks = PhiloxBlockCount(offset, n);
        for (long b = 0; b < blocks; b++)
        {
            ulong block = (offset >> 2) + (ulong)b;
            var (x0, x1, x2, x3) = KernelMath.PhiloxBlock(key.K0, key.K1, (uint)block, (uint)(block >> 32), 0u, 0u);
            long j = (long)((block << 2) - offset);
            Put(dest, j, x0, x1, x2, x3);
        }
    }

    /// <summary>Kernel <c>philox_normal</c>: the words of <see cref="PhiloxUInt32"/> mapped to uniforms, lanes (0, 1)
    /// through <c>BoxMuller(u0, u1)</c> and lanes (2, 3) through <c>BoxMuller(u2, u3)</c>, as Sac.Core's
    /// <c>Philox.FillNormal</c> pairs them.</summary>
    /// <param name="key">The stream key.</param>
    /// <param name="offset">Stream index of <c>dest[0]</c>.</param>
    /// <param name="dest">Receives the normals.</param>
    public static void PhiloxNormal(PhiloxKey key, ulong offset, Span<float> dest)
    {
        int n = dest.Length;
        long blocks = PhiloxBlockCount(offset, n);
        for (long b = 0; b < blocks; b++)
        {
            ulong block = (offset >> 2) + (ulong)b;
            var (x0, x1, x2, x3) = KernelMath.PhiloxBlock(key.K0, key.K1, (uint)block, (uint)(block >> 32), 0u, 0u);
            long j = (long)((block << 2) - offset);
            var (z0, z1) = KernelMath.BoxMuller(KernelMath.ToUniform(x0), KernelMath.ToUniform(x1));
            var (z2, z3) = KernelMath.BoxMuller(KernelMath.ToUniform(x2), KernelMath.ToUniform(x3));
            Put(dest, j, z0, z1, z2, z3);
        }
    }

    /// <summary>Kernel <c>bias_activation_forward</c>: <c>z[i, j] = act(z[i, j] + bias[j])</c>; ReLU zeroes only
    /// negative values (NaN stays NaN), tanh is <see cref="KernelMath.Tanh"/>, ELU is <see cref="KernelMath.Expm1"/>
    /// where <c>v &lt;= 0</c>, LeakyReLU multiplies only negative values by 0.01.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="activation">The nonlinearity (the kernel takes its integer value).</param>
    /// <param name="bias">cols elements.</param>
    /// <param name="z">rows x cols, updated in place.</param>
    public static void BiasActivationForward(int rows, int cols, Activation activation, ReadOnlySpan<float> bias, Span<float> z)
    {
        Same(Matrix(rows, cols), z.Length, nameof(z));
        Same(cols, bias.Length, nameof(bias));
        CheckActivation(activation);
        for (int k = 0; k < z.Length; k++)
        {
            float v = z[k] + bias[k % cols];
            if (activation == Activation.Relu) v = v < 0.0f ? 0.0f : v;
            else if (activation == Activation.Tanh) v = KernelMath.Tanh(v);
            else if (activation == Activation.Elu) v = v > 0.0f ? v : KernelMath.Expm1(v);
            else if (activation == Activation.LeakyRelu) v = v < 0.0f ? v * 0.01f : v;
            z[k] = v;
        }
    }

    /// <summary>Kernel <c>activation_backward</c>: <c>dy *= act'</c> through the output: ReLU <c>[y &gt; 0]</c>, tanh
    /// <c>1 - y^2</c>, ELU 1 for <c>y &gt; 0</c> and <c>y + 1</c> otherwise, LeakyReLU 1 for <c>y &gt; 0</c> and 0.01
    /// otherwise, identity unchanged.</summary>
    /// <param name="activation">The nonlinearity.</param>
    /// <param name="y">Forward outputs.</param>
    /// <param name="dy">Updated in place; same length as y.</param>
    public static void ActivationBackward(Activation activation, ReadOnlySpan<float> y, Span<float> dy)
    {
        Same(y.Length, dy.Length, nameof(dy));
        CheckActivation(activation);
        if (activation == Activation.Identity) return;
        for (int k = 0; k < y.Length; k++)
        {
            float yv = y[k];
            dy[k] = activation switch
            {
                Activation.Relu => yv > 0.0f ? dy[k] : 0.0f,
                Activation.Elu => yv > 0.0f ? dy[k] : dy[k] * (yv + 1.0f),
                Activation.LeakyRelu => yv > 0.0f ? dy[k] : dy[k] * 0.01f,
                _ => dy[k] * (1.0f - yv * yv),
            };
        }
    }

    /// <summary>Kernel <c>column_sums</c>: each column summed top to bottom from 0 in float, then stored or added to dest.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="accumulate">Add to dest instead of overwriting.</param>
    /// <param name="x">rows x cols.</param>
    /// <param name="dest">cols elements.</param>
    public static void ColumnSums(int rows, int cols, bool accumulate, ReadOnlySpan<float> x, Span<float> dest)
    {
        Same(Matrix(rows, cols), x.Length, nameof(x));
        Same(cols, dest.Length, nameof(dest));
        for (int j = 0; j < cols; j++)
        {
            float s = 0.0f;
            for (int i = 0; i < rows; i++)
                s = s + x[i * cols + j];
            dest[j] = accumulate ? dest[j] + s : s;
        }
    }

    /// <summary>Kernel <c>concat_columns</c>: row i of dest is <c>[left[i, :], right[i, :]]</c>.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="leftCols">Columns of left.</param>
    /// <param name="rightCols">Columns of right.</param>
    /// <param name="left">rows x leftCols.</param>
    /// <param name="right">rows x rightCols.</param>
    /// <param name="dest">rows x (leftCols + rightCols).</param>
    public static void ConcatColumns(int rows, int leftCols, int rightCols, ReadOnlySpan<float> left,
        ReadOnlySpan<float> right, Span<float> dest)
    {
        Same(Matrix(rows, leftCols), left.Length, nameof(left));
        Same(Matrix(rows, rightCols), right.Length, nameof(right));
        int width = leftCols + rightCols;
        Same(Matrix(rows, width), dest.Length, nameof(dest));
        for (int k = 0; k < dest.Length; k++)
        {
            int i = k / width, j = k - i * width;
            dest[k] = j < leftCols ? left[i * leftCols + j] : right[i * rightCols + (j - leftCols)];
        }
    }

    /// <summary>Kernel <c>sum_column_block</c>: <c>dest[i, j] = x1[i, offset + j] + x2[i, offset + j]</c>, j &lt; cols.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="width">Columns of x1 and x2.</param>
    /// <param name="offset">First column taken.</param>
    /// <param name="cols">Columns taken.</param>
    /// <param name="x1">rows x width.</param>
    /// <param name="x2">rows x width.</param>
    /// <param name="dest">rows x cols.</param>
    public static void SumColumnBlock(int rows, int width, int offset, int cols, ReadOnlySpan<float> x1,
        ReadOnlySpan<float> x2, Span<float> dest)
    {
        if (offset < 0 || cols < 0 || (long)offset + cols > width)
            throw new ArgumentException($"Columns [{offset}, {(long)offset + cols}) do not lie inside width {width}.", nameof(offset));
        Same(Matrix(rows, width), x1.Length, nameof(x1));
        Same(Matrix(rows, width), x2.Length, nameof(x2));
        Same(Matrix(rows, cols), dest.Length, nameof(dest));
        for (int k = 0; k < dest.Length; k++)
        {
            int i = k / cols;
            int src = i * width + offset + (k - i * cols);
            dest[k] = x1[src] + x2[src];
        }
    }

    /// <summary>Kernel <c>critic_loss</c> (SAC v2, eq. 5): <c>qGrad = (q - y) / n</c>, <c>terms = 0.5 (q - y)^2 / n</c>.</summary>
    /// <param name="q">Q(s, a), n.</param>
    /// <param name="target">y, n.</param>
    /// <param name="qGrad">Receives dL/dq, n.</param>
    /// <param name="terms">Receives the loss terms, n.</param>
    public static void CriticLoss(ReadOnlySpan<float> q, ReadOnlySpan<float> target, Span<float> qGrad, Span<float> terms)
    {
        int n = q.Length;
        Same(n, target.Length, nameof(target));
        Same(n, qGrad.Length, nameof(qGrad));
        Same(n, terms.Length, nameof(terms));
        float nf = n;
        for (int i = 0; i < n; i++)
        {
            float d = q[i] - target[i];
            qGrad[i] = d / nf;
            terms[i] = 0.5f * d * d / nf;
        }
    }

    /// <summary>Kernel <c>actor_loss</c> (SAC v2, eq. 9): <c>terms = (alpha logPi - min(q1, q2)) / n</c>,
    /// <c>logPiGrad = alpha / n</c>, <c>-1/n</c> to q1 when <c>q1 &lt;= q2</c> and to q2 otherwise, 0 to the other.</summary>
    /// <param name="alpha">Temperature.</param>
    /// <param name="logPi">log pi, n.</param>
    /// <param name="q1">Q1, n.</param>
    /// <param name="q2">Q2, n.</param>
    /// <param name="logPiGrad">Receives dL/dlog pi.</param>
    /// <param name="q1Grad">Receives dL/dQ1.</param>
    /// <param name="q2Grad">Receives dL/dQ2.</param>
    /// <param name="terms">Receives the loss terms.</param>
    public static void ActorLoss(float alpha, ReadOnlySpan<float> logPi, ReadOnlySpan<float> q1, ReadOnlySpan<float> q2,
        Span<float> logPiGrad, Span<float> q1Grad, Span<float> q2Grad, Span<float> terms)
    {
        int n = logPi.Length;
        Same(n, q1.Length, nameof(q1));
        Same(n, q2.Length, nameof(q2));
        Same(n, logPiGrad.Length, nameof(logPiGrad));
        Same(n, q1Grad.Length, nameof(q1Grad));
        Same(n, q2Grad.Length, nameof(q2Grad));
        Same(n, terms.Length, nameof(terms));
        float nf = n;
        float gLogPi = alpha / nf;
        float gMin = -1.0f / nf;
        for (int i = 0; i < n; i++)
        {
            float a = q1[i], c = q2[i];
            terms[i] = (alpha * logPi[i] - KernelMath.Min(a, c)) / nf;
            logPiGrad[i] = gLogPi;
            bool first = a <= c;
            q1Grad[i] = first ? gMin : 0.0f;
            q2Grad[i] = first ? 0.0f : gMin;
        }
    }

    /// <summary>Kernel <c>sum_reduce</c>: lane L of 256 adds <c>x[L], x[L + 256], ...</c> in float in that order, then
    /// the lanes are tree-summed (<c>s = 128, ..., 1: lane[j] += lane[j + s]</c>).</summary>
    /// <param name="x">The values.</param>
    /// <returns>Their sum, bit for bit what the kernel writes.</returns>
    public static float SumReduce(ReadOnlySpan<float> x)
    {
        Span<float> lanes = stackalloc float[Lanes];
        for (int lane = 0; lane < Lanes; lane++)
        {
            float acc = 0.0f;
            for (int i = lane; i < x.Length; i += Lanes)
                acc = acc + x[i];
            lanes[lane] = acc;
        }
        for (int s = Lanes / 2; s > 0; s >>= 1)
            for (int j = 0; j < s; j++)
                lanes[j] = lanes[j] + lanes[j + s];
        return lanes[0];
    }

    // The fixed tree of the kernels' tree_sum_lanes: for s = 128 .. 1, lane[j] += lane[j + s].
    static double TreeSum(Span<double> lanes)
    {
        for (int s = Lanes / 2; s > 0; s >>= 1)
            for (int j = 0; j < s; j++)
                lanes[j] = lanes[j] + lanes[j + s];
        return lanes[0];
    }

    static long PhiloxBlockCount(ulong offset, int n)
    {
        if (n == 0) return 0;
        if ((ulong)(n - 1) > ulong.MaxValue - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Elements {offset} .. {offset} + {n} - 1 pass the last stream index {ulong.MaxValue}.");
        return (long)(((offset + (ulong)(n - 1)) >> 2) - (offset >> 2) + 1UL);
    }

    static void Put<T>(Span<T> dest, long j, T y0, T y1, T y2, T y3)
    {
        if (j >= 0 && j < dest.Length) dest[(int)j] = y0;
        if (j + 1 >= 0 && j + 1 < dest.Length) dest[(int)(j + 1)] = y1;
        if (j + 2 >= 0 && j + 2 < dest.Length) dest[(int)(j + 2)] = y2;
        if (j + 3 >= 0 && j + 3 < dest.Length) dest[(int)(j + 3)] = y3;
    }

    static int Matrix(int rows, int cols)
    {
        if (rows < 0 || cols < 0 || (long)rows * cols > int.MaxValue)
            throw new ArgumentException($"A {rows} x {cols} matrix is not a valid span size.", nameof(rows));
        return rows * cols;
    }

    static void Same(long expected, int actual, string name)
    {
        if (expected != actual)
            throw new ArgumentException($"{name} has {actual} elements, expected {expected}.", name);
    }

    static void CheckActivation(Activation activation)
    {
        if (activation is not (Activation.Identity or Activation.Relu or Activation.Tanh or Activation.Elu or Activation.LeakyRelu))
            throw new ArgumentException($"Unknown activation value {(int)activation}.", nameof(activation));
    }
}
