namespace Sac.Fs

open System
open System.Collections.Generic
open System.Globalization
open System.IO
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open Sac.Core.Config
open Sac.Core.Data
open Sac.Core.Environments
open Sac.Core.Networks
open Sac.Fs.Export
open Sac.Fs.Export.OnnxIr

/// <summary>
/// Writes a trained policy as an ONNX model (IR version 7, opset 13, standard operators only: Gemm, Relu, Tanh, Clip,
/// Exp, Abs, Softplus, Mul, Add, Sub, Div, Concat, ReduceSum, ArgMax, Softmax), so ONNX Runtime, Unity Sentis, TensorRT
/// or any other ONNX consumer can act with it without this library.
/// </summary>
/// <remarks>
/// Every model takes <c>observation</c>, float32 <c>[batch, |S|]</c>, with a dynamic batch dimension named
/// <c>batch</c>, and documents its inputs, outputs and action bounds in <c>metadata_props</c>.
/// <list type="bullet">
/// <item>SAC, deterministic: output <c>action</c> <c>[batch, |A|]</c> = the environment's rescaling of <c>tanh(mu)</c>,
/// what <c>Predict(obs, true)</c> returns.</item>
/// <item>SAC, stochastic: a second input <c>noise</c> <c>[batch, |A|]</c> of standard-normal draws; outputs
/// <c>action</c> (the rescaled <c>tanh(mu + sigma * noise)</c>) and <c>log_prob</c> <c>[batch]</c>, the tanh-Gaussian
/// log-density of the action in <c>[-1, 1]^|A|</c> with the squash correction, as <c>TanhGaussian.sample</c>.</item>
/// <item>Soft Q-Learning: inputs <c>observation</c> and <c>noise</c> (xi ~ N(0, I); zeros give the deterministic
/// action); output <c>action</c>, the rescaled sampler output.</item>
/// <item>DQN family: outputs <c>q_values</c> <c>[batch, n]</c> and <c>action</c>, int64 <c>[batch]</c>, the greedy
/// index (first of ties); soft DQN adds <c>probabilities</c> <c>[batch, n]</c>, softmax(Q / temperature).</item>
/// </list>
/// A model of a run that normalises observations (the configuration's <c>Normalize</c>) takes raw observations and
/// normalises them first with the run's statistics, frozen: <c>clip((observation - obs_mean) / obs_std, -c, c)</c>,
/// with <c>obs_std = sqrt(var + 1e-8)</c>, as <c>Predict</c> does; <c>metadata_props</c> says so.
/// </remarks>
[<AbstractClass; Sealed; Extension>]
type OnnxExport =

    static member private Number(v: float32) = v.ToString("R", CultureInfo.InvariantCulture)

    static member private Vector(vs: float32[]) = "[" + String.Join(",", vs |> Array.map OnnxExport.Number) + "]"

    static member private Version =
        match typeof<OnnxExport>.Assembly.GetName().Version with
        | null -> "0"
        | v -> v.ToString 3

    static member private CheckBounds(actions: int, low: float32[], high: float32[]) =
        if isNull (box low) || low.Length <> actions then invalidArg (nameof low) $"low must have {actions} values (the action size)."
        if isNull (box high) || high.Length <> actions then invalidArg (nameof high) $"high must have {actions} values (the action size)."
        for i in 0 .. actions - 1 do
            if not (Single.IsFinite low.[i] && Single.IsFinite high.[i] && low.[i] <= high.[i]) then
                invalidArg (nameof low) $"Action bound {i} is [{low.[i]}, {high.[i]}]; it must be finite with low <= high."

    static member private CheckParameters(spec: MlpSpec, parameters: float32[]) =
        if isNull (box spec) then nullArg (nameof spec)
        if isNull (box parameters) || parameters.Length <> spec.ParameterCount then
            invalidArg (nameof parameters) $"The network has {spec.ParameterCount} parameters; got {(if isNull (box parameters) then 0 else parameters.Length)}."

    // a in [-1, 1] to the native bounds: a * (high - low) / 2 + (high + low) / 2, RescaleAction's map (its clip to
    // [-1, 1] is a no-op after tanh). The halves are computed in double as RescaleAction does.
    static member private Rescale(g: Graph, a: string, low: float32[], high: float32[]) =
        let n = low.Length
        let scale = Array.init n (fun i -> float32 (0.5 * (float high.[i] - float low.[i])))
        let offset = Array.init n (fun i -> float32 (0.5 * (float high.[i] + float low.[i])))
        let scaled = g.Node("Mul", [ a; g.Floats("action_scale", [ n ], ReadOnlySpan scale) ])
        g.Node("Add", [ scaled; g.Floats("action_offset", [ n ], ReadOnlySpan offset) ], output = "action")

    // The tensor the network reads, and the metadata that says how: the raw observation, or its normalisation by the
    // run's statistics (frozen).
    static member private Observation(g: Graph, normalization: VecNormalize | null) : string * (string * string) list =
        match normalization with
        | null -> "observation", []
        | n when not n.Settings.Observations -> "observation", []
        | n ->
            let o = n.ObservationSize
            let mean = Array.init o (fun j -> float32 n.ObservationStatistics.Mean.[j])
            let std = Array.init o (fun j -> float32 (Math.Sqrt(n.ObservationStatistics.Variance.[j] + NormalizeSettings.Epsilon)))
            let centred = g.Node("Sub", [ "observation"; g.Floats("obs_mean", [ o ], ReadOnlySpan mean) ])
            let scaled = g.Node("Div", [ centred; g.Floats("obs_std", [ o ], ReadOnlySpan std) ])
            let c = n.Settings.ClipObservations
            let clip = OnnxExport.Number c
            g.Node("Clip", [ scaled; g.Scalar("obs_clip_min", -c); g.Scalar("obs_clip_max", c) ]),
            [ "observation_normalization", $"clip((observation - obs_mean) / obs_std, -{clip}, {clip})" ]

    // The sizes and native action bounds every continuous-action model's metadata states.
    static member private Bounds(o: int, a: int, low: float32[], high: float32[]) =
        [ "observation_size", string o
          "action_size", string a
          "action_low", OnnxExport.Vector low
          "action_high", OnnxExport.Vector high ]

    static member private Metadata(baseEntries: (string * string) list, extra: seq<KeyValuePair<string, string>> | null) =
        let given = match extra with null -> [] | e -> [ for kv in e -> kv.Key, kv.Value ]
        let keys = HashSet<string>(given |> List.map fst)
        (baseEntries |> List.filter (fun (k, _) -> not (keys.Contains k))) @ given

    /// <summary>The ONNX model of a SAC actor (v2 or v1: the same policy network).</summary>
    /// <param name="actor">The actor's shape: observation -> hidden... -> 2|A| (mean, then raw log-std).</param>
    /// <param name="parameters">The actor's flat parameters.</param>
    /// <param name="logStd">How the raw log-std becomes log sigma (used by the stochastic model only).</param>
    /// <param name="low">The environment's lower action bounds, |A| finite values.</param>
    /// <param name="high">The environment's upper action bounds, |A| finite values.</param>
    /// <param name="stochastic">False: input <c>observation</c>, output <c>action</c>; true: also input <c>noise</c> and
    /// output <c>log_prob</c>.</param>
    /// <param name="metadata">Entries for <c>metadata_props</c> besides (or replacing) the ones written here; may be null.</param>
    /// <param name="normalization">A normalising run's statistics, baked in frozen; null for none.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member SacPolicy(actor: MlpSpec, parameters: float32[], logStd: LogStdRange, low: float32[], high: float32[],
                            stochastic: bool, metadata: seq<KeyValuePair<string, string>> | null,
                            normalization: VecNormalize | null) : byte[] =
        OnnxExport.CheckParameters(actor, parameters)
        if actor.OutputSize % 2 <> 0 then invalidArg (nameof actor) $"A SAC actor emits 2|A| values; this one emits {actor.OutputSize}."
        let a, o = actor.OutputSize / 2, actor.InputSize
        OnnxExport.CheckBounds(a, low, high)
        let g = Graph("sac_policy")
        let batch = Named "batch"
        g.Input("observation", Float, [ batch; Fixed o ])
        if stochastic then g.Input("noise", Float, [ batch; Fixed a ])
        let last = actor.LayerCount - 1
        let input, normalizing = OnnxExport.Observation(g, normalization)
        let h = hidden g "actor" actor parameters input
        // The output layer split in two Gemms (mean rows, then raw log-std rows) instead of one Gemm and two Slices.
        let mu = affine g "actor.mu" actor parameters last 0 a h
        let boundText =
            match logStd with
            | LogStdRange.Clamp (lo, hi) -> $"clamp({OnnxExport.Number lo}, {OnnxExport.Number hi})"
            | LogStdRange.TanhRescale (lo, hi) -> $"tanh_rescale({OnnxExport.Number lo}, {OnnxExport.Number hi})"
        if not stochastic then
            OnnxExport.Rescale(g, g.Node("Tanh", [ mu ]), low, high) |> ignore
        else
            let raw = affine g "actor.log_std" actor parameters last a a h
            let ls =
                match logStd with
                | LogStdRange.Clamp (lo, hi) ->
                    if not (lo <= hi) then invalidArg (nameof logStd) $"Clamp needs min <= max, got ({lo}, {hi})."
                    g.Node("Clip", [ raw; g.Scalar("log_std_min", lo); g.Scalar("log_std_max", hi) ])
                | LogStdRange.TanhRescale (lo, hi) ->
                    if not (lo < hi) then invalidArg (nameof logStd) $"TanhRescale needs min < max, got ({lo}, {hi})."
                    // lo + 0.5 (hi - lo) (tanh(raw) + 1), in TanhGaussian's order of operations.
                    let t = g.Node("Add", [ g.Node("Tanh", [ raw ]); g.Scalar("one", 1.0f) ])
                    g.Node("Add", [ g.Node("Mul", [ t; g.Scalar("log_std_half_range", 0.5f * (hi - lo)) ]); g.Scalar("log_std_min", lo) ])
            let sigma = g.Node("Exp", [ ls ])
            let u = g.Node("Add", [ mu; g.Node("Mul", [ sigma; "noise" ]) ])
            OnnxExport.Rescale(g, g.Node("Tanh", [ u ]), low, high) |> ignore
            // Per dimension: -eps^2/2 - log sigma - log(2 pi)/2 - log(1 - tanh(u)^2), the last written as
            // 2 (log 2 - |u| - softplus(-2|u|)), the stable form TanhGaussian.squashCorrection uses.
            let au = g.Node("Abs", [ u ])
            let sp = g.Node("Softplus", [ g.Node("Mul", [ au; g.Scalar("minus_two", -2.0f) ]) ])
            let squash = g.Node("Mul", [ g.Node("Sub", [ g.Node("Sub", [ g.Scalar("ln2", 0.693147180559945309f); au ]); sp ]); g.Scalar("two", 2.0f) ])
            let gauss = g.Node("Mul", [ g.Node("Mul", [ "noise"; g.Scalar("minus_half", -0.5f) ]); "noise" ])
            let perDim =
                g.Node("Sub", [ g.Node("Sub", [ g.Node("Sub", [ gauss; ls ]); g.Scalar("half_log_2pi", 0.918938533204672742f) ]); squash ])
            g.Node("ReduceSum", [ perDim; g.Int64s("axes", [ 1 ], [ 1L ]) ], [ Int("keepdims", 0L) ], output = "log_prob") |> ignore
        g.Output("action", Float, [ batch; Fixed a ])
        if stochastic then g.Output("log_prob", Float, [ batch ])
        let inputs =
            if stochastic then $"observation: float32[batch, {o}]; noise: float32[batch, {a}], standard normal draws"
            else $"observation: float32[batch, {o}]"
        let outputs =
            if stochastic then
                $"action: float32[batch, {a}], the rescaled tanh(mu + sigma * noise) in [action_low, action_high]; "
                + "log_prob: float32[batch], log pi of the action in [-1, 1]^|A| (tanh-Gaussian with the squash correction)"
            else $"action: float32[batch, {a}], the rescaled tanh(mu) in [action_low, action_high]"
        let entries =
            [ "policy", (if stochastic then "sac_stochastic" else "sac_deterministic")
              "inputs", inputs
              "outputs", outputs ]
            @ OnnxExport.Bounds(o, a, low, high)
            @ [ "log_std_bound", boundText ]
            @ normalizing
        let doc = "SAC policy exported by Sac.Functional. " + inputs + " -> " + outputs + "."
        model g OnnxExport.Version doc (OnnxExport.Metadata(entries, metadata))

    /// <summary>
    /// The ONNX model of a gSDE SAC actor's deterministic policy (Raffin et al. 2021; SB3's <c>clip_mean</c> 2): input
    /// <c>observation</c>, output <c>action</c>, the rescaled tanh(clip(mu, -2, 2)). The log-std matrix is not used.
    /// </summary>
    /// <param name="actor">The actor MLP's shape: observation -> hidden... -> |A| (the mean).</param>
    /// <param name="parameters">The actor's flat parameters: the MLP's first, then the log-std matrix (ignored).</param>
    /// <param name="low">The environment's lower action bounds, |A| finite values.</param>
    /// <param name="high">The environment's upper action bounds, |A| finite values.</param>
    /// <param name="metadata">Entries for <c>metadata_props</c> besides (or replacing) the ones written here; may be null.</param>
    /// <param name="normalization">A normalising run's statistics, baked in frozen; null for none.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member SacGsdePolicy(actor: MlpSpec, parameters: float32[], low: float32[], high: float32[],
                                metadata: seq<KeyValuePair<string, string>> | null,
                                normalization: VecNormalize | null) : byte[] =
        ArgumentNullException.ThrowIfNull actor
        ArgumentNullException.ThrowIfNull parameters
        if parameters.Length < actor.ParameterCount then
            invalidArg (nameof parameters) $"The gSDE actor has {parameters.Length} parameters, fewer than its MLP's {actor.ParameterCount}."
        let mlp = Array.sub parameters 0 actor.ParameterCount
        let a, o = actor.OutputSize, actor.InputSize
        OnnxExport.CheckBounds(a, low, high)
        let g = Graph("sac_policy")
        g.Input("observation", Float, [ Named "batch"; Fixed o ])
        let input, normalizing = OnnxExport.Observation(g, normalization)
        let h = hidden g "actor" actor mlp input
        let mu = affine g "actor.mu" actor mlp (actor.LayerCount - 1) 0 a h
        let clipped = g.Node("Clip", [ mu; g.Scalar("clip_mean_min", -Gsde.ClipMean); g.Scalar("clip_mean_max", Gsde.ClipMean) ])
        OnnxExport.Rescale(g, g.Node("Tanh", [ clipped ]), low, high) |> ignore
        g.Output("action", Float, [ Named "batch"; Fixed a ])
        let outputs = $"action: float32[batch, {a}], the rescaled tanh(clip(mu, -2, 2)) in [action_low, action_high]"
        let entries =
            [ "policy", "sac_gsde_deterministic"
              "inputs", $"observation: float32[batch, {o}]"
              "outputs", outputs ]
            @ OnnxExport.Bounds(o, a, low, high)
            @ normalizing
        let doc = $"SAC policy with gSDE exported by Sac.Functional. observation: float32[batch, {o}] -> " + outputs + "."
        model g OnnxExport.Version doc (OnnxExport.Metadata(entries, metadata))

    /// <summary>The ONNX model of a Soft Q-Learning sampler <c>a = f(xi; s)</c>: inputs <c>observation</c> and
    /// <c>noise</c> (xi; zeros give the deterministic action), output <c>action</c> rescaled to the bounds.</summary>
    /// <param name="sampler">The sampler's shape: [observation, xi] -> hidden... -> |A|.</param>
    /// <param name="parameters">The sampler's flat parameters.</param>
    /// <param name="low">The environment's lower action bounds.</param>
    /// <param name="high">The environment's upper action bounds.</param>
    /// <param name="metadata">Extra <c>metadata_props</c> entries; may be null.</param>
    /// <param name="normalization">A normalising run's statistics, baked in frozen; null for none.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member SqlSampler(sampler: MlpSpec, parameters: float32[], low: float32[], high: float32[],
                             metadata: seq<KeyValuePair<string, string>> | null,
                             normalization: VecNormalize | null) : byte[] =
        OnnxExport.CheckParameters(sampler, parameters)
        let a = sampler.OutputSize
        let o = sampler.InputSize - a
        if o < 1 then invalidArg (nameof sampler) $"A sampler takes [observation, xi]; its input has {sampler.InputSize} values for {a} actions."
        OnnxExport.CheckBounds(a, low, high)
        let g = Graph("sql_sampler")
        let batch = Named "batch"
        g.Input("observation", Float, [ batch; Fixed o ])
        g.Input("noise", Float, [ batch; Fixed a ])
        let input, normalizing = OnnxExport.Observation(g, normalization)
        let x = g.Node("Concat", [ input; "noise" ], [ Int("axis", 1L) ])
        let y = mlp g "sampler" sampler parameters x
        // The sampler ends in tanh, so its output is already in [-1, 1] as RescaleAction expects.
        OnnxExport.Rescale(g, y, low, high) |> ignore
        g.Output("action", Float, [ batch; Fixed a ])
        let inputs = $"observation: float32[batch, {o}]; noise: float32[batch, {a}], xi ~ N(0, I) (zeros: the deterministic action)"
        let outputs = $"action: float32[batch, {a}], the rescaled sampler output in [action_low, action_high]"
        let entries =
            [ "policy", "sql_sampler"
              "inputs", inputs
              "outputs", outputs ]
            @ OnnxExport.Bounds(o, a, low, high)
            @ normalizing
        model g OnnxExport.Version ("Soft Q-Learning sampler exported by Sac.Functional. " + inputs + " -> " + outputs + ".")
            (OnnxExport.Metadata(entries, metadata))

    /// <summary>The ONNX model of a DQN-family Q-network: outputs <c>q_values</c> and the greedy <c>action</c>
    /// (int64, the first index of the largest Q); with a temperature, also <c>probabilities</c> = softmax(Q / T).</summary>
    /// <param name="network">The Q-network's shape: observation -> hidden... -> n actions.</param>
    /// <param name="parameters">The Q-network's flat parameters.</param>
    /// <param name="temperature">Soft DQN's Boltzmann temperature, or 0 (or less) for no <c>probabilities</c> output.</param>
    /// <param name="metadata">Extra <c>metadata_props</c> entries; may be null.</param>
    /// <param name="normalization">A normalising run's statistics, baked in frozen; null for none.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member QNetwork(network: MlpSpec, parameters: float32[], temperature: float32,
                           metadata: seq<KeyValuePair<string, string>> | null,
                           normalization: VecNormalize | null) : byte[] =
        OnnxExport.CheckParameters(network, parameters)
        let o, n = network.InputSize, network.OutputSize
        let soft = temperature > 0.0f
        if soft && not (Single.IsFinite temperature) then invalidArg (nameof temperature) $"The temperature must be finite, got {temperature}."
        let g = Graph("q_network")
        let batch = Named "batch"
        g.Input("observation", Float, [ batch; Fixed o ])
        let input, normalizing = OnnxExport.Observation(g, normalization)
        let q = mlp g "q" network parameters input
        g.Node("Identity", [ q ], output = "q_values") |> ignore
        g.Node("ArgMax", [ q ], [ Int("axis", 1L); Int("keepdims", 0L) ], output = "action") |> ignore
        if soft then
            let scaled = g.Node("Div", [ q; g.Scalar("temperature", temperature) ])
            g.Node("Softmax", [ scaled ], [ Int("axis", 1L) ], output = "probabilities") |> ignore
        g.Output("q_values", Float, [ batch; Fixed n ])
        g.Output("action", Int64, [ batch ])
        if soft then g.Output("probabilities", Float, [ batch; Fixed n ])
        let outputs =
            $"q_values: float32[batch, {n}]; action: int64[batch], the greedy action index"
            + (if soft then $"; probabilities: float32[batch, {n}], softmax(q_values / {OnnxExport.Number temperature})" else "")
        let entries =
            [ "policy", (if soft then "soft_dqn" else "dqn")
              "inputs", $"observation: float32[batch, {o}]"
              "outputs", outputs
              "observation_size", string o
              "action_count", string n ]
            @ (if soft then [ "temperature", OnnxExport.Number temperature ] else [])
            @ normalizing
        model g OnnxExport.Version ($"Q-network exported by Sac.Functional. observation: float32[batch, {o}] -> " + outputs + ".")
            (OnnxExport.Metadata(entries, metadata))

    static member private NativeBounds(environment: IEnvironment) =
        match environment with
        | :? RescaleAction as r -> r.Inner.ActionSpace.Low, r.Inner.ActionSpace.High
        | e -> e.ActionSpace.Low, e.ActionSpace.High

    static member private AgentEntries(algorithm: string, environmentId: string, steps: int64) =
        [ KeyValuePair("algorithm", algorithm)
          KeyValuePair("environment_id", environmentId)
          KeyValuePair("training_steps", string steps) ]

    /// <summary>The ONNX model of a SAC agent's policy, in its environment's action bounds.</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="stochastic">True: the model with the <c>noise</c> input and the <c>log_prob</c> output.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member SacModel(agent: SacAgent, stochastic: bool) : byte[] =
        let trainer = agent.Trainer :?> Trainer
        let low, high = OnnxExport.NativeBounds trainer.Environment
        let meta = OnnxExport.AgentEntries((if agent.Config.Variant = SacVariant.V1 then "sac-v1" else "sac"), agent.EnvironmentId, agent.Steps)
        let networks = trainer.Context.Networks
        if networks.Gsde then
            // gSDE's noise is a matrix drawn per collection phase, not per-row normals: only the mean policy is exported.
            if stochastic then invalidArg (nameof stochastic) "The actor explores with gSDE; only its deterministic policy can be exported (drop --stochastic)."
            OnnxExport.SacGsdePolicy(networks.Actor, agent.State.Learner.Actor, low, high, meta, trainer.Normalization)
        else OnnxExport.SacPolicy(networks.Actor, agent.State.Learner.Actor, trainer.Context.LogStd, low, high, stochastic, meta, trainer.Normalization)

    /// <summary>The ONNX model of a Soft Q-Learning agent's sampler, in its environment's action bounds.</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member SqlModel(agent: SqlAgent) : byte[] =
        let trainer = agent.Trainer :?> SqlTrainer
        let low, high = OnnxExport.NativeBounds trainer.Environment
        OnnxExport.SqlSampler(trainer.Context.Networks.Sampler, agent.State.Learner.Sampler, low, high,
                              OnnxExport.AgentEntries("sql", agent.EnvironmentId, agent.Steps), trainer.Normalization)

    /// <summary>The ONNX model of a DQN-family agent's Q-network (with Boltzmann probabilities for soft DQN).</summary>
    /// <param name="agent">The agent.</param>
    /// <returns>The serialised ModelProto.</returns>
    static member DqnModel(agent: DqnAgent) : byte[] =
        let trainer = agent.Trainer :?> DqnTrainer
        let config = agent.Config
        let temperature = if config.Variant = DqnVariant.SoftDqn then config.Temperature else 0.0f
        OnnxExport.QNetwork(trainer.Context.Spec, agent.State.Learner.QNetwork, temperature,
                            OnnxExport.AgentEntries((agent :> IAgent).Algorithm, agent.EnvironmentId, agent.Steps), trainer.Normalization)

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> through a temporary file beside it, so a
    /// reader never sees half a model.</summary>
    /// <param name="model">The serialised model.</param>
    /// <param name="path">The .onnx file.</param>
    /// <exception cref="T:System.IO.IOException">The file or its folder cannot be written.</exception>
    /// <exception cref="T:System.UnauthorizedAccessException">The file or its folder may not be written.</exception>
    static member Write(model: byte[], path: string) =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "The output path is empty."
        let full = Path.GetFullPath path
        let temp = full + $".{Environment.ProcessId}.tmp"
        try
            File.WriteAllBytes(temp, model)
            File.Move(temp, full, true)
        finally
            if File.Exists temp then File.Delete temp

    /// <summary>Writes the agent's policy as an ONNX model (see <see cref="T:Sac.Fs.OnnxExport"/>).</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="stochastic">True: the model with the <c>noise</c> input and the <c>log_prob</c> output.</param>
    [<Extension>]
    static member ExportOnnx(agent: SacAgent, path: string, stochastic: bool) = OnnxExport.Write(OnnxExport.SacModel(agent, stochastic), path)

    /// <summary>Writes the agent's deterministic policy as an ONNX model (input <c>observation</c>, output <c>action</c>).</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="path">The .onnx file to write.</param>
    [<Extension>]
    static member ExportOnnx(agent: SacAgent, path: string) = OnnxExport.ExportOnnx(agent, path, false)

    /// <summary>Writes the agent's sampler as an ONNX model (inputs <c>observation</c> and <c>noise</c>).</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="path">The .onnx file to write.</param>
    [<Extension>]
    static member ExportOnnx(agent: SqlAgent, path: string) = OnnxExport.Write(OnnxExport.SqlModel agent, path)

    /// <summary>Writes the agent's Q-network as an ONNX model (outputs <c>q_values</c>, <c>action</c> and, for soft
    /// DQN, <c>probabilities</c>).</summary>
    /// <param name="agent">The agent.</param>
    /// <param name="path">The .onnx file to write.</param>
    [<Extension>]
    static member ExportOnnx(agent: DqnAgent, path: string) = OnnxExport.Write(OnnxExport.DqnModel agent, path)

    /// <summary>Writes any agent's policy as an ONNX model; <paramref name="stochastic"/> selects SAC's stochastic
    /// model and is ignored by the other algorithms (a Soft Q-Learning model always takes noise; a DQN-family model
    /// never does).</summary>
    /// <param name="agent">An agent, e.g. from <see cref="M:Sac.Fs.Agents.Load(System.String)"/>.</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="stochastic">For SAC: the model with the <c>noise</c> input and the <c>log_prob</c> output.</param>
    /// <returns>The model's size in bytes.</returns>
    /// <exception cref="T:System.ArgumentException">The agent is of a kind this export does not know.</exception>
    static member Save(agent: IAgent, path: string, stochastic: bool) : int =
        let model =
            match agent with
            | :? SacAgent as a -> OnnxExport.SacModel(a, stochastic)
            | :? SqlAgent as a -> OnnxExport.SqlModel a
            | :? DqnAgent as a -> OnnxExport.DqnModel a
            | a -> invalidArg (nameof agent) $"No ONNX export for a '{a.Algorithm}' agent of type {a.GetType().Name}."
        OnnxExport.Write(model, path)
        model.Length
