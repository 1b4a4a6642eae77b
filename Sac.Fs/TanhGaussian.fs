namespace Sac.Fs

open System

/// <summary>
/// How the policy network's raw log-standard-deviation output is mapped to the log sigma the Gaussian uses.
/// </summary>
[<RequireQualifiedAccess>]
type LogStdRange =
    /// <summary>
    /// <c>log sigma = clamp(raw, min, max)</c>. The gradient is 1 inside <c>[min, max]</c> (both ends included, as
    /// <c>torch.clamp</c>) and 0 outside. SB3 and the SAC reference code use <c>Clamp(-20, 2)</c>.
    /// </summary>
    | Clamp of min: float32 * max: float32
    /// <summary>
    /// <c>log sigma = min + 0.5 * (max - min) * (tanh(raw) + 1)</c>: smooth, so the gradient never drops to exactly 0
    /// (the form CleanRL uses, with <c>(-5, 2)</c>).
    /// </summary>
    | TanhRescale of min: float32 * max: float32

    /// <summary>The SB3 / SAC-paper bound, <c>Clamp(-20, 2)</c> (a new value on each read).</summary>
    static member Default = LogStdRange.Clamp(-20.0f, 2.0f)

    /// <summary>The bound a configuration names: its kind with the range <c>[min, max]</c>.</summary>
    /// <param name="kind">The configuration's choice of clamp or smooth rescale.</param>
    /// <param name="min">Lower end of log sigma.</param>
    /// <param name="max">Upper end of log sigma.</param>
    /// <exception cref="T:System.ArgumentException"><paramref name="kind"/> is not a defined value.</exception>
    static member Of(kind: Sac.Core.Config.LogStdBound, min: float32, max: float32) : LogStdRange =
        match kind with
        | Sac.Core.Config.LogStdBound.Clamp -> LogStdRange.Clamp(min, max)
        | Sac.Core.Config.LogStdBound.TanhRescale -> LogStdRange.TanhRescale(min, max)
        | _ -> invalidArg "kind" $"{kind} is not a defined LogStdBound."

    /// <summary>The bound a SAC configuration asks for: <c>LogStdRange</c> with <c>[LogStdMin, LogStdMax]</c>.</summary>
    /// <param name="config">A validated SAC configuration.</param>
    static member FromConfig(config: Sac.Core.Config.SacConfig) : LogStdRange =
        LogStdRange.Of(config.LogStdBound, config.LogStdMin, config.LogStdMax)

/// <summary>
/// Buffers for a batch of tanh-Gaussian samples: what <c>TanhGaussian.sampleForward</c> writes
/// (actions, pre-squash values, log-probabilities) and what <c>SampleBackward</c> reads back.
/// </summary>
/// <remarks>
/// Allocated once for at most <c>maxBatch</c> rows of <c>actDim</c> dimensions; the sampling functions then allocate
/// nothing. A workspace belongs to one forward/backward pair at a time and is not safe to share across threads.
/// </remarks>
[<Sealed>]
type TanhGaussianWorkspace(maxBatch: int, actDim: int) =
    do
        Guard.size "maxBatch" maxBatch
        Guard.size "actDim" actDim
    let n = Guard.product maxBatch actDim
    let action = Array.zeroCreate<float32> n
    let u = Array.zeroCreate<float32> n
    let sigma = Array.zeroCreate<float32> n
    let eps = Array.zeroCreate<float32> n
    let logStdGrad = Array.zeroCreate<float32> n
    let logPi = Array.zeroCreate<float32> maxBatch
    let mutable batch = 0

    /// <summary>The most rows a forward pass may hold.</summary>
    member _.MaxBatch = maxBatch
    /// <summary>The action dimension A (the row width).</summary>
    member _.ActDim = actDim
    /// <summary>Rows written by the latest forward pass (0 before the first).</summary>
    member _.Batch = batch
    /// <summary>Squashed actions <c>a = tanh(u)</c> of the latest forward pass, <c>Batch x ActDim</c> row-major.</summary>
    member _.Action = ReadOnlySpan<float32>(action, 0, batch * actDim)
    /// <summary>Pre-squash samples <c>u = mu + sigma * eps</c> of the latest forward pass, <c>Batch x ActDim</c>.</summary>
    member _.PreTanh = ReadOnlySpan<float32>(u, 0, batch * actDim)
    /// <summary>Standard deviations <c>sigma = exp(log sigma)</c> of the latest forward pass, <c>Batch x ActDim</c>.</summary>
    member _.Sigma = ReadOnlySpan<float32>(sigma, 0, batch * actDim)
    /// <summary>Log-probabilities <c>log pi(a|s)</c> of the latest forward pass, one per row.</summary>
    member _.LogPi = ReadOnlySpan<float32>(logPi, 0, batch)

    member internal _.SetBatch(b: int) = batch <- b
    member internal _.ActionBuffer = action
    member internal _.UBuffer = u
    member internal _.SigmaBuffer = sigma
    member internal _.EpsBuffer = eps
    member internal _.LogStdGradBuffer = logStdGrad
    member internal _.LogPiBuffer = logPi

/// <summary>
/// The squashed Gaussian policy head of SAC: <c>u = mu + sigma * eps</c> with <c>eps ~ N(0, I)</c> (the
/// reparameterisation trick), action <c>a = tanh(u)</c>, and its log-density with the change-of-variables term.
/// </summary>
/// <remarks>
/// Batch arrays are row-major <c>batch x actDim</c>; buffers may be longer than needed (the first
/// <c>batch * actDim</c> elements are used). Every row's log-probability is summed over dimensions in index order,
/// so the batch and one-transition forms give bitwise identical results.
/// </remarks>
[<RequireQualifiedAccess>]
module TanhGaussian =

    [<Literal>]
    let private Ln2 = 0.693147180559945309f

    [<Literal>]
    let private HalfLog2Pi = 0.918938533204672742f

    // log(1 + e) for e in [0, 1], with Goldberg's correction: the rounding error of fl(1 + e) cancels between
    // log(w) and w - 1 (the scalar twin of Sac.Core's FusedOps.Softplus).
    let inline private log1p01 (e: float32) =
        let w = 1.0f + e
        if w = 1.0f then e else MathF.Log w * e / (w - 1.0f)

    // The bound as (isClamp, min, max), with its range checked.
    let inline private checkedRange (isClamp: bool) (lo: float32) (hi: float32) =
        if isClamp then
            if not (lo <= hi) then invalidArg "bound" $"Clamp needs min <= max, got ({lo}, {hi})."
        elif not (lo < hi) then invalidArg "bound" $"TanhRescale needs min < max, got ({lo}, {hi})."
        struct (isClamp, lo, hi)

    // (isClamp, min, max) taken out of the union once per batch, so the inner loops do not match on it.
    let inline private unpack (bound: LogStdRange) =
        match bound with
        | LogStdRange.Clamp (lo, hi) -> checkedRange true lo hi
        | LogStdRange.TanhRescale (lo, hi) -> checkedRange false lo hi

    // (log sigma, d log sigma / d raw) for one raw network output.
    let inline private boundWithGrad (isClamp: bool) (lo: float32) (hi: float32) (raw: float32) =
        if isClamp then
            if raw < lo then struct (lo, 0.0f)
            elif raw > hi then struct (hi, 0.0f)
            else struct (raw, 1.0f)
        else
            let t = MathF.Tanh raw
            let half = 0.5f * (hi - lo)
            struct (lo + half * (t + 1.0f), half * (1.0f - t * t))

    /// <summary>
    /// <c>log(1 - tanh(u)^2)</c>, the log-Jacobian of the squash <c>a = tanh(u)</c>, computed without cancellation or
    /// overflow as <c>2 * (log 2 - |u| - softplus(-2|u|))</c>.
    /// </summary>
    /// <remarks>
    /// This is the usual <c>2 * (log 2 - u - softplus(-2u))</c> written with <c>|u|</c>: the function is even, and the
    /// <c>|u|</c> form keeps the softplus argument non-positive, so no large terms cancel. Finite for every finite
    /// <c>u</c> (about <c>2 * (log 2 - |u|)</c> for large <c>|u|</c>); its derivative is <c>-2 tanh(u)</c>.
    /// </remarks>
    [<CompiledName("SquashCorrection")>]
    let squashCorrection (u: float32) : float32 =
        // SAC appendix C, eq. 21 (log-Jacobian): log(1 - tanh^2 u) = 2 (log 2 - u - softplus(-2u))
        let au = MathF.Abs u
        2.0f * (Ln2 - au - log1p01 (MathF.Exp(-2.0f * au)))

    /// <summary>The log-standard deviation a raw network output maps to under <paramref name="bound"/>.</summary>
    /// <param name="bound">The clamp or smooth rescale to apply.</param>
    /// <param name="raw">The network's raw log-std output for one dimension.</param>
    [<CompiledName("LogStd")>]
    let logStd (bound: LogStdRange) (raw: float32) : float32 =
        let struct (isClamp, lo, hi) = unpack bound
        let struct (ls, _) = boundWithGrad isClamp lo hi raw
        ls

    /// <summary>
    /// <c>d logStd / d raw</c> under <paramref name="bound"/>: 1 inside a clamp's range (ends included), 0 outside it;
    /// <c>0.5 * (max - min) * (1 - tanh(raw)^2)</c> for the smooth rescale.
    /// </summary>
    /// <param name="bound">The clamp or smooth rescale to apply.</param>
    /// <param name="raw">The network's raw log-std output for one dimension.</param>
    [<CompiledName("LogStdGrad")>]
    let logStdGrad (bound: LogStdRange) (raw: float32) : float32 =
        let struct (isClamp, lo, hi) = unpack bound
        let struct (_, g) = boundWithGrad isClamp lo hi raw
        g

    // One dimension's share of log pi: Gaussian log-density of u (in terms of eps) minus the log-Jacobian of tanh.
    let inline private dimLogProb (eps: float32) (ls: float32) (u: float32) =
        -0.5f * eps * eps - ls - HalfLog2Pi - squashCorrection u

    /// <summary>
    /// The log-density <c>log pi(a|s)</c> of the action <c>a = tanh(mu + sigma * eps)</c> for one state.
    /// </summary>
    /// <remarks>
    /// <c>sum_i [ -eps_i^2 / 2 - log sigma_i - log(2 pi) / 2 - log(1 - tanh(u_i)^2) ]</c>, with
    /// <c>log sigma_i = logStd bound rawLogStd_i</c> and <c>u_i = mu_i + sigma_i * eps_i</c>.
    /// </remarks>
    /// <param name="bound">How <c>rawLogStd</c> becomes log sigma.</param>
    /// <param name="mu">Gaussian means, one per action dimension.</param>
    /// <param name="rawLogStd">Raw log-std network outputs, same length as <c>mu</c>.</param>
    /// <param name="eps">Standard normal noise, same length as <c>mu</c>.</param>
    [<CompiledName("LogProb")>]
    let logProb (bound: LogStdRange) (mu: float32[], rawLogStd: float32[], eps: float32[]) : float32 =
        // SAC appendix C, eq. 21: log pi(a|s) = log N(u; mu, sigma) - sum_i log(1 - tanh^2 u_i)
        let a = mu.Length
        Guard.atLeast "rawLogStd" rawLogStd.Length a
        Guard.atLeast "eps" eps.Length a
        let struct (isClamp, lo, hi) = unpack bound
        let mutable acc = 0.0f
        for j in 0 .. a - 1 do
            let struct (ls, _) = boundWithGrad isClamp lo hi rawLogStd.[j]
            let u = mu.[j] + MathF.Exp ls * eps.[j]
            acc <- acc + dimLogProb eps.[j] ls u
        acc

    /// <summary>
    /// One reparameterised sample for one state: the action <c>tanh(mu + sigma * eps)</c> and its log-density.
    /// Allocates the action array; the readable form of <c>sampleForward</c>, with bitwise identical results.
    /// </summary>
    /// <param name="bound">How <c>rawLogStd</c> becomes log sigma.</param>
    /// <param name="mu">Gaussian means, one per action dimension.</param>
    /// <param name="rawLogStd">Raw log-std network outputs, same length as <c>mu</c>.</param>
    /// <param name="eps">Standard normal noise, same length as <c>mu</c>.</param>
    [<CompiledName("Sample")>]
    let sample (bound: LogStdRange) (mu: float32[], rawLogStd: float32[], eps: float32[]) : struct (float32[] * float32) =
        // SAC v2, eq. 8 (reparameterisation): a = f(eps; s) = tanh(mu + sigma * eps)
        let a = mu.Length
        Guard.atLeast "rawLogStd" rawLogStd.Length a
        Guard.atLeast "eps" eps.Length a
        let action =
            Array.init a (fun j -> MathF.Tanh(mu.[j] + MathF.Exp(logStd bound rawLogStd.[j]) * eps.[j]))
        struct (action, logProb bound (mu, rawLogStd, eps))

    // SAC v2, eq. 8 and appendix C, eq. 21, over strided rows: row i's means start at mu[i * stride] and its raw
    // log-stds at rawLogStd[i * stride], so both the split (stride A) and the network's interleaved [mu, raw] rows
    // (stride 2A) are read in place. Outputs are dense B x A (logPi: B); an empty preTanh is not written.
    let internal forwardRows (isClamp: bool) (lo: float32) (hi: float32) (batch: int) (actDim: int) (stride: int)
                             (mu: ReadOnlySpan<float32>) (rawLogStd: ReadOnlySpan<float32>) (eps: ReadOnlySpan<float32>)
                             (action: Span<float32>) (preTanh: Span<float32>) (sigma: Span<float32>)
                             (logStdGrad: Span<float32>) (logPi: Span<float32>) : unit =
        let keepU = not preTanh.IsEmpty
        for i in 0 .. batch - 1 do
            let row = i * actDim
            let input = i * stride
            let mutable acc = 0.0f
            for j in 0 .. actDim - 1 do
                let k = row + j
                let struct (ls, g) = boundWithGrad isClamp lo hi rawLogStd.[input + j]
                let s = MathF.Exp ls
                let e = eps.[k]
                let u = mu.[input + j] + s * e
                if keepU then preTanh.[k] <- u
                action.[k] <- MathF.Tanh u
                sigma.[k] <- s
                logStdGrad.[k] <- g
                acc <- acc + dimLogProb e ls u
            logPi.[i] <- acc

    // SAC v2, eq. 10 over strided output rows: row i's dL/dmu goes to dMu[i * stride] and its dL/draw to
    // dRawLogStd[i * stride] (the two may be views of one interleaved buffer); inputs are dense B x A.
    let internal backwardRows (batch: int) (actDim: int) (stride: int)
                              (action: ReadOnlySpan<float32>) (sigma: ReadOnlySpan<float32>) (eps: ReadOnlySpan<float32>)
                              (logStdGrad: ReadOnlySpan<float32>) (dAction: ReadOnlySpan<float32>) (dLogPi: ReadOnlySpan<float32>)
                              (dMu: Span<float32>) (dRawLogStd: Span<float32>) : unit =
        for i in 0 .. batch - 1 do
            let row = i * actDim
            let output = i * stride
            let gl = dLogPi.[i]
            for j in 0 .. actDim - 1 do
                let k = row + j
                let a = action.[k]
                let du = dAction.[k] * (1.0f - a * a) + gl * 2.0f * a
                dMu.[output + j] <- du
                dRawLogStd.[output + j] <- (du * sigma.[k] * eps.[k] - gl) * logStdGrad.[k]

    // (isClamp, min, max) of a configuration's bound, checked as unpack checks a LogStdRange (no allocation).
    let internal unpackKind (kind: Sac.Core.Config.LogStdBound) (lo: float32) (hi: float32) =
        match kind with
        | Sac.Core.Config.LogStdBound.Clamp -> checkedRange true lo hi
        | Sac.Core.Config.LogStdBound.TanhRescale -> checkedRange false lo hi
        | _ -> invalidArg "kind" $"{kind} is not a defined LogStdBound."

    /// <summary>
    /// Reparameterised samples for a batch: writes actions, pre-squash values, standard deviations and
    /// log-probabilities into <paramref name="ws"/>, and saves what <c>sampleBackward</c> needs. Allocates nothing.
    /// </summary>
    /// <param name="bound">How <c>rawLogStd</c> becomes log sigma.</param>
    /// <param name="batch">Rows B, at most <c>ws.MaxBatch</c>.</param>
    /// <param name="actDim">Action dimension A, equal to <c>ws.ActDim</c>.</param>
    /// <param name="mu">Means, <c>B x A</c> row-major.</param>
    /// <param name="rawLogStd">Raw log-std outputs, <c>B x A</c>.</param>
    /// <param name="eps">Standard normal noise, <c>B x A</c> (held fixed through the backward pass).</param>
    /// <param name="ws">Receives <c>Action</c>, <c>PreTanh</c>, <c>Sigma</c> and <c>LogPi</c>; its <c>Batch</c> becomes B.</param>
    [<CompiledName("SampleForward")>]
    let sampleForward (bound: LogStdRange) (batch: int, actDim: int)
                      (mu: ReadOnlySpan<float32>, rawLogStd: ReadOnlySpan<float32>, eps: ReadOnlySpan<float32>,
                       ws: TanhGaussianWorkspace) : unit =
        // SAC v2, eq. 8 and appendix C, eq. 21: a = tanh(mu + sigma * eps), log pi = log N(u) - sum log(1 - tanh^2 u)
        Guard.size "batch" batch
        Guard.size "actDim" actDim
        if actDim <> ws.ActDim then invalidArg "actDim" $"actDim = {actDim} but the workspace has ActDim = {ws.ActDim}."
        if batch > ws.MaxBatch then invalidArg "batch" $"batch = {batch} exceeds the workspace's MaxBatch = {ws.MaxBatch}."
        let n = batch * actDim
        Guard.atLeast "mu" mu.Length n
        Guard.atLeast "rawLogStd" rawLogStd.Length n
        Guard.atLeast "eps" eps.Length n
        let struct (isClamp, lo, hi) = unpack bound
        forwardRows isClamp lo hi batch actDim actDim mu rawLogStd eps
            (Span ws.ActionBuffer) (Span ws.UBuffer) (Span ws.SigmaBuffer) (Span ws.LogStdGradBuffer) (Span ws.LogPiBuffer)
        eps.Slice(0, n).CopyTo(Span ws.EpsBuffer)
        ws.SetBatch batch

    /// <summary>
    /// Back-propagates through the latest <c>sampleForward</c> with the noise held fixed: from upstream gradients
    /// <c>dL/da</c> and <c>dL/dlogPi</c>, writes <c>dL/dmu</c> and <c>dL/drawLogStd</c>. Allocates nothing.
    /// </summary>
    /// <remarks>
    /// Per dimension, with <c>a = tanh(u)</c> and <c>g = dL/dlogPi</c> of the row:
    /// <c>dL/du = dL/da * (1 - a^2) + g * 2a</c> (the squash term <c>-log(1 - tanh^2 u)</c> has derivative
    /// <c>2 tanh u</c>); <c>dL/dmu = dL/du</c>; <c>dL/dlogSigma = dL/du * sigma * eps - g</c> (through <c>u</c>, plus
    /// the direct <c>-log sigma</c> term; <c>-eps^2/2</c> is constant for fixed noise);
    /// <c>dL/draw = dL/dlogSigma * dlogSigma/draw</c>.
    /// </remarks>
    /// <param name="batch">Rows B, equal to the workspace's <c>Batch</c>.</param>
    /// <param name="actDim">Action dimension A, equal to <c>ws.ActDim</c>.</param>
    /// <param name="ws">The workspace the forward pass filled.</param>
    /// <param name="dAction">Upstream gradient with respect to the actions, <c>B x A</c>.</param>
    /// <param name="dLogPi">Upstream gradient with respect to each row's log-probability, B elements.</param>
    /// <param name="dMu">Receives <c>dL/dmu</c>, <c>B x A</c>.</param>
    /// <param name="dRawLogStd">Receives <c>dL/drawLogStd</c>, <c>B x A</c>.</param>
    [<CompiledName("SampleBackward")>]
    let sampleBackward (batch: int, actDim: int)
                       (ws: TanhGaussianWorkspace, dAction: ReadOnlySpan<float32>, dLogPi: ReadOnlySpan<float32>,
                        dMu: Span<float32>, dRawLogStd: Span<float32>) : unit =
        // SAC v2, eq. 10: grad of alpha log pi(f(eps; s)|s) - Q(s, f(eps; s)) through the reparameterisation
        if batch <> ws.Batch then invalidArg "batch" $"batch = {batch} but the latest forward pass had {ws.Batch} rows."
        if actDim <> ws.ActDim then invalidArg "actDim" $"actDim = {actDim} but the workspace has ActDim = {ws.ActDim}."
        let n = batch * actDim
        Guard.atLeast "dAction" dAction.Length n
        Guard.atLeast "dLogPi" dLogPi.Length batch
        Guard.atLeast "dMu" dMu.Length n
        Guard.atLeast "dRawLogStd" dRawLogStd.Length n
        backwardRows batch actDim actDim
            (ReadOnlySpan ws.ActionBuffer) (ReadOnlySpan ws.SigmaBuffer) (ReadOnlySpan ws.EpsBuffer) (ReadOnlySpan ws.LogStdGradBuffer)
            dAction dLogPi dMu dRawLogStd

    /// <summary>The deterministic (evaluation) action for one state, <c>tanh(mu)</c>. Allocates the result.</summary>
    /// <param name="mu">Gaussian means, one per action dimension.</param>
    [<CompiledName("DeterministicAction")>]
    let deterministicAction (mu: float32[]) : float32[] =
        // SAC evaluation: the deterministic mean action a = tanh(mu)
        Array.map MathF.Tanh mu

    /// <summary>The deterministic (evaluation) actions <c>tanh(mu)</c> for a batch, written to <paramref name="dest"/>.</summary>
    /// <param name="batch">Rows B.</param>
    /// <param name="actDim">Action dimension A.</param>
    /// <param name="mu">Means, <c>B x A</c> row-major.</param>
    /// <param name="dest">Receives the actions, <c>B x A</c>; may be the same memory as <paramref name="mu"/>.</param>
    [<CompiledName("DeterministicActionBatch")>]
    let deterministicActionBatch (batch: int, actDim: int) (mu: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // SAC evaluation: the deterministic mean action a = tanh(mu)
        Guard.size "batch" batch
        Guard.size "actDim" actDim
        let n = Guard.product batch actDim
        Guard.atLeast "mu" mu.Length n
        Guard.atLeast "dest" dest.Length n
        for k in 0 .. n - 1 do
            dest.[k] <- MathF.Tanh mu.[k]
