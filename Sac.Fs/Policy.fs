namespace Sac.Fs

open System
open Sac.Core.Networks
open Sac.Core.Random

/// <summary>How a policy picks an action.</summary>
[<Struct>]
type ActionMode =
    /// <summary>The mean action tanh(mu): SAC's evaluation policy.</summary>
    | Deterministic
    /// <summary>A draw a = tanh(mu + sigma eps) with eps from element <c>index</c> of the key's normal stream (times |A|).</summary>
    | Stochastic of key: PhiloxKey * index: uint64

/// <summary>Buffers for acting one observation at a time, separate from the update's so acting never disturbs it.</summary>
[<Sealed>]
type PolicyWorkspace(networks: SacNetworks) =
    let a = networks.ActionSize
    /// <summary>Actor activations for one row.</summary>
    member val Net = MlpWorkspace(networks.Actor, 1)
    /// <summary>The tanh-Gaussian head for one row.</summary>
    member val Head = TanhGaussianWorkspace(1, a)
    /// <summary>The actor's Gaussian mean for the row, before tanh (length |A|).</summary>
    member val Mean = Array.zeroCreate<float32> a
    /// <summary>The actor's raw log-std output for the row, before the <see cref="T:Sac.Fs.LogStdRange"/> bound (length |A|).</summary>
    member val RawLogStd = Array.zeroCreate<float32> a
    /// <summary>The standard-normal draws eps of the reparameterised sample (length |A|).</summary>
    member val Noise = Array.zeroCreate<float32> a

/// <summary>Acting with a SAC actor: actions in [-1, 1]^|A| (environments are wrapped in RescaleAction).</summary>
[<RequireQualifiedAccess>]
module Policy =

    /// <summary>Writes the action for one observation into <paramref name="action"/>. Allocates nothing.</summary>
    [<CompiledName("Act")>]
    let act (ctx: SacContext) (ws: PolicyWorkspace) (actor: float32[]) (mode: ActionMode) (observation: ReadOnlySpan<float32>) (action: Span<float32>) =
        let a = ctx.Networks.ActionSize
        if observation.Length <> ctx.Networks.ObservationSize then
            invalidArg (nameof observation) $"The observation has {observation.Length} values; the actor takes {ctx.Networks.ObservationSize}."
        if action.Length <> a then invalidArg (nameof action) $"The action span has {action.Length} values; the actor emits {a}."
        let out = Mlp.Forward(ctx.Gemm, ctx.Networks.Actor, ReadOnlySpan actor, observation, 1, ws.Net)
        match mode with
        | Deterministic ->
            // SAC evaluation: the mean action tanh(mu).
            for j in 0 .. a - 1 do
                action.[j] <- MathF.Tanh out.[j]
        | Stochastic (key, index) ->
            out.Slice(0, a).CopyTo(Span ws.Mean)
            out.Slice(a, a).CopyTo(Span ws.RawLogStd)
            Philox.FillNormal(key, index * uint64 a, Span ws.Noise)
            TanhGaussian.sampleForward ctx.LogStd (1, a) (ReadOnlySpan ws.Mean, ReadOnlySpan ws.RawLogStd, ReadOnlySpan ws.Noise, ws.Head)
            ws.Head.Action.CopyTo(action)
