using System;
using Sac.Core.Compute;
using Sac.Core.Config;
using Sac.Core.Optim;
using Sac.Core.Random;

namespace Sac.Cuda.Backend;

/// <summary>
/// The seam between the SAC update and the hardware: the array operations one update needs, implemented once on
/// the host (the reference semantics) and once on the GPU. Every matrix is row-major float32. Operations are
/// enqueued in order; only <see cref="Download"/> and <see cref="Synchronize"/> wait for the work before them.
/// </summary>
/// <remarks>
/// Each operation names the CUDA kernel(s) behind it in native/. Reductions are order-stable (fixed block
/// partition, fixed combine order) so a given backend gives bitwise-identical results from run to run.
/// </remarks>
public interface ISacBackend : IDisposable
{
    /// <summary>"host" or "cuda".</summary>
    string Name { get; }

    /// <summary>A zero-filled array of <paramref name="length"/> floats.</summary>
    /// <param name="length">Number of elements.</param>
    DeviceArray Allocate(int length);

    /// <summary>Copies host memory into <paramref name="dest"/> (lengths must match).</summary>
    /// <param name="source">Host data.</param>
    /// <param name="dest">Backend memory.</param>
    void Upload(ReadOnlySpan<float> source, DeviceSlice dest);

    /// <summary>Copies <paramref name="source"/> into host memory after all enqueued work (lengths must match).</summary>
    /// <param name="source">Backend memory.</param>
    /// <param name="dest">Host memory.</param>
    void Download(DeviceSlice source, Span<float> dest);

    /// <summary>Copies one slice into another of the same length.</summary>
    /// <param name="source">Read.</param>
    /// <param name="dest">Written.</param>
    void Copy(DeviceSlice source, DeviceSlice dest);

    /// <summary>Waits until all enqueued work has finished.</summary>
    void Synchronize();

    /// <summary><c>C = alpha op(A) op(B) + beta C</c>, row-major with leading dimensions, as <see cref="IGemm.Sgemm"/>
    /// (cuBLAS on the GPU). With <paramref name="beta"/> = 0, C is never read.</summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">A.</param>
    /// <param name="lda">A's leading dimension.</param>
    /// <param name="b">B.</param>
    /// <param name="ldb">B's leading dimension.</param>
    /// <param name="beta">Scale of the old C.</param>
    /// <param name="c">C.</param>
    /// <param name="ldc">C's leading dimension.</param>
    void Gemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, DeviceSlice a, int lda,
        DeviceSlice b, int ldb, float beta, DeviceSlice c, int ldc);

    /// <summary><c>z[i, j] = act(z[i, j] + bias[j])</c> in place, as <see cref="FusedOps.BiasActivationForward"/>.
    /// Kernel <c>bias_activation_forward</c>.</summary>
    /// <param name="z">rows x cols, updated in place.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="bias">cols elements.</param>
    /// <param name="activation">The nonlinearity.</param>
    void BiasActivationForward(DeviceSlice z, int rows, int cols, DeviceSlice bias, Activation activation);

    /// <summary>
    /// <c>C = act(op(A) op(B) + bias)</c>, a layer's forward step: <see cref="Gemm"/> with alpha 1 and beta 0 into a
    /// dense C, then <see cref="BiasActivationForward"/> on it, with the same result. A backend may do both as it
    /// writes C (the host backend with the managed GEMM does).
    /// </summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C (and bias elements).</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="a">A.</param>
    /// <param name="lda">A's leading dimension.</param>
    /// <param name="b">B.</param>
    /// <param name="ldb">B's leading dimension.</param>
    /// <param name="c">C, <c>m x n</c> dense; overwritten.</param>
    /// <param name="bias">n elements.</param>
    /// <param name="activation">The nonlinearity.</param>
    void GemmBiasActivation(Transpose transA, Transpose transB, int m, int n, int k, DeviceSlice a, int lda,
        DeviceSlice b, int ldb, DeviceSlice c, DeviceSlice bias, Activation activation)
    {
        Gemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
        BiasActivationForward(c, m, n, bias, activation);
    }

    /// <summary>
    /// <c>C = (op(A) op(B) + beta C) * act'(Y)</c>, a layer's gradient handed below its activation: <see cref="Gemm"/>
    /// with alpha 1 into a dense C, then <see cref="ActivationBackward"/> with <paramref name="y"/>, with the same
    /// result. A backend may do both as it writes C (the host backend with the managed GEMM does).
    /// </summary>
    /// <param name="transA">Whether A is transposed.</param>
    /// <param name="transB">Whether B is transposed.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="a">A.</param>
    /// <param name="lda">A's leading dimension.</param>
    /// <param name="b">B.</param>
    /// <param name="ldb">B's leading dimension.</param>
    /// <param name="beta">Scale of the old C.</param>
    /// <param name="c">C, <c>m x n</c> dense; overwritten.</param>
    /// <param name="y">The activation's outputs, <c>m x n</c> dense.</param>
    /// <param name="activation">The nonlinearity.</param>
    void GemmActivationBackward(Transpose transA, Transpose transB, int m, int n, int k, DeviceSlice a, int lda,
        DeviceSlice b, int ldb, float beta, DeviceSlice c, DeviceSlice y, Activation activation)
    {
        Gemm(transA, transB, m, n, k, 1f, a, lda, b, ldb, beta, c, n);
        ActivationBackward(y, c, activation);
    }

    /// <summary><c>dy *= act'(.)</c> taken from the activation's output <paramref name="y"/>, as
    /// <see cref="FusedOps.ActivationBackward"/>. Kernel <c>activation_backward</c>.</summary>
    /// <param name="y">The forward pass's outputs.</param>
    /// <param name="dy">Upstream gradient, updated in place; same length as y.</param>
    /// <param name="activation">The nonlinearity.</param>
    void ActivationBackward(DeviceSlice y, DeviceSlice dy, Activation activation);

    /// <summary><c>dest[j] (+)= sum_i x[i, j]</c>, as <see cref="FusedOps.ColumnSums"/> (bias gradients).
    /// Kernel <c>column_sums</c>.</summary>
    /// <param name="x">rows x cols.</param>
    /// <param name="rows">Rows.</param>
    /// <param name="cols">Columns.</param>
    /// <param name="dest">cols elements.</param>
    /// <param name="accumulate">Add to dest instead of overwriting it.</param>
    void ColumnSums(DeviceSlice x, int rows, int cols, DeviceSlice dest, bool accumulate);

    /// <summary><c>dest[0] = sum_i x[i]</c> (order-stable). Kernel <c>sum_reduce</c>.</summary>
    /// <param name="x">Elements to add.</param>
    /// <param name="dest">One element.</param>
    void Sum(DeviceSlice x, DeviceSlice dest);

    /// <summary>Standard normals <c>dest[i] = Philox.Normal(key, offset + i)</c>, the same draws as
    /// <see cref="Philox.FillNormal"/>. Kernel <c>philox_normal</c>.</summary>
    /// <param name="key">Philox key.</param>
    /// <param name="offset">Index of the first draw in the key's stream.</param>
    /// <param name="dest">Receives the draws.</param>
    void FillNormal(PhiloxKey key, ulong offset, DeviceSlice dest);

    /// <summary>Rows <c>[left[i, :], right[i, :]]</c>: dest is rows x (leftCols + rightCols). Kernel <c>concat_columns</c>.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="left">rows x leftCols.</param>
    /// <param name="leftCols">Columns of left.</param>
    /// <param name="right">rows x rightCols.</param>
    /// <param name="rightCols">Columns of right.</param>
    /// <param name="dest">rows x (leftCols + rightCols).</param>
    void ConcatColumns(int rows, DeviceSlice left, int leftCols, DeviceSlice right, int rightCols, DeviceSlice dest);

    /// <summary><c>dest[i, j] = x1[i, offset + j] + x2[i, offset + j]</c> for j &lt; cols: dL/da summed over both critics'
    /// input gradients. Kernel <c>sum_column_block</c>.</summary>
    /// <param name="rows">Rows.</param>
    /// <param name="width">Columns of x1 and x2.</param>
    /// <param name="offset">First column taken.</param>
    /// <param name="cols">Columns taken.</param>
    /// <param name="x1">rows x width.</param>
    /// <param name="x2">rows x width.</param>
    /// <param name="dest">rows x cols.</param>
    void SumColumnBlock(int rows, int width, int offset, int cols, DeviceSlice x1, DeviceSlice x2, DeviceSlice dest);

    /// <summary>
    /// Reparameterised tanh-Gaussian sample (SAC v2, eq. 8; appendix C, eq. 21), reading the actor output as it is
    /// emitted: row i of <paramref name="actorOutput"/> is <c>[mean (A), raw log-std (A)]</c>. With
    /// <c>log sigma = bound(raw)</c> (clamp or tanh rescale to [min, max]), <c>u = mu + sigma eps</c>, writes
    /// <c>action = tanh u</c>, <c>sigma</c>, <c>dlogSigma/draw</c> and <c>logPi</c> (row sums in index order), as
    /// <c>TanhGaussian.sampleForward</c>. Kernel <c>tanh_gaussian_forward</c>.
    /// </summary>
    /// <param name="bound">Clamp or smooth rescale.</param>
    /// <param name="logStdMin">Lower end of log sigma.</param>
    /// <param name="logStdMax">Upper end of log sigma.</param>
    /// <param name="rows">Rows B.</param>
    /// <param name="actDim">Action dimension A.</param>
    /// <param name="actorOutput">B x 2A.</param>
    /// <param name="noise">Standard normals, B x A.</param>
    /// <param name="action">Receives tanh(u), B x A.</param>
    /// <param name="sigma">Receives sigma, B x A.</param>
    /// <param name="logStdGrad">Receives dlogSigma/draw, B x A.</param>
    /// <param name="logPi">Receives log pi, B.</param>
    void TanhGaussianForward(LogStdBound bound, float logStdMin, float logStdMax, int rows, int actDim,
        DeviceSlice actorOutput, DeviceSlice noise, DeviceSlice action, DeviceSlice sigma, DeviceSlice logStdGrad,
        DeviceSlice logPi);

    /// <summary>
    /// Back-propagation through <see cref="TanhGaussianForward"/> with the noise fixed, as
    /// <c>TanhGaussian.sampleBackward</c>: <c>du = dA (1 - a^2) + dLogPi 2a</c>, <c>dmu = du</c>,
    /// <c>draw = (du sigma eps - dLogPi) dlogSigma/draw</c>, written side by side into <paramref name="actorOutputGrad"/>
    /// (row i: <c>[dmu (A), draw (A)]</c>). Kernel <c>tanh_gaussian_backward</c>.
    /// </summary>
    /// <param name="rows">Rows B.</param>
    /// <param name="actDim">Action dimension A.</param>
    /// <param name="action">The forward pass's actions.</param>
    /// <param name="sigma">The forward pass's sigma.</param>
    /// <param name="noise">The forward pass's noise.</param>
    /// <param name="logStdGrad">The forward pass's dlogSigma/draw.</param>
    /// <param name="actionGrad">dL/da, B x A.</param>
    /// <param name="logPiGrad">dL/dlog pi, B.</param>
    /// <param name="actorOutputGrad">Receives dL/d(actor output), B x 2A.</param>
    void TanhGaussianBackward(int rows, int actDim, DeviceSlice action, DeviceSlice sigma, DeviceSlice noise,
        DeviceSlice logStdGrad, DeviceSlice actionGrad, DeviceSlice logPiGrad, DeviceSlice actorOutputGrad);

    /// <summary>
    /// gSDE exploration matrix (Raffin et al. 2021, eq. 3): <c>std = std(log_std)</c> broadcast to latent x |A| and
    /// <c>E = std * eps</c>, as <c>Gsde.exploration</c>. Host only: the CUDA backend throws
    /// <see cref="NotSupportedException"/>.
    /// </summary>
    /// <param name="fullStd">log-std is latent x |A|; else latent x 1.</param>
    /// <param name="expln">The expln std (exp below 0, log1p + 1 above).</param>
    /// <param name="latentDim">Latent features.</param>
    /// <param name="actDim">Action size.</param>
    /// <param name="logStd">The log-std parameters.</param>
    /// <param name="eps">Standard normals, latent x |A|.</param>
    /// <param name="std">Receives std, latent x |A|.</param>
    /// <param name="exploration">Receives E, latent x |A|.</param>
    void GsdeExploration(bool fullStd, bool expln, int latentDim, int actDim, DeviceSlice logStd, DeviceSlice eps,
        DeviceSlice std, DeviceSlice exploration);

    /// <summary>
    /// gSDE tanh-Gaussian sample, as <c>Gsde.forwardRows</c>: <c>u = clip(mu, -2, 2) + phi E</c>, <c>a = tanh u</c>,
    /// <c>sigma^2 = phi^2 std^2 + 1e-6</c>, log pi with SB3's squash correction. Host only.
    /// </summary>
    /// <param name="rows">Rows B.</param>
    /// <param name="latentDim">Latent features L.</param>
    /// <param name="actDim">Action size A.</param>
    /// <param name="latent">phi(s), B x L.</param>
    /// <param name="meanRaw">The mean head's output, B x A.</param>
    /// <param name="std">std, L x A.</param>
    /// <param name="exploration">E, L x A.</param>
    /// <param name="action">Receives a, B x A.</param>
    /// <param name="noise">Receives phi E, B x A.</param>
    /// <param name="variance">Receives sigma^2, B x A.</param>
    /// <param name="logPi">Receives log pi, B.</param>
    void GsdeForward(int rows, int latentDim, int actDim, DeviceSlice latent, DeviceSlice meanRaw, DeviceSlice std,
        DeviceSlice exploration, DeviceSlice action, DeviceSlice noise, DeviceSlice variance, DeviceSlice logPi);

    /// <summary>
    /// Back-propagation through <see cref="GsdeForward"/> with eps fixed and phi detached, as <c>Gsde.backwardRows</c>:
    /// dL/d(mean head output), dL/dlog-std, and dL/dphi through the noise and variance. Host only.
    /// </summary>
    /// <param name="rows">Rows B.</param>
    /// <param name="latentDim">Latent features L.</param>
    /// <param name="actDim">Action size A.</param>
    /// <param name="fullStd">log-std is L x A; else L x 1.</param>
    /// <param name="expln">The expln std.</param>
    /// <param name="latent">phi(s), B x L.</param>
    /// <param name="meanRaw">The mean head's output, B x A.</param>
    /// <param name="logStd">The log-std parameters.</param>
    /// <param name="eps">The standard normals of E, L x A.</param>
    /// <param name="std">std, L x A.</param>
    /// <param name="action">The forward pass's actions.</param>
    /// <param name="noise">The forward pass's noise.</param>
    /// <param name="variance">The forward pass's variance.</param>
    /// <param name="actionGrad">dL/da, B x A.</param>
    /// <param name="logPiGrad">dL/dlog pi, B.</param>
    /// <param name="meanGrad">Receives dL/d(mean head output), B x A.</param>
    /// <param name="logStdGrad">Receives dL/dlog-std.</param>
    /// <param name="latentGrad">Receives dL/dphi through the noise and the variance, B x L.</param>
    void GsdeBackward(int rows, int latentDim, int actDim, bool fullStd, bool expln, DeviceSlice latent,
        DeviceSlice meanRaw, DeviceSlice logStd, DeviceSlice eps, DeviceSlice std, DeviceSlice action,
        DeviceSlice noise, DeviceSlice variance, DeviceSlice actionGrad, DeviceSlice logPiGrad, DeviceSlice meanGrad,
        DeviceSlice logStdGrad, DeviceSlice latentGrad);

    /// <summary>
    /// Fused soft Q target (SAC v2, eqs. 2-3): <c>y = r + gamma (1 - terminated) (min(q1, q2) - alpha logPi)</c>
    /// in one pass, as <c>SoftBellman.targetBatch</c>. Kernel <c>soft_target</c>.
    /// </summary>
    /// <param name="gamma">Discount.</param>
    /// <param name="alpha">Temperature.</param>
    /// <param name="reward">r, n.</param>
    /// <param name="terminated">1 where s' is terminal, else 0; n.</param>
    /// <param name="q1">Q1'(s', a'), n.</param>
    /// <param name="q2">Q2'(s', a'), n.</param>
    /// <param name="logPi">log pi(a'|s'), n.</param>
    /// <param name="target">Receives y, n.</param>
    void SoftTarget(float gamma, float alpha, DeviceSlice reward, DeviceSlice terminated, DeviceSlice q1,
        DeviceSlice q2, DeviceSlice logPi, DeviceSlice target);

    /// <summary>Critic loss terms (SAC v2, eq. 5): <c>dq = (q - y) / n</c> and <c>terms[i] = 0.5 (q - y)^2 / n</c>
    /// (sum them with <see cref="Sum"/> for the loss), as <c>Losses.critic</c>. Kernel <c>critic_loss</c>.</summary>
    /// <param name="q">Q(s, a), n.</param>
    /// <param name="target">y, n.</param>
    /// <param name="qGrad">Receives dL/dq, n.</param>
    /// <param name="terms">Receives the per-row loss terms, n.</param>
    void CriticLoss(DeviceSlice q, DeviceSlice target, DeviceSlice qGrad, DeviceSlice terms);

    /// <summary>Actor loss terms (SAC v2, eq. 9): <c>terms[i] = (alpha logPi - min(q1, q2)) / n</c>,
    /// <c>dLogPi = alpha / n</c>, and <c>-1/n</c> to the smaller critic (q1 on ties), 0 to the other, as
    /// <c>Losses.actor</c>. Kernel <c>actor_loss</c>.</summary>
    /// <param name="alpha">Temperature.</param>
    /// <param name="logPi">log pi, n.</param>
    /// <param name="q1">Q1, n.</param>
    /// <param name="q2">Q2, n.</param>
    /// <param name="logPiGrad">Receives dL/dlog pi.</param>
    /// <param name="q1Grad">Receives dL/dQ1.</param>
    /// <param name="q2Grad">Receives dL/dQ2.</param>
    /// <param name="terms">Receives the per-row loss terms.</param>
    void ActorLoss(float alpha, DeviceSlice logPi, DeviceSlice q1, DeviceSlice q2, DeviceSlice logPiGrad,
        DeviceSlice q1Grad, DeviceSlice q2Grad, DeviceSlice terms);

    /// <summary>
    /// One fused Adam step at step number <paramref name="step"/> (1-based, after the increment), with
    /// <see cref="AdamConfig.MaxGradNorm"/> clipping folded in as a scale, as <see cref="Adam.Update(AdamConfig, AdamState, System.ReadOnlySpan{float}, System.Span{float})"/>.
    /// Kernels <c>sum_squares_partial</c> (only with clipping) and <c>adam</c>.
    /// </summary>
    /// <param name="config">Learning rate, betas, epsilon, clipping.</param>
    /// <param name="step">The step number t of this update (1 for the first).</param>
    /// <param name="parameters">Updated in place.</param>
    /// <param name="gradients">Read only.</param>
    /// <param name="firstMoment">m, updated in place.</param>
    /// <param name="secondMoment">v, updated in place.</param>
    /// <param name="learningRateFactor">A schedule's factor on the learning rate, in [0, 1] (1: the configured rate).</param>
    void Adam(AdamConfig config, long step, DeviceSlice parameters, DeviceSlice gradients, DeviceSlice firstMoment,
        DeviceSlice secondMoment, float learningRateFactor = 1f);

    /// <summary>Polyak averaging <c>target = clamp(tau online + (1 - tau) target)</c> into the two values' range, as
    /// <see cref="Polyak.Update"/>. Kernel <c>polyak</c>.</summary>
    /// <param name="tau">Weight of the online parameters, in [0, 1].</param>
    /// <param name="online">Read only.</param>
    /// <param name="target">Updated in place.</param>
    void Polyak(float tau, DeviceSlice online, DeviceSlice target);

    /// <summary>
    /// Runs both branches of <paramref name="work"/>: side by side where the backend can (the host backend with two
    /// or more GEMM threads runs each branch on its own core, each with a one-thread GEMM), otherwise branch 0 then
    /// branch 1 on this backend. Returns when both have finished (or, on a device, when both are enqueued in order).
    /// </summary>
    /// <remarks>
    /// Neither branch may read what the other writes, with one exception: branch 1 may wait (on the host) for a
    /// hand-off that branch 0 publishes once a result is written, and then read it, or write what branch 0 has
    /// finished reading. Branch 0 never waits for branch 1, so running them in order (0 then 1) finds every hand-off
    /// already made. Each issues its operations on the lane it is given, never on this backend directly, so the
    /// result is the same whichever way they run.
    /// </remarks>
    /// <param name="work">The two branches.</param>
    void RunPair(IPairWork work);
}

/// <summary>
/// Two independent pieces of one update (for example the twin critics' passes), which
/// <see cref="ISacBackend.RunPair"/> may run side by side.
/// </summary>
public interface IPairWork
{
    /// <summary>Runs branch <paramref name="branch"/> (0 or 1), issuing every operation on <paramref name="lane"/>.</summary>
    /// <param name="lane">The backend this branch's operations go to.</param>
    /// <param name="branch">0 or 1.</param>
    void Execute(ISacBackend lane, int branch);
}
