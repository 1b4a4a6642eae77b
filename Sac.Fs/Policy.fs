namespace Sac.Fs

open System
open Sac.Core.Networks
open Sac.Core.Random

/// <summary>How a policy picks an action.</summary>
[<Struct>]
type ActionMode =
    /// <summary>The mean action tanh(mu) (with gSDE tanh(clip(mu))): SAC's evaluation policy.</summary>
    | Deterministic
    /// <summary>A draw a = tanh(mu + sigma eps) with eps from element <c>index</c> of the key's normal stream (times |A|).
    /// With gSDE, a = tanh(clip(mu) + phi(s) E): <c>index</c> names the exploration matrix, whose eps are the key's
    /// normals from element <c>index</c> times latent x |A|, so the same index gives the same E.</summary>
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
    /// <summary>gSDE: the exploration matrix's standard normals eps (latent x |A|; empty without gSDE).</summary>
    member val GsdeEps = Array.zeroCreate<float32> (if networks.Gsde then networks.LatentSize * a else 0)
    /// <summary>gSDE: std of the log-std matrix (latent x |A|; empty without gSDE).</summary>
    member val GsdeStd = Array.zeroCreate<float32> (if networks.Gsde then networks.LatentSize * a else 0)
    /// <summary>gSDE: the exploration matrix E (latent x |A|; empty without gSDE).</summary>
    member val GsdeExploration = Array.zeroCreate<float32> (if networks.Gsde then networks.LatentSize * a else 0)
    /// <summary>gSDE: the noise phi(s) E and the variance of the row (length |A| each).</summary>
    member val GsdeScratch = Array.zeroCreate<float32> (2 * a)
    /// <summary>gSDE: log pi of the row.</summary>
    member val GsdeLogPi = Array.zeroCreate<float32> 1

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
        let n = ctx.Networks
        let mlp = n.Actor.ParameterCount
        if actor.Length <> n.ActorParameters then
            invalidArg (nameof actor) $"The actor has {actor.Length} parameters; the networks need {n.ActorParameters}."
        let out = Mlp.Forward(ctx.Gemm, n.Actor, ReadOnlySpan(actor, 0, mlp), observation, 1, ws.Net)
        if n.Gsde then
            match mode with
            | Deterministic ->
                for j in 0 .. a - 1 do
                    action.[j] <- MathF.Tanh(Gsde.clipMean out.[j])
            | Stochastic (key, index) ->
                // gSDE (Raffin et al. 2021): E from the log-std as it is now; the trainer only changes it between
                // collection phases, where SB3 draws E again anyway.
                let la = n.LatentSize * a
                Philox.FillNormal(key, index * uint64 la, Span ws.GsdeEps)
                Gsde.exploration ctx.Config.FullStd ctx.Config.UseExpln n.LatentSize a (ReadOnlySpan(actor, mlp, n.LogStdParameters))
                    (ReadOnlySpan ws.GsdeEps) (Span ws.GsdeStd) (Span ws.GsdeExploration)
                Gsde.forwardRows 1 n.LatentSize a (ws.Net.LayerOutput(n.Actor.LayerCount - 2)) out (ReadOnlySpan ws.GsdeStd)
                    (ReadOnlySpan ws.GsdeExploration) action (Span(ws.GsdeScratch, 0, a)) (Span(ws.GsdeScratch, a, a)) (Span ws.GsdeLogPi)
        else
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
