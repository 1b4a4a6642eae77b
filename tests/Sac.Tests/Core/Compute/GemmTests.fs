module GemmTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute

type Case =
    { TA: Transpose; TB: Transpose; M: int; N: int; K: int
      Alpha: float32; Beta: float32; PadA: int; PadB: int; PadC: int; Seed: int }

let private dims = Gen.frequency [ 3, Gen.choose (1, 40); 1, Gen.elements [ 1; 8; 15; 16; 17; 31; 32; 33; 64; 65 ] ]

let private caseGen =
    gen {
        let! ta = Gen.elements [ Transpose.No; Transpose.Yes ]
        let! tb = Gen.elements [ Transpose.No; Transpose.Yes ]
        let! m = dims
        let! n = dims
        let! k = dims
        let! alpha = Gen.elements [ 1.0f; -0.5f; 2.0f ]
        let! beta = Gen.elements [ 0.0f; 1.0f; 0.25f ]
        let! pa = Gen.choose (0, 3)
        let! pb = Gen.choose (0, 3)
        let! pc = Gen.choose (0, 3)
        let! seed = Gen.choose (0, 1_000_000)
        return { TA = ta; TB = tb; M = m; N = n; K = k; Alpha = alpha; Beta = beta; PadA = pa; PadB = pb; PadC = pc; Seed = seed }
    }

let private fill (rnd: Random) n = Array.init n (fun _ -> float32 (rnd.NextDouble() * 2.0 - 1.0))

/// Runs one case on a provider; returns (result, reference result computed in double, error bound).
let private run (g: IGemm) (c: Case) =
    let rnd = Random c.Seed
    let aRows, aCols = if c.TA = Transpose.No then c.M, c.K else c.K, c.M
    let bRows, bCols = if c.TB = Transpose.No then c.K, c.N else c.N, c.K
    let lda, ldb, ldc = aCols + c.PadA, bCols + c.PadB, c.N + c.PadC
    let a, b = fill rnd (aRows * lda), fill rnd (bRows * ldb)
    let c0 = fill rnd (c.M * ldc)
    let out = Array.copy c0
    g.Sgemm(c.TA, c.TB, c.M, c.N, c.K, c.Alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, c.Beta, Span out, ldc)
    let expected = Array.copy c0
    ReferenceGemm.Instance.Sgemm(c.TA, c.TB, c.M, c.N, c.K, c.Alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, c.Beta, Span expected, ldc)
    out, expected, ldc

let private agrees (g: IGemm) (c: Case) =
    let out, expected, ldc = run g c
    // float32 accumulation over k terms of magnitude <= 1: error grows like k * eps.
    let tol = 1e-5f * float32 (c.K + 4) * (abs c.Alpha + 1.0f)
    let bad =
        [ for i in 0 .. c.M - 1 do
            for j in 0 .. ldc - 1 do
                let idx = i * ldc + j
                if j >= c.N then
                    if out.[idx] <> expected.[idx] then yield (i, j, "padding written")
                elif abs (out.[idx] - expected.[idx]) > tol then yield (i, j, sprintf "%g vs %g" out.[idx] expected.[idx]) ]
    if not bad.IsEmpty then failwithf "%s %A: %A" (TestProviders.label g) c (List.truncate 3 bad)
    true

let ``every provider matches the reference on random shapes, transposes and strides`` = testCase "every provider matches the reference on random shapes, transposes and strides" <| fun () ->
    for g in TestProviders.gemms do
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.forAll (Arb.fromGen caseGen) (agrees g))

let ``deep K crosses the K-block boundary and still matches`` = testCase "deep K crosses the K-block boundary and still matches" <| fun () ->
    for g in TestProviders.gemms do
        for (m, n, k) in [ (9, 33, ManagedGemm.KBlock + 1); (40, 17, 2 * ManagedGemm.KBlock + 7) ] do
            for ta in [ Transpose.No; Transpose.Yes ] do
                for tb in [ Transpose.No; Transpose.Yes ] do
                    agrees g { TA = ta; TB = tb; M = m; N = n; K = k; Alpha = 1.0f; Beta = 0.5f; PadA = 1; PadB = 0; PadC = 2; Seed = m + n + k } |> ignore

let ``matrix-vector shapes (n = 1 or m = 1) match the reference`` = testCase "matrix-vector shapes (n = 1 or m = 1) match the reference" <| fun () ->
    for g in TestProviders.gemms do
        for (m, n, k) in [ (256, 1, 256); (1, 256, 256); (1, 1, 37); (5, 1, 1); (1, 7, 1) ] do
            for ta in [ Transpose.No; Transpose.Yes ] do
                for tb in [ Transpose.No; Transpose.Yes ] do
                    for beta in [ 0.0f; 0.75f ] do
                        agrees g { TA = ta; TB = tb; M = m; N = n; K = k; Alpha = 1.5f; Beta = beta; PadA = 2; PadB = 1; PadC = 1; Seed = 7 } |> ignore

let ``beta = 0 never reads C, so NaN there does not propagate`` = testCase "beta = 0 never reads C, so NaN there does not propagate" <| fun () ->
    for g in TestProviders.gemms do
        for (m, n, k) in [ (13, 29, 11); (256, 1, 8); (1, 40, 3); (4, 4, 0) ] do
            let a, b = Array.create (m * k) 1.0f, Array.create (k * n) 2.0f
            let c = Array.create (m * n) Single.NaN
            g.Sgemm(Transpose.No, Transpose.No, m, n, k, 1.0f, ReadOnlySpan a, max k 1, ReadOnlySpan b, n, 0.0f, Span c, n)
            Assert.True(c |> Array.forall (fun x -> x = 2.0f * float32 k), sprintf "%s %dx%dx%d" (TestProviders.label g) m n k)

let private bits (x: float32[]) = x |> Array.map BitConverter.SingleToInt32Bits

let ``managed GEMM is bitwise identical on one, two and three threads`` = testCase "managed GEMM is bitwise identical on one, two and three threads" <| fun () ->
    // Each part packs its own panels and runs every K block of its own tiles: the split (by rows of panels where op(A)
    // has more, by columns where op(B) has), the K blocks, beta and in-place panels must not change a bit.
    let rnd = Random 3
    for kernel in TestProviders.managed |> List.map (fun g -> g.Kernel) |> List.distinct do
        let one = TestProviders.managed |> List.find (fun g -> g.Kernel = kernel && g.Threads = 1)
        use three = new ManagedGemm(3, kernel)
        let many = [ TestProviders.managed |> List.find (fun g -> g.Kernel = kernel && g.Threads = 2); three ]
        for (m, n, k) in [ (256, 256, 256); (256, 23, 256); (23, 256, 256); (100, 300, 450); (9, 200, 2 * ManagedGemm.KBlock + 5); (70, 5, 40) ] do
            for ta in [ Transpose.No; Transpose.Yes ] do
                for tb in [ Transpose.No; Transpose.Yes ] do
                    let lda, ldb = (if ta = Transpose.No then k else m), (if tb = Transpose.No then n else k)
                    let a, b, c0 = fill rnd (m * k), fill rnd (k * n), fill rnd (m * n)
                    let product (g: IGemm) =
                        let c = Array.copy c0
                        g.Sgemm(ta, tb, m, n, k, 1.5f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, 0.5f, Span c, n)
                        c
                    let expected = product one
                    for g in many do
                        Assert.True((bits (product g) = bits expected), sprintf "%A %A%A %dx%dx%d differs between 1 and %d threads" kernel ta tb m n k g.Threads)

let ``panels read in place give bitwise the packed product, on every kernel`` = testCase "panels read in place give bitwise the packed product, on every kernel" <| fun () ->
    // TN reads full A^T panels in place where op(B) is one panel wide and packs A otherwise; NT with explicitly
    // transposed copies packs B and, with AVX-512, reads full panels of A by rows in place wherever A's panels are the
    // outer loop (packing them otherwise). The micro-kernel's FMA order is the same on every path, so the two must
    // agree to the bit, edge panels and K blocks included; the shapes put n at or below every kernel's panel width
    // (32, 16, 4) and above it, and A's panels both outside B's (64x64x64, 100x70 over two K blocks) and inside them.
    let rnd = Random 11
    let transpose (x: float32[]) rows cols = Array.init (rows * cols) (fun i -> x.[(i % rows) * cols + i / rows])
    for g in TestProviders.managed do
        for (m, n, k) in [ (256, 23, 256); (256, 16, 256); (48, 4, 100); (42, 9, ManagedGemm.KBlock + 9); (64, 64, 64); (13, 37, 5)
                           (100, 70, ManagedGemm.KBlock + 9); (24, 96, 40) ] do
            for lda, ldb in [ m, n; m + 3, n + 5 ] do
                let a = fill rnd (k * lda)         // k x m, stored with row stride lda
                let b = fill rnd (k * ldb)         // k x n, stored with row stride ldb
                let inPlace = Array.zeroCreate<float32> (m * n)
                g.Sgemm(Transpose.Yes, Transpose.No, m, n, k, 1.25f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, 0.0f, Span inPlace, n)
                let at = transpose (Array.init (k * m) (fun i -> a.[(i / m) * lda + i % m])) k m     // m x k
                let bt = transpose (Array.init (k * n) (fun i -> b.[(i / n) * ldb + i % n])) k n     // n x k
                let packed = Array.zeroCreate<float32> (m * n)
                g.Sgemm(Transpose.No, Transpose.Yes, m, n, k, 1.25f, ReadOnlySpan at, k, ReadOnlySpan bt, k, 0.0f, Span packed, n)
                Assert.True((inPlace = packed), sprintf "%s %dx%dx%d (lda %d, ldb %d): in place differs from packed" (TestProviders.label g) m n k lda ldb)

let ``narrow and short products read operands in place and give bitwise the packed product`` = testCase "narrow and short products read operands in place and give bitwise the packed product" <| fun () ->
    // Where op(B) is at most one panel wide an untransposed A is read by rows in place (AVX-512); where op(A) has at
    // most two panels an untransposed B is read in place; AVX-512 writes a tile's first columns with masked stores.
    // Each product is checked against the same entries of one 40 wider (or taller), where both operands are packed
    // and the tiles that were partial are full (or, for a short product's last rows, the reverse: a partial-row tile
    // merges through a buffer): the accumulation order and the rounding are the same, so every bit must be, -0
    // included, and nothing outside the product may change.
    let rnd = Random 17
    let extra = 40
    for g in TestProviders.managed do
        for alpha, beta in [ 1.0f, 0.0f; -0.75f, 0.5f; -1.0f, 0.0f ] do
            for ta in [ Transpose.No; Transpose.Yes ] do
                for tb in [ Transpose.No; Transpose.Yes ] do
                    // Narrow: n columns against n + extra, in the same arrays (B and C at the wide strides).
                    for (m, n, k) in [ (256, 12, 256); (64, 23, 100); (24, 32, 7); (40, 17, ManagedGemm.KBlock + 9) ] do
                        let w = n + extra
                        let lda = if ta = Transpose.No then k else m
                        let ldb = if tb = Transpose.No then w else k
                        let a = fill rnd (m * k)
                        // A zero row of A gives -alpha * 0 = -0 products when alpha < 0: the merge's +0 must show.
                        if ta = Transpose.No then Array.fill a 0 k 0.0f
                        let b = fill rnd (k * w)
                        let c0 = fill rnd (m * w)
                        let narrow, wide = Array.copy c0, Array.copy c0
                        g.Sgemm(ta, tb, m, n, k, alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span narrow, w)
                        g.Sgemm(ta, tb, m, w, k, alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span wide, w)
                        let expected = Array.init (m * w) (fun i -> if i % w < n then wide.[i] else c0.[i])
                        Assert.True((bits narrow = bits expected), sprintf "%s %A%A %dx%dx%d alpha %g beta %g: narrow differs from wide" (TestProviders.label g) ta tb m n k alpha beta)
                    // Short: m rows against m + extra, in the same arrays (A and C at the tall strides).
                    for (m, n, k) in [ (12, 256, 256); (16, 70, 33); (9, 64, ManagedGemm.KBlock + 3); (2, 40, 5) ] do
                        let t = m + extra
                        let lda = if ta = Transpose.No then k else t
                        let ldb = if tb = Transpose.No then n else k
                        let a = fill rnd (t * k)
                        let b = fill rnd (k * n)
                        let c0 = fill rnd (t * n)
                        let short, tall = Array.copy c0, Array.copy c0
                        g.Sgemm(ta, tb, m, n, k, alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span short, n)
                        g.Sgemm(ta, tb, t, n, k, alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span tall, n)
                        let expected = Array.init (t * n) (fun i -> if i / n < m then tall.[i] else c0.[i])
                        Assert.True((bits short = bits expected), sprintf "%s %A%A %dx%dx%d alpha %g beta %g: short differs from tall" (TestProviders.label g) ta tb m n k alpha beta)

let private activations = [ Activation.Identity; Activation.Relu; Activation.LeakyRelu; Activation.Tanh; Activation.Elu ]

/// Each managed kernel's GEMMs on one, two and three threads (one thread first), over every shape and all four
/// transposes, with dense operands' leading dimensions.
let private layerCases (shapes: (int * int * int) list) (body: ManagedGemm list -> Transpose -> Transpose -> int -> int -> int -> int -> int -> unit) =
    for kernel in TestProviders.managed |> List.map (fun g -> g.Kernel) |> List.distinct do
        use three = new ManagedGemm(3, kernel)
        let providers = (TestProviders.managed |> List.filter (fun g -> g.Kernel = kernel && g.Threads = 1))
                        @ (TestProviders.managed |> List.filter (fun g -> g.Kernel = kernel && g.Threads <> 1)) @ [ three ]
        for (m, n, k) in shapes do
            for ta in [ Transpose.No; Transpose.Yes ] do
                for tb in [ Transpose.No; Transpose.Yes ] do
                    let lda, ldb = (if ta = Transpose.No then k else m), (if tb = Transpose.No then n else k)
                    body providers ta tb m n k lda ldb

let ``a layer's forward step in the GEMM gives bitwise Sgemm then BiasActivationForward`` = testCase "a layer's forward step in the GEMM gives bitwise Sgemm then BiasActivationForward" <| fun () ->
    // SgemmBiasActivation adds the bias and applies the activation as AVX-512 tiles store (masked stores for partial
    // columns), after the store on the other kernels and edge tiles, and in a second pass for tanh, ELU and the
    // matrix-vector shapes; only the last K block may take the step. Every path must give the two-pass result to the
    // bit, -0 included, on any thread count, and never read the old C.
    let rnd = Random 23
    layerCases [ (256, 256, 256); (256, 23, 17); (23, 256, 256); (9, 40, ManagedGemm.KBlock + 9); (70, 33, 5); (1, 40, 7); (40, 1, 7); (16, 16, 0) ]
        (fun providers ta tb m n k lda ldb ->
            let a, b, bias = fill rnd (m * k), fill rnd (k * n), fill rnd n
            // A zero row of A with a -0 bias gives z + b = -0 where z = +0: the sign must survive.
            if ta = Transpose.No && k > 0 then Array.fill a 0 k 0.0f
            bias.[0] <- -0.0f
            for act in activations do
                let expected = Array.create (m * n) nanf
                providers.Head.Sgemm(ta, tb, m, n, k, 1.0f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, 0.0f, Span expected, n)
                FusedOps.BiasActivationForward(Span expected, m, n, ReadOnlySpan bias, act)
                for g in providers do
                    // NaN in the old C: the step must not read it.
                    let fused = Array.create (m * n) nanf
                    g.SgemmBiasActivation(ta, tb, m, n, k, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, Span fused, ReadOnlySpan bias, act)
                    Assert.True((bits fused = bits expected), sprintf "%s %A%A %dx%dx%d %A: differs from the two passes" (TestProviders.label g) ta tb m n k act))
    let g = TestProviders.managed.Head
    let ex = Assert.Throws<ArgumentException>(fun () ->
        g.SgemmBiasActivation(Transpose.No, Transpose.No, 2, 3, 2, ReadOnlySpan(Array.zeroCreate 4), 2, ReadOnlySpan(Array.zeroCreate 6), 3,
                              Span(Array.zeroCreate 6), ReadOnlySpan(Array.zeroCreate 2), Activation.Relu))
    Assert.Equal("bias", ex.ParamName)

let ``a layer's gradient below its activation in the GEMM gives bitwise Sgemm then ActivationBackward`` = testCase "a layer's gradient below its activation in the GEMM gives bitwise Sgemm then ActivationBackward" <| fun () ->
    // SgemmActivationBackward applies the derivative, read through Y, as AVX-512 tiles store the last K block, after
    // the store elsewhere, and in a second pass for the matrix-vector shapes. With beta 1 the old C (a further
    // gradient) joins the product first. Every path must give the two-pass result to the bit on any thread count.
    let rnd = Random 29
    layerCases [ (256, 256, 256); (256, 17, 12); (23, 256, 256); (9, 40, ManagedGemm.KBlock + 9); (70, 33, 5); (1, 40, 7); (40, 1, 7); (16, 16, 0) ]
        (fun providers ta tb m n k lda ldb ->
            let a, b = fill rnd (m * k), fill rnd (k * n)
            // Outputs with exact zeros (where ReLU's and LeakyReLU's derivative switch) and negatives.
            let y = fill rnd (m * n) |> Array.map (fun v -> if v < -0.5f then 0.0f else v)
            let older = fill rnd (m * n)
            for act in activations do
                for beta in [ 0.0f; 1.0f ] do
                    // beta 0 never reads the old C, so it starts as NaN there.
                    let start () = if beta = 0.0f then Array.create (m * n) nanf else Array.copy older
                    let expected = start ()
                    providers.Head.Sgemm(ta, tb, m, n, k, 1.0f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span expected, n)
                    FusedOps.ActivationBackward(ReadOnlySpan y, Span expected, act)
                    for g in providers do
                        let fused = start ()
                        g.SgemmActivationBackward(ta, tb, m, n, k, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, beta, Span fused, ReadOnlySpan y, act)
                        Assert.True((bits fused = bits expected), sprintf "%s %A%A %dx%dx%d %A beta %g: differs from the two passes" (TestProviders.label g) ta tb m n k act beta))
    let g = TestProviders.managed.Head
    let ex = Assert.Throws<ArgumentException>(fun () ->
        g.SgemmActivationBackward(Transpose.No, Transpose.No, 2, 3, 2, ReadOnlySpan(Array.zeroCreate 4), 2, ReadOnlySpan(Array.zeroCreate 6), 3,
                                  0.0f, Span(Array.zeroCreate 6), ReadOnlySpan(Array.zeroCreate 5), Activation.Relu))
    Assert.Equal("y", ex.ParamName)

let ``bad shapes are rejected with the operand named`` = testCase "bad shapes are rejected with the operand named" <| fun () ->
    for g in TestProviders.gemms do
        let a, b, c = Array.zeroCreate 6, Array.zeroCreate 6, Array.zeroCreate 4
        let ex = Assert.Throws<ArgumentException>(fun () ->
            g.Sgemm(Transpose.No, Transpose.No, 2, 2, 4, 1.0f, ReadOnlySpan a, 4, ReadOnlySpan b, 2, 0.0f, Span c, 2))
        Assert.Contains("operand A", ex.Message)
        let ex = Assert.Throws<ArgumentException>(fun () ->
            g.Sgemm(Transpose.No, Transpose.No, 2, 2, 3, 1.0f, ReadOnlySpan a, 3, ReadOnlySpan b, 1, 0.0f, Span c, 2))
        Assert.Contains("operand B", ex.Message)
        Assert.Throws<ArgumentException>(fun () ->
            g.Sgemm(Transpose.No, Transpose.No, -1, 2, 3, 1.0f, ReadOnlySpan a, 3, ReadOnlySpan b, 2, 0.0f, Span c, 2)) |> ignore

let ``provider choice honours SAC_GEMM-style names and rejects unknown ones`` = testCase "provider choice honours SAC_GEMM-style names and rejects unknown ones" <| fun () ->
    Assert.Equal("managed", (GemmProvider.Create(1, "managed")).Name)
    let ex = Assert.Throws<ArgumentException>(fun () -> GemmProvider.Create(1, "mkl") |> ignore)
    Assert.Contains("mkl", ex.Message)
    // auto: the managed GEMM wherever its kernel is vectorised; OpenBLAS only on CPUs without 256-bit vectors.
    match ManagedGemm.BestKernel, TestProviders.openBlas with
    | GemmKernel.Scalar, Some _ -> Assert.Equal("openblas", (GemmProvider.Create(1, "auto")).Name)
    | _ -> Assert.Equal("managed", (GemmProvider.Create(1, "auto")).Name)
    Assert.Equal(ManagedGemm.BestKernel, (GemmProvider.Create(2, "auto") :?> ManagedGemm).Kernel)

let ``one managed GEMM shared by several threads gives every caller its own right answer`` = testCase "one managed GEMM shared by several threads gives every caller its own right answer" <| fun () ->
    let g = new ManagedGemm(2)
    let results =
        Array.Parallel.init 8 (fun t ->
            let rnd = Random t
            [ for _ in 1 .. 20 ->
                let m, n, k = 40 + t, 70, 50
                let a, b = fill rnd (m * k), fill rnd (k * n)
                let c, r = Array.zeroCreate (m * n), Array.zeroCreate (m * n)
                g.Sgemm(Transpose.No, Transpose.No, m, n, k, 1.0f, ReadOnlySpan a, k, ReadOnlySpan b, n, 0.0f, Span c, n)
                ReferenceGemm.Instance.Sgemm(Transpose.No, Transpose.No, m, n, k, 1.0f, ReadOnlySpan a, k, ReadOnlySpan b, n, 0.0f, Span r, n)
                Array.forall2 (fun (x: float32) y -> abs (x - y) < 1e-3f) c r ])
    Assert.True(results |> Array.forall (List.forall id))

let tests = testList "Gemm" [
    ``every provider matches the reference on random shapes, transposes and strides``
    ``deep K crosses the K-block boundary and still matches``
    ``matrix-vector shapes (n = 1 or m = 1) match the reference``
    ``beta = 0 never reads C, so NaN there does not propagate``
    ``managed GEMM is bitwise identical on one, two and three threads``
    ``panels read in place give bitwise the packed product, on every kernel``
    ``narrow and short products read operands in place and give bitwise the packed product``
    ``a layer's forward step in the GEMM gives bitwise Sgemm then BiasActivationForward``
    ``a layer's gradient below its activation in the GEMM gives bitwise Sgemm then ActivationBackward``
    ``bad shapes are rejected with the operand named``
    ``provider choice honours SAC_GEMM-style names and rejects unknown ones``
    ``one managed GEMM shared by several threads gives every caller its own right answer``
]
