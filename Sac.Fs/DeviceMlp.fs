namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Networks
open Sac.Cuda.Backend

// One layer's backward step in its two independent halves.
module internal LayerBackward =
    // dW = dZ^T X and db = 1^T dZ, into the layer's slices of the parameter gradient.
    let parameters (lane: ISacBackend) (spec: MlpSpec) (l: int) (batch: int) (dz: DeviceSlice) (x: DeviceSlice) (pg: DeviceSlice) =
        let fi, fo = spec.FanIn l, spec.FanOut l
        lane.Gemm(Transpose.Yes, Transpose.No, fo, fi, batch, 1.0f, dz, fo, x, fi, 0.0f, pg.Slice(spec.WeightOffset l, fo * fi), fi)   // dW = dZ^T X
        lane.ColumnSums(dz, batch, fo, pg.Slice(spec.BiasOffset l, fo), false)   // db = 1^T dZ

    // dZ_{l-1} = (dZ W + added) * act'(Y_{l-1}): the gradient handed to the layer below, whose output is x; `added` is a
    // further dL/dY_{l-1} from a loss that also reads that output.
    let below (lane: ISacBackend) (spec: MlpSpec) (l: int) (batch: int) (dz: DeviceSlice) (w: DeviceSlice) (x: DeviceSlice) (dx: DeviceSlice)
              (added: DeviceSlice voption) =
        let fi, fo = spec.FanIn l, spec.FanOut l
        let beta =
            match added with
            | ValueSome g ->
                lane.Copy(g, dx)
                1.0f
            | ValueNone -> 0.0f
        lane.Gemm(Transpose.No, Transpose.No, batch, fi, fo, 1.0f, dz, fo, w, fi, beta, dx, fi)   // dY_{l-1} = dZ W (+ added)
        lane.ActivationBackward(x, dx, spec.Hidden)   // dZ_{l-1} = dY_{l-1} * act'(Y_{l-1})

// The two halves as a pair the backend may run side by side (parameters on branch 0, the layer below on branch 1);
// its fields are set before each RunPair, so one object per workspace serves every layer.
[<Sealed>]
type internal LayerGradients() =
    member val Spec = Unchecked.defaultof<MlpSpec> with get, set
    member val Layer = 0 with get, set
    member val Batch = 0 with get, set
    member val OutputGrad = Unchecked.defaultof<DeviceSlice> with get, set
    member val Input = Unchecked.defaultof<DeviceSlice> with get, set
    member val Weights = Unchecked.defaultof<DeviceSlice> with get, set
    member val ParameterGrad = Unchecked.defaultof<DeviceSlice> with get, set
    member val InputGrad = Unchecked.defaultof<DeviceSlice> with get, set
    member val Added : DeviceSlice voption = ValueNone with get, set
    interface IPairWork with
        member this.Execute(lane, branch) =
            if branch = 0 then LayerBackward.parameters lane this.Spec this.Layer this.Batch this.OutputGrad this.Input this.ParameterGrad
            else LayerBackward.below lane this.Spec this.Layer this.Batch this.OutputGrad this.Weights this.Input this.InputGrad this.Added

/// <summary>
/// Backend arrays for <c>DeviceMlp.forward</c> and <c>DeviceMlp.backward</c> on one <see cref="T:Sac.Core.Networks.MlpSpec"/>,
/// sized for batches of up to <paramref name="maxBatch"/> rows: every layer's post-activation output and two
/// ping-pong buffers for the pre-activation gradients, as <see cref="T:Sac.Core.Networks.MlpWorkspace"/> holds on the host.
/// </summary>
/// <remarks>
/// Unlike <c>MlpWorkspace</c> it does not copy the input: the forward pass remembers the input slice, which must stay
/// unchanged until the backward pass that needs it (only the first layer's weight gradient reads it).
/// </remarks>
/// <param name="backend">The backend that owns the arrays.</param>
/// <param name="spec">The network shape.</param>
/// <param name="maxBatch">Largest batch a pass may use; at least 1.</param>
[<Sealed>]
type DeviceMlpWorkspace(backend: ISacBackend, spec: MlpSpec, maxBatch: int) =
    do
        ArgumentNullException.ThrowIfNull backend
        ArgumentNullException.ThrowIfNull spec
        if maxBatch < 1 then invalidArg (nameof maxBatch) $"maxBatch must be at least 1, got {maxBatch}."
    let size width = Guard.product maxBatch width
    let outputs = Array.init spec.LayerCount (fun l -> backend.Allocate(size (spec.FanOut l)))
    let gradWidth = Seq.init spec.LayerCount spec.FanOut |> Seq.max
    let gradA = backend.Allocate(size gradWidth)
    let gradB = backend.Allocate(size gradWidth)
    let mutable input = Unchecked.defaultof<DeviceSlice>
    let mutable lastBatch = 0

    /// <summary>The network shape these buffers are laid out for.</summary>
    member _.Spec = spec
    /// <summary>The largest batch a pass may use.</summary>
    member _.MaxBatch = maxBatch
    /// <summary>Batch size of the last completed forward pass, or 0 before the first.</summary>
    member _.LastBatch with get () = lastBatch and internal set v = lastBatch <- v
    /// <summary>The input slice of the last forward pass.</summary>
    member _.Input with get () = input and internal set v = input <- v
    /// <summary>Layer <paramref name="layer"/>'s post-activation output <c>[LastBatch, FanOut(layer)]</c> from the last forward pass.</summary>
    /// <param name="layer">Layer index in <c>[0, Spec.LayerCount)</c>.</param>
    member _.Output(layer: int) = outputs.[layer].Slice(0, lastBatch * spec.FanOut layer)
    member internal _.Outputs = outputs
    member internal _.GradA = gradA
    member internal _.GradB = gradB
    member val internal LayerGradients = LayerGradients()

    interface IDisposable with
        /// <summary>Releases the backend arrays.</summary>
        member _.Dispose() =
            for o in outputs do o.Dispose()
            gradA.Dispose()
            gradB.Dispose()

/// <summary>
/// A multilayer perceptron's forward pass and vector-Jacobian product through <see cref="T:Sac.Cuda.Backend.ISacBackend"/>:
/// the same flat parameter layout (per layer W <c>[out, in]</c> row-major, then the bias) and the same sequence of GEMMs,
/// bias-activations and column sums as <c>Mlp.Forward</c> / <c>Mlp.Backward</c>, so on the host backend it gives their
/// results bit for bit.
/// </summary>
[<RequireQualifiedAccess>]
module DeviceMlp =

    let private check (spec: MlpSpec) (parameters: DeviceSlice) (ws: DeviceMlpWorkspace) (batch: int) =
        if not (ws.Spec.Equals spec) then invalidArg "ws" $"ws was built for {ws.Spec} but the call passes {spec}."
        if parameters.Length <> spec.ParameterCount then
            invalidArg "parameters" $"parameters has {parameters.Length} elements, expected ParameterCount = {spec.ParameterCount}."
        if batch < 1 || batch > ws.MaxBatch then
            invalidArg "batch" $"batch is {batch}; it must be in [1, {ws.MaxBatch}] (the workspace's maxBatch)."

    /// <summary>
    /// Runs the network on <paramref name="batch"/> rows of <paramref name="input"/>: per layer <c>Z = X W^T</c>
    /// (GEMM NT), then <c>Y = act(Z + b)</c>. Returns the output slice <c>[batch, OutputSize]</c> inside the workspace,
    /// valid until its next forward.
    /// </summary>
    /// <param name="backend">The backend that owns every array.</param>
    /// <param name="spec">The network shape; equal to <c>ws.Spec</c>.</param>
    /// <param name="parameters">The flat parameter vector, exactly <c>ParameterCount</c> floats.</param>
    /// <param name="input">The input <c>[batch, InputSize]</c>; kept (not copied) for the backward pass.</param>
    /// <param name="batch">Rows, in <c>[1, ws.MaxBatch]</c>.</param>
    /// <param name="ws">Receives the activations.</param>
    [<CompiledName("Forward")>]
    let forward (backend: ISacBackend) (spec: MlpSpec) (parameters: DeviceSlice) (input: DeviceSlice) (batch: int) (ws: DeviceMlpWorkspace) : DeviceSlice =
        check spec parameters ws batch
        if input.Length <> batch * spec.InputSize then
            invalidArg "input" $"input has {input.Length} elements, expected batch * InputSize = {batch} * {spec.InputSize}."
        ws.LastBatch <- 0
        ws.Input <- input
        let mutable x = input
        for l in 0 .. spec.LayerCount - 1 do
            let fi, fo = spec.FanIn l, spec.FanOut l
            let z = ws.Outputs.[l].Slice(0, batch * fo)
            backend.Gemm(Transpose.No, Transpose.Yes, batch, fo, fi, 1.0f, x, fi, parameters.Slice(spec.WeightOffset l, fo * fi), fi, 0.0f, z, fo)   // Z = X W^T
            backend.BiasActivationForward(z, batch, fo, parameters.Slice(spec.BiasOffset l, fo), spec.LayerActivation l)   // Y = act(Z + b)
            x <- z
        ws.LastBatch <- batch
        x

    /// <summary>
    /// The vector-Jacobian product of the last <c>forward</c> on <paramref name="ws"/>: from <c>dL/dY</c> writes
    /// <c>dW = dZ^T X</c> (GEMM TN) and <c>db = 1^T dZ</c> per layer into <paramref name="parameterGrad"/>, and
    /// <c>dX = dZ W</c> (GEMM NN) into <paramref name="inputGrad"/>; either may be skipped.
    /// </summary>
    /// <param name="backend">The backend that owns every array.</param>
    /// <param name="spec">The network shape; equal to <c>ws.Spec</c>.</param>
    /// <param name="parameters">The parameters the forward pass used.</param>
    /// <param name="ws">The workspace the forward pass filled.</param>
    /// <param name="batch">The forward pass's batch.</param>
    /// <param name="outputGrad"><c>dL/dY</c>, <c>[batch, OutputSize]</c>.</param>
    /// <param name="parameterGrad">Receives <c>dL/dparameters</c> (overwritten), exactly <c>ParameterCount</c> floats; ValueNone skips it.</param>
    /// <param name="inputGrad">Receives <c>dL/dinput</c>, <c>[batch, InputSize]</c>; ValueNone skips it.</param>
    /// <param name="lastHiddenGrad">A further <c>dL/dY</c> at the last hidden layer's output, <c>[batch, FanOut(LayerCount - 2)]</c>,
    /// added to what flows back from the output layer (a loss that also reads those features); ValueNone adds nothing.</param>
    [<CompiledName("BackwardAdding")>]
    let backwardAdding (backend: ISacBackend) (spec: MlpSpec) (parameters: DeviceSlice) (ws: DeviceMlpWorkspace) (batch: int)
                       (outputGrad: DeviceSlice) (lastHiddenGrad: DeviceSlice voption) (parameterGrad: DeviceSlice voption)
                       (inputGrad: DeviceSlice voption) : unit =
        check spec parameters ws batch
        match lastHiddenGrad with
        | ValueSome _ when spec.LayerCount < 2 -> invalidArg "lastHiddenGrad" "The network has no hidden layer."
        | ValueSome g when g.Length <> batch * spec.FanOut(spec.LayerCount - 2) ->
            invalidArg "lastHiddenGrad" $"lastHiddenGrad has {g.Length} elements, expected batch * {spec.FanOut(spec.LayerCount - 2)}."
        | _ -> ()
        if ws.LastBatch <> batch then
            invalidArg "batch" $"batch is {batch} but the last completed forward pass on this workspace used {ws.LastBatch}."
        if outputGrad.Length <> batch * spec.OutputSize then
            invalidArg "outputGrad" $"outputGrad has {outputGrad.Length} elements, expected batch * OutputSize = {batch} * {spec.OutputSize}."
        match parameterGrad with
        | ValueSome g when g.Length <> spec.ParameterCount ->
            invalidArg "parameterGrad" $"parameterGrad has {g.Length} elements, expected ParameterCount = {spec.ParameterCount}."
        | _ -> ()
        match inputGrad with
        | ValueSome g when g.Length <> batch * spec.InputSize ->
            invalidArg "inputGrad" $"inputGrad has {g.Length} elements, expected batch * InputSize = {batch} * {spec.InputSize}."
        | _ -> ()
        if parameterGrad.IsSome || inputGrad.IsSome then
            let last = spec.LayerCount - 1
            let mutable next = ws.GradA
            let mutable spare = ws.GradB
            // dZ_L = dY * act'(Y_L); an identity output passes the caller's gradient through uncopied.
            let mutable dz = outputGrad
            if spec.Output <> Activation.Identity then
                let g = next.Slice(0, batch * spec.OutputSize)
                backend.Copy(outputGrad, g)
                backend.ActivationBackward(ws.Outputs.[last].Slice(0, batch * spec.OutputSize), g, spec.Output)
                dz <- g
                let t = next
                next <- spare
                spare <- t
            for l = last downto 0 do
                let fi, fo = spec.FanIn l, spec.FanOut l
                let x = if l = 0 then ws.Input else ws.Outputs.[l - 1].Slice(0, batch * fi)
                let w = parameters.Slice(spec.WeightOffset l, fo * fi)
                // The further gradient at the last hidden layer's output joins what the output layer hands down.
                let added = if l = last then lastHiddenGrad else ValueNone
                match parameterGrad with
                | ValueSome pg when l > 0 ->
                    // The weight gradient and the gradient to the layer below are independent: a pair.
                    let step = ws.LayerGradients
                    step.Spec <- spec
                    step.Layer <- l
                    step.Batch <- batch
                    step.OutputGrad <- dz
                    step.Input <- x
                    step.Weights <- w
                    step.ParameterGrad <- pg
                    step.InputGrad <- next.Slice(0, batch * fi)
                    step.Added <- added
                    backend.RunPair step
                | ValueSome pg -> LayerBackward.parameters backend spec l batch dz x pg
                | ValueNone -> if l > 0 then LayerBackward.below backend spec l batch dz w x (next.Slice(0, batch * fi)) added
                if l > 0 then
                    dz <- next.Slice(0, batch * fi)
                    let t = next
                    next <- spare
                    spare <- t
                else
                    match inputGrad with
                    | ValueSome ig -> backend.Gemm(Transpose.No, Transpose.No, batch, fi, fo, 1.0f, dz, fo, w, fi, 0.0f, ig, fi)   // dX = dZ W
                    | ValueNone -> ()

    /// <summary>
    /// The vector-Jacobian product of the last <c>forward</c> on <paramref name="ws"/>: <c>backwardAdding</c> with no
    /// further gradient at the last hidden layer.
    /// </summary>
    /// <param name="backend">The backend that owns every array.</param>
    /// <param name="spec">The network shape; equal to <c>ws.Spec</c>.</param>
    /// <param name="parameters">The parameters the forward pass used.</param>
    /// <param name="ws">The workspace the forward pass filled.</param>
    /// <param name="batch">The forward pass's batch.</param>
    /// <param name="outputGrad"><c>dL/dY</c>, <c>[batch, OutputSize]</c>.</param>
    /// <param name="parameterGrad">Receives <c>dL/dparameters</c> (overwritten), exactly <c>ParameterCount</c> floats; ValueNone skips it.</param>
    /// <param name="inputGrad">Receives <c>dL/dinput</c>, <c>[batch, InputSize]</c>; ValueNone skips it.</param>
    [<CompiledName("Backward")>]
    let backward (backend: ISacBackend) (spec: MlpSpec) (parameters: DeviceSlice) (ws: DeviceMlpWorkspace) (batch: int)
                 (outputGrad: DeviceSlice) (parameterGrad: DeviceSlice voption) (inputGrad: DeviceSlice voption) : unit =
        backwardAdding backend spec parameters ws batch outputGrad ValueNone parameterGrad inputGrad
