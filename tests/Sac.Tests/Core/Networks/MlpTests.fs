/// Mlp forward and vector-Jacobian product against a float64 reference network and central finite differences.
module MlpTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Networks
open Sac.Core.Random

// ---------------------------------------------------------------------------------------------------------------
// Float64 reference network: plain loops over the documented layout (per layer W [out, in] row-major, then b [out]).
// ---------------------------------------------------------------------------------------------------------------

let private act64 (a: Activation) (z: float) =
    match a with
    | Activation.Relu -> max z 0.0
    | Activation.Tanh -> tanh z
    | Activation.Elu -> if z > 0.0 then z else exp z - 1.0
    | Activation.LeakyRelu -> if z > 0.0 then z else 0.01 * z
    | _ -> z

/// Returns the output [batch, out] and every layer's pre-activation [batch, out_l].
let private refForward (sizes: int[]) (hidden: Activation) (output: Activation) (p: float[]) (x: float[]) (batch: int) =
    let layers = sizes.Length - 1
    let pre = Array.zeroCreate layers
    let mutable cur = x
    let mutable off = 0
    for l in 0 .. layers - 1 do
        let fi, fo = sizes.[l], sizes.[l + 1]
        let wOff, bOff = off, off + fo * fi
        off <- bOff + fo
        let z = Array.zeroCreate (batch * fo)
        for i in 0 .. batch - 1 do
            for o in 0 .. fo - 1 do
                let mutable s = p.[bOff + o]
                for k in 0 .. fi - 1 do
                    s <- s + cur.[i * fi + k] * p.[wOff + o * fi + k]
                z.[i * fo + o] <- s
        pre.[l] <- z
        let a = if l = layers - 1 then output else hidden
        cur <- Array.map (act64 a) z
    cur, pre

let private refLoss sizes hidden output (p: float[]) (x: float[]) batch (g: float[]) =
    let y, _ = refForward sizes hidden output p x batch
    let mutable s = 0.0
    for i in 0 .. y.Length - 1 do s <- s + g.[i] * y.[i]
    s

/// Central difference of L = sum(g * f(p, x)) with respect to v.[j] (v is p or x), in float64.
let private centralDiff (h: float) (loss: unit -> float) (v: float[]) (j: int) =
    let saved = v.[j]
    v.[j] <- saved + h
    let up = loss ()
    v.[j] <- saved - h
    let down = loss ()
    v.[j] <- saved
    (up - down) / (2.0 * h)

let private toF64 (a: float32[]) = Array.map float a

// ---------------------------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------------------------

type Case =
    { Sizes: int[]; Batch: int; Hidden: Activation; Output: Activation; Seed: int }
    override c.ToString() = $"sizes=%A{c.Sizes} batch={c.Batch} hidden={c.Hidden} output={c.Output} seed={c.Seed}"

let private activations = [ Activation.Identity; Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]

/// Layer counts 1..3, widths 1..maxWidth with 1 and lane-boundary widths over-represented, batch 1..maxBatch.
let private caseGen (maxWidth: int) (maxBatch: int) =
    gen {
        let! layers = Gen.choose (1, 3)
        let width = Gen.frequency [ 2, Gen.constant 1; 6, Gen.choose (1, maxWidth); 1, Gen.elements [ 15; 16; 17 ] ]
        let! sizes = Gen.arrayOfLength (layers + 1) width
        let! batch = Gen.choose (1, maxBatch)
        let! hidden = Gen.elements activations
        let! output = Gen.elements activations
        let! seed = Gen.choose (0, Int32.MaxValue / 2)
        return { Sizes = sizes; Batch = batch; Hidden = hidden; Output = output; Seed = seed }
    }

/// Concrete float32 data for a case: parameters from Mlp.Init, input and output gradient uniform in [-1, 1].
type private Data = { Spec: MlpSpec; P: float32[]; X: float32[]; G: float32[] }

let private makeData (c: Case) (attempt: int) =
    let spec = MlpSpec(c.Sizes, c.Hidden, c.Output)
    let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed(uint64 (c.Seed + attempt)))
    let rng = System.Random(c.Seed + 7919 * attempt)
    let x = Array.init (c.Batch * spec.InputSize) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    let g = Array.init (c.Batch * spec.OutputSize) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    { Spec = spec; P = p; X = x; G = g }

/// Data whose ReLU, LeakyReLU and ELU pre-activations all stay at least `margin` from 0 (the kink, or for ELU the
/// jump of the second derivative), so central differences see one smooth piece; re-draws (deterministically) until
/// that holds.
let private smoothData (c: Case) (margin: float) =
    let rec go attempt =
        if attempt > 100 then failwith $"no kink-free draw for {c}"
        let d = makeData c attempt
        let _, pre = refForward c.Sizes c.Hidden c.Output (toF64 d.P) (toF64 d.X) c.Batch
        let last = pre.Length - 1
        let nearKink =
            pre |> Array.mapi (fun l z ->
                let a = if l = last then c.Output else c.Hidden
                (a = Activation.Relu || a = Activation.LeakyRelu || a = Activation.Elu) && z |> Array.exists (fun v -> abs v < margin))
            |> Array.exists id
        if nearKink then go (attempt + 1) else d
    go 0

let private config n = Config.QuickThrowOnFailure.WithMaxTest(n)

let private forward (gemm: IGemm) (d: Data) batch (ws: MlpWorkspace) =
    Mlp.Forward(gemm, d.Spec, ReadOnlySpan d.P, ReadOnlySpan d.X, batch, ws).ToArray()

let private backward (gemm: IGemm) (d: Data) batch ws (pg: float32[]) (xg: float32[]) accumulate =
    Mlp.Backward(gemm, d.Spec, ReadOnlySpan d.P, ws, batch, ReadOnlySpan d.G, Span pg, Span xg, accumulate)

let private assertClose (what: string) (tol: float) (expected: float) (actual: float32) =
    if not (abs (float actual - expected) <= tol * max 1.0 (abs expected)) then
        failwith $"{what}: analytic {actual}, reference {expected}"

// ---------------------------------------------------------------------------------------------------------------
// Spec and layout
// ---------------------------------------------------------------------------------------------------------------

let ``spec layout: weight [out, in] then bias, per layer in order`` = testCase "spec layout: weight [out, in] then bias, per layer in order" <| fun () ->
    let spec = MlpSpec([| 23; 256; 256; 1 |])
    Assert.Equal(3, spec.LayerCount)
    Assert.Equal(23, spec.InputSize)
    Assert.Equal(1, spec.OutputSize)
    Assert.Equal(256, spec.MaxWidth)
    Assert.Equal(Activation.Relu, spec.Hidden)
    Assert.Equal(Activation.Identity, spec.Output)
    Assert.Equal(23 * 256 + 256 + 256 * 256 + 256 + 256 + 1, spec.ParameterCount)
    Assert.Equal(0, spec.WeightOffset 0)
    Assert.Equal(23 * 256, spec.BiasOffset 0)
    Assert.Equal(23 * 256 + 256, spec.WeightOffset 1)
    Assert.Equal(23 * 256 + 256 + 256 * 256, spec.BiasOffset 1)
    Assert.Equal(23 * 256 + 256 + 256 * 256 + 256, spec.WeightOffset 2)
    Assert.Equal(spec.ParameterCount - 1, spec.BiasOffset 2)
    let p = Array.init spec.ParameterCount float32
    let w1 = Mlp.LayerWeights(spec, p, 1)
    Assert.Equal(256 * 256, w1.Length)
    Assert.Equal(float32 (spec.WeightOffset 1), w1.[0])
    let b2 = Mlp.LayerBias(spec, ReadOnlySpan p, 2)
    Assert.Equal(1, b2.Length)
    Assert.Equal(float32 (spec.ParameterCount - 1), b2.[0])
    Mlp.LayerBias(spec, Span p, 0).Fill(-1.0f)
    Assert.Equal(-1.0f, p.[spec.BiasOffset 0 + 255])

let ``spec equality is by value and validation names the field`` = testCase "spec equality is by value and validation names the field" <| fun () ->
    let a = MlpSpec([| 3; 4; 2 |], Activation.Tanh)
    let b = MlpSpec([| 3; 4; 2 |], Activation.Tanh)
    Assert.Equal(a, b)
    Assert.Equal(a.GetHashCode(), b.GetHashCode())
    Assert.NotEqual(a, MlpSpec([| 3; 4; 2 |]))
    Assert.NotEqual(a, MlpSpec([| 3; 5; 2 |], Activation.Tanh))
    Assert.Contains("Sizes = [3, 4, 2]", a.ToString())
    let source = [| 3; 4; 2 |]
    let c = MlpSpec(source)
    source.[1] <- 100
    Assert.Equal(4, c.FanOut 0)
    let throwsField field (f: unit -> MlpSpec) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
        Assert.Equal(field, ex.ParamName)
    throwsField "Sizes" (fun () -> MlpSpec([| 5 |]))
    throwsField "Sizes" (fun () -> MlpSpec([| 5; 0; 3 |]))
    throwsField "Sizes" (fun () -> MlpSpec([| 5; -2 |]))
    throwsField "Sizes" (fun () -> MlpSpec([| 100000; 100000; 1 |]))
    throwsField "Hidden" (fun () -> MlpSpec([| 5; 3 |], enum<Activation> 9))
    throwsField "Output" (fun () -> MlpSpec([| 5; 3 |], Activation.Relu, enum<Activation> 9))

// ---------------------------------------------------------------------------------------------------------------
// Forward and VJP
// ---------------------------------------------------------------------------------------------------------------

let ``Forward matches the float64 reference`` = testCase "Forward matches the float64 reference" <| fun () ->
    for gemm in TestProviders.gemms do
        Check.One(config 40, Prop.forAll (Arb.fromGen (caseGen 70 20)) (fun c ->
            let d = makeData c 0
            let ws = MlpWorkspace(d.Spec, c.Batch + 3)
            let y = forward gemm d c.Batch ws
            let r, _ = refForward c.Sizes c.Hidden c.Output (toF64 d.P) (toF64 d.X) c.Batch
            Assert.Equal(r.Length, y.Length)
            for i in 0 .. r.Length - 1 do
                assertClose $"{gemm.Name} {c} output {i}" 1e-5 r.[i] y.[i]))

let ``Backward equals central finite differences for every parameter and input`` = testCase "Backward equals central finite differences for every parameter and input" <| fun () ->
    for gemm in TestProviders.gemms do
        Check.One(config 30, Prop.forAll (Arb.fromGen (caseGen 33 9)) (fun c ->
            let d = smoothData c 1e-4
            let ws = MlpWorkspace(d.Spec, 9)
            forward gemm d c.Batch ws |> ignore
            let pg = Array.create d.P.Length Single.NaN   // overwrite mode must not read the gradient buffers
            let xg = Array.create d.X.Length Single.NaN
            backward gemm d c.Batch ws pg xg false
            let p64, x64, g64 = toF64 d.P, toF64 d.X, toF64 d.G
            let loss () = refLoss c.Sizes c.Hidden c.Output p64 x64 c.Batch g64
            for j in 0 .. p64.Length - 1 do
                assertClose $"{gemm.Name} {c} dL/dparam[{j}]" 1e-4 (centralDiff 1e-6 loss p64 j) pg.[j]
            for j in 0 .. x64.Length - 1 do
                assertClose $"{gemm.Name} {c} dL/dinput[{j}]" 1e-4 (centralDiff 1e-6 loss x64 j) xg.[j]))

let ``Backward equals central finite differences with each hidden activation, SB3's activation_fn choices included`` = testCase "Backward equals central finite differences with each hidden activation, SB3's activation_fn choices included" <| fun () ->
    // The random cases above draw activations at random; this pins every one as the hidden activation of a
    // two-hidden-layer network with a linear output (the critic's shape) and with a tanh output (the sampler's).
    for hidden in [ Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ] do
        for output in [ Activation.Identity; Activation.Tanh ] do
            let c = { Sizes = [| 6; 16; 16; 3 |]; Batch = 5; Hidden = hidden; Output = output; Seed = 31 }
            let d = smoothData c 1e-4
            let p64, x64, g64 = toF64 d.P, toF64 d.X, toF64 d.G
            let loss () = refLoss c.Sizes c.Hidden c.Output p64 x64 c.Batch g64
            for gemm in TestProviders.gemms do
                let ws = MlpWorkspace(d.Spec, c.Batch)
                forward gemm d c.Batch ws |> ignore
                let pg = Array.zeroCreate d.P.Length
                let xg = Array.zeroCreate d.X.Length
                backward gemm d c.Batch ws pg xg false
                for j in 0 .. p64.Length - 1 do
                    assertClose $"{gemm.Name} {c} dL/dparam[{j}]" 1e-4 (centralDiff 1e-6 loss p64 j) pg.[j]
                for j in 0 .. x64.Length - 1 do
                    assertClose $"{gemm.Name} {c} dL/dinput[{j}]" 1e-4 (centralDiff 1e-6 loss x64 j) xg.[j]

let ``Backward at the SAC critic shape equals finite differences on sampled coordinates`` = testCase "Backward at the SAC critic shape equals finite differences on sampled coordinates" <| fun () ->
    let c = { Sizes = [| 23; 256; 256; 1 |]; Batch = 8; Hidden = Activation.Relu; Output = Activation.Identity; Seed = 12345 }
    let d = smoothData c 2e-5
    let rng = System.Random 99
    let p64, x64, g64 = toF64 d.P, toF64 d.X, toF64 d.G
    let loss () = refLoss c.Sizes c.Hidden c.Output p64 x64 c.Batch g64
    // A few coordinates from every weight and bias block, plus random inputs.
    let paramIdx =
        [ for l in 0 .. d.Spec.LayerCount - 1 do
            for _ in 1 .. 12 do yield d.Spec.WeightOffset l + rng.Next(d.Spec.FanOut l * d.Spec.FanIn l)
            for _ in 1 .. 4 do yield d.Spec.BiasOffset l + rng.Next(d.Spec.FanOut l) ]
    let inputIdx = [ for _ in 1 .. 24 -> rng.Next x64.Length ]
    let numP = paramIdx |> List.map (fun j -> j, centralDiff 1e-6 loss p64 j)
    let numX = inputIdx |> List.map (fun j -> j, centralDiff 1e-6 loss x64 j)
    let r, _ = refForward c.Sizes c.Hidden c.Output p64 x64 c.Batch
    for gemm in TestProviders.gemms do
        let ws = MlpWorkspace(d.Spec, 256)
        let y = forward gemm d c.Batch ws
        for i in 0 .. r.Length - 1 do assertClose $"{gemm.Name} output {i}" 1e-5 r.[i] y.[i]
        let pg = Array.zeroCreate d.P.Length
        let xg = Array.zeroCreate d.X.Length
        backward gemm d c.Batch ws pg xg false
        for j, n in numP do assertClose $"{gemm.Name} dL/dparam[{j}]" 1e-4 n pg.[j]
        for j, n in numX do assertClose $"{gemm.Name} dL/dinput[{j}]" 1e-4 n xg.[j]

let ``empty gradient spans skip work without changing the other result; accumulate adds exactly`` = testCase "empty gradient spans skip work without changing the other result; accumulate adds exactly" <| fun () ->
    for gemm in TestProviders.gemms do
        Check.One(config 30, Prop.forAll (Arb.fromGen (caseGen 40 9)) (fun c ->
            let d = makeData c 0
            let ws = MlpWorkspace(d.Spec, 9)
            forward gemm d c.Batch ws |> ignore
            let pgFull = Array.zeroCreate d.P.Length
            let xgFull = Array.zeroCreate d.X.Length
            backward gemm d c.Batch ws pgFull xgFull false
            // Input gradient only (the SAC actor's dQ/da through the critic).
            let xgOnly = Array.create d.X.Length Single.NaN
            backward gemm d c.Batch ws Array.empty xgOnly false
            Assert.Equal<float32>(xgFull, xgOnly)
            // Parameter gradient only.
            let pgOnly = Array.create d.P.Length Single.NaN
            backward gemm d c.Batch ws pgOnly Array.empty false
            Assert.Equal<float32>(pgFull, pgOnly)
            // Both empty: a no-op.
            backward gemm d c.Batch ws Array.empty Array.empty false
            // accumulate = true adds into parameterGrad; inputGrad is still overwritten.
            let rng = System.Random(c.Seed)
            let prior = Array.init d.P.Length (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
            let acc = Array.copy prior
            let xgAcc = Array.create d.X.Length 123.0f
            backward gemm d c.Batch ws acc xgAcc true
            for j in 0 .. acc.Length - 1 do
                let expected = prior.[j] + pgFull.[j]
                if abs (acc.[j] - expected) > 1e-6f * max 1.0f (abs expected) then
                    failwith $"{gemm.Name} {c} accumulate[{j}]: {acc.[j]} vs {expected}"
            Assert.Equal<float32>(xgFull, xgAcc)))

let ``Forward keeps the input copy: changing the caller's input after Forward does not change Backward`` = testCase "Forward keeps the input copy: changing the caller's input after Forward does not change Backward" <| fun () ->
    for gemm in TestProviders.gemms do
        let c = { Sizes = [| 5; 7; 3 |]; Batch = 4; Hidden = Activation.Tanh; Output = Activation.Tanh; Seed = 5 }
        let d = makeData c 0
        let ws = MlpWorkspace(d.Spec, 4)
        forward gemm d c.Batch ws |> ignore
        let pg1 = Array.zeroCreate d.P.Length
        backward gemm d c.Batch ws pg1 Array.empty false
        Array.fill d.X 0 d.X.Length 9.0f
        let pg2 = Array.zeroCreate d.P.Length
        backward gemm d c.Batch ws pg2 Array.empty false
        Assert.Equal<float32>(pg1, pg2)

// ---------------------------------------------------------------------------------------------------------------
// Init
// ---------------------------------------------------------------------------------------------------------------

let ``Init draws U(-1/sqrt(fan_in), 1/sqrt(fan_in)), deterministically per key, with offset = parameter index`` = testCase "Init draws U(-1/sqrt(fan_in), 1/sqrt(fan_in)), deterministically per key, with offset = parameter index" <| fun () ->
    let spec = MlpSpec([| 23; 256; 256; 6 |])
    let key = PhiloxKey.FromSeed 42UL
    let p = Mlp.InitParameters(spec, key)
    for l in 0 .. spec.LayerCount - 1 do
        let bound = float32 (1.0 / sqrt (float (spec.FanIn l)))
        for v in Mlp.LayerWeights(spec, p, l).ToArray() do Assert.InRange(v, -bound, bound)
        for v in Mlp.LayerBias(spec, p, l).ToArray() do Assert.InRange(v, -bound, bound)
    Assert.Equal<float32>(p, Mlp.InitParameters(spec, key))
    let other = Mlp.InitParameters(spec, PhiloxKey.FromSeed 43UL)
    Assert.True((Array.zip p other |> Array.filter (fun (a, b) -> a <> b)).Length > p.Length * 9 / 10)
    // Parameter i uses counter i: one FillUniform over the whole vector, mapped per layer, reproduces Init.
    let u = Array.zeroCreate spec.ParameterCount
    Philox.FillUniform(key, 0UL, Span u)
    for l in 0 .. spec.LayerCount - 1 do
        let bound = float32 (1.0 / sqrt (float (spec.FanIn l)))
        let lo, hi = spec.WeightOffset l, spec.BiasOffset l + spec.FanOut l
        for i in lo .. hi - 1 do
            Assert.Equal((2.0f * u.[i] - 1.0f) * bound, p.[i])
    // Init into a caller's span equals InitParameters.
    let q = Array.create spec.ParameterCount Single.NaN
    Mlp.Init(spec, key, Span q)
    Assert.Equal<float32>(p, q)

let ``Init variance of a 256x256 layer is near bound^2 / 3`` = testCase "Init variance of a 256x256 layer is near bound^2 / 3" <| fun () ->
    let spec = MlpSpec([| 256; 256 |])
    let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 7UL)
    let w = Mlp.LayerWeights(spec, p, 0).ToArray() |> Array.map float
    let mean = Array.average w
    let var = w |> Array.averageBy (fun v -> (v - mean) * (v - mean))
    let expected = (1.0 / 256.0) / 3.0
    Assert.True(abs mean < 0.01 * (1.0 / 16.0), $"mean {mean}")
    Assert.True(abs (var / expected - 1.0) < 0.03, $"variance {var}, expected {expected}")

// ---------------------------------------------------------------------------------------------------------------
// Allocation and argument checks
// ---------------------------------------------------------------------------------------------------------------

let private runPair (gemm: IGemm) (spec: MlpSpec) (p: float32[]) (x: float32[]) (g: float32[]) batch ws (pg: float32[]) (xg: float32[]) =
    Mlp.Forward(gemm, spec, ReadOnlySpan p, ReadOnlySpan x, batch, ws).Length |> ignore
    Mlp.Backward(gemm, spec, ReadOnlySpan p, ws, batch, ReadOnlySpan g, Span pg, Span xg, false)

let ``Forward and Backward allocate nothing after warm-up`` = testCase "Forward and Backward allocate nothing after warm-up" <| fun () ->
    let gemm = ReferenceGemm.Instance :> IGemm
    for hidden, output in [ Activation.Relu, Activation.Identity; Activation.Tanh, Activation.Tanh; Activation.Relu, Activation.Relu
                            Activation.Elu, Activation.Identity; Activation.LeakyRelu, Activation.Elu; Activation.Elu, Activation.LeakyRelu ] do
        let spec = MlpSpec([| 23; 48; 40; 3 |], hidden, output)
        let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 1UL)
        let batch = 8
        let x = Array.init (batch * spec.InputSize) (fun i -> float32 (sin (float i)))
        let g = Array.init (batch * spec.OutputSize) (fun i -> float32 (cos (float i)))
        let pg = Array.zeroCreate spec.ParameterCount
        let xg = Array.zeroCreate x.Length
        let ws = MlpWorkspace(spec, 16)
        for _ in 1 .. 5 do
            runPair gemm spec p x g batch ws pg xg
            runPair gemm spec p x g batch ws Array.empty xg
            runPair gemm spec p x g batch ws pg Array.empty
        Assert.Equal(0L, Allocation.leastAllocated (fun () ->
            for _ in 1 .. 20 do
                runPair gemm spec p x g batch ws pg xg
                runPair gemm spec p x g batch ws Array.empty xg
                runPair gemm spec p x g batch ws pg Array.empty))

let ``bad shapes throw ArgumentException naming the argument`` = testCase "bad shapes throw ArgumentException naming the argument" <| fun () ->
    let gemm = ReferenceGemm.Instance :> IGemm
    let spec = MlpSpec([| 4; 5; 2 |])
    let p = Mlp.InitParameters(spec, PhiloxKey.FromSeed 3UL)
    let ws = MlpWorkspace(spec, 3)
    let x = Array.zeroCreate<float32> 12
    let g = Array.zeroCreate<float32> 6
    let throwsArg (name: string) (fragment: string) (f: unit -> unit) =
        let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f ())
        Assert.Equal(name, ex.ParamName)
        Assert.Contains(fragment, ex.Message)
    let fwd (p: float32[]) (x: float32[]) batch ws = Mlp.Forward(gemm, spec, ReadOnlySpan p, ReadOnlySpan x, batch, ws).Length |> ignore
    throwsArg "maxBatch" "0" (fun () -> MlpWorkspace(spec, 0) |> ignore)
    // Backward before any forward.
    throwsArg "batch" "Forward" (fun () -> Mlp.Backward(gemm, spec, ReadOnlySpan p, ws, 3, ReadOnlySpan g, Span<float32>.Empty, Span(Array.zeroCreate<float32> 12)))
    throwsArg "batch" "[1, 3]" (fun () -> fwd p (Array.zeroCreate 16) 4 ws)
    throwsArg "batch" "[1, 3]" (fun () -> fwd p Array.empty 0 ws)
    throwsArg "input" "12" (fun () -> fwd p (Array.zeroCreate 11) 3 ws)
    throwsArg "parameters" (string spec.ParameterCount) (fun () -> fwd (Array.zeroCreate 5) x 3 ws)
    throwsArg "ws" "Sizes" (fun () -> fwd p x 3 (MlpWorkspace(MlpSpec([| 4; 6; 2 |]), 3)))
    fwd p x 3 ws
    let bwd batch (g: float32[]) (pg: float32[]) (xg: float32[]) =
        Mlp.Backward(gemm, spec, ReadOnlySpan p, ws, batch, ReadOnlySpan g, Span pg, Span xg)
    throwsArg "batch" "used 3" (fun () -> bwd 2 (Array.zeroCreate 4) Array.empty (Array.zeroCreate 8))
    throwsArg "outputGrad" "6" (fun () -> bwd 3 (Array.zeroCreate 5) Array.empty x)
    throwsArg "parameterGrad" (string spec.ParameterCount) (fun () -> bwd 3 g (Array.zeroCreate 3) Array.empty)
    throwsArg "inputGrad" "12" (fun () -> bwd 3 g Array.empty (Array.zeroCreate 13))
    throwsArg "parameters" (string spec.ParameterCount) (fun () -> Mlp.Init(spec, PhiloxKey.FromSeed 1UL, Span(Array.zeroCreate<float32> 3)))
    throwsArg "parameters" (string spec.ParameterCount) (fun () -> Mlp.LayerWeights(spec, Array.zeroCreate<float32> 3, 0).Length |> ignore)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> spec.WeightOffset 2 |> ignore) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> ws.LayerOutput(-1).Length |> ignore) |> ignore

let tests = testList "Mlp" [
    ``spec layout: weight [out, in] then bias, per layer in order``
    ``spec equality is by value and validation names the field``
    ``Forward matches the float64 reference``
    ``Backward equals central finite differences for every parameter and input``
    ``Backward equals central finite differences with each hidden activation, SB3's activation_fn choices included``
    ``Backward at the SAC critic shape equals finite differences on sampled coordinates``
    ``empty gradient spans skip work without changing the other result; accumulate adds exactly``
    ``Forward keeps the input copy: changing the caller's input after Forward does not change Backward``
    ``Init draws U(-1/sqrt(fan_in), 1/sqrt(fan_in)), deterministically per key, with offset = parameter index``
    ``Init variance of a 256x256 layer is near bound^2 / 3``
    ``Forward and Backward allocate nothing after warm-up``
    ``bad shapes throw ArgumentException naming the argument``
]
