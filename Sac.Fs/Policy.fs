namespace Sac.Fs

open System
open Sac.Core.Compute
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

/// <summary>Buffers for acting on up to <c>rows</c> observations at once (one, for a single environment), separate
/// from the update's so acting never disturbs it.</summary>
[<Sealed>]
type PolicyWorkspace(networks: SacNetworks, rows: int) =
    do if rows < 1 then invalidArg (nameof rows) $"rows must be at least 1, got {rows}."
    let a = networks.ActionSize
    let mutable rowsInner: IGemm | null = null
    let mutable rowGemm: IGemm | null = null
    /// <summary>Buffers for one observation at a time.</summary>
    /// <param name="networks">The actor's shapes.</param>
    new(networks: SacNetworks) = PolicyWorkspace(networks, 1)
    /// <summary>The most observations one call acts on.</summary>
    member _.Rows = rows
    /// <summary>Actor activations for the rows.</summary>
    member val Net = MlpWorkspace(networks.Actor, rows)
    /// <summary>The tanh-Gaussian head for the rows.</summary>
    member val Head = TanhGaussianWorkspace(rows, a)
    /// <summary>The actor's Gaussian means, before tanh (<c>rows x |A|</c>; the first |A| for one row).</summary>
    member val Mean = Array.zeroCreate<float32> (rows * a)
    /// <summary>The actor's raw log-std outputs, before the <see cref="T:Sac.Fs.LogStdRange"/> bound (<c>rows x |A|</c>).</summary>
    member val RawLogStd = Array.zeroCreate<float32> (rows * a)
    /// <summary>The standard-normal draws eps of the reparameterised samples (<c>rows x |A|</c>).</summary>
    member val Noise = Array.zeroCreate<float32> (rows * a)
    /// <summary><paramref name="gemm"/> row by row (a <see cref="T:Sac.Fs.RowGemm"/>, made once per provider).</summary>
    /// <param name="gemm">The provider.</param>
    member _.RowsOf(gemm: IGemm) : IGemm =
        if not (obj.ReferenceEquals(rowsInner, gemm)) then
            rowsInner <- gemm
            rowGemm <- RowGemm(gemm)
        nonNull rowGemm
    /// <summary>gSDE: the exploration matrix's standard normals eps (latent x |A|, for one row; empty without gSDE).</summary>
    member val GsdeEps = Array.zeroCreate<float32> (if networks.Gsde then networks.LatentSize * a else 0)
    /// <summary>gSDE: std of the log-std matrix (latent x |A|, for one row; empty without gSDE).</summary>
    member val GsdeStd = Array.zeroCreate<float32> (if networks.Gsde then networks.LatentSize * a else 0)
    /// <summary>gSDE: the exploration matrix E (latent x |A|, for one row; empty without gSDE).</summary>
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
                Philox.FillNormal(key, index * uint64 a, Span(ws.Noise, 0, a))
                TanhGaussian.sampleForward ctx.LogStd (1, a) (ReadOnlySpan(ws.Mean, 0, a), ReadOnlySpan(ws.RawLogStd, 0, a), ReadOnlySpan(ws.Noise, 0, a), ws.Head)
                ws.Head.Action.Slice(0, a).CopyTo(action)

    /// <summary>
    /// Writes the actions for <paramref name="rows"/> observations (<c>rows x |O|</c>, row-major) into
    /// <paramref name="actions"/> (<c>rows x |A|</c>) with one forward pass of the actor: row r acts as
    /// <see cref="act"/> would with <paramref name="mode"/>, a stochastic mode's noise index advanced by r (so row r
    /// of <c>Stochastic(key, i)</c> is <c>act</c>'s <c>Stochastic(key, i + r)</c>), bitwise: the layers' products run
    /// row by row (<see cref="T:Sac.Fs.RowGemm"/>), everything else over the batch. Allocates nothing.
    /// </summary>
    [<CompiledName("ActRows")>]
    let actRows (ctx: SacContext) (ws: PolicyWorkspace) (actor: float32[]) (mode: ActionMode) (rows: int)
                (observations: ReadOnlySpan<float32>) (actions: Span<float32>) =
        let o, a = ctx.Networks.ObservationSize, ctx.Networks.ActionSize
        if rows < 1 || rows > ws.Rows then invalidArg (nameof rows) $"rows must be in [1, {ws.Rows}] (the workspace's rows), got {rows}."
        if observations.Length <> rows * o then
            invalidArg (nameof observations) $"The observations have {observations.Length} values; {rows} rows of the actor's {o} take {rows * o}."
        if actions.Length <> rows * a then invalidArg (nameof actions) $"The actions span has {actions.Length} values; {rows} rows of {a} take {rows * a}."
        if ctx.Networks.Gsde then
            // gSDE: each row acts alone with its own exploration matrix (index + r), as SB3 draws one per environment.
            for r in 0 .. rows - 1 do
                let rowMode = match mode with Deterministic -> Deterministic | Stochastic (key, index) -> Stochastic(key, index + uint64 r)
                act ctx ws actor rowMode (observations.Slice(r * o, o)) (actions.Slice(r * a, a))
        else
            let out = Mlp.Forward(ws.RowsOf ctx.Gemm, ctx.Networks.Actor, ReadOnlySpan actor, observations, rows, ws.Net)
            match mode with
            | Deterministic ->
                for r in 0 .. rows - 1 do
                    for j in 0 .. a - 1 do
                        actions.[r * a + j] <- MathF.Tanh out.[r * 2 * a + j]
            | Stochastic (key, index) ->
                // Each row's head is [mu | raw log-std]; row r's noise is act's at index + r.
                for r in 0 .. rows - 1 do
                    out.Slice(r * 2 * a, a).CopyTo(Span(ws.Mean, r * a, a))
                    out.Slice(r * 2 * a + a, a).CopyTo(Span(ws.RawLogStd, r * a, a))
                    Philox.FillNormal(key, (index + uint64 r) * uint64 a, Span(ws.Noise, r * a, a))
                let n = rows * a
                TanhGaussian.sampleForward ctx.LogStd (rows, a) (ReadOnlySpan(ws.Mean, 0, n), ReadOnlySpan(ws.RawLogStd, 0, n), ReadOnlySpan(ws.Noise, 0, n), ws.Head)
                ws.Head.Action.Slice(0, n).CopyTo(actions)
