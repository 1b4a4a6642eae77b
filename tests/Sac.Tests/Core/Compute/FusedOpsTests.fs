/// FusedOps against plain scalar reference loops, as FsCheck properties over shapes and seeds.
module FusedOpsTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute

let private config = Config.QuickThrowOnFailure.WithMaxTest(40)

/// Uniform floats in [-scale, scale) from a seeded generator, so each FsCheck case is reproducible from its seed.
let private randomFloats (seed: int) (n: int) (scale: float) =
    let rng = System.Random(seed)
    Array.init n (fun _ -> float32 ((rng.NextDouble() * 2.0 - 1.0) * scale))

let private activations = [ Activation.Identity; Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]

/// A matrix shape (rows 0..9, cols 0..70, crossing the 8/16/64-lane boundaries), a seed and an activation.
let private matrixCase =
    gen {
        let! rows = Gen.choose (0, 9)
        let! cols = Gen.oneof [ Gen.choose (0, 70); Gen.elements [ 1; 15; 16; 17; 63; 64; 65; 129 ] ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! act = Gen.elements activations
        return rows, cols, seed, act
    }

let private close (tol: float) (expected: float) (actual: float32) =
    abs (float actual - expected) <= tol * max 1.0 (abs expected)

let private throwsArg (name: string) (f: unit -> unit) =
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f ())
    Assert.Equal(name, ex.ParamName)

let ``BiasActivationForward matches the scalar reference`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "BiasActivationForward matches the scalar reference" (Prop.forAll (Arb.fromGen matrixCase) (fun (rows, cols, seed, act) ->
        let z = randomFloats seed (rows * cols) 3.0
        let bias = randomFloats (seed + 1) cols 1.0
        let got = Array.copy z
        FusedOps.BiasActivationForward(Span got, rows, cols, ReadOnlySpan bias, act)
        for i in 0 .. rows - 1 do
            for j in 0 .. cols - 1 do
                let v = z.[i * cols + j] + bias.[j]
                let a = got.[i * cols + j]
                match act with
                | Activation.Identity -> Assert.Equal(v, a)
                | Activation.Relu -> Assert.Equal((if v < 0.0f then 0.0f else v), a)
                | Activation.LeakyRelu -> Assert.Equal((if v < 0.0f then v * 0.01f else v), a)
                | Activation.Elu ->
                    // Exactly z above 0; below, exp(z) - 1 within a few float32 roundings of 1 (absolute).
                    if v > 0.0f then Assert.Equal(v, a)
                    else Assert.True(abs (float a - (Math.Exp(float v) - 1.0)) <= 2e-7, $"elu({v}) = {a}, expected {Math.Exp(float v) - 1.0}")
                | _ -> Assert.True(close 2e-6 (Math.Tanh(float v)) a, $"tanh({v}) = {a}, expected {Math.Tanh(float v)}")))

let ``ActivationBackward matches the derivative through the output`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "ActivationBackward matches the derivative through the output" (Prop.forAll (Arb.fromGen matrixCase) (fun (rows, cols, seed, act) ->
        let n = rows * cols
        let y =
            match act with
            | Activation.Relu -> randomFloats seed n 1.0 |> Array.map (fun v -> if v < 0.0f then 0.0f else v)
            | Activation.Tanh -> randomFloats seed n 1.0
            | Activation.Elu -> randomFloats seed n 4.0 |> Array.map (fun v -> if v > 0.0f then v else float32 (Math.Exp(float v) - 1.0))
            | Activation.LeakyRelu -> randomFloats seed n 4.0 |> Array.map (fun v -> if v < 0.0f then v * 0.01f else v)
            | _ -> randomFloats seed n 5.0
        let dy = randomFloats (seed + 7) n 2.0
        let got = Array.copy dy
        FusedOps.ActivationBackward(ReadOnlySpan y, Span got, act)
        for i in 0 .. n - 1 do
            let expected =
                match act with
                | Activation.Relu -> if y.[i] > 0.0f then dy.[i] else 0.0f
                | Activation.Tanh -> dy.[i] * (1.0f - y.[i] * y.[i])
                | Activation.Elu -> if y.[i] > 0.0f then dy.[i] else dy.[i] * (y.[i] + 1.0f)
                | Activation.LeakyRelu -> if y.[i] > 0.0f then dy.[i] else dy.[i] * 0.01f
                | _ -> dy.[i]
            Assert.Equal(expected, got.[i])))

let ``ReLU keeps NaN visible and zeroes the gradient where the unit is off`` = testCase "ReLU keeps NaN visible and zeroes the gradient where the unit is off" <| fun () ->
    let z = [| Single.NaN; -1.0f; 0.0f; 2.0f |]
    FusedOps.BiasActivationForward(Span z, 1, 4, ReadOnlySpan(Array.zeroCreate<float32> 4), Activation.Relu)
    Assert.True(Single.IsNaN z.[0])
    Assert.Equal<float32>([| 0.0f; 0.0f; 2.0f |], z.[1..])
    let dy = [| 5.0f; 5.0f; 5.0f; 5.0f |]
    FusedOps.ActivationBackward(ReadOnlySpan z, Span dy, Activation.Relu)
    Assert.Equal<float32>([| 0.0f; 0.0f; 0.0f; 5.0f |], dy)

/// Pre-activations at least 0.05 from 0 (the kink of ReLU and LeakyReLU, and where ELU's second derivative jumps),
/// so a central difference of step 0.01 sees one smooth piece.
let private awayFromZero (seed: int) (n: int) =
    randomFloats seed n 4.0 |> Array.map (fun v -> if abs v < 0.05f then (if v < 0.0f then v - 0.05f else v + 0.05f) else v)

let ``ActivationBackward through the output matches central differences of BiasActivationForward`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "ActivationBackward through the output matches central differences of BiasActivationForward" (Prop.forAll (Arb.fromGen matrixCase) (fun (rows, cols, seed, act) ->
        let n = rows * cols
        let z = awayFromZero seed n
        let zero = Array.zeroCreate<float32> cols
        let apply (shift: float32) =
            let v = z |> Array.map (fun x -> x + shift)
            FusedOps.BiasActivationForward(Span v, rows, cols, ReadOnlySpan zero, act)
            v
        let h = 0.01f
        let y, up, down = apply 0.0f, apply h, apply -h
        // dy = 1 turns the backward pass into the derivative itself.
        let derivative = Array.create n 1.0f
        FusedOps.ActivationBackward(ReadOnlySpan y, Span derivative, act)
        for i in 0 .. n - 1 do
            let fd = (float up.[i] - float down.[i]) / (2.0 * float h)
            // float32 rounding of the forward values (about 1e-7 / h) and the O(h^2) truncation of tanh and exp.
            if abs (fd - float derivative.[i]) > 2e-3 * max 1.0 (abs fd) then
                failwith $"{act}: at z = {z.[i]} the backward gives {derivative.[i]}, central differences {fd}"))

let ``ELU and LeakyReLU keep NaN visible, saturate as defined, and take the negative piece's slope at 0`` = testCase "ELU and LeakyReLU keep NaN visible, saturate as defined, and take the negative piece's slope at 0" <| fun () ->
    let input = [| Single.NaN; Single.NegativeInfinity; -1.0f; 0.0f; 2.0f; Single.PositiveInfinity |]
    let elu = Array.copy input
    FusedOps.BiasActivationForward(Span elu, 1, 6, ReadOnlySpan(Array.zeroCreate<float32> 6), Activation.Elu)
    Assert.True(Single.IsNaN elu.[0])
    Assert.Equal(-1.0f, elu.[1])
    Assert.True(abs (float elu.[2] - (exp -1.0 - 1.0)) < 2e-7)
    Assert.Equal<float32>([| 0.0f; 2.0f; Single.PositiveInfinity |], elu.[3..])
    // Next to 0, where exp(z) - 1 rounds badly: exactly z above 0, and between z and 0 below.
    let near = [| 1e-8f; 3e-7f; -1e-8f; -3e-7f |]
    FusedOps.BiasActivationForward(Span near, 1, 4, ReadOnlySpan(Array.zeroCreate<float32> 4), Activation.Elu)
    Assert.Equal<float32>([| 1e-8f; 3e-7f |], near.[.. 1])
    Assert.InRange(near.[2], -1e-8f, 0.0f)
    Assert.InRange(near.[3], -3e-7f, 0.0f)
    let leaky = Array.copy input
    FusedOps.BiasActivationForward(Span leaky, 1, 6, ReadOnlySpan(Array.zeroCreate<float32> 6), Activation.LeakyRelu)
    Assert.True(Single.IsNaN leaky.[0])
    Assert.Equal<float32>([| Single.NegativeInfinity; -0.01f; 0.0f; 2.0f; Single.PositiveInfinity |], leaky.[1..])
    // At y = 0 (z = 0): ELU's slope 1 (both pieces agree), LeakyReLU's negative slope, as ReLU's 0 there.
    let y = [| 0.0f; -0.5f; 3.0f |]
    let dEl = [| 4.0f; 4.0f; 4.0f |]
    FusedOps.ActivationBackward(ReadOnlySpan y, Span dEl, Activation.Elu)
    Assert.Equal<float32>([| 4.0f; 2.0f; 4.0f |], dEl)
    let dLeaky = [| 4.0f; 4.0f; 4.0f |]
    FusedOps.ActivationBackward(ReadOnlySpan y, Span dLeaky, Activation.LeakyRelu)
    Assert.Equal<float32>([| 4.0f * 0.01f; 4.0f * 0.01f; 4.0f |], dLeaky)

let ``ColumnSums equal the row-ordered float32 loop exactly, with and without accumulate`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "ColumnSums equal the row-ordered float32 loop exactly, with and without accumulate" (Prop.forAll (Arb.fromGen matrixCase) (fun (rows, cols, seed, _) ->
        let x = randomFloats seed (rows * cols) 4.0
        let prior = randomFloats (seed + 3) cols 10.0
        let expected = Array.init cols (fun j ->
            let mutable s = 0.0f
            for i in 0 .. rows - 1 do s <- s + x.[i * cols + j]
            s)
        let fresh = Array.create cols Single.NaN   // overwrite mode must not read dest
        FusedOps.ColumnSums(ReadOnlySpan x, rows, cols, Span fresh, false)
        Assert.Equal<float32>(expected, fresh)
        let acc = Array.copy prior
        FusedOps.ColumnSums(ReadOnlySpan x, rows, cols, Span acc, true)
        Assert.Equal<float32>(Array.map2 (+) prior expected, acc)))

let ``RowSums match a float64 loop`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "RowSums match a float64 loop" (Prop.forAll (Arb.fromGen matrixCase) (fun (rows, cols, seed, _) ->
        let x = randomFloats seed (rows * cols) 4.0
        let prior = randomFloats (seed + 3) rows 10.0
        let got = Array.create rows Single.NaN
        FusedOps.RowSums(ReadOnlySpan x, rows, cols, Span got, false)
        let acc = Array.copy prior
        FusedOps.RowSums(ReadOnlySpan x, rows, cols, Span acc, true)
        for i in 0 .. rows - 1 do
            let mutable s = 0.0
            let mutable mag = 0.0
            for j in 0 .. cols - 1 do
                s <- s + float x.[i * cols + j]
                mag <- mag + abs (float x.[i * cols + j])
            Assert.True(abs (float got.[i] - s) <= 1e-6 * max 1.0 mag, $"row {i}: {got.[i]} vs {s}")
            Assert.True(abs (float acc.[i] - (float prior.[i] + s)) <= 1e-6 * max 1.0 (mag + abs (float prior.[i])))))

/// softplus in float64: max(x, 0) + log1p(exp(-|x|)), with log1p by series where 1 + e would round.
let private softplus64 (x: float) =
    let e = exp (-(abs x))
    let l1p = if e < 1e-8 then e - e * e / 2.0 else log (1.0 + e)
    max x 0.0 + l1p

/// Inputs mixing ordinary, large, tiny and extreme magnitudes.
let private softplusInputs =
    gen {
        let! n = Gen.oneof [ Gen.choose (0, 40); Gen.choose (250, 600) ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        let rng = System.Random(seed)
        return Array.init n (fun _ ->
            match rng.Next 6 with
            | 0 -> float32 ((rng.NextDouble() * 2.0 - 1.0) * 100.0)
            | 1 -> float32 ((rng.NextDouble() * 2.0 - 1.0) * 1e-6)
            | 2 -> (if rng.Next 2 = 0 then 100.0f else -100.0f)
            | _ -> float32 ((rng.NextDouble() * 2.0 - 1.0) * 20.0))
    }

let ``Softplus matches a float64 reference and never overflows`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "Softplus matches a float64 reference and never overflows" (Prop.forAll (Arb.fromGen softplusInputs) (fun x ->
        let got = Array.create x.Length Single.NaN
        FusedOps.Softplus(ReadOnlySpan x, Span got)
        for i in 0 .. x.Length - 1 do
            let r = softplus64 (float x.[i])
            let a = got.[i]
            Assert.True(Single.IsFinite a && a >= 0.0f, $"softplus({x.[i]}) = {a}")
            Assert.True(abs (float a - r) <= 2e-6 * r + 1e-40, $"softplus({x.[i]}) = {a}, expected {r}")
        // In place (dest aliasing x) gives the same values.
        let inPlace = Array.copy x
        FusedOps.Softplus(ReadOnlySpan inPlace, Span inPlace)
        Assert.Equal<float32>(got, inPlace)))

let ``Softplus edge values`` = testCase "Softplus edge values" <| fun () ->
    let x = [| 100.0f; -100.0f; 0.0f; Single.PositiveInfinity; Single.NegativeInfinity; Single.NaN; -20.0f; 88.0f; -88.0f |]
    let y = Array.zeroCreate x.Length
    FusedOps.Softplus(ReadOnlySpan x, Span y)
    Assert.Equal(100.0f, y.[0])
    Assert.True(y.[1] >= 0.0f && y.[1] < 1e-40f)
    Assert.True(abs (float y.[2] - log 2.0) <= 2e-7, $"softplus(0) = {y.[2]}")
    Assert.Equal(Single.PositiveInfinity, y.[3])
    Assert.Equal(0.0f, y.[4])
    Assert.True(Single.IsNaN y.[5])
    Assert.True(abs (float y.[6] - softplus64 -20.0) <= 2e-6 * softplus64 -20.0, $"softplus(-20) = {y.[6]}")
    Assert.Equal(88.0f, y.[7])
    Assert.True(abs (float y.[8] - softplus64 -88.0) <= 1e-3 * softplus64 -88.0 + 1e-44, $"softplus(-88) = {y.[8]}")

let private lseCase =
    gen {
        let! n = Gen.oneof [ Gen.choose (1, 40); Gen.choose (250, 600) ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! scale = Gen.elements [ 1.0; 30.0; 200.0 ]
        let! shift = Gen.choose (-50, 50)
        return randomFloats seed n scale, float32 shift
    }

/// The soft maximum at temperature t, t * log sum exp(x / t), written plainly (float64, no shift) for moderate values.
let private softMax64 (t: float) (x: float32[]) = t * log (x |> Array.sumBy (fun v -> exp (float v / t)))

let ``the soft maximum matches plain float64, is shift-equivariant and lies between max and max + t log n`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "the soft maximum matches plain float64, is shift-equivariant and lies between max and max + t log n" (Prop.forAll (Arb.fromGen (Gen.zip lseCase (Gen.elements [ 0.05; 0.5; 1.0; 3.0 ]))) (fun ((x, c), t) ->
        let v = SoftMaximum.Of(ReadOnlySpan x, t)
        let m = float (Array.max x)
        // Where exp(x / t) overflows or underflows the plain form, compare against the max-shifted form written out.
        let lo = float (Array.min x)
        let plain = if abs m / t < 700.0 && abs lo / t < 700.0 then softMax64 t x else m + t * log (x |> Array.sumBy (fun u -> exp ((float u - m) / t)))
        Assert.True(abs (v - plain) <= 1e-9 * max 1.0 (abs plain), $"soft max = {v}, expected {plain}")
        Assert.True(v >= m && v <= m + t * log (float x.Length) + 1e-12 * max 1.0 (abs m), $"{v} outside [{m}, {m} + t log n]")
        let shifted = x |> Array.map (fun u -> u + c)
        let vs = SoftMaximum.Of(ReadOnlySpan shifted, t)
        // x + c is rounded to float32, so the shift holds to float32 precision.
        Assert.True(abs (vs - (v + float c)) <= 1e-5 * max 1.0 (abs v + abs (float c)), $"soft max(x + {c}) = {vs}, soft max(x) + c = {v + float c}")
        // The offset is added inside the scaling: t * offset more.
        let off = SoftMaximum.Of(ReadOnlySpan x, t, 0.75)
        Assert.True(abs (off - (v + t * 0.75)) <= 1e-9 * max 1.0 (abs v))))

let ``soft maximum special cases`` = testCase "soft maximum special cases" <| fun () ->
    let f (x: float32[]) (t: float) = SoftMaximum.Of(ReadOnlySpan x, t)
    Assert.Equal(Double.NegativeInfinity, f [| Single.NegativeInfinity; Single.NegativeInfinity |] 1.0)
    Assert.Equal(3.5, f [| 3.5f |] 1.0)
    Assert.Equal(2.0, f [| Single.NegativeInfinity; 2.0f |] 1.0)
    Assert.Equal(Double.PositiveInfinity, f [| 1.0f; Single.PositiveInfinity |] 1.0)
    Assert.True(Double.IsNaN(f [| 1.0f; Single.NaN |] 1.0))
    Assert.True(Double.IsNaN(f [| Single.NaN; 1.0f |] 0.0))     // NaN propagates at t = 0 too
    Assert.Equal(1000.0 + log 2.0, f [| 1000.0f; 1000.0f |] 1.0, 12)
    Assert.Equal(3.0, f [| 3.0f; 2.0f; 3.0f |] 0.0)             // t = 0: the hard maximum
    Assert.Equal(3.0, SoftMaximum.Of(ReadOnlySpan [| 3.0; 2.0; -1e300 |], 1e-300))  // tiny t: no underflow to log 0
    Assert.Equal(1000.0 + 1e-3 * log 2.0, SoftMaximum.Of(ReadOnlySpan [| 1000.0; 1000.0 |], 1e-3), 12)
    throwsArg "x" (fun () -> SoftMaximum.Of(ReadOnlySpan(Array.empty<float32>), 1.0) |> ignore)

let ``bad shapes throw ArgumentException naming the argument`` = testCase "bad shapes throw ArgumentException naming the argument" <| fun () ->
    let m = Array.zeroCreate<float32> 12
    throwsArg "z" (fun () -> FusedOps.BiasActivationForward(Span m, 3, 5, ReadOnlySpan(Array.zeroCreate<float32> 5), Activation.Relu))
    throwsArg "bias" (fun () -> FusedOps.BiasActivationForward(Span m, 3, 4, ReadOnlySpan(Array.zeroCreate<float32> 3), Activation.Relu))
    throwsArg "act" (fun () -> FusedOps.BiasActivationForward(Span m, 3, 4, ReadOnlySpan(Array.zeroCreate<float32> 4), enum<Activation> 7))
    throwsArg "dy" (fun () -> FusedOps.ActivationBackward(ReadOnlySpan m, Span(Array.zeroCreate<float32> 11), Activation.Tanh))
    throwsArg "x" (fun () -> FusedOps.ColumnSums(ReadOnlySpan m, 4, 4, Span(Array.zeroCreate<float32> 4), false))
    throwsArg "dest" (fun () -> FusedOps.ColumnSums(ReadOnlySpan m, 3, 4, Span(Array.zeroCreate<float32> 3), false))
    throwsArg "dest" (fun () -> FusedOps.RowSums(ReadOnlySpan m, 3, 4, Span(Array.zeroCreate<float32> 4), false))
    throwsArg "x" (fun () -> FusedOps.RowSums(ReadOnlySpan m, -3, -4, Span(Array.zeroCreate<float32> 3), false))
    throwsArg "dest" (fun () -> FusedOps.Softplus(ReadOnlySpan m, Span(Array.zeroCreate<float32> 13)))
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> FusedOps.ColumnSums(ReadOnlySpan m, 4, 4, Span(Array.zeroCreate<float32> 4), false))
    Assert.Contains("12", ex.Message)
    Assert.Contains("16", ex.Message)

let tests = testList "FusedOps" [
    ``BiasActivationForward matches the scalar reference``
    ``ActivationBackward matches the derivative through the output``
    ``ReLU keeps NaN visible and zeroes the gradient where the unit is off``
    ``ActivationBackward through the output matches central differences of BiasActivationForward``
    ``ELU and LeakyReLU keep NaN visible, saturate as defined, and take the negative piece's slope at 0``
    ``ColumnSums equal the row-ordered float32 loop exactly, with and without accumulate``
    ``RowSums match a float64 loop``
    ``Softplus matches a float64 reference and never overflows``
    ``Softplus edge values``
    ``the soft maximum matches plain float64, is shift-equivariant and lies between max and max + t log n``
    ``soft maximum special cases``
    ``bad shapes throw ArgumentException naming the argument``
]
