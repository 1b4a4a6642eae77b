namespace Sac.Fs

open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Networks
open Sac.Core.Optim


/// <summary>The network shapes of a Soft Q-Learning learner, derived from the configuration and the environment's sizes.</summary>
/// <remarks>
/// Q: <c>[observation, action] -> HiddenSizes... -> 1</c>, hidden layers with <c>config.Activation</c> (ReLU by default), linear output.
/// Sampler <c>f(xi; s)</c>: <c>[observation, xi] -> SamplerHiddenSizes... -> |A|</c> with <c>xi ~ N(0, I_|A|)</c>, the same
/// hidden activation and a tanh output, so every action lies in <c>[-1, 1]^|A|</c> (the reference's
/// <c>StochasticNNPolicy</c> with <c>squash=True</c>; its first layer on the two inputs is one layer on their concatenation).
/// </remarks>
[<Sealed>]
type SqlNetworks(config: SqlConfig, observationSize: int, actionSize: int) =
    do
        if observationSize < 1 then invalidArg (nameof observationSize) $"observationSize must be at least 1, got {observationSize}."
        if actionSize < 1 then invalidArg (nameof actionSize) $"actionSize must be at least 1, got {actionSize}."
    let sizes (input: int) (hidden: seq<int>) (output: int) = Array.concat [ [| input |]; Seq.toArray hidden; [| output |] ]
    let q = MlpSpec(sizes (observationSize + actionSize) config.HiddenSizes 1, config.Activation, Activation.Identity)
    let sampler = MlpSpec(sizes (observationSize + actionSize) config.SamplerHiddenSizes actionSize, config.Activation, Activation.Tanh)

    /// <summary>Observation length |S|.</summary>
    member _.ObservationSize = observationSize
    /// <summary>Action length |A| (also the length of the sampler's noise xi).</summary>
    member _.ActionSize = actionSize
    /// <summary>The soft Q-network (the target network has the same shape).</summary>
    member _.Q = q
    /// <summary>The sampling network f(xi; s).</summary>
    member _.Sampler = sampler

/// <summary>
/// Every buffer one Soft Q-Learning update needs, allocated once for the configured batch size and particle counts
/// so the update allocates nothing. Holds no learner state: anything in it is scratch the next update overwrites.
/// </summary>
/// <remarks>Particle buffers are laid out <c>[state, particle, component]</c>, row-major.</remarks>
[<Sealed>]
type SqlWorkspace(networks: SqlNetworks, config: SqlConfig) =
    let o, a = networks.ObservationSize, networks.ActionSize
    let w = o + a
    let b = config.BatchSize
    let m = config.ValueParticles
    let kf, ku = config.FixedParticles, config.UpdatedParticles
    let floats n = Array.zeroCreate<float32> n

    /// <summary>Rows per update B.</summary>
    member _.BatchSize = b
    /// <summary>Uniform action samples per next state M.</summary>
    member _.ValueParticles = m
    /// <summary>Fixed SVGD particles per state.</summary>
    member _.FixedParticles = kf
    /// <summary>Updated SVGD particles per state.</summary>
    member _.UpdatedParticles = ku
    /// <summary>Q input rows [s, a] of the batch.</summary>
    member val QInput = floats (b * w)
    /// <summary>Q activations on the batch (kept for the Q step's backward pass).</summary>
    member val QOnBatch = MlpWorkspace(networks.Q, b)
    /// <summary>dL/dQ of the Q loss.</summary>
    member val QGrad = floats b
    /// <summary>Soft Q targets y.</summary>
    member val Targets = floats b
    /// <summary>Importance-sampled soft values V_target(s').</summary>
    member val NextValues = floats b
    /// <summary>Uniform actions a_j in [-1, 1]^|A| for the soft value, M per next state.</summary>
    member val ValueActions = floats (b * m * a)
    /// <summary>Target-Q input rows [s', a_j].</summary>
    member val ValueInput = floats (b * m * w)
    /// <summary>Target-Q activations on the value samples.</summary>
    member val TargetQOnNext = MlpWorkspace(networks.Q, b * m)
    /// <summary>Sampler noise xi: the fixed particles' B K_fixed |A| values, then the updated particles'.</summary>
    member val Noise = floats (b * (kf + ku) * a)
    /// <summary>Sampler input rows [s, xi] of the fixed particles.</summary>
    member val FixedInput = floats (b * kf * w)
    /// <summary>Sampler input rows [s, xi] of the updated particles.</summary>
    member val UpdatedInput = floats (b * ku * w)
    /// <summary>Sampler activations on the fixed particles (forward only).</summary>
    member val SamplerFixed = MlpWorkspace(networks.Sampler, b * kf)
    /// <summary>Sampler activations on the updated particles (kept for the SVGD backward pass).</summary>
    member val SamplerUpdated = MlpWorkspace(networks.Sampler, b * ku)
    /// <summary>Fixed particles a_j = f(xi_j; s), <c>[B, K_fixed, |A|]</c>.</summary>
    member val FixedActions = floats (b * kf * a)
    /// <summary>Updated particles a_i = f(xi_i; s), <c>[B, K_updated, |A|]</c>.</summary>
    member val UpdatedActions = floats (b * ku * a)
    /// <summary>Q input rows [s, a_j] at the fixed particles.</summary>
    member val ParticleInput = floats (b * kf * w)
    /// <summary>Q activations at the fixed particles (for dQ/da).</summary>
    member val QOnParticles = MlpWorkspace(networks.Q, b * kf)
    /// <summary>The constant 1/alpha seeded into the Q backward pass at the particles.</summary>
    member val ParticleQGrad = floats (b * kf)
    /// <summary>d(Q/alpha)/d[s, a] at the fixed particles.</summary>
    member val ParticleInputGrad = floats (b * kf * w)
    /// <summary>Scores grad_a log p(a_j) of the SVGD target density at the fixed particles, <c>[B, K_fixed, |A|]</c>.</summary>
    member val Scores = floats (b * kf * a)
    /// <summary>Squared distances |a_j - a_i|^2 of one state, <c>[K_fixed, K_updated]</c>.</summary>
    member val SquaredDistances = floats (kf * ku)
    /// <summary>Scratch for the median of the squared distances.</summary>
    member val MedianScratch = floats (kf * ku)
    /// <summary>Kernel values k(a_j, a_i) of one state, <c>[K_fixed, K_updated]</c>.</summary>
    member val Kernel = floats (kf * ku)
    /// <summary>Kernel gradients grad_{a_j} k(a_j, a_i) of one state, <c>[K_fixed, K_updated, |A|]</c>.</summary>
    member val KernelGrad = floats (kf * ku * a)
    /// <summary>SVGD directions Δf(xi_i; s), <c>[B, K_updated, |A|]</c>.</summary>
    member val Direction = floats (b * ku * a)
    /// <summary>dL/df of the SVGD surrogate at the updated particles.</summary>
    member val SamplerOutputGrad = floats (b * ku * a)
    /// <summary>The factor on every learning rate that the next update's optimizer steps use, staged by
    /// <c>updateWith</c> (a schedule's, in [0, 1]; 1 by default).</summary>
    member val LearningRateFactor = 1.0f with get, set
    /// <summary>Q parameter gradient.</summary>
    member val QParameterGrad = floats networks.Q.ParameterCount
    /// <summary>Sampler parameter gradient.</summary>
    member val SamplerParameterGrad = floats networks.Sampler.ParameterCount

/// <summary>
/// A Soft Q-Learning learner's fixed parts: the validated configuration, network shapes, optimizer settings, the GEMM
/// provider and the preallocated workspace. Everything that changes lives in <see cref="SqlLearnerState"/>.
/// </summary>
[<Sealed>]
type SqlContext(config: SqlConfig, observationSize: int, actionSize: int, gemm: IGemm) =
    do config.ThrowIfInvalid() |> ignore
    let networks = SqlNetworks(config, observationSize, actionSize)

    /// <summary>The configuration.</summary>
    member _.Config = config
    /// <summary>Network shapes.</summary>
    member _.Networks = networks
    /// <summary>The GEMM every network pass uses.</summary>
    member _.Gemm = gemm
    /// <summary>Scratch buffers for one update.</summary>
    member val Workspace = SqlWorkspace(networks, config)
    /// <summary>Adam settings of the Q-network.</summary>
    member val QAdam = AdamConfig(config.QLearningRate, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)
    /// <summary>Adam settings of the sampling network.</summary>
    member val SamplerAdam = AdamConfig(config.SamplerLearningRate, 0.9f, 0.999f, 1e-8f, config.MaxGradNorm)

/// <summary>Buffers for acting with the sampling network on up to <paramref name="rows"/> observations at a time,
/// separate from the update's.</summary>
/// <param name="networks">The sampler's shapes.</param>
/// <param name="rows">The most observations one call acts on; at least 1.</param>
[<Sealed>]
type SqlPolicyWorkspace(networks: SqlNetworks, rows: int) =
    do if rows < 1 then invalidArg (nameof rows) $"rows must be at least 1, got {rows}."
    /// <summary>Buffers for one observation at a time.</summary>
    /// <param name="networks">The sampler's shapes.</param>
    new(networks: SqlNetworks) = SqlPolicyWorkspace(networks, 1)
    /// <summary>The most observations one call acts on.</summary>
    member _.Rows = rows
    /// <summary>The sampler inputs [s, xi], one row per observation.</summary>
    member val Input = Array.zeroCreate<float32> (rows * (networks.ObservationSize + networks.ActionSize))
    /// <summary>Sampler activations for <c>Rows</c> rows.</summary>
    member val Net = MlpWorkspace(networks.Sampler, rows)
