namespace Sac.Fs

open System
open Sac.Core.Compute
open Sac.Core.Networks
open Sac.Cuda.Backend

// One layer's backward step in its two independent halves.
module internal LayerBackward =
    // Rows [r0, r1) of dW = dZ^T X (output units r0 .. r1-1), into the layer's slice of the parameter gradient: the
    // same sums over the batch as the whole product.
    let weightRows (lane: ISacBackend) (spec: MlpSpec) (l: int) (batch: int) (dz: DeviceSlice) (x: DeviceSlice) (pg: DeviceSlice) (r0: int) (r1: int) =
        let fi, fo = spec.FanIn l, spec.FanOut l
        if r1 > r0 then
            lane.Gemm(Transpose.Yes, Transpose.No, r1 - r0, fi, batch, 1.0f, dz.Slice(r0, dz.Length - r0), fo, x, fi, 0.0f,
                      pg.Slice(spec.WeightOffset l + r0 * fi, (r1 - r0) * fi), fi)   // dW[r0..r1) = dZ[:, r0..r1)^T X

    // db = 1^T dZ, into the layer's slice of the parameter gradient.
    let bias (lane: ISacBackend) (spec: MlpSpec) (l: int) (batch: int) (dz: DeviceSlice) (pg: DeviceSlice) =
        let fo = spec.FanOut l
        lane.ColumnSums(dz, batch, fo, pg.Slice(spec.BiasOffset l, fo), false)

    // dW = dZ^T X and db = 1^T dZ, into the layer's slices of the parameter gradient.
    let parameters (lane: ISacBackend) (spec: MlpSpec) (l: int) (batch: int) (dz: DeviceSlice) (x: DeviceSlice) (pg: DeviceSlice) =
        weightRows lane spec l batch dz x pg 0 (spec.FanOut l)
        bias lane spec l batch dz pg

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
        lane.GemmActivationBackward(Transpose.No, Transpose.No, batch, fi, fo, dz, fo, w, fi, beta, dx, x, spec.Hidden)

/// <summary>A step over a range of parameters whose gradient is complete (an optimizer's, say), taken by the backward
/// pass on the lane that completed it.</summary>
type internal IParameterRangeStep =
    /// <summary>Steps parameters [offset, offset + length) on <paramref name="lane"/>.</summary>
    abstract Step: lane: ISacBackend * offset: int * length: int -> unit

// The backward pass as a pair of branches. Branch 0 hands the gradient down the layers (dZ_{l-1} from dZ_l), then
// takes layer 0's parameter gradient, dL/dX, and the last rows of each wider layer's weight gradient, whose operands
// it has at hand. Branch 1 takes the other rows and the biases of layers L..1, each layer once branch 0 has handed its
// dZ_l down. Every dZ_l has a buffer of its own, so branch 0 never waits for branch 1: run side by side or in order
// (0 then 1), the pair does the same arithmetic. After each piece of the parameter gradient, the branch that took it
// may step those parameters. The fields are set before each RunPair, so one object per workspace serves every pass.
[<Sealed>]
type internal HandedDownGradients(outputs: DeviceArray[], grads: DeviceArray[]) =
    // How many dZ_l, from the top layer down, branch 0 has finished; -1 once it has failed.
    let mutable handed = 0
    member val Spec = Unchecked.defaultof<MlpSpec> with get, set
    member val Batch = 0 with get, set
    member val Parameters = Unchecked.defaultof<DeviceSlice> with get, set
    /// The forward pass's input.
    member val Input = Unchecked.defaultof<DeviceSlice> with get, set
    member val OutputGrad = Unchecked.defaultof<DeviceSlice> with get, set
    member val Added : DeviceSlice voption = ValueNone with get, set
    member val ParameterGrad : DeviceSlice voption = ValueNone with get, set
    member val InputGrad : DeviceSlice voption = ValueNone with get, set
    member val Step : IParameterRangeStep | null = null with get, set

    /// Set before the pair runs: nothing handed down yet.
    member _.Reset() = handed <- 0

    // dZ_l: the caller's dL/dY for an identity output layer, otherwise layer l's own buffer.
    member private this.Dz(l: int) =
        let spec = this.Spec
        if l = spec.LayerCount - 1 && spec.Output = Activation.Identity then this.OutputGrad
        else grads.[l].Slice(0, this.Batch * spec.FanOut l)

    // The rows of layer l's weight gradient that branch 1 takes; branch 0 takes the rest. Narrow layers go whole to
    // branch 1, which would otherwise wait; of wider ones branch 0 takes an eighth, after the rest of its work.
    member private this.Branch1Rows(l: int) =
        let fo = this.Spec.FanOut l
        if fo < 64 then fo else fo - fo / 8

    member private this.Stepped(lane: ISacBackend, offset: int, length: int) =
        match this.Step with
        | null -> ()
        | s -> if length > 0 then s.Step(lane, offset, length)

    // X_l: the network's input or the layer below's output.
    member private this.X(l: int) =
        if l = 0 then this.Input else outputs.[l - 1].Slice(0, this.Batch * this.Spec.FanIn l)

    member private this.HandDown(lane: ISacBackend) =
        let spec, batch = this.Spec, this.Batch
        let last = spec.LayerCount - 1
        // dZ_L = dY * act'(Y_L).
        if spec.Output <> Activation.Identity then
            let g = this.Dz last
            lane.Copy(this.OutputGrad, g)
            lane.ActivationBackward(outputs.[last].Slice(0, batch * spec.OutputSize), g, spec.Output)
        Threading.Volatile.Write(&handed, 1)
        for l = last downto 1 do
            let w = this.Parameters.Slice(spec.WeightOffset l, spec.FanOut l * spec.FanIn l)
            // The further gradient at the last hidden layer's output joins what the output layer hands down.
            let added = if l = last then this.Added else ValueNone
            LayerBackward.below lane spec l batch (this.Dz l) w (this.X l) (this.Dz(l - 1)) added
            Threading.Volatile.Write(&handed, last - l + 2)
        // dX reads W_0, so it comes before the step that may follow layer 0's gradient.
        match this.InputGrad with
        | ValueSome ig ->
            let fi, fo = spec.FanIn 0, spec.FanOut 0
            lane.Gemm(Transpose.No, Transpose.No, batch, fi, fo, 1.0f, this.Dz 0, fo, this.Parameters.Slice(0, fo * fi), fi, 0.0f, ig, fi)   // dX = dZ W
        | ValueNone -> ()
        match this.ParameterGrad with
        | ValueSome pg ->
            LayerBackward.parameters lane spec 0 batch (this.Dz 0) (this.X 0) pg
            this.Stepped(lane, 0, spec.BiasOffset 0 + spec.FanOut 0)
            for l = 1 to last do
                let r, fi, fo = this.Branch1Rows l, spec.FanIn l, spec.FanOut l
                LayerBackward.weightRows lane spec l batch (this.Dz l) (this.X l) pg r fo
                this.Stepped(lane, spec.WeightOffset l + r * fi, (fo - r) * fi)
        | ValueNone -> ()

    // Waits until branch 0 has finished `count` dZ_l; false where it failed first.
    member private _.HandedDown(count: int) =
        let mutable spin = Threading.SpinWait()
        while (let h = Threading.Volatile.Read(&handed) in h >= 0 && h < count) do spin.SpinOnce(-1)
        Threading.Volatile.Read(&handed) >= 0

    // Layers L..1's biases and first weight rows, each once dZ_l is handed down; then their parameter steps, each once
    // branch 0 has read the layer's weights to hand dZ_{l-1} down.
    member private this.TakeWeights(lane: ISacBackend) =
        match this.ParameterGrad with
        | ValueNone -> ()
        | ValueSome pg ->
            let spec = this.Spec
            let last = spec.LayerCount - 1
            let mutable l = last
            while l >= 1 && this.HandedDown(last - l + 1) do
                LayerBackward.weightRows lane spec l this.Batch (this.Dz l) (this.X l) pg 0 (this.Branch1Rows l)
                LayerBackward.bias lane spec l this.Batch (this.Dz l) pg
                l <- l - 1
            if l = 0 && not (isNull this.Step) then
                l <- last
                while l >= 1 && this.HandedDown(last - l + 2) do
                    this.Stepped(lane, spec.WeightOffset l, this.Branch1Rows l * spec.FanIn l)
                    this.Stepped(lane, spec.BiasOffset l, spec.FanOut l)
                    l <- l - 1

    interface IPairWork with
        member this.Execute(lane, branch) =
            if branch = 0 then
                try this.HandDown lane
                with _ ->
                    Threading.Volatile.Write(&handed, -1)
                    reraise ()
            else this.TakeWeights lane

/// <summary>
/// Backend arrays for <c>DeviceMlp.forward</c> and <c>DeviceMlp.backward</c> on one <see cref="T:Sac.Core.Networks.MlpSpec"/>,
/// sized for batches of up to <paramref name="maxBatch"/> rows: every layer's post-activation output and its
/// pre-activation gradient.
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
    // dZ_l per layer: the backward pass's two branches read one layer's while the next is written.
    let grads = Array.init spec.LayerCount (fun l -> backend.Allocate(size (spec.FanOut l)))
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
    member internal _.Grads = grads
    member val internal HandedDown = HandedDownGradients(outputs, grads)

    interface IDisposable with
        /// <summary>Releases the backend arrays.</summary>
        member _.Dispose() =
            for o in outputs do o.Dispose()
            for g in grads do g.Dispose()

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
            // Y = act(X W^T + b)
            backend.GemmBiasActivation(Transpose.No, Transpose.Yes, batch, fo, fi, x, fi, parameters.Slice(spec.WeightOffset l, fo * fi), fi, z,
                                       parameters.Slice(spec.BiasOffset l, fo), spec.LayerActivation l)
            x <- z
        ws.LastBatch <- batch
        x

    // backwardAdding, with `step` taken over each range of parameters as soon as its gradient is complete, on the lane
    // that completed it.
    let internal backwardStepping (step: IParameterRangeStep | null) (backend: ISacBackend) (spec: MlpSpec) (parameters: DeviceSlice)
                              (ws: DeviceMlpWorkspace) (batch: int) (outputGrad: DeviceSlice) (lastHiddenGrad: DeviceSlice voption)
                              (parameterGrad: DeviceSlice voption) (inputGrad: DeviceSlice voption) : unit =
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
            let pass = ws.HandedDown
            pass.Spec <- spec
            pass.Batch <- batch
            pass.Parameters <- parameters
            pass.Input <- ws.Input
            pass.OutputGrad <- outputGrad
            pass.Added <- lastHiddenGrad
            pass.ParameterGrad <- parameterGrad
            pass.InputGrad <- inputGrad
            pass.Step <- step
            pass.Reset()
            let work = pass :> IPairWork
            // Layers above 0 with parameter gradients give branch 1 work to do beside branch 0.
            if parameterGrad.IsSome && spec.LayerCount > 1 then backend.RunPair work
            else
                work.Execute(backend, 0)
                work.Execute(backend, 1)

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
        backwardStepping null backend spec parameters ws batch outputGrad lastHiddenGrad parameterGrad inputGrad

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
