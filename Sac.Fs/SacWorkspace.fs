namespace Sac.Fs

open Sac.Core.Networks

/// <summary>
/// Every buffer one SAC update needs, allocated once for the configured batch size so the update loop allocates
/// nothing. Holds no learner state: anything in it is scratch that the next update overwrites.
/// </summary>
[<Sealed>]
type SacWorkspace(networks: SacNetworks, batchSize: int) =
    let o, a = networks.ObservationSize, networks.ActionSize
    let b = batchSize
    let floats n = Array.zeroCreate<float32> n

    /// <summary>Rows per update.</summary>
    member _.BatchSize = b
    /// <summary>Actor activations for the batch's observations s (kept until the actor's backward pass).</summary>
    member val ActorOnObs = MlpWorkspace(networks.Actor, b)
    /// <summary>Actor activations for the next observations s' (target computation, forward only).</summary>
    member val ActorOnNext = MlpWorkspace(networks.Actor, b)
    /// <summary>Critic 1 activations.</summary>
    member val Critic1 = MlpWorkspace(networks.Critic, b)
    /// <summary>Critic 2 activations.</summary>
    member val Critic2 = MlpWorkspace(networks.Critic, b)
    /// <summary>Value network activations (v1).</summary>
    member val ValueOnObs = MlpWorkspace(networks.Value, b)
    /// <summary>Target value network activations (v1).</summary>
    member val ValueOnNext = MlpWorkspace(networks.Value, b)
    /// <summary>Policy sample at s: a = tanh(u), log pi, and what its backward pass needs.</summary>
    member val PolicyOnObs = TanhGaussianWorkspace(b, a)
    /// <summary>Policy sample at s'.</summary>
    member val PolicyOnNext = TanhGaussianWorkspace(b, a)
    /// <summary>Standard normal noise for the sample at s.</summary>
    member val NoiseObs = floats (b * a)
    /// <summary>Standard normal noise for the sample at s'.</summary>
    member val NoiseNext = floats (b * a)
    /// <summary>Means split from the actor output.</summary>
    member val Mean = floats (b * a)
    /// <summary>Raw log-stds split from the actor output.</summary>
    member val RawLogStd = floats (b * a)
    /// <summary>Critic input rows [s, a].</summary>
    member val CriticInput = floats (b * (o + a))
    /// <summary>dL/d[s, a] through critic 1.</summary>
    member val CriticInputGrad1 = floats (b * (o + a))
    /// <summary>dL/d[s, a] through critic 2.</summary>
    member val CriticInputGrad2 = floats (b * (o + a))
    /// <summary>dL/da, summed over both critics.</summary>
    member val ActionGrad = floats (b * a)
    /// <summary>dL/dmean of the actor loss, one row of |A| per batch row.</summary>
    member val MeanGrad = floats (b * a)
    /// <summary>dL/draw log-std.</summary>
    member val RawLogStdGrad = floats (b * a)
    /// <summary>dL/d(actor output), mean and log-std side by side as the network emits them.</summary>
    member val ActorOutputGrad = floats (b * 2 * a)
    /// <summary>Soft Q targets y.</summary>
    member val Targets = floats b
    /// <summary>Critic 1 values.</summary>
    member val Q1 = floats b
    /// <summary>Critic 2 values.</summary>
    member val Q2 = floats b
    /// <summary>dL/dQ1 of the critic loss, one per batch row.</summary>
    member val Q1Grad = floats b
    /// <summary>dL/dQ2 of the critic loss, one per batch row.</summary>
    member val Q2Grad = floats b
    /// <summary>dL/dlog pi(a|s) of the actor loss, one per batch row.</summary>
    member val LogPiGrad = floats b
    /// <summary>Value targets or bootstrap values (v1).</summary>
    member val Values = floats b
    /// <summary>dL/dV of the value loss, one per batch row (v1).</summary>
    member val ValueGrad = floats b
    /// <summary>Actor parameter gradient.</summary>
    member val ActorParameterGrad = floats networks.Actor.ParameterCount
    /// <summary>Twin-critic parameter gradient.</summary>
    member val CriticParameterGrad = floats (2 * networks.CriticParameters)
    /// <summary>Value parameter gradient (v1).</summary>
    member val ValueParameterGrad = floats networks.Value.ParameterCount
    /// <summary>log alpha as a one-element parameter vector for Adam.</summary>
    member val LogAlpha = floats 1
    /// <summary>d(temperature loss)/dlog alpha.</summary>
    member val LogAlphaGrad = floats 1
