namespace Sac.Fs

open System

/// <summary>
/// Generalized State-Dependent Exploration (gSDE, Raffin et al. 2021) for a tanh-squashed actor, as Stable-Baselines3
/// defines it: the action noise is <c>phi(s) E</c>, the actor's last hidden features (detached) times a noise matrix
/// <c>E = std(log_std) * eps</c> shared by every row, so <c>u = clip(mu(s)) + phi(s) E</c>, <c>a = tanh u</c>, and
/// <c>u_j ~ N(mu_j, sigma_j^2)</c> with <c>sigma_j^2 = sum_k phi_k^2 std_kj^2 + 1e-6</c>. Row-major spans; the noise
/// matrix and log-std are latent x |A| (a latent x 1 log-std is broadcast over the actions without full std).
/// </summary>
[<RequireQualifiedAccess>]
module Gsde =

    /// <summary>SB3's <c>clip_mean</c>: the mean head is followed by hardtanh to [-2, 2] (gradient 0 outside).</summary>
    [<Literal>]
    let ClipMean = 2.0f

    /// <summary>SB3's epsilon, added to the variance before its square root and inside the squash correction's log.</summary>
    [<Literal>]
    let Epsilon = 1e-6f

    let private halfLog2Pi = 0.918938533204672742f

    /// <summary>std of one log-std entry: exp(x), or with expln exp(x) for x &lt;= 0 and log1p(x) + 1 above (gSDE, SB3 <c>use_expln</c>).</summary>
    /// <param name="expln">Use the expln form.</param>
    /// <param name="logStd">The log-std entry.</param>
    [<CompiledName("Std")>]
    let std (expln: bool) (logStd: float32) : float32 =
        if expln && logStd > 0.0f then Single.LogP1 logStd + 1.0f else MathF.Exp logStd

    /// <summary>d std / d log-std of <see cref="std"/>: exp(x), or with expln 1 / (1 + x) above 0.</summary>
    /// <param name="expln">Use the expln form.</param>
    /// <param name="logStd">The log-std entry.</param>
    [<CompiledName("StdDerivative")>]
    let stdDerivative (expln: bool) (logStd: float32) : float32 =
        if expln && logStd > 0.0f then 1.0f / (1.0f + logStd) else MathF.Exp logStd

    /// <summary>The mean after SB3's hardtanh clip to [-ClipMean, ClipMean].</summary>
    /// <param name="raw">The mean head's output.</param>
    [<CompiledName("ClipMeanOf")>]
    let clipMean (raw: float32) = Math.Clamp(raw, -ClipMean, ClipMean)

    /// <summary>1 - tanh(u)^2 = sech(u)^2 = 4 e^(-2|u|) / (1 + e^(-2|u|))^2, without the cancellation of 1 - a^2 in float32
    /// once |u| is a few units (SB3 writes 1 - a^2; the two agree up to rounding).</summary>
    /// <param name="u">The Gaussian sample before tanh.</param>
    [<CompiledName("Sech2")>]
    let sech2 (u: float32) =
        let e = MathF.Exp(-2.0f * abs u)
        4.0f * e / ((1.0f + e) * (1.0f + e))

    /// <summary>The log-std entry of latent feature <paramref name="k"/> and action <paramref name="j"/>.</summary>
    let inline private logStdIndex (fullStd: bool) (actDim: int) (k: int) (j: int) = if fullStd then k * actDim + j else k

    let private need (name: string) (expected: int) (actual: int) =
        if expected <> actual then invalidArg name $"{name} has {actual} elements, expected {expected}."

    /// <summary>
    /// The std matrix and the exploration matrix <c>E = std * eps</c> (latent x |A|; gSDE, Raffin et al. 2021, eq. 3).
    /// </summary>
    /// <param name="fullStd">log-std is latent x |A|; else latent x 1, broadcast over the actions.</param>
    /// <param name="expln">The expln std.</param>
    /// <param name="latentDim">Latent features.</param>
    /// <param name="actDim">Action size |A|.</param>
    /// <param name="logStd">The log-std parameters.</param>
    /// <param name="eps">Standard normals, latent x |A|.</param>
    /// <param name="stdOut">Receives std, latent x |A|.</param>
    /// <param name="exploration">Receives E, latent x |A|.</param>
    [<CompiledName("Exploration")>]
    let exploration (fullStd: bool) (expln: bool) (latentDim: int) (actDim: int) (logStd: ReadOnlySpan<float32>)
                    (eps: ReadOnlySpan<float32>) (stdOut: Span<float32>) (exploration: Span<float32>) =
        let n = latentDim * actDim
        need "logStd" (if fullStd then n else latentDim) logStd.Length
        need "eps" n eps.Length
        need "stdOut" n stdOut.Length
        need "exploration" n exploration.Length
        for k in 0 .. latentDim - 1 do
            for j in 0 .. actDim - 1 do
                let s = std expln logStd.[logStdIndex fullStd actDim k j]
                stdOut.[k * actDim + j] <- s
                exploration.[k * actDim + j] <- s * eps.[k * actDim + j]

    /// <summary>
    /// gSDE sample of <paramref name="rows"/> rows: noise <c>n = phi E</c>, <c>u = clip(mu) + n</c>, <c>a = tanh u</c>,
    /// <c>sigma^2 = phi^2 std^2 + 1e-6</c>, and log pi = sum_j log N(u_j; mu_j, sigma_j) - log(1 - a_j^2 + 1e-6), 1 - a_j^2 taken as sech^2 u_j.
    /// </summary>
    /// <param name="rows">Rows B.</param>
    /// <param name="latentDim">Latent features L.</param>
    /// <param name="actDim">Action size A.</param>
    /// <param name="latent">phi(s), B x L (the actor's last hidden activations).</param>
    /// <param name="meanRaw">The mean head's output before the clip, B x A.</param>
    /// <param name="stdMatrix">std, L x A.</param>
    /// <param name="exploration">E, L x A.</param>
    /// <param name="action">Receives a, B x A.</param>
    /// <param name="noise">Receives n = phi E, B x A.</param>
    /// <param name="variance">Receives sigma^2, B x A.</param>
    /// <param name="logPi">Receives log pi, B.</param>
    [<CompiledName("ForwardRows")>]
    let forwardRows (rows: int) (latentDim: int) (actDim: int) (latent: ReadOnlySpan<float32>) (meanRaw: ReadOnlySpan<float32>)
                    (stdMatrix: ReadOnlySpan<float32>) (exploration: ReadOnlySpan<float32>) (action: Span<float32>)
                    (noise: Span<float32>) (variance: Span<float32>) (logPi: Span<float32>) =
        let n = rows * actDim
        need "latent" (rows * latentDim) latent.Length
        need "meanRaw" n meanRaw.Length
        need "stdMatrix" (latentDim * actDim) stdMatrix.Length
        need "exploration" (latentDim * actDim) exploration.Length
        need "action" n action.Length
        need "noise" n noise.Length
        need "variance" n variance.Length
        need "logPi" rows logPi.Length
        for i in 0 .. rows - 1 do
            let mutable lp = 0.0f
            for j in 0 .. actDim - 1 do
                let mutable nz = 0.0f
                let mutable v = 0.0f
                for k in 0 .. latentDim - 1 do
                    let phi = latent.[i * latentDim + k]
                    let s = stdMatrix.[k * actDim + j]
                    nz <- nz + phi * exploration.[k * actDim + j]
                    v <- v + phi * phi * (s * s)
                v <- v + Epsilon
                let u = clipMean meanRaw.[i * actDim + j] + nz
                let a = MathF.Tanh u
                action.[i * actDim + j] <- a
                noise.[i * actDim + j] <- nz
                variance.[i * actDim + j] <- v
                // log N(u; mu, sigma) with u - mu = n, minus the tanh correction with SB3's epsilon.
                lp <- lp + (-0.5f * nz * nz / v - 0.5f * MathF.Log v - halfLog2Pi) - MathF.Log(sech2 u + Epsilon)
            logPi.[i] <- lp

    /// <summary>
    /// Back-propagation through <see cref="forwardRows"/> with eps fixed: from dL/da and dL/dlog pi, writes dL/d(mean
    /// head output) (zero where the clip is active), dL/dlog-std through the noise (E = std eps) and sigma, and
    /// dL/dphi through the noise and sigma (used by the caller only when the features are learned, SB3's
    /// <c>learn_features</c>; otherwise phi is detached there and the trunk learns through the mean alone).
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
    /// <param name="stdMatrix">std, L x A.</param>
    /// <param name="action">The forward pass's a.</param>
    /// <param name="noise">The forward pass's n.</param>
    /// <param name="variance">The forward pass's sigma^2.</param>
    /// <param name="actionGrad">dL/da, B x A.</param>
    /// <param name="logPiGrad">dL/dlog pi, B.</param>
    /// <param name="meanGrad">Receives dL/d(mean head output), B x A.</param>
    /// <param name="logStdGrad">Receives dL/dlog-std (overwritten), the log-std's length.</param>
    /// <param name="latentGrad">Receives dL/dphi through the noise and the variance, B x L.</param>
    [<CompiledName("BackwardRows")>]
    let backwardRows (rows: int) (latentDim: int) (actDim: int) (fullStd: bool) (expln: bool)
                     (latent: ReadOnlySpan<float32>) (meanRaw: ReadOnlySpan<float32>) (logStd: ReadOnlySpan<float32>)
                     (eps: ReadOnlySpan<float32>) (stdMatrix: ReadOnlySpan<float32>) (action: ReadOnlySpan<float32>)
                     (noise: ReadOnlySpan<float32>) (variance: ReadOnlySpan<float32>) (actionGrad: ReadOnlySpan<float32>)
                     (logPiGrad: ReadOnlySpan<float32>) (meanGrad: Span<float32>) (logStdGrad: Span<float32>)
                     (latentGrad: Span<float32>) =
        let n = rows * actDim
        let la = latentDim * actDim
        need "latent" (rows * latentDim) latent.Length
        need "meanRaw" n meanRaw.Length
        need "logStd" (if fullStd then la else latentDim) logStd.Length
        need "eps" la eps.Length
        need "stdMatrix" la stdMatrix.Length
        need "action" n action.Length
        need "noise" n noise.Length
        need "variance" n variance.Length
        need "actionGrad" n actionGrad.Length
        need "logPiGrad" rows logPiGrad.Length
        need "meanGrad" n meanGrad.Length
        need "logStdGrad" logStd.Length logStdGrad.Length
        need "latentGrad" (rows * latentDim) latentGrad.Length
        logStdGrad.Clear()
        latentGrad.Clear()
        // First dL/dstd summed into the log-std's slots (a shared entry's std is the same for every action), then
        // times d std / d log-std.
        for i in 0 .. rows - 1 do
            let g = logPiGrad.[i]
            for j in 0 .. actDim - 1 do
                let ij = i * actDim + j
                let a = action.[ij]
                let nz, v = noise.[ij], variance.[ij]
                let raw = meanRaw.[ij]
                // da/du = sech^2 u; d(-log(sech^2 u + eps))/du = 2 a sech^2 u / (sech^2 u + eps).
                let one = sech2 (clipMean raw + nz)
                let du = actionGrad.[ij] * one + g * 2.0f * a * one / (one + Epsilon)
                meanGrad.[ij] <- (if raw > -ClipMean && raw < ClipMean then du else 0.0f)
                let dn = du - g * nz / v
                let dv = g * (0.5f * nz * nz / (v * v) - 0.5f / v)
                for k in 0 .. latentDim - 1 do
                    let phi = latent.[i * latentDim + k]
                    let kj = k * actDim + j
                    // dn/dE_kj = phi_k, dE_kj/dstd_kj = eps_kj; dv/dstd_kj = 2 phi_k^2 std_kj.
                    let slot = logStdIndex fullStd actDim k j
                    let s = stdMatrix.[kj]
                    logStdGrad.[slot] <- logStdGrad.[slot] + phi * (dn * eps.[kj] + 2.0f * phi * s * dv)
                    // dn/dphi_k = E_kj = std_kj eps_kj; dv/dphi_k = 2 phi_k std_kj^2.
                    latentGrad.[i * latentDim + k] <- latentGrad.[i * latentDim + k] + dn * s * eps.[kj] + 2.0f * phi * s * s * dv
        for s in 0 .. logStd.Length - 1 do
            logStdGrad.[s] <- logStdGrad.[s] * stdDerivative expln logStd.[s]

    /// <summary>
    /// The environment step at which the acting exploration matrix in use at step <paramref name="step"/> was drawn:
    /// the start of its collection phase (a multiple of <paramref name="trainFrequency"/>), or with
    /// <paramref name="sampleFrequency"/> &gt; 0 the last multiple of it after that start (SB3's <c>reset_noise</c> at
    /// the start of <c>collect_rollouts</c> and every <c>sde_sample_freq</c> collected steps).
    /// </summary>
    /// <param name="trainFrequency">Steps per collection phase, at least 1.</param>
    /// <param name="sampleFrequency">-1, or steps between draws within a phase.</param>
    /// <param name="step">The environment step, 0 or more.</param>
    [<CompiledName("ResampleStep")>]
    let resampleStep (trainFrequency: int) (sampleFrequency: int) (step: int64) : int64 =
        if trainFrequency < 1 then invalidArg (nameof trainFrequency) $"trainFrequency must be at least 1, got {trainFrequency}."
        if step < 0L then invalidArg (nameof step) $"step must be 0 or more, got {step}."
        let phase = step / int64 trainFrequency * int64 trainFrequency
        if sampleFrequency > 0 then phase + (step - phase) / int64 sampleFrequency * int64 sampleFrequency else phase
