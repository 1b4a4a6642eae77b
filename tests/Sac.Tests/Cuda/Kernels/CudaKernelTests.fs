/// The CUDA kernels' host twins (Sac.Cuda KernelReference, KernelMath) against the library's definitions, and the
/// embedded PTX against what the backend expects (entries, no unresolved externals, the README's prototypes).
module CudaKernelTests

open System
open System.IO
open System.Text.RegularExpressions
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Kernels
open Sac.Fs

let private config = Config.QuickThrowOnFailure.WithMaxTest(40)

/// Whether an executable named <c>name</c> is in a directory on PATH.
let private onPath (name: string) =
    match Environment.GetEnvironmentVariable "PATH" with
    | null -> false
    | path ->
        path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        |> Array.exists (fun dir -> File.Exists(Path.Combine(dir, name)))

/// A test that runs only where the build could compile PTX (clang-14 or nvcc on PATH), and says so when skipped.
let private ptxCompilerCase =
    Conditional.testCaseWhere (fun () ->
        if not (onPath "clang-14" || onPath "nvcc") then
            Some "Neither clang-14 nor nvcc is on PATH, so Sac.Cuda was built without PTX kernels."
        else None)

/// Uniform floats in [-scale, scale) from a seeded generator, so each case is reproducible from its seed.
let private randomFloats (seed: int) (n: int) (scale: float) =
    let rng = Random(seed)
    Array.init n (fun _ -> float32 ((rng.NextDouble() * 2.0 - 1.0) * scale))

let private ro (a: float32[]) = ReadOnlySpan<float32>(a)

/// Distance in units in the last place between two finite floats of any sign (0 for +0 and -0).
let private ulps (a: float32) (b: float32) =
    let key (x: float32) =
        let i = int64 (BitConverter.SingleToInt32Bits x)
        if i < 0L then -(i &&& 0x7FFFFFFFL) else i
    abs (key a - key b)

let private assertBits (what: string) (expected: float32[]) (actual: float32[]) =
    Assert.Equal(expected.Length, actual.Length)
    for i in 0 .. expected.Length - 1 do
        if BitConverter.SingleToInt32Bits expected.[i] <> BitConverter.SingleToInt32Bits actual.[i] then
            failwith $"{what}[{i}]: expected {expected.[i]:R}, got {actual.[i]:R}"

let private assertClose (what: string) (tol: float) (floor: float) (expected: float32) (actual: float32) =
    let e, a = float expected, float actual
    if not (abs (a - e) <= tol * max (abs e) floor) then
        failwith $"{what}: expected {expected:R}, got {actual:R} (tolerance {tol} relative, floor {floor})"

/// A length crossing the 4-element and 256-lane boundaries, and an element offset for misaligned slices.
let private sizeAndOffset =
    gen {
        let! n = Gen.oneof [ Gen.choose (0, 19); Gen.choose (20, 700); Gen.elements [ 255; 256; 257; 1023; 1025 ] ]
        let! off = Gen.choose (0, 7)
        let! seed = Gen.choose (0, Int32.MaxValue)
        return n, off, seed
    }

// ---- KernelMath: the device's scalar functions ------------------------------------------------------------------

let ``KernelMath Min and Max are MathF Min and Max, NaN and signed zeros included`` = testCase "KernelMath Min and Max are MathF Min and Max, NaN and signed zeros included" <| fun () ->
    let pool = [| nanf; 0.0f; -0.0f; 1.0f; -1.0f; infinityf; -infinityf; 1e-45f; -2.5f; 3.25f |]
    for x in pool do
        for y in pool do
            for (name, got, want) in [ "Min", KernelMath.Min(x, y), MathF.Min(x, y); "Max", KernelMath.Max(x, y), MathF.Max(x, y) ] do
                if Single.IsNaN want then Assert.True(Single.IsNaN got, $"{name}({x}, {y}) = {got}, expected NaN")
                else Assert.True(BitConverter.SingleToInt32Bits got = BitConverter.SingleToInt32Bits want,
                                 $"{name}({x:R}, {y:R}) = {got:R}, expected {want:R}")

/// Random floats in a range plus, from raw bit patterns, subnormals and tiny magnitudes.
let private mathArgs (lo: float) (hi: float) =
    gen {
        let! seed = Gen.choose (0, Int32.MaxValue)
        let rng = Random(seed)
        let uniform = Array.init 200 (fun _ -> float32 (lo + rng.NextDouble() * (hi - lo)))
        let tiny = Array.init 20 (fun _ -> BitConverter.Int32BitsToSingle(rng.Next(1, 0x34000000)))
        return Array.append uniform tiny
    }

let private within1Ulp (name: string) (f: float32 -> float32) (exact: float -> float) (xs: float32[]) =
    for x in xs do
        let want = float32 (exact (float x))
        let got = f x
        if ulps got want > 1L then failwith $"{name}({x:R}) = {got:R}, correctly rounded {want:R}"
    true

let ``KernelMath Exp Log Tanh and SinCos are within 1 ulp of the exact values`` = testCase "KernelMath Exp Log Tanh and SinCos are within 1 ulp of the exact values" <| fun () ->
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -103.0 88.0)) (within1Ulp "Exp" KernelMath.Exp Math.Exp))
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs 0.0 1e6)) (within1Ulp "Log" KernelMath.Log Math.Log))
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs 0.0 2.0)) (within1Ulp "Log" KernelMath.Log Math.Log))
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -12.0 12.0)) (within1Ulp "Tanh" KernelMath.Tanh Math.Tanh))
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -0.7 0.7)) (within1Ulp "Tanh" KernelMath.Tanh Math.Tanh))
    for lo, hi in [ 0.0, float KernelMath.TwoPi; -1000.0, 1000.0 ] do
        Check.One(config, Prop.forAll (Arb.fromGen (mathArgs lo hi)) (fun xs ->
            within1Ulp "Sin" (fun x -> let struct (s, _) = KernelMath.SinCos x in s) Math.Sin xs
            && within1Ulp "Cos" (fun x -> let struct (_, c) = KernelMath.SinCos x in c) Math.Cos xs))

/// expm1 in float64 without cancellation: a Taylor series near 0, exp(x) - 1 elsewhere (its error there is far below
/// a float ulp of the result).
let private expm1Exact (x: float) =
    if abs x < 1e-3 then x + x * x / 2.0 + x * x * x / 6.0 + x * x * x * x / 24.0 else Math.Exp x - 1.0

let ``KernelMath Expm1 is within 1 ulp of the exact value`` = testCase "KernelMath Expm1 is within 1 ulp of the exact value" <| fun () ->
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -30.0 30.0)) (within1Ulp "Expm1" KernelMath.Expm1 expm1Exact))
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -0.7 0.7)) (within1Ulp "Expm1" KernelMath.Expm1 expm1Exact))
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -1e-4 1e-4)) (within1Ulp "Expm1" KernelMath.Expm1 expm1Exact))
    // The negative tiny arguments: mathArgs draws its tiny values positive.
    Check.One(config, Prop.forAll (Arb.fromGen (mathArgs -1e-4 1e-4)) (Array.map (fun x -> -x) >> within1Ulp "Expm1" KernelMath.Expm1 expm1Exact))
    Assert.True(Single.IsNaN(KernelMath.Expm1 nanf))
    Assert.Equal(-1.0f, KernelMath.Expm1 -infinityf)
    Assert.Equal(-1.0f, KernelMath.Expm1 -104.0f)
    Assert.Equal(infinityf, KernelMath.Expm1 infinityf)
    Assert.Equal(infinityf, KernelMath.Expm1 89.0f)
    Assert.Equal(BitConverter.SingleToInt32Bits -0.0f, BitConverter.SingleToInt32Bits(KernelMath.Expm1 -0.0f))
    Assert.Equal(0.0f, KernelMath.Expm1 0.0f)

let ``KernelMath special values follow the C library`` = testCase "KernelMath special values follow the C library" <| fun () ->
    Assert.True(Single.IsNaN(KernelMath.Exp nanf))
    Assert.Equal(infinityf, KernelMath.Exp infinityf)
    Assert.Equal(0.0f, KernelMath.Exp -infinityf)
    Assert.Equal(1.0f, KernelMath.Exp 0.0f)
    Assert.Equal(-infinityf, KernelMath.Log 0.0f)
    Assert.True(Single.IsNaN(KernelMath.Log -1.0f))
    Assert.Equal(infinityf, KernelMath.Log infinityf)
    Assert.Equal(0.0f, KernelMath.Log 1.0f)
    Assert.Equal(1.0f, KernelMath.Tanh infinityf)
    Assert.Equal(-1.0f, KernelMath.Tanh -infinityf)
    Assert.Equal(BitConverter.SingleToInt32Bits -0.0f, BitConverter.SingleToInt32Bits(KernelMath.Tanh -0.0f))
    Assert.True(Single.IsNaN(KernelMath.Tanh nanf))

let ``KernelMath PhiloxBlock is Philox Block`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "KernelMath PhiloxBlock is Philox Block" (fun (k0: uint32, k1: uint32, c0: uint32, c1: uint32, c2: uint32, c3: uint32) ->
        let struct (a0, a1, a2, a3) = Philox.Block(PhiloxKey(k0, k1), c0, c1, c2, c3)
        KernelMath.PhiloxBlock(k0, k1, c0, c1, c2, c3) = struct (a0, a1, a2, a3))

// ---- Element-wise kernels against the library -------------------------------------------------------------------

let ``SoftTarget is bitwise SoftBellman targetBatch`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "SoftTarget is bitwise SoftBellman targetBatch" (Prop.forAll (Arb.fromGen sizeAndOffset) (fun (n, _, seed) ->
        let rng = Random(seed)
        let r = randomFloats seed n 2.0
        let term = Array.init n (fun _ -> if rng.Next 4 = 0 then 1.0f else 0.0f)
        let q1 = randomFloats (seed + 1) n 10.0
        // Every fifth row ties, so the min's operand order is exercised.
        let q2 = randomFloats (seed + 2) n 10.0 |> Array.mapi (fun i v -> if i % 5 = 0 then q1.[i] else v)
        let logPi = randomFloats (seed + 3) n 4.0
        let gamma, alpha = float32 (rng.NextDouble()), float32 (rng.NextDouble())
        let want = Array.zeroCreate n
        SoftBellman.targetBatch gamma alpha n (ro r, ro term, ro q1, ro q2, ro logPi, Span want)
        let got = Array.zeroCreate n
        KernelReference.SoftTarget(gamma, alpha, ro r, ro term, ro q1, ro q2, ro logPi, Span got)
        assertBits "target" want got))

let ``Polyak is bitwise Polyak Update over misaligned slices`` =
    let gen =
        gen {
            let! n, offO, seed = sizeAndOffset
            let! offT = Gen.choose (0, 7)
            let! tau = Gen.elements [ 0.0f; 1.0f; 0.005f; 0.5f; 0.37f ]
            return n, offO, offT, tau, seed
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "Polyak is bitwise Polyak Update over misaligned slices" (Prop.forAll (Arb.fromGen gen) (fun (n, offO, offT, tau, seed) ->
        let online = randomFloats seed (n + 8) 3.0
        let target = randomFloats (seed + 1) (n + 8) 3.0
        // Some rows equal, where rounding alone would leave the interval without the clamp.
        for i in 0 .. 3 .. n - 1 do target.[offT + i] <- online.[offO + i]
        let want = Array.copy target
        Polyak.Update(tau, ReadOnlySpan(online, offO, n), Span(want, offT, n))
        let got = Array.copy target
        KernelReference.Polyak(tau, ReadOnlySpan(online, offO, n), Span(got, offT, n))
        assertBits "target" want got))

let ``BiasActivationForward matches FusedOps: identity, ReLU and LeakyReLU bitwise, tanh and ELU within 1 ulp of exact`` =
    let gen =
        gen {
            let! rows = Gen.choose (0, 9)
            let! cols = Gen.oneof [ Gen.choose (0, 70); Gen.elements [ 1; 15; 16; 17; 64; 65; 129 ] ]
            let! seed = Gen.choose (0, Int32.MaxValue)
            let! act = Gen.elements [ Activation.Identity; Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ]
            return rows, cols, seed, act
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "BiasActivationForward matches FusedOps: identity, ReLU and LeakyReLU bitwise, tanh and ELU within 1 ulp of exact" (Prop.forAll (Arb.fromGen gen) (fun (rows, cols, seed, act) ->
        let z = randomFloats seed (rows * cols) 4.0
        let bias = randomFloats (seed + 1) cols 1.0
        let want = Array.copy z
        FusedOps.BiasActivationForward(Span want, rows, cols, ro bias, act)
        let got = Array.copy z
        KernelReference.BiasActivationForward(rows, cols, act, ro bias, Span got)
        match act with
        | Activation.Tanh ->
            // TensorPrimitives.Tanh is accurate to about 3e-8 absolute near 0 (not relative), so FusedOps is matched
            // absolutely there; against the exact tanh the kernel is within 1 ulp everywhere.
            Array.iteri2 (fun i w g -> assertClose $"tanh[{i}]" 1e-6 1.0 w g) want got
            for k in 0 .. z.Length - 1 do
                let exact = float32 (Math.Tanh(float (z.[k] + bias.[k % cols])))
                if ulps exact got.[k] > 1L then failwith $"tanh[{k}] = {got.[k]:R}, exact {exact:R}"
        | Activation.Elu ->
            // FusedOps' ELU goes through the vectorised exp (a few 1e-8 absolute off); the kernel is within 1 ulp of
            // the exact value and equal to z where z > 0.
            Array.iteri2 (fun i w g -> assertClose $"elu[{i}]" 1e-6 1.0 w g) want got
            for k in 0 .. z.Length - 1 do
                let v = z.[k] + bias.[k % cols]
                let exact = if v > 0.0f then v else float32 (expm1Exact (float v))
                if ulps exact got.[k] > 1L then failwith $"elu[{k}] = {got.[k]:R}, exact {exact:R}"
        | _ -> assertBits "z" want got))

let ``ActivationBackward is bitwise FusedOps ActivationBackward`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "ActivationBackward is bitwise FusedOps ActivationBackward" (Prop.forAll (Arb.fromGen sizeAndOffset) (fun (n, _, seed) ->
        for act in [ Activation.Identity; Activation.Relu; Activation.Tanh; Activation.Elu; Activation.LeakyRelu ] do
            let y =
                match act with
                | Activation.Relu -> randomFloats seed n 1.0 |> Array.map (fun v -> if v < 0.0f then 0.0f else v)
                | Activation.Elu -> randomFloats seed n 3.0 |> Array.map (fun v -> if v > 0.0f then v else KernelMath.Expm1 v)
                | Activation.LeakyRelu -> randomFloats seed n 3.0 |> Array.map (fun v -> if v < 0.0f then v * 0.01f else v)
                | _ -> randomFloats seed n 1.0
            let dy = randomFloats (seed + 1) n 2.0
            let want = Array.copy dy
            FusedOps.ActivationBackward(ro y, Span want, act)
            let got = Array.copy dy
            KernelReference.ActivationBackward(act, ro y, Span got)
            assertBits $"dy ({act})" want got))

let ``ColumnSums is bitwise FusedOps ColumnSums, overwriting and accumulating`` =
    let gen =
        gen {
            let! rows = Gen.choose (0, 40)
            let! cols = Gen.oneof [ Gen.choose (0, 70); Gen.elements [ 64; 65; 129; 257 ] ]
            let! seed = Gen.choose (0, Int32.MaxValue)
            let! acc = Gen.elements [ false; true ]
            return rows, cols, seed, acc
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "ColumnSums is bitwise FusedOps ColumnSums, overwriting and accumulating" (Prop.forAll (Arb.fromGen gen) (fun (rows, cols, seed, acc) ->
        let x = randomFloats seed (rows * cols) 3.0
        let dest = randomFloats (seed + 1) cols 1.0
        let want = Array.copy dest
        FusedOps.ColumnSums(ro x, rows, cols, Span want, acc)
        let got = Array.copy dest
        KernelReference.ColumnSums(rows, cols, acc, ro x, Span got)
        assertBits "dest" want got))

let ``ConcatColumns and SumColumnBlock match their index definitions`` =
    let gen =
        gen {
            let! rows = Gen.choose (0, 12)
            let! left = Gen.choose (0, 9)
            let! right = Gen.choose (0, 9)
            let! offset = Gen.choose (0, left + right)
            let! cols = Gen.choose (0, left + right - offset)
            let! seed = Gen.choose (0, Int32.MaxValue)
            return rows, left, right, offset, cols, seed
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "ConcatColumns and SumColumnBlock match their index definitions" (Prop.forAll (Arb.fromGen gen) (fun (rows, left, right, offset, cols, seed) ->
        let width = left + right
        let l = randomFloats seed (rows * left) 1.0
        let r = randomFloats (seed + 1) (rows * right) 1.0
        let cat = Array.zeroCreate (rows * width)
        KernelReference.ConcatColumns(rows, left, right, ro l, ro r, Span cat)
        for i in 0 .. rows - 1 do
            for j in 0 .. width - 1 do
                let want = if j < left then l.[i * left + j] else r.[i * right + j - left]
                Assert.Equal(want, cat.[i * width + j])
        let x2 = randomFloats (seed + 2) (rows * width) 1.0
        let block = Array.zeroCreate (rows * cols)
        KernelReference.SumColumnBlock(rows, width, offset, cols, ro cat, ro x2, Span block)
        for i in 0 .. rows - 1 do
            for j in 0 .. cols - 1 do
                Assert.Equal(cat.[i * width + offset + j] + x2.[i * width + offset + j], block.[i * cols + j])))

// ---- Tanh-Gaussian head ---------------------------------------------------------------------------------------------

let private tanhGaussianCase =
    gen {
        let! rows = Gen.choose (0, 24)
        let! actDim = Gen.choose (1, 7)
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! bound = Gen.elements [ LogStdBound.Clamp, -20.0f, 2.0f; LogStdBound.Clamp, -1.0f, 0.5f; LogStdBound.TanhRescale, -5.0f, 2.0f ]
        return rows, actDim, seed, bound
    }

/// Actor output rows [mean (A), raw (A)], its two halves, and noise.
let private actorInputs rows actDim seed =
    let mu = randomFloats seed (rows * actDim) 2.0
    let raw = randomFloats (seed + 1) (rows * actDim) 4.0
    let eps = randomFloats (seed + 2) (rows * actDim) 3.0
    let out = Array.init (rows * 2 * actDim) (fun k ->
        let i, j = k / (2 * actDim), k % (2 * actDim)
        if j < actDim then mu.[i * actDim + j] else raw.[i * actDim + j - actDim])
    out, mu, raw, eps

let ``TanhGaussianForward matches TanhGaussian sampleForward within float rounding`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "TanhGaussianForward matches TanhGaussian sampleForward within float rounding" (Prop.forAll (Arb.fromGen tanhGaussianCase) (fun (rows, actDim, seed, (kind, lo, hi)) ->
        let out, mu, raw, eps = actorInputs rows actDim seed
        let range = LogStdRange.Of(kind, lo, hi)
        let ws = TanhGaussianWorkspace(max rows 1, actDim)
        TanhGaussian.sampleForward range (rows, actDim) (ro mu, ro raw, ro eps, ws)
        let n = rows * actDim
        let action, sigma, lsGrad, logPi = Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate rows
        KernelReference.TanhGaussianForward(kind, lo, hi, rows, actDim, ro out, ro eps, Span action, Span sigma, Span lsGrad, Span logPi)
        let wantAction, wantSigma, wantLogPi = ws.Action.ToArray(), ws.Sigma.ToArray(), ws.LogPi.ToArray()
        // sigma = exp(log sigma): an absolute rounding in log sigma, a few ulps of the range's largest bound (the
        // tanh rescale forms lo + (hi - lo)(t + 1)/2 in float32), is sigma's relative error.
        let sigmaTolerance = 1e-6 * (1.0 + float (max (abs lo) (abs hi)))
        for k in 0 .. n - 1 do
            assertClose $"sigma[{k}]" sigmaTolerance 1e-30 wantSigma.[k] sigma.[k]
            // u = mu + sigma eps carries sigma's rounding, scaled by |sigma eps|, into tanh.
            assertClose $"action[{k}]" 1e-6 (float (abs (sigma.[k] * eps.[k])) + 1e-30) wantAction.[k] action.[k]
            let wantGrad = TanhGaussian.logStdGrad range raw.[k]
            if kind = LogStdBound.Clamp then Assert.Equal(wantGrad, lsGrad.[k])
            // half (1 - t^2) loses t's last-ulp difference to cancellation: the error is absolute, about half ulp(t).
            else assertClose $"logStdGrad[{k}]" 1e-6 (0.5 * float (hi - lo)) wantGrad lsGrad.[k]
        for i in 0 .. rows - 1 do
            // log pi adds terms of both signs: the tolerance scales with the terms' magnitudes, not the sum's.
            let mutable scale = 0.0
            for j in 0 .. actDim - 1 do
                let k = i * actDim + j
                let ls = TanhGaussian.logStd range raw.[k]
                let u = mu.[k] + sigma.[k] * eps.[k]
                scale <- scale + 0.5 * float (eps.[k] * eps.[k]) + abs (float ls) + 1.0
                         + abs (float (TanhGaussian.squashCorrection u)) + 2.0 * abs (float (sigma.[k] * eps.[k]))
            if abs (float logPi.[i] - float wantLogPi.[i]) > 1e-6 * scale then
                failwith $"logPi[{i}]: expected {wantLogPi.[i]:R}, got {logPi.[i]:R}"
        true))

let ``TanhGaussianBackward is bitwise TanhGaussian sampleBackward on the same forward pass`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "TanhGaussianBackward is bitwise TanhGaussian sampleBackward on the same forward pass" (Prop.forAll (Arb.fromGen tanhGaussianCase) (fun (rows, actDim, seed, (kind, lo, hi)) ->
        let _, mu, raw, eps = actorInputs rows actDim seed
        let range = LogStdRange.Of(kind, lo, hi)
        let ws = TanhGaussianWorkspace(max rows 1, actDim)
        TanhGaussian.sampleForward range (rows, actDim) (ro mu, ro raw, ro eps, ws)
        let n = rows * actDim
        let dA = randomFloats (seed + 3) n 1.0
        let dLogPi = randomFloats (seed + 4) rows 0.5
        let dMu, dRaw = Array.zeroCreate n, Array.zeroCreate n
        TanhGaussian.sampleBackward (rows, actDim) (ws, ro dA, ro dLogPi, Span dMu, Span dRaw)
        let lsGrad = raw |> Array.map (TanhGaussian.logStdGrad range)
        let got = Array.zeroCreate (2 * n)
        KernelReference.TanhGaussianBackward(rows, actDim, ro (ws.Action.ToArray()), ro (ws.Sigma.ToArray()), ro eps,
                                             ro lsGrad, ro dA, ro dLogPi, Span got)
        let want = Array.init (2 * n) (fun k ->
            let i, j = k / (2 * actDim), k % (2 * actDim)
            if j < actDim then dMu.[i * actDim + j] else dRaw.[i * actDim + j - actDim])
        assertBits "actorOutputGrad" want got))

// ---- Philox streams -------------------------------------------------------------------------------------------------

let private philoxCase =
    gen {
        let! k0 = Gen.choose (Int32.MinValue, Int32.MaxValue)
        let! k1 = Gen.choose (Int32.MinValue, Int32.MaxValue)
        // Small offsets, offsets whose block index crosses 2^32, and offsets near the end of the stream.
        let! offset =
            Gen.oneof [ Gen.choose (0, 50) |> Gen.map uint64
                        Gen.choose (-40, 40) |> Gen.map (fun d -> (1UL <<< 34) + uint64 (int64 d))
                        Gen.choose (200, 400) |> Gen.map (fun d -> UInt64.MaxValue - uint64 d) ]
        let! n = Gen.oneof [ Gen.choose (0, 13); Gen.choose (14, 200) ]
        return PhiloxKey(uint32 k0, uint32 k1), offset, n
    }

let ``PhiloxUInt32 is bitwise Philox FillUInt32`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "PhiloxUInt32 is bitwise Philox FillUInt32" (Prop.forAll (Arb.fromGen philoxCase) (fun (key, offset, n) ->
        let want = Array.zeroCreate<uint32> n
        Philox.FillUInt32(key, offset, Span want)
        let got = Array.zeroCreate<uint32> n
        KernelReference.PhiloxUInt32(key, offset, Span got)
        want = got))

let ``PhiloxNormal matches Philox FillNormal within 1e-6 relative`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "PhiloxNormal matches Philox FillNormal within 1e-6 relative" (Prop.forAll (Arb.fromGen philoxCase) (fun (key, offset, n) ->
        let want = Array.zeroCreate<float32> n
        Philox.FillNormal(key, offset, Span want)
        let got = Array.zeroCreate<float32> n
        KernelReference.PhiloxNormal(key, offset, Span got)
        Array.iteri2 (fun i w g -> assertClose $"normal[{i}]" 1e-6 1e-30 w g) want got
        true))

// ---- Losses and reductions ----------------------------------------------------------------------------------------

let ``SumReduce covers every element once and is within float rounding of the exact sum`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "SumReduce covers every element once and is within float rounding of the exact sum" (Prop.forAll (Arb.fromGen sizeAndOffset) (fun (n, off, seed) ->
        let rng = Random(seed)
        // Small integers add exactly in any order: a missed or repeated element would show.
        let ints = Array.init (n + off) (fun _ -> float32 (rng.Next(-1000, 1000)))
        let exact = Array.sum (Array.map float ints.[off..])
        Assert.Equal(float32 exact, KernelReference.SumReduce(ReadOnlySpan(ints, off, n)))
        let x = randomFloats seed n 10.0
        let sumAbs = x |> Array.sumBy (fun v -> abs (float v))
        let bound = float (n / 256 + 10) * 6e-8 * sumAbs
        abs (float (KernelReference.SumReduce(ro x)) - Array.sumBy float x) <= bound))

let ``CriticLoss gradients are bitwise Losses critic and its terms sum to the loss`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "CriticLoss gradients are bitwise Losses critic and its terms sum to the loss" (Prop.forAll (Arb.fromGen sizeAndOffset) (fun (n, _, seed) ->
        let q = randomFloats seed n 20.0
        let y = randomFloats (seed + 1) n 20.0
        let want = Array.zeroCreate n
        let loss = Losses.critic n (ro q, ro y, Span want)
        let grad, terms = Array.zeroCreate n, Array.zeroCreate n
        KernelReference.CriticLoss(ro q, ro y, Span grad, Span terms)
        assertBits "qGrad" want grad
        assertClose "loss" 2e-6 1e-30 loss (KernelReference.SumReduce(ro terms))
        true))

let ``ActorLoss gradients are bitwise Losses actor, ties to q1, and its terms sum to the loss`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "ActorLoss gradients are bitwise Losses actor, ties to q1, and its terms sum to the loss" (Prop.forAll (Arb.fromGen sizeAndOffset) (fun (n, _, seed) ->
        let rng = Random(seed)
        let alpha = float32 (rng.NextDouble())
        let logPi = randomFloats seed n 5.0
        let q1 = randomFloats (seed + 1) n 20.0
        let q2 = randomFloats (seed + 2) n 20.0 |> Array.mapi (fun i v -> if i % 4 = 0 then q1.[i] else v)
        let wl, w1, w2 = Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n
        let loss = Losses.actor alpha n (ro logPi, ro q1, ro q2, Span wl, Span w1, Span w2)
        let gl, g1, g2, terms = Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n
        KernelReference.ActorLoss(alpha, ro logPi, ro q1, ro q2, Span gl, Span g1, Span g2, Span terms)
        assertBits "logPiGrad" wl gl
        assertBits "q1Grad" w1 g1
        assertBits "q2Grad" w2 g2
        let scale = Array.sumBy (fun (t: float32) -> abs (float t)) terms
        abs (float (KernelReference.SumReduce(ro terms)) - float loss) <= 2e-6 * scale + 1e-30))

// ---- Adam -------------------------------------------------------------------------------------------------------------

let ``SumSquaresPartial covers every element once for any grid, and ClipScale matches GradientClipping`` =
    let gen =
        gen {
            let! n, off, seed = sizeAndOffset
            let! blocks = Gen.oneof [ Gen.choose (1, 8); Gen.choose (9, 256) ]
            return n, off, seed, blocks
        }
    testPropertyWithConfig (Properties.ofFsCheck config) "SumSquaresPartial covers every element once for any grid, and ClipScale matches GradientClipping" (Prop.forAll (Arb.fromGen gen) (fun (n, off, seed, blocks) ->
        let rng = Random(seed)
        let ints = Array.init (n + off) (fun _ -> float32 (rng.Next(-100, 100)))
        let partials = Array.zeroCreate<float> blocks
        KernelReference.SumSquaresPartial(ReadOnlySpan(ints, off, n), Span partials)
        Assert.Equal(ints.[off..] |> Array.sumBy (fun v -> float v * float v), Array.sum partials)
        let g = randomFloats seed n 3.0
        KernelReference.SumSquaresPartial(ro g, Span partials)
        let maxNorm = float32 (0.1 + rng.NextDouble() * 20.0)
        let want = GradientClipping.ScaleFactor(maxNorm, GradientClipping.GlobalNorm(ro g))
        assertClose "scale" 1e-6 1e-30 want (KernelReference.ClipScale(maxNorm, ReadOnlySpan partials))
        true))

let private adamCase =
    gen {
        let! n, _, seed = sizeAndOffset
        let! steps = Gen.choose (1, 5)
        let! lr = Gen.elements [ 3e-4f; 1e-3f; 0.05f ]
        let! beta1 = Gen.elements [ 0.9f; 0.5f; 0.0f ]
        let! beta2 = Gen.elements [ 0.999f; 0.99f ]
        let! maxNorm = Gen.elements [ 0.05f; 1.0f; 100.0f ]
        return n, seed, steps, AdamConfig(lr, beta1, beta2, 1e-8f, Nullable maxNorm)
    }

/// Runs `steps` Adam steps from the same start on the host (Adam.Update) and through KernelReference, with the
/// clipping partials from a grid of `blocks`, or no clipping when the config has none.
let private runAdam (cfg: AdamConfig) n seed steps blocks =
    let p0 = randomFloats seed n 1.0
    let host = Array.copy p0
    let mutable state = Adam.Init n
    let dev, m, v = Array.copy p0, Array.zeroCreate n, Array.zeroCreate n
    let partials = Array.zeroCreate<float> blocks
    for t in 1 .. steps do
        let g = randomFloats (seed + t) n 2.0
        state <- Adam.Update(cfg, state, ro g, Span host)
        let struct (stepSize, inv) = KernelReference.AdamStepScalars(cfg, int64 t)
        let used =
            match cfg.MaxGradNorm |> Option.ofNullable with
            | Some _ ->
                KernelReference.SumSquaresPartial(ro g, Span partials)
                ReadOnlySpan partials
            | None -> ReadOnlySpan<float>.Empty
        let maxNorm = cfg.MaxGradNorm.GetValueOrDefault()
        KernelReference.Adam(stepSize, inv, cfg.Beta1, cfg.Beta2, cfg.Epsilon, maxNorm, used, Span dev, ro g, Span m, Span v)
    host, state, dev, m, v

let ``Adam without clipping is bitwise Adam Update over several steps`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "Adam without clipping is bitwise Adam Update over several steps" (Prop.forAll (Arb.fromGen adamCase) (fun (n, seed, steps, cfg) ->
        let cfg = AdamConfig(cfg.LearningRate, cfg.Beta1, cfg.Beta2, cfg.Epsilon, Nullable())
        let host, state, dev, m, v = runAdam cfg n seed steps 1
        assertBits "parameters" host dev
        assertBits "m" state.FirstMoment m
        assertBits "v" state.SecondMoment v
        true))

let ``Adam with clipping follows Adam Update within 1e-6 over several steps`` =
    testPropertyWithConfig (Properties.ofFsCheck config) "Adam with clipping follows Adam Update within 1e-6 over several steps" (Prop.forAll (Arb.fromGen adamCase) (fun (n, seed, steps, cfg) ->
        let blocks = min 256 (max 1 ((n + 255) / 256))
        let host, state, dev, m, v = runAdam cfg n seed steps blocks
        let floorOf (a: float32[]) = 1e-3 * (Array.fold (fun acc (x: float32) -> max acc (abs (float x))) 1e-30 a)
        let pf, mf, vf = floorOf host, floorOf state.FirstMoment, floorOf state.SecondMoment
        for i in 0 .. n - 1 do
            assertClose $"p[{i}]" 1e-6 pf host.[i] dev.[i]
            assertClose $"m[{i}]" 1e-6 mf state.FirstMoment.[i] m.[i]
            assertClose $"v[{i}]" 1e-6 vf state.SecondMoment.[i] v.[i]
        true))

// ---- Embedded PTX -------------------------------------------------------------------------------------------------

let ``KernelImages reports its modules or why there are none`` = testCase "KernelImages reports its modules or why there are none" <| fun () ->
    if KernelImages.BuiltWithKernels then
        Assert.Null(KernelImages.MissingReason)
        for KeyValue (m, _) in KernelImages.KernelNames do
            Assert.Contains(m, KernelImages.ModuleNames)
            Assert.StartsWith("//", KernelImages.GetPtx(m).TrimStart())
    else
        Assert.Equal("Sac.Cuda was built without kernels: neither clang-14 nor nvcc was found at build time", KernelImages.MissingReason)
        let ex = Assert.Throws<KernelImageMissingException>(fun () -> KernelImages.GetPtx "adam" |> ignore)
        Assert.Equal("adam", ex.ModuleName)
    let ex = Assert.Throws<KernelImageMissingException>(fun () -> KernelImages.GetPtx "no_such_module" |> ignore)
    Assert.Equal("no_such_module", ex.ModuleName)
    Assert.Contains("no_such_module", ex.Message)

/// The parameter types of each `.entry` in a PTX module, in order (".u64", ".u32", ".f32", ...).
let private entryParams (ptx: string) =
    Regex.Matches(ptx, @"\.entry\s+(\w+)\s*\(([^)]*)\)")
    |> Seq.map (fun m ->
        let types = Regex.Matches(m.Groups.[2].Value, @"\.param\s+(\.\w+)") |> Seq.map (fun t -> t.Groups.[1].Value) |> List.ofSeq
        m.Groups.[1].Value, types)
    |> Map.ofSeq

let ``PTX modules hold every expected entry and no unresolved externals`` = ptxCompilerCase "PTX modules hold every expected entry and no unresolved externals" <| fun () ->
    Assert.True(KernelImages.BuiltWithKernels, KernelImages.MissingReason)
    for KeyValue (m, kernels) in KernelImages.KernelNames do
        let ptx = KernelImages.GetPtx m
        Assert.Contains(".target sm_70", ptx)
        Assert.DoesNotContain(".extern", ptx)
        let entries = entryParams ptx
        for k in kernels do
            Assert.True(entries.ContainsKey k, $"module {m} has no .entry {k}")
        // Every float multiply and add is explicitly rounded (no contraction left for ptxas to do).
        Assert.False(Regex.IsMatch(ptx, @"\b(mul|add|sub)\.f32\b"), $"module {m} has a contractible float operation")

let private findUp (relative: string) =
    let rec go (dir: DirectoryInfo | null) =
        match dir with
        | null -> failwith $"{relative} not found above {AppContext.BaseDirectory}"
        | d when File.Exists(Path.Combine(d.FullName, relative)) -> Path.Combine(d.FullName, relative)
        | d -> go d.Parent
    go (DirectoryInfo AppContext.BaseDirectory)

let ``native README prototypes match the compiled kernels' parameter lists`` = ptxCompilerCase "native README prototypes match the compiled kernels' parameter lists" <| fun () ->
    let ptxType (cParam: string) =
        let p = cParam.Trim()
        if p.Contains "*" || p.StartsWith "unsigned long long" then ".u64"
        elif p.StartsWith "float" then ".f32"
        elif p.StartsWith "int" || p.StartsWith "unsigned int" then ".u32"
        else failwith $"unknown C parameter type in '{p}'"
    let documented =
        File.ReadAllLines(findUp (Path.Combine("native", "README.md")))
        |> Array.choose (fun line ->
            let m = Regex.Match(line, @"^void\s+(\w+)\((.*)\);\s*$")
            if m.Success then Some(m.Groups.[1].Value, m.Groups.[2].Value.Split(',') |> Array.map ptxType |> List.ofArray)
            else None)
        |> Map.ofArray
    let compiled =
        KernelImages.KernelNames.Keys |> Seq.map (KernelImages.GetPtx >> entryParams)
        |> Seq.collect Map.toSeq |> Map.ofSeq
    for KeyValue (_, kernels) in KernelImages.KernelNames do
        for k in kernels do
            Assert.True(documented.ContainsKey k, $"native/README.md documents no prototype for {k}")
            Assert.Equal<string list>(documented.[k], compiled.[k])

let tests = testList "Kernels" [
    ``KernelMath Min and Max are MathF Min and Max, NaN and signed zeros included``
    ``KernelMath Exp Log Tanh and SinCos are within 1 ulp of the exact values``
    ``KernelMath Expm1 is within 1 ulp of the exact value``
    ``KernelMath special values follow the C library``
    ``KernelMath PhiloxBlock is Philox Block``
    ``SoftTarget is bitwise SoftBellman targetBatch``
    ``Polyak is bitwise Polyak Update over misaligned slices``
    ``BiasActivationForward matches FusedOps: identity, ReLU and LeakyReLU bitwise, tanh and ELU within 1 ulp of exact``
    ``ActivationBackward is bitwise FusedOps ActivationBackward``
    ``ColumnSums is bitwise FusedOps ColumnSums, overwriting and accumulating``
    ``ConcatColumns and SumColumnBlock match their index definitions``
    ``TanhGaussianForward matches TanhGaussian sampleForward within float rounding``
    ``TanhGaussianBackward is bitwise TanhGaussian sampleBackward on the same forward pass``
    ``PhiloxUInt32 is bitwise Philox FillUInt32``
    ``PhiloxNormal matches Philox FillNormal within 1e-6 relative``
    ``SumReduce covers every element once and is within float rounding of the exact sum``
    ``CriticLoss gradients are bitwise Losses critic and its terms sum to the loss``
    ``ActorLoss gradients are bitwise Losses actor, ties to q1, and its terms sum to the loss``
    ``SumSquaresPartial covers every element once for any grid, and ClipScale matches GradientClipping``
    ``Adam without clipping is bitwise Adam Update over several steps``
    ``Adam with clipping follows Adam Update within 1e-6 over several steps``
    ``KernelImages reports its modules or why there are none``
    ``PTX modules hold every expected entry and no unresolved externals``
    ``native README prototypes match the compiled kernels' parameter lists``
]
