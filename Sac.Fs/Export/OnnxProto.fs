namespace Sac.Fs.Export

open System
open System.Collections.Generic
open System.IO
open System.Runtime.InteropServices
open Google.Protobuf
open Sac.Core.Compute
open Sac.Core.Networks

// The few ONNX IR messages an exported policy needs, written field by field with CodedOutputStream. Field numbers and
// enum values are those of onnx.proto (IR version 7, the one opset 13 belongs to); onnx.proto is proto2, so repeated
// scalars are written unpacked, which every parser accepts.

/// One protobuf message being written: fields in the order they are added, nested messages as length-delimited bytes.
type internal ProtoMessage() =
    let stream = new MemoryStream()
    let out = new CodedOutputStream(stream, true)

    member _.Varint(field: int, value: int64) =
        out.WriteTag(field, WireFormat.WireType.Varint)
        out.WriteInt64 value

    member _.Float(field: int, value: float32) =
        out.WriteTag(field, WireFormat.WireType.Fixed32)
        out.WriteFloat value

    member _.String(field: int, value: string) =
        out.WriteTag(field, WireFormat.WireType.LengthDelimited)
        out.WriteString value

    member _.Bytes(field: int, value: byte[]) =
        out.WriteTag(field, WireFormat.WireType.LengthDelimited)
        out.WriteBytes(UnsafeByteOperations.UnsafeWrap(ReadOnlyMemory value))

    member this.Message(field: int, value: ProtoMessage) = this.Bytes(field, value.ToArray())

    member _.ToArray() : byte[] =
        out.Flush()
        stream.ToArray()

/// onnx.proto's numbers for the messages written here.
module internal OnnxIr =
    [<Literal>]
    let IrVersion = 7L
    [<Literal>]
    let Opset = 13L
    /// TensorProto.DataType
    [<Literal>]
    let Float = 1
    [<Literal>]
    let Int64 = 7

    /// One dimension of a value's shape: a fixed size or a named symbolic one (the batch).
    type Dim =
        | Fixed of int
        | Named of string

    /// A ValueInfoProto of a tensor with the given element type and shape.
    let valueInfo (name: string) (elemType: int) (shape: Dim list) =
        let dims = ProtoMessage()
        for d in shape do
            let dim = ProtoMessage()
            match d with
            | Fixed n -> dim.Varint(1, int64 n)        // Dimension.dim_value
            | Named s -> dim.String(2, s)              // Dimension.dim_param
            dims.Message(1, dim)                       // TensorShapeProto.dim
        let tensor = ProtoMessage()
        tensor.Varint(1, int64 elemType)               // TypeProto.Tensor.elem_type
        tensor.Message(2, dims)                        // TypeProto.Tensor.shape
        let typ = ProtoMessage()
        typ.Message(1, tensor)                         // TypeProto.tensor_type
        let info = ProtoMessage()
        info.String(1, name)                           // ValueInfoProto.name
        info.Message(2, typ)                           // ValueInfoProto.type
        info

    /// An attribute of a node.
    type Attr =
        | Int of string * int64
        | Ints of string * int64 list
        | Flt of string * float32

    let private attribute (a: Attr) =
        let m = ProtoMessage()
        match a with
        | Int (name, v) ->
            m.String(1, name); m.Varint(3, v); m.Varint(20, 2L)          // i; type INT
        | Ints (name, vs) ->
            m.String(1, name)
            for v in vs do m.Varint(8, v)                               // ints
            m.Varint(20, 7L)                                            // type INTS
        | Flt (name, v) ->
            m.String(1, name); m.Float(2, v); m.Varint(20, 1L)          // f; type FLOAT
        m

    /// Builds a GraphProto: nodes in topological order (the order they are added), initializers, inputs, outputs.
    type Graph(name: string) =
        let nodes = ResizeArray<ProtoMessage>()
        let initializers = ResizeArray<ProtoMessage>()
        let inputs = ResizeArray<ProtoMessage>()
        let outputs = ResizeArray<ProtoMessage>()
        let used = HashSet<string>()
        let mutable counter = 0

        /// A name not used yet, for an intermediate value or a constant.
        member _.Fresh(stem: string) =
            let mutable n = stem
            while used.Contains n do
                counter <- counter + 1
                n <- $"{stem}_{counter}"
            used.Add n |> ignore
            n

        member _.Reserve(name: string) = used.Add name |> ignore

        /// A node; returns its single output's name (its outputs are named here unless given).
        member this.Node(op: string, inputs: string list, ?attrs: Attr list, ?output: string) =
            let out = match output with Some o -> (this.Reserve o; o) | None -> this.Fresh(op.ToLowerInvariant())
            let m = ProtoMessage()
            for i in inputs do m.String(1, i)                            // NodeProto.input
            m.String(2, out)                                             // NodeProto.output
            m.String(3, $"{op}_{nodes.Count}")                           // NodeProto.name
            m.String(4, op)                                              // NodeProto.op_type
            for a in defaultArg attrs [] do m.Message(5, attribute a)    // NodeProto.attribute
            nodes.Add m
            out

        /// A float32 initializer (little-endian raw_data, as the IR requires); returns its name.
        member this.Floats(stem: string, dims: int list, data: ReadOnlySpan<float32>) =
            let name = this.Fresh stem
            let t = ProtoMessage()
            for d in dims do t.Varint(1, int64 d)                        // TensorProto.dims
            t.Varint(2, int64 Float)                                     // TensorProto.data_type
            t.String(8, name)                                            // TensorProto.name
            let bytes = MemoryMarshal.AsBytes(data).ToArray()
            if not BitConverter.IsLittleEndian then
                for k in 0 .. 4 .. bytes.Length - 4 do Array.Reverse(bytes, k, 4)
            t.Bytes(9, bytes)                                            // TensorProto.raw_data
            initializers.Add t
            name

        /// A float32 scalar constant (shape []).
        member this.Scalar(stem: string, value: float32) = this.Floats(stem, [], ReadOnlySpan [| value |])

        /// An int64 initializer (int64_data).
        member this.Int64s(stem: string, dims: int list, data: int64 list) =
            let name = this.Fresh stem
            let t = ProtoMessage()
            for d in dims do t.Varint(1, int64 d)
            t.Varint(2, int64 Int64)
            for v in data do t.Varint(7, v)                              // TensorProto.int64_data
            t.String(8, name)
            initializers.Add t
            name

        member this.Input(name: string, elemType: int, shape: Dim list) =
            this.Reserve name
            inputs.Add(valueInfo name elemType shape)

        member _.Output(name: string, elemType: int, shape: Dim list) = outputs.Add(valueInfo name elemType shape)

        member _.ToMessage() =
            let g = ProtoMessage()
            for n in nodes do g.Message(1, n)                            // GraphProto.node
            g.String(2, name)                                            // GraphProto.name
            for t in initializers do g.Message(5, t)                     // GraphProto.initializer
            for i in inputs do g.Message(11, i)                          // GraphProto.input
            for o in outputs do g.Message(12, o)                         // GraphProto.output
            g

    /// A ModelProto around <paramref name="graph"/> with the default-domain opset and the metadata entries.
    let model (graph: Graph) (producerVersion: string) (doc: string) (metadata: (string * string) list) : byte[] =
        let m = ProtoMessage()
        m.Varint(1, IrVersion)                                           // ModelProto.ir_version
        m.String(2, "Sac.Functional")                                    // producer_name
        m.String(3, producerVersion)                                     // producer_version
        m.String(6, doc)                                                 // doc_string
        m.Message(7, graph.ToMessage())                                  // graph
        let opset = ProtoMessage()
        opset.String(1, "")                                              // OperatorSetIdProto.domain (default)
        opset.Varint(2, Opset)                                           // OperatorSetIdProto.version
        m.Message(8, opset)                                              // opset_import
        for (k, v) in metadata do
            let e = ProtoMessage()
            e.String(1, k)
            e.String(2, v)
            m.Message(14, e)                                             // metadata_props
        m.ToArray()

    /// Layer <paramref name="layer"/> of an MLP restricted to output rows [first, first + count): Gemm with the
    /// [out, in] weight used transposed (the library's layout), then the layer's activation.
    let affine (g: Graph) (stem: string) (spec: MlpSpec) (parameters: float32[]) (layer: int) (first: int) (count: int) (input: string) =
        let fanIn = spec.FanIn layer
        let w = g.Floats($"{stem}.weight", [ count; fanIn ], ReadOnlySpan(parameters, spec.WeightOffset layer + first * fanIn, count * fanIn))
        let b = g.Floats($"{stem}.bias", [ count ], ReadOnlySpan(parameters, spec.BiasOffset layer + first, count))
        let y = g.Node("Gemm", [ input; w; b ], [ Int("transB", 1L) ])
        match spec.LayerActivation layer with
        | Activation.Relu -> g.Node("Relu", [ y ])
        | Activation.Tanh -> g.Node("Tanh", [ y ])
        // ONNX Elu: x for x > 0, alpha (exp(x) - 1) otherwise; the library's ELU has alpha = 1.
        | Activation.Elu -> g.Node("Elu", [ y ], [ Flt("alpha", 1.0f) ])
        // ONNX LeakyRelu: x for x >= 0, alpha x otherwise (the same values as the library's, 0 included).
        | Activation.LeakyRelu -> g.Node("LeakyRelu", [ y ], [ Flt("alpha", FusedOps.LeakyReluSlope) ])
        | Activation.Identity -> y
        | a -> invalidArg "spec" $"activation {a} has no ONNX operator here"

    /// Every layer but the last of an MLP; returns the last hidden activation's name (the input for one layer).
    let hidden (g: Graph) (stem: string) (spec: MlpSpec) (parameters: float32[]) (input: string) =
        let mutable x = input
        for l in 0 .. spec.LayerCount - 2 do
            x <- affine g $"{stem}.{l}" spec parameters l 0 (spec.FanOut l) x
        x

    /// The whole MLP.
    let mlp (g: Graph) (stem: string) (spec: MlpSpec) (parameters: float32[]) (input: string) =
        let h = hidden g stem spec parameters input
        let last = spec.LayerCount - 1
        affine g $"{stem}.{last}" spec parameters last 0 spec.OutputSize h
