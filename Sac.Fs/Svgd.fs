namespace Sac.Fs

open System

/// <summary>
/// Amortised Stein variational gradient descent as Soft Q-Learning uses it (Liu and Wang 2016; Haarnoja et al. 2017,
/// Sec. 3.2): pairwise squared distances, the median-heuristic RBF bandwidth, the kernel and its gradient, the SVGD
/// direction, the tanh squash's score correction and the surrogate whose gradient moves the sampler's particles.
/// Pure over spans; allocates nothing.
/// </summary>
[<RequireQualifiedAccess>]
module Svgd =

    /// <summary>The epsilon inside the reference's squash correction <c>log(1 - a^2 + 1e-6)</c>.</summary>
    [<Literal>]
    let SquashEpsilon = 1e-6f

    /// <summary>
    /// Squared distances <c>dest[j K_u + i] = |x_j - y_i|^2</c> between <paramref name="fixedCount"/> particles
    /// <c>x</c> and <paramref name="updatedCount"/> particles <c>y</c> of dimension <paramref name="dim"/>.
    /// </summary>
    /// <param name="fixedCount">K_fixed.</param>
    /// <param name="updatedCount">K_updated.</param>
    /// <param name="dim">Particle dimension |A|.</param>
    /// <param name="fixedParticles">x, <c>[K_fixed, dim]</c>.</param>
    /// <param name="updatedParticles">y, <c>[K_updated, dim]</c>.</param>
    /// <param name="dest">Receives <c>[K_fixed, K_updated]</c> values.</param>
    [<CompiledName("SquaredDistances")>]
    let squaredDistances (fixedCount: int) (updatedCount: int) (dim: int)
                         (fixedParticles: ReadOnlySpan<float32>, updatedParticles: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        Guard.atLeast "fixedParticles" fixedParticles.Length (Guard.product fixedCount dim)
        Guard.atLeast "updatedParticles" updatedParticles.Length (Guard.product updatedCount dim)
        Guard.atLeast "dest" dest.Length (Guard.product fixedCount updatedCount)
        for j in 0 .. fixedCount - 1 do
            for i in 0 .. updatedCount - 1 do
                let mutable s = 0.0f
                for d in 0 .. dim - 1 do
                    let diff = fixedParticles.[j * dim + d] - updatedParticles.[i * dim + d]
                    s <- s + diff * diff
                dest.[j * updatedCount + i] <- s

    /// <summary>
    /// The median-heuristic RBF bandwidth <c>h = max(median(squaredDistances) / log(fixedCount + 1), minBandwidth)</c>
    /// (the median of an even count is the mean of the two middle values). Sorts a copy in
    /// <paramref name="scratch"/>; allocates nothing.
    /// </summary>
    /// <param name="minBandwidth">Lower bound h_min, greater than zero.</param>
    /// <param name="fixedCount">The number of particles the SVGD expectation averages over (K in log(K + 1)).</param>
    /// <param name="squaredDistances">The pairwise squared distances, at least one.</param>
    /// <param name="scratch">At least as long as <paramref name="squaredDistances"/>; overwritten.</param>
    [<CompiledName("MedianBandwidth")>]
    let medianBandwidth (minBandwidth: float32) (fixedCount: int) (squaredDistances: ReadOnlySpan<float32>) (scratch: Span<float32>) : float32 =
        // SVGD median heuristic (Liu & Wang 2016): h = med^2 / log(K + 1), so k = exp(-d^2 / h) has sum_j k ≈ 1 at the median
        let n = squaredDistances.Length
        if n < 1 then invalidArg (nameof squaredDistances) "squaredDistances must hold at least one value."
        if fixedCount < 1 then raise (ArgumentOutOfRangeException(nameof fixedCount, fixedCount, "fixedCount must be at least 1."))
        Guard.atLeast "scratch" scratch.Length n
        let s = scratch.Slice(0, n)
        squaredDistances.CopyTo s
        MemoryExtensions.Sort s
        let median = if n % 2 = 1 then s.[n / 2] else 0.5f * (s.[n / 2 - 1] + s.[n / 2])
        MathF.Max(median / MathF.Log(float32 fixedCount + 1.0f), minBandwidth)

    /// <summary>
    /// The RBF kernel <c>kernel[j, i] = exp(-|x_j - y_i|^2 / h)</c> and its gradient with respect to the first
    /// argument, <c>kernelGrad[j, i, :] = -2 (x_j - y_i) / h * kernel[j, i]</c>.
    /// </summary>
    /// <param name="h">Bandwidth, greater than zero (see <see cref="medianBandwidth"/>).</param>
    /// <param name="fixedCount">K_fixed.</param>
    /// <param name="updatedCount">K_updated.</param>
    /// <param name="dim">Particle dimension.</param>
    /// <param name="fixedParticles">x, <c>[K_fixed, dim]</c>.</param>
    /// <param name="updatedParticles">y, <c>[K_updated, dim]</c>.</param>
    /// <param name="squaredDistances">From <see cref="squaredDistances"/> on the same particles.</param>
    /// <param name="kernel">Receives <c>[K_fixed, K_updated]</c>.</param>
    /// <param name="kernelGrad">Receives <c>[K_fixed, K_updated, dim]</c>.</param>
    [<CompiledName("RbfKernel")>]
    let rbfKernel (h: float32) (fixedCount: int) (updatedCount: int) (dim: int)
                  (fixedParticles: ReadOnlySpan<float32>, updatedParticles: ReadOnlySpan<float32>, squaredDistances: ReadOnlySpan<float32>,
                   kernel: Span<float32>, kernelGrad: Span<float32>) : unit =
        // RBF kernel: k(a, a') = exp(-|a - a'|^2 / h), grad_a k(a, a') = -2 (a - a') / h k(a, a')
        if not (h > 0.0f) then raise (ArgumentOutOfRangeException(nameof h, h, "h must be greater than zero."))
        let pairs = Guard.product fixedCount updatedCount
        Guard.atLeast "fixedParticles" fixedParticles.Length (Guard.product fixedCount dim)
        Guard.atLeast "updatedParticles" updatedParticles.Length (Guard.product updatedCount dim)
        Guard.atLeast "squaredDistances" squaredDistances.Length pairs
        Guard.atLeast "kernel" kernel.Length pairs
        Guard.atLeast "kernelGrad" kernelGrad.Length (Guard.product pairs dim)
        let c = -2.0f / h
        for j in 0 .. fixedCount - 1 do
            for i in 0 .. updatedCount - 1 do
                let p = j * updatedCount + i
                let k = MathF.Exp(-squaredDistances.[p] / h)
                kernel.[p] <- k
                for d in 0 .. dim - 1 do
                    kernelGrad.[p * dim + d] <- c * (fixedParticles.[j * dim + d] - updatedParticles.[i * dim + d]) * k

    /// <summary>
    /// The SVGD direction of each updated particle:
    /// <c>dest[i, :] = (1/K_fixed) sum_j (kernel[j, i] scores[j, :] + kernelGrad[j, i, :])</c>, where
    /// <c>scores[j] = grad_a log p(a_j)</c> is the score of the target density at fixed particle j.
    /// </summary>
    /// <param name="fixedCount">K_fixed.</param>
    /// <param name="updatedCount">K_updated.</param>
    /// <param name="dim">Particle dimension.</param>
    /// <param name="kernel">From <see cref="rbfKernel"/>, <c>[K_fixed, K_updated]</c>.</param>
    /// <param name="kernelGrad">From <see cref="rbfKernel"/>, <c>[K_fixed, K_updated, dim]</c>.</param>
    /// <param name="scores">Scores at the fixed particles, <c>[K_fixed, dim]</c>.</param>
    /// <param name="dest">Receives the directions, <c>[K_updated, dim]</c>.</param>
    [<CompiledName("SvgdDirection")>]
    let svgdDirection (fixedCount: int) (updatedCount: int) (dim: int)
                      (kernel: ReadOnlySpan<float32>, kernelGrad: ReadOnlySpan<float32>, scores: ReadOnlySpan<float32>, dest: Span<float32>) : unit =
        // SQL eq. 13: Δf(xi_i; s) = E_j[ k(a_j, a_i) grad_{a'} Q(s, a')/alpha |_{a'=a_j} + grad_{a'} k(a', a_i) |_{a'=a_j} ]
        if fixedCount < 1 then raise (ArgumentOutOfRangeException(nameof fixedCount, fixedCount, "fixedCount must be at least 1."))
        let pairs = Guard.product fixedCount updatedCount
        Guard.atLeast "kernel" kernel.Length pairs
        Guard.atLeast "kernelGrad" kernelGrad.Length (Guard.product pairs dim)
        Guard.atLeast "scores" scores.Length (Guard.product fixedCount dim)
        Guard.atLeast "dest" dest.Length (Guard.product updatedCount dim)
        let inv = 1.0f / float32 fixedCount
        for i in 0 .. updatedCount - 1 do
            for d in 0 .. dim - 1 do
                let mutable s = 0.0f
                for j in 0 .. fixedCount - 1 do
                    let p = j * updatedCount + i
                    s <- s + kernel.[p] * scores.[j * dim + d] + kernelGrad.[p * dim + d]
                dest.[i * dim + d] <- inv * s

    /// <summary>
    /// The derivative of the reference's squash correction <c>log(1 - a^2 + 1e-6)</c> with respect to one action
    /// component: <c>-2a / (1 - a^2 + 1e-6)</c>. Added to the score when <c>SqlConfig.SquashCorrection</c> is on.
    /// </summary>
    /// <param name="a">An action component in <c>[-1, 1]</c>.</param>
    [<CompiledName("SquashScore")>]
    let squashScore (a: float32) : float32 = -2.0f * a / (1.0f - a * a + SquashEpsilon)

    /// <summary>
    /// The SVGD directions of one state's particles, all stages at once: squared distances, the median bandwidth,
    /// the kernel and the direction. The scratch spans hold at least <c>K_fixed K_updated</c> (distances, median,
    /// kernel) and <c>K_fixed K_updated dim</c> (kernel gradient) values. Returns the bandwidth used.
    /// </summary>
    /// <param name="minBandwidth">Lower bound of the bandwidth.</param>
    /// <param name="fixedCount">K_fixed.</param>
    /// <param name="updatedCount">K_updated.</param>
    /// <param name="dim">Particle dimension.</param>
    /// <param name="fixedParticles">The fixed particles a_j.</param>
    /// <param name="updatedParticles">The updated particles a_i.</param>
    /// <param name="scores">Scores at the fixed particles.</param>
    /// <param name="distances">Scratch for the squared distances.</param>
    /// <param name="medianScratch">Scratch for the median.</param>
    /// <param name="kernel">Scratch for the kernel values.</param>
    /// <param name="kernelGrad">Scratch for the kernel gradients.</param>
    /// <param name="dest">Receives the directions, <c>[K_updated, dim]</c>.</param>
    [<CompiledName("SvgdParticles")>]
    let svgdParticles (minBandwidth: float32) (fixedCount: int) (updatedCount: int) (dim: int)
                      (fixedParticles: ReadOnlySpan<float32>, updatedParticles: ReadOnlySpan<float32>, scores: ReadOnlySpan<float32>,
                       distances: Span<float32>, medianScratch: Span<float32>, kernel: Span<float32>, kernelGrad: Span<float32>,
                       dest: Span<float32>) : float32 =
        let pairs = Guard.product fixedCount updatedCount
        squaredDistances fixedCount updatedCount dim (fixedParticles, updatedParticles, distances)
        let d = Span<float32>.op_Implicit(distances.Slice(0, pairs)) : ReadOnlySpan<float32>
        let h = medianBandwidth minBandwidth fixedCount d medianScratch
        rbfKernel h fixedCount updatedCount dim (fixedParticles, updatedParticles, d, kernel, kernelGrad)
        svgdDirection fixedCount updatedCount dim (Span<float32>.op_Implicit kernel, Span<float32>.op_Implicit kernelGrad, scores, dest)
        h

    /// <summary>
    /// The SVGD surrogate <c>L = -(1/B) sum_b sum_i &lt;Δ_bi, f(xi_bi; s_b)&gt;</c> with the directions Δ held
    /// constant; writes <c>dL/df = -Δ / B</c>, whose back-propagation through f is the amortised SVGD gradient.
    /// </summary>
    /// <param name="states">B.</param>
    /// <param name="count">Values in all updated particles together, <c>B K_updated |A|</c>.</param>
    /// <param name="directions">Δ.</param>
    /// <param name="actions">f(xi; s) at the updated particles.</param>
    /// <param name="actionGrad">Receives dL/df.</param>
    [<CompiledName("SvgdSurrogate")>]
    let svgdSurrogate (states: int) (count: int) (directions: ReadOnlySpan<float32>, actions: ReadOnlySpan<float32>, actionGrad: Span<float32>) : float32 =
        // SQL eq. 14: grad_phi J = E_s E_xi[ Δf(xi; s) · df(xi; s)/dphi ], taken as the gradient of -sum <Δ, f> with Δ fixed
        if states < 1 then raise (ArgumentOutOfRangeException(nameof states, states, "states must be at least 1."))
        Guard.atLeast "directions" directions.Length count
        Guard.atLeast "actions" actions.Length count
        Guard.atLeast "actionGrad" actionGrad.Length count
        let scale = 1.0f / float32 states
        let mutable acc = 0.0
        for n in 0 .. count - 1 do
            acc <- acc + float directions.[n] * float actions.[n]
            actionGrad.[n] <- -directions.[n] * scale
        float32 (-acc / float states)
