/// The CUDA backend. Against the fake driver (its own copy, so these run beside the binding's tests): which kernel each
/// operation launches, with which argument values and launch shape, GEMM's row-major mapping onto cuBLAS, copies,
/// refusals. On a GPU: every operation against its CPU reference and DeviceSac against Sac.update (DeviceCheck, the
/// code `sac check-device` runs); that comparison code is itself exercised here on the host backend.
module CudaBackendTests

open System
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Core.Config
open Sac.Core.Optim
open Sac.Core.Random
open Sac.Cuda.Backend
open Sac.Cuda.Driver
open Sac.Cuda.Kernels
open Sac.Fs
open Sac.Cli
open CudaDriverTests

let private f32 (x: float32) = uint64 (BitConverter.SingleToUInt32Bits x)
let private i32 (x: int) = uint64 (uint32 x)

/// A test that needs the fake driver and the kernels (clang-14 or nvcc at build time).
let private kernelsCase =
    Conditional.testCaseWhere (fun () ->
        match fakeCudaMissing () with
        | Some reason -> Some reason
        | None when not KernelImages.BuiltWithKernels -> Some(string KernelImages.MissingReason)
        | None -> None)

/// Tests on the fake driver; one class, so they run one at a time over its global state.
module OnFake =

    let private openBackendOn (fake: FakeCuda) =
        fake.Reset()
        let driver = CudaDriver.Load fake.Path
        let ctx = CudaDevice.Get(driver, 0).OpenContext()
        fake, new CudaBackend(ctx, true, null, fake.Path)

    let private openBackend () = openBackendOn FakeCuda.ForBackend.Value

    let private smallSac = SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 4, BufferSize = 100)

    /// A device context and learner of `cfg` (3 observations, 1 action) on the backend.
    let private sacOn (bk: CudaBackend) (cfg: SacConfig) =
        let dev = new DeviceSacContext(cfg, 3, 1, bk)
        dev, DeviceSac.upload dev (Sac.init (SacContext(cfg, 3, 1, ReferenceGemm.Instance)) 5UL)

    let private updateWith (dev: DeviceSacContext) (learner: DeviceLearner) (k: int) =
        DeviceSac.update dev (DeviceCheck.randomBatch 4 3 1 (uint64 k)) learner |> ignore

    let private grid work = uint32 (min ((work + 255) / 256) 1024)

    /// The launches since `before`: (kernel, grid x, block x, arguments).
    let private launchesSince (fake: FakeCuda) before =
        [ for i in before .. fake.Launches - 1 do
            let name, dims, args = (fake.Launch i).Value
            Assert.Equal<uint32[]>([| 1u; 1u; 1u; 1u; 0u |], [| dims.[1]; dims.[2]; dims.[4]; dims.[5]; dims.[6] |])
            yield name, dims.[0], dims.[3], args ]

    let ``each operation launches its kernel with the documented arguments and launch shape`` = kernelsCase "each operation launches its kernel with the documented arguments and launch shape" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        let prop (nRaw: int) (offRaw: int) =
            let n = 1 + abs nRaw % 300_000
            let off = abs offRaw % 5
            use x = ib.Allocate(n + off)
            use y = ib.Allocate(n + off)
            use z = ib.Allocate(n + off)
            use w = ib.Allocate(n + off)
            let ptr (a: DeviceArray) = CudaDeviceArray.DevicePointer(a.Slice(off, 0))
            let px, py, pz, pw = ptr x, ptr y, ptr z, ptr w
            let sl (a: DeviceArray) = a.Slice(off, n)
            let expect (f: unit -> unit) (expected: (string * uint32 * uint64 list) list) =
                let before = fake.Launches
                f ()
                let got = launchesSince fake before
                Assert.Equal(expected.Length, got.Length)
                for (name, gridX, args), (gname, ggrid, gblock, gargs) in List.zip expected got do
                    Assert.Equal(name, gname)
                    Assert.Equal(gridX, ggrid)
                    Assert.Equal(256u, gblock)
                    Assert.Equal<uint64 list>(args, List.ofArray gargs)
            expect (fun () -> ib.Polyak(0.25f, sl x, sl y)) [ "polyak", grid n, [ i32 n; f32 0.25f; px; py ] ]
            let cfg = AdamConfig(1e-3f, 0.8f, 0.99f, 1e-7f, Nullable())
            let struct (ss, ic) = KernelReference.AdamStepScalars(cfg, 3L)
            expect (fun () -> ib.Adam(cfg, 3L, sl x, sl y, sl z, sl w))
                [ "adam", grid n, [ i32 n; f32 ss; f32 ic; f32 0.8f; f32 0.99f; f32 1e-7f; f32 0.0f; 0UL; 0UL; px; py; pz; pw ] ]
            let clipped = AdamConfig(1e-3f, 0.8f, 0.99f, 1e-7f, Nullable 0.5f)
            let p = min 256 (max 1 ((n + 255) / 256))
            let before = fake.Launches
            ib.Adam(clipped, 3L, sl x, sl y, sl z, sl w)
            match launchesSince fake before with
            | [ ("sum_squares_partial", g1, _, a1); ("adam", g2, _, a2) ] ->
                Assert.Equal(uint32 p, g1)
                Assert.Equal(grid n, g2)
                Assert.Equal<uint64[]>([| i32 n; py |], a1.[0..1])
                // The partials: 8-byte aligned device scratch, the same address for both kernels.
                Assert.True(a1.[2] <> 0UL && a1.[2] % 8UL = 0UL)
                Assert.Equal<uint64[]>([| i32 n; f32 ss; f32 ic; f32 0.8f; f32 0.99f; f32 1e-7f; f32 0.5f; i32 p; a1.[2]; px; py; pz; pw |], a2)
            | other -> failwithf "clipped Adam launched %A" (other |> List.map (fun (name, _, _, _) -> name))
            expect (fun () -> ib.SoftTarget(0.9f, 0.1f, sl x, sl y, sl z, sl w, sl x, sl y))
                [ "soft_target", grid n, [ i32 n; f32 0.9f; f32 0.1f; px; py; pz; pw; px; py ] ]
            expect (fun () -> ib.CriticLoss(sl x, sl y, sl z, sl w)) [ "critic_loss", grid n, [ i32 n; px; py; pz; pw ] ]
            expect (fun () -> ib.ActorLoss(0.2f, sl x, sl y, sl z, sl w, sl x, sl y, sl z))
                [ "actor_loss", grid n, [ i32 n; f32 0.2f; px; py; pz; pw; px; py; pz ] ]
            expect (fun () -> ib.Sum(sl x, y.Slice(off, 1))) [ "sum_reduce", 1u, [ i32 n; px; py ] ]
            expect (fun () -> ib.ActivationBackward(sl x, sl y, Activation.Tanh)) [ "activation_backward", grid n, [ i32 n; 2UL; px; py ] ]
            expect (fun () -> ib.ActivationBackward(sl x, sl y, Activation.Identity)) []
            let key = PhiloxKey(0xDEADBEEFu, 12345u)
            let blocks = int (((6UL + uint64 n - 1UL) >>> 2) - (6UL >>> 2) + 1UL)
            expect (fun () -> ib.FillNormal(key, 6UL, sl x))
                [ "philox_normal", grid blocks, [ 0xDEADBEEFUL; 12345UL; 6UL; i32 n; px ] ]
            expect (fun () -> bk.FillUInt32(key, 6UL, sl x))
                [ "philox_uint32", grid blocks, [ 0xDEADBEEFUL; 12345UL; 6UL; i32 n; px ] ]
            // Matrix shapes: rows x cols inside n.
            let cols = min n (1 + n % 7)
            let rows = n / cols
            let m = rows * cols
            expect (fun () -> ib.BiasActivationForward(x.Slice(off, m), rows, cols, y.Slice(off, cols), Activation.Relu))
                [ "bias_activation_forward", grid m, [ i32 rows; i32 cols; 1UL; py; px ] ]
            expect (fun () -> ib.ColumnSums(x.Slice(off, m), rows, cols, y.Slice(off, cols), true))
                [ "column_sums", grid cols, [ i32 rows; i32 cols; 1UL; px; py ] ]
            if rows > 0 then
                let a = cols
                let r = rows / 4
                if r > 0 then
                    expect (fun () ->
                        ib.TanhGaussianForward(LogStdBound.TanhRescale, -5.0f, 2.0f, r, a, x.Slice(off, 2 * r * a), y.Slice(off, r * a),
                                               z.Slice(off, r * a), w.Slice(off, r * a), x.Slice(off + 2 * r * a, r * a), y.Slice(off + r * a, r)))
                        [ "tanh_gaussian_forward", grid r,
                          [ i32 r; i32 a; 1UL; f32 -5.0f; f32 2.0f; px; py; pz; pw; px + uint64 (8 * r * a); py + uint64 (4 * r * a) ] ]
                    expect (fun () ->
                        ib.TanhGaussianBackward(r, a, x.Slice(off, r * a), y.Slice(off, r * a), z.Slice(off, r * a), w.Slice(off, r * a),
                                                x.Slice(off + r * a, r * a), y.Slice(off + r * a, r), z.Slice(off + r * a, 2 * r * a)))
                        [ "tanh_gaussian_backward", grid (r * a),
                          [ i32 r; i32 a; px; py; pz; pw; px + uint64 (4 * r * a); py + uint64 (4 * r * a); pz + uint64 (4 * r * a) ] ]
                    expect (fun () -> ib.ConcatColumns(r, x.Slice(off, r * (a - 1)), a - 1, y.Slice(off, r), 1, z.Slice(off, r * a)))
                        [ "concat_columns", grid (r * a), [ i32 r; i32 (a - 1); 1UL; px; py; pz ] ]
                    expect (fun () -> ib.SumColumnBlock(r, a, a - 1, 1, x.Slice(off, r * a), y.Slice(off, r * a), z.Slice(off, r)))
                        [ "sum_column_block", grid r, [ i32 r; i32 a; i32 (a - 1); 1UL; px; py; pz ] ]
            // Every kernel ran on the backend's stream.
            let _, stream = fake.LastLaunch
            Assert.True(stream <> 0UL, "a kernel ran on the legacy default stream")
            true
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 15, prop)

    let ``empty work launches nothing, except Sum, which writes 0`` = kernelsCase "empty work launches nothing, except Sum, which writes 0" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        use x = ib.Allocate 4
        let empty = x.Slice(0, 0)
        let before = fake.Launches
        ib.Polyak(0.5f, empty, empty)
        ib.Adam(AdamConfig(1e-3f, 0.9f, 0.999f, 1e-8f, Nullable 1.0f), 1L, empty, empty, empty, empty)
        ib.FillNormal(PhiloxKey(1u, 2u), 0UL, empty)
        ib.ColumnSums(empty, 5, 0, empty, false)
        Assert.Equal(before, fake.Launches)
        ib.Sum(empty, x.Slice(0, 1))
        match launchesSince fake before with
        | [ "sum_reduce", 1u, 256u, args ] -> Assert.Equal(0UL, args.[0])
        | other -> failwithf "launched %A" other

    let ``Gemm reaches cuBLAS on the backend's stream with the row-major mapping`` = kernelsCase "Gemm reaches cuBLAS on the backend's stream with the row-major mapping" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        let prop (mr: int) (nr: int) (kr: int) (ta: bool) (tb: bool) (seed: int) =
            let m, n, k = 1 + abs mr % 9, 1 + abs nr % 9, 1 + abs kr % 9
            let ta, tb = (if ta then Transpose.Yes else Transpose.No), (if tb then Transpose.Yes else Transpose.No)
            let rng = Random seed
            let a, b, c = Array.init (m * k) (fun _ -> float32 (rng.NextDouble() - 0.5)), Array.init (k * n) (fun _ -> float32 (rng.NextDouble() - 0.5)), Array.init (m * n) (fun _ -> float32 (rng.NextDouble() - 0.5))
            let lda, ldb = (if ta = Transpose.No then k else m), (if tb = Transpose.No then n else k)
            use da = ib.Allocate(a.Length + 2)
            use db = ib.Allocate(b.Length)
            use dc = ib.Allocate(c.Length + 1)
            ib.Upload(ReadOnlySpan a, da.Slice(2, a.Length))
            ib.Upload(ReadOnlySpan b, db.All)
            ib.Upload(ReadOnlySpan c, dc.Slice(1, c.Length))
            ib.Gemm(ta, tb, m, n, k, 1.5f, da.Slice(2, a.Length), lda, db.All, ldb, 0.5f, dc.Slice(1, c.Length), n)
            let got = Array.zeroCreate (m * n)
            ib.Download(dc.Slice(1, c.Length), Span got)
            let expected = Array.copy c
            ReferenceGemm.Instance.Sgemm(ta, tb, m, n, k, 1.5f, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, 0.5f, Span expected, n)
            for i in 0 .. expected.Length - 1 do
                Assert.True(abs (expected.[i] - got.[i]) <= 1e-5f, $"C[{i}] = {got.[i]}, expected {expected.[i]}")
            // Column-major C^T = op(B)^T op(A)^T: B first (with its ld), m and n swapped, each keeping its flag; on the stream.
            let g = fake.LastGemm
            Assert.Equal<int[]>([| (if tb = Transpose.Yes then 1 else 0); (if ta = Transpose.Yes then 1 else 0); n; m; k; ldb; lda; n; 0; 1 |], g)
            true
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 30, prop)

    let ``uploads, copies and downloads round-trip through the stream`` = kernelsCase "uploads, copies and downloads round-trip through the stream" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        let prop (nr: int) (o1: int) (o2: int) (seed: int) =
            let n, o1, o2 = abs nr % 500, abs o1 % 7, abs o2 % 7
            let rng = Random seed
            let data = Array.init n (fun _ -> float32 (rng.NextDouble()))
            use a = ib.Allocate(n + o1)
            use b = ib.Allocate(n + o2 + 3)
            ib.Upload(ReadOnlySpan data, a.Slice(o1, n))
            ib.Copy(a.Slice(o1, n), b.Slice(o2, n))
            let back = Array.zeroCreate (n + 3)
            ib.Download(b.Slice(o2, n + 3), Span back)
            Assert.Equal<float32[]>(Array.append data [| 0.0f; 0.0f; 0.0f |], back)
            true
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 30, prop)
        Assert.Equal("cuda", ib.Name)
        ib.Dispose()
        // The backend released its scratch, staging memory, modules, cuBLAS handle, stream and the context it owned.
        Assert.Equal(0, fake.Live "pinned")
        Assert.Equal(0, fake.Live "events")
        Assert.Equal(0, fake.Live "modules")
        Assert.Equal(0, fake.Live "streams")
        Assert.Equal(0, fake.Live "cublas")
        Assert.Equal(0, fake.PrimaryRefs 0)

    let ``Allocate zero-fills on the backend's stream and waits for nothing`` = kernelsCase "Allocate zero-fills on the backend's stream and waits for nothing" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        let syncs, fills = fake.Calls "cuCtxSynchronize", fake.Calls "cuMemsetD32Async"
        use a = ib.Allocate 1000
        use b = ib.Allocate 7
        Assert.Equal(syncs, fake.Calls "cuCtxSynchronize")
        Assert.Equal(fills + 2, fake.Calls "cuMemsetD32Async")
        Assert.Equal(0, fake.Calls "cuMemsetD32_v2")
        let back = Array.create 1000 nanf
        ib.Download(a.All, Span back)
        Assert.True(Array.forall ((=) 0.0f) back)
        Assert.Equal(0, fake.Hazards)
        // Overlapping slices of one array are refused; the same slice onto itself is a no-op.
        let e = Assert.Throws<ArgumentException>(fun () -> ib.Copy(a.Slice(0, 4), a.Slice(2, 4)))
        Assert.Contains("overlap", e.Message)
        ib.Copy(b.Slice(1, 3), b.Slice(1, 3))

    let ``SAC updates on the backend use only its stream: nothing on the legacy stream, no context-wide wait`` = kernelsCase "SAC updates on the backend use only its stream: nothing on the legacy stream, no context-wide wait" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let cfg = SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 4, BufferSize = 100)
        use dev = new DeviceSacContext(cfg, 3, 1, bk)
        use learner = DeviceSac.upload dev (Sac.init (SacContext(cfg, 3, 1, ReferenceGemm.Instance)) 5UL)
        for k in 0 .. 2 do DeviceSac.update dev (DeviceCheck.randomBatch 4 3 1 (uint64 k)) learner |> ignore
        DeviceSac.download dev learner |> ignore
        Assert.True(fake.Launches > 20, $"{fake.Launches} launches")
        Assert.True((fake.Hazards = 0), fake.LastHazard)
        Assert.True((fake.StagingHazards = 0), fake.LastStagingHazard)
        for legacy in [ "cuCtxSynchronize"; "cuMemsetD32_v2"; "cuMemcpyHtoD_v2"; "cuMemcpyDtoH_v2"; "cuMemcpyDtoD_v2" ] do
            Assert.True((fake.Calls legacy = 0), $"{legacy} was called {fake.Calls legacy} time(s)")

    let ``uploads are staged through pinned memory, each half rewritten only after its copies completed`` = kernelsCase "uploads are staged through pinned memory, each half rewritten only after its copies completed" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        Assert.Equal(CudaBackend.DefaultStagingCapacity, bk.StagingCapacity)
        bk.StagingCapacity <- 64
        // Uploads of 1 to 80 floats, back to back with nothing waited for between them: those of at most 64 go through
        // the two 64-float halves, the rest straight from pageable memory.
        let prop (sizes: int list) (seed: int) =
            // Three of 50 first: the third goes back to the first half while the first's copy is still pending.
            let sizes = [ 50; 50; 50 ] @ (sizes |> List.map (fun s -> 1 + abs s % 80) |> List.truncate 40)
            let rng = Random seed
            let data = sizes |> List.map (fun n -> Array.init n (fun _ -> float32 (rng.NextDouble())))
            let arrays = data |> List.map (fun d -> ib.Allocate d.Length)
            try
                let waits = fake.Calls "cuEventSynchronize"
                for d, a in List.zip data arrays do ib.Upload(ReadOnlySpan d, a.All)
                let staged = sizes |> List.filter (fun n -> n <= 64) |> List.sum
                // More than both halves hold: the host had to wait for a half's copies before rewriting it.
                Assert.True(staged > 128)
                Assert.True(fake.Calls "cuEventSynchronize" > waits, "no staging half was waited for")
                for d, a in List.zip data arrays do
                    let back = Array.zeroCreate d.Length
                    ib.Download(a.All, Span back)
                    Assert.Equal<float32[]>(d, back)
                Assert.True((fake.StagingHazards = 0), fake.LastStagingHazard)
                Assert.Equal(1, fake.Live "pinned")
                true
            finally
                for a in arrays do a.Dispose()
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 40, prop)
        // Capacity 0 stages nothing, and frees the staging memory.
        bk.StagingCapacity <- 0
        Assert.Equal(0, fake.Live "pinned")
        use a = ib.Allocate 3
        ib.Upload(ReadOnlySpan [| 1f; 2f; 3f |], a.All)
        Assert.Equal(0, fake.Live "pinned")
        Assert.Throws<ArgumentOutOfRangeException>(fun () -> bk.StagingCapacity <- -1) |> ignore
        Assert.Throws<ArgumentOutOfRangeException>(fun () -> bk.StagingCapacity <- CudaBackend.MaxStagingCapacity + 1) |> ignore

    let private graphCalls =
        set [ "cuMemcpyHtoDAsync_v2"; "cuStreamBeginCapture_v2"; "cuStreamEndCapture"; "cuGraphInstantiateWithFlags"
              "cuGraphExecUpdate_v2"; "cuGraphLaunch"; "cuGraphDestroy"; "cuMemcpyDtoHAsync_v2"; "cuStreamSynchronize" ]

    let ``with CaptureGraphs the device part of each SAC update after the first is captured and launched as one graph`` = kernelsCase "with CaptureGraphs the device part of each SAC update after the first is captured and launched as one graph" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let dev, learner = sacOn bk smallSac
        use _ = dev
        use _ = learner
        Assert.True bk.GraphsSupported
        Assert.Equal("", bk.GraphsUnsupportedReason)
        Assert.False bk.CaptureGraphs
        bk.CaptureGraphs <- true
        let start = fake.CallLog.Length
        let before = fake.Launches
        updateWith dev learner 0
        let kernels = fake.Launches - before
        // The first update after turning capture on runs as it would without.
        Assert.Equal(0, fake.Captures)
        for k in 1 .. 4 do
            let before = fake.Launches
            updateWith dev learner k
            Assert.Equal(kernels, fake.Launches - before)
        Assert.Equal(CudaGraphCounts(4L, 1L, 3L, 4L), bk.GraphCounts)
        Assert.Equal(4, fake.Captures)
        Assert.Equal(4, fake.GraphLaunches)
        // Kernels, GEMMs and device copies: every device operation of the update is a node.
        Assert.True(fake.LastCaptureNodes > kernels, $"{fake.LastCaptureNodes} nodes for {kernels} kernels")
        Assert.Equal(0, fake.CaptureRefusals)
        Assert.True((fake.Hazards = 0), fake.LastHazard)
        Assert.True((fake.StagingHazards = 0), fake.LastStagingHazard)
        // Each update: the batch uploads, then its device part captured, instantiated once and updated in place after,
        // launched, and the metrics downloaded after the graph.
        let uploads = List.replicate 5 "cuMemcpyHtoDAsync_v2"
        let download = [ "cuMemcpyDtoHAsync_v2"; "cuStreamSynchronize" ]
        let captured first =
            uploads @ [ "cuStreamBeginCapture_v2"; "cuStreamEndCapture"; (if first then "cuGraphInstantiateWithFlags" else "cuGraphExecUpdate_v2")
                        "cuGraphLaunch"; "cuGraphDestroy" ] @ download
        let expected = uploads @ download @ captured true @ List.concat (List.replicate 3 (captured false))
        let calls = fake.CallLog |> List.skip start |> List.filter graphCalls.Contains
        Assert.Equal<string list>(expected, calls)
        Assert.Equal(0, fake.Live "graphs")
        Assert.Equal(1, fake.Live "graph_execs")
        // Off again: the instantiated graph goes, and updates run uncaptured.
        bk.CaptureGraphs <- false
        Assert.Equal(0, fake.Live "graph_execs")
        updateWith dev learner 5
        Assert.Equal(4, fake.Captures)

    let ``a captured update of another shape than the last is instantiated afresh`` = kernelsCase "a captured update of another shape than the last is instantiated afresh" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        // Polyak every other update: the captures alternate between two shapes.
        let dev, learner = sacOn bk (SacConfig(HiddenSizes = [| 8; 8 |], BatchSize = 4, BufferSize = 100, TargetUpdateInterval = 2))
        use _ = dev
        use _ = learner
        bk.CaptureGraphs <- true
        for k in 0 .. 4 do updateWith dev learner k
        Assert.Equal(CudaGraphCounts(4L, 4L, 0L, 4L), bk.GraphCounts)
        Assert.Equal(3, fake.Calls "cuGraphExecUpdate_v2")
        Assert.Equal(3, fake.Calls "cuGraphExecDestroy")
        Assert.Equal(1, fake.Live "graph_execs")
        Assert.Equal(0, fake.CaptureRefusals)
        bk.Dispose()
        Assert.Equal(0, fake.Live "graph_execs")
        Assert.Equal(0, fake.Live "graphs")

    let ``graph capture is refused where the driver lacks it, and a refused capture surfaces as a CudaException`` = kernelsCase "graph capture is refused where the driver lacks it, and a refused capture surfaces as a CudaException" <| fun () ->
        let fake, bk = openBackendOn FakeCuda.NoGraphs.Value
        do
            use bk = bk
            Assert.False bk.GraphsSupported
            Assert.Contains("does not export cuStreamBeginCapture_v2", bk.GraphsUnsupportedReason)
            let e = Assert.Throws<NotSupportedException>(fun () -> bk.CaptureGraphs <- true)
            Assert.Contains("CUDA 12.0", e.Message)
            Assert.False bk.CaptureGraphs
            // The graph bench line says it skipped, and why.
            let replay = Sac.Core.Data.ReplayBuffer(16, 3, 1)
            let line = Bench.sacGraphLine ReferenceGemm.Instance 0.01 replay (3, 1) smallSac bk
            Assert.StartsWith("""{"name":"sac_update_graph","obs":3,"act":1,"hidden":8,"batch":4,"device":"cuda","skipped":""", line)
            Assert.Contains("cuStreamBeginCapture_v2", line)
            // Updates run uncaptured.
            let dev, learner = sacOn bk smallSac
            use _ = dev
            use _ = learner
            updateWith dev learner 0
            Assert.Equal(0, fake.Calls "cuStreamBeginCapture_v2")
        // A driver that has the entry points but refuses to capture: the operation that would begin it throws.
        let fake, bk = openBackend ()
        use bk = bk
        let dev, learner = sacOn bk smallSac
        use _ = dev
        use _ = learner
        fake.Fail("cuStreamBeginCapture_v2", 801)
        bk.CaptureGraphs <- true
        updateWith dev learner 0
        let e = Assert.Throws<CudaException>(fun () -> updateWith dev learner 1)
        Assert.Equal("cuStreamBeginCapture_v2", e.Call)
        Assert.Equal("CUDA_ERROR_NOT_SUPPORTED", e.ErrorName)
        Assert.Equal(CudaGraphCounts(0L, 0L, 0L, 0L), bk.GraphCounts)

    let ``every failing graph call becomes a CudaException naming it`` = kernelsCase "every failing graph call becomes a CudaException naming it" <| fun () ->
        for symbol in [ "cuStreamEndCapture"; "cuGraphInstantiateWithFlags"; "cuGraphExecUpdate_v2"; "cuGraphLaunch"; "cuGraphExecDestroy" ] do
            let fake, bk = openBackend ()
            use bk = bk
            let dev, learner = sacOn bk smallSac
            use _ = dev
            use _ = learner
            bk.CaptureGraphs <- true
            updateWith dev learner 0
            fake.Fail(symbol, 999)
            // Two captured updates (an instantiation, then an update in place), then capture turned off.
            let e = Assert.Throws<CudaException>(fun () ->
                updateWith dev learner 1
                updateWith dev learner 2
                bk.CaptureGraphs <- false)
            Assert.Equal(symbol, e.Call)
            Assert.Equal("CUDA_ERROR_UNKNOWN", e.ErrorName)
            fake.ClearFails()

    let ``the graph bench line measures the update with and without capture and leaves capture off`` = kernelsCase "the graph bench line measures the update with and without capture and leaves capture off" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let replay = Sac.Core.Data.ReplayBuffer(16, 3, 1)
        for i in 0 .. 15 do
            let o = [| float32 i; 0.5f; -0.5f |]
            replay.Add(ReadOnlySpan o, ReadOnlySpan [| 0.1f |], float32 i, ReadOnlySpan o, false, false)
        let line = Bench.sacGraphLine ReferenceGemm.Instance 0.01 replay (3, 1) smallSac bk
        use doc = Text.Json.JsonDocument.Parse line
        let root = doc.RootElement
        Assert.Equal("sac_update_graph", root.GetProperty("name").GetString())
        Assert.True(root.GetProperty("updates_per_sec").GetDouble() > 0.0)
        Assert.True(root.GetProperty("graph_updates_per_sec").GetDouble() > 0.0)
        let launches = root.GetProperty("graph_launches").GetInt64()
        // Every captured update is launched; the first after turning capture on runs uncaptured.
        Assert.True(launches >= 49L, line)
        Assert.Equal(launches, int64 fake.GraphLaunches)
        Assert.Equal(1L, root.GetProperty("graph_instantiations").GetInt64())
        Assert.Equal(launches - 1L, root.GetProperty("graph_in_place_updates").GetInt64())
        Assert.False bk.CaptureGraphs
        Assert.Equal(0, fake.Live "graph_execs")

    let ``the device check of graph capture compares the same updates without and with graphs`` = kernelsCase "the device check of graph capture compares the same updates without and with graphs" <| fun () ->
        let fake, bk = openBackend ()
        use bk = bk
        let r = DeviceCheck.graphTracking bk 4
        Assert.True(r.Ok, DeviceCheck.toJson r)
        Assert.Equal(0.0, r.MaxRelErr)
        Assert.Equal("3 graph launches over 4 updates", r.Error)
        Assert.Equal(3, fake.GraphLaunches)
        Assert.False bk.CaptureGraphs

    let ``arrays of another backend are refused by name`` = kernelsCase "arrays of another backend are refused by name" <| fun () ->
        let _, bk = openBackend ()
        use bk = bk
        let ib = bk :> ISacBackend
        use own = ib.Allocate 8
        let host = new HostArray(8)
        let e = Assert.Throws<ArgumentException>(fun () -> ib.Polyak(0.1f, host.All, own.All))
        Assert.Contains("online", e.Message)
        Assert.Contains("HostArray", e.Message)
        Assert.Throws<ArgumentException>(fun () -> ib.Upload(ReadOnlySpan(Array.zeroCreate 8), host.All)) |> ignore
        Assert.Throws<ArgumentException>(fun () -> ib.Gemm(Transpose.No, Transpose.No, 2, 2, 2, 1.0f, own.All, 2, host.All, 2, 0.0f, own.All, 2)) |> ignore
        // Lengths are checked before anything is launched.
        Assert.Throws<ArgumentException>(fun () -> ib.Polyak(0.1f, own.Slice(0, 3), own.Slice(4, 4))) |> ignore

    let ``missing kernels are reported with the reason, releasing what was made`` = kernelsCase "missing kernels are reported with the reason, releasing what was made" <| fun () ->
        let fake = FakeCuda.ForBackend.Value
        fake.Reset()
        let why = "built without kernels: no PTX compiler"
        let source (name: string) =
            if name = "philox" then raise (KernelImageMissingException(name, $"PTX module 'philox' is not embedded ({why})."))
            KernelImages.GetPtx name
        match CudaBackend.TryCreate(fake.Path, fake.Path, Func<string, string> source, 0) with
        | true, _, _ -> failwith "a backend was made without its kernels"
        | false, backend, reason ->
            Assert.Null backend
            Assert.StartsWith("no usable GPU: ", reason)
            Assert.Contains(why, reason)
        Assert.Equal(0, fake.Live "modules")
        Assert.Equal(0, fake.Live "streams")
        Assert.Equal(0, fake.Live "cublas")
        Assert.Equal(0, fake.PrimaryRefs 0)
        // A driver with no devices is a reason too.
        fake.SetDevices 0
        match CudaBackend.TryCreate(fake.Path, fake.Path, null, 0) with
        | true, _, _ -> failwith "a backend was made without a device"
        | false, _, reason -> Assert.Contains("reports no devices", reason)

    let tests = testList "OnFake" [
        ``each operation launches its kernel with the documented arguments and launch shape``
        ``empty work launches nothing, except Sum, which writes 0``
        ``Gemm reaches cuBLAS on the backend's stream with the row-major mapping``
        ``uploads, copies and downloads round-trip through the stream``
        ``Allocate zero-fills on the backend's stream and waits for nothing``
        ``SAC updates on the backend use only its stream: nothing on the legacy stream, no context-wide wait``
        ``uploads are staged through pinned memory, each half rewritten only after its copies completed``
        ``with CaptureGraphs the device part of each SAC update after the first is captured and launched as one graph``
        ``a captured update of another shape than the last is instantiated afresh``
        ``graph capture is refused where the driver lacks it, and a refused capture surfaces as a CudaException``
        ``every failing graph call becomes a CudaException naming it``
        ``the graph bench line measures the update with and without capture and leaves capture off``
        ``the device check of graph capture compares the same updates without and with graphs``
        ``arrays of another backend are refused by name``
        ``missing kernels are reported with the reason, releasing what was made``
    ]

// ------------------------------------------------------------------------------------------------ DeviceCheck

let private fillUInt32Host : PhiloxKey -> uint64 -> DeviceSlice -> unit =
    fun key offset dest ->
        let words = Array.zeroCreate<uint32> dest.Length
        Philox.FillUInt32(key, offset, Span words)
        let target = HostBackend.Span dest
        for i in 0 .. words.Length - 1 do target.[i] <- BitConverter.UInt32BitsToSingle words.[i]

let ``every device check passes on the host backend`` = testCase "every device check passes on the host backend" <| fun () ->
    use host = new HostBackend(ReferenceGemm.Instance)
    let reported = Collections.Generic.List<DeviceCheck.CheckResult>()
    let results = DeviceCheck.run (host :> ISacBackend) (Some fillUInt32Host) 10 reported.Add
    Assert.Equal<DeviceCheck.CheckResult list>(results, List.ofSeq reported)
    for r in results do Assert.True(r.Ok, DeviceCheck.toJson r)
    let names = results |> List.map (fun r -> r.Check) |> Set.ofList
    for n in [ "polyak"; "adam"; "adam_clipped"; "soft_target"; "philox_uint32"; "philox_normal"; "gemm"; "sum_reduce"; "sac_tracking"; "tanh_gaussian_backward" ] do
        Assert.Contains(n, names)
    // The host backend computes what Sac.update does: only the loss reductions' order differs.
    Assert.InRange((results |> List.find (fun r -> r.Check = "sac_tracking")).MaxRelErr, 0.0, 1e-6)
    let line = DeviceCheck.toJson (results |> List.find (fun r -> r.Check = "polyak"))
    Assert.StartsWith("""{"name":"check","check":"polyak","max_rel_err":""", line)
    Assert.Contains("\"ok\":true", line)
    Assert.Equal("""{"name":"check_summary","device":"host","checks":2,"failed":1,"ok":false}""",
                 DeviceCheck.summary "host" [ results.Head; { results.Head with Ok = false } ])

/// The host backend with one operation off by a relative 1e-4, and one that throws.
type private Skewed(inner: ISacBackend) =
    inherit BackendKit.ForwardingBackend(inner, "skewed")
    override _.SoftTarget(g, a, r, t, q1, q2, lp, y) =
        inner.SoftTarget(g, a, r, t, q1, q2, lp, y)
        let span = HostBackend.Span y
        for i in 0 .. span.Length - 1 do span.[i] <- span.[i] * 1.0001f + 0.0001f
    override _.Polyak(_, _, _) = invalidOp "polyak is broken"

let ``device checks fail on a backend that is off by 1e-4 or throws, and keep going`` = testCase "device checks fail on a backend that is off by 1e-4 or throws, and keep going" <| fun () ->
    use host = new HostBackend(ReferenceGemm.Instance)
    let results = DeviceCheck.run (new Skewed(host) :> ISacBackend) None 3 ignore
    let byName n = results |> List.find (fun r -> r.Check = n)
    let soft = byName "soft_target"
    Assert.False soft.Ok
    Assert.InRange(soft.MaxRelErr, 5e-5, 1e-2)
    let polyak = byName "polyak"
    Assert.False polyak.Ok
    Assert.Contains("polyak is broken", polyak.Error)
    // The soft targets feed the critic: 3 updates already leave the CPU run behind.
    Assert.False (byName "sac_tracking").Ok
    Assert.True (byName "adam").Ok
    Assert.DoesNotContain(results, fun r -> r.Check = "philox_uint32")

let ``the element error is absolute below 1, relative above, and NaN-aware`` = testCase "the element error is absolute below 1, relative above, and NaN-aware" <| fun () ->
    Check.One(Config.QuickThrowOnFailure, fun (x: NormalFloat) (d: NormalFloat) ->
        let e = float32 x.Get
        let a = e + float32 d.Get
        let err = DeviceCheck.elementError e a
        Assert.True(err >= 0.0)
        if Single.IsFinite a && Single.IsFinite e then
            Assert.Equal(abs (float a - float e) / max (abs (float e)) 1.0, err, 12))
    Assert.Equal(0.0, DeviceCheck.elementError nanf nanf)
    Assert.Equal(infinity, DeviceCheck.elementError 1.0f nanf)
    Assert.Equal(0.0, DeviceCheck.elementError infinityf infinityf)

// ------------------------------------------------------------------------------------------------ on a GPU

let ``on the GPU every operation matches its CPU reference and DeviceSac tracks Sac.update over 100 updates`` = gpuCase "on the GPU every operation matches its CPU reference and DeviceSac tracks Sac.update over 100 updates" <| fun () ->
    match CudaBackend.TryCreate 0 with
    | false, _, reason -> failwith reason
    | true, bk, _ ->
        use bk = nonNull bk
        let results = DeviceCheck.run (bk :> ISacBackend) (Some(fun key offset dest -> bk.FillUInt32(key, offset, dest))) 100 ignore
        for r in results do Assert.True(r.Ok, DeviceCheck.toJson r)
        Assert.Equal(0.0, (results |> List.find (fun r -> r.Check = "philox_uint32")).MaxRelErr)

let ``on the GPU SAC updates captured as CUDA graphs leave bitwise the same learner and metrics as uncaptured ones`` = gpuCase "on the GPU SAC updates captured as CUDA graphs leave bitwise the same learner and metrics as uncaptured ones" <| fun () ->
    match CudaBackend.TryCreate 0 with
    | false, _, reason -> failwith reason
    | true, bk, _ ->
        use bk = nonNull bk
        if not bk.GraphsSupported then failwith bk.GraphsUnsupportedReason
        let cfg = SacConfig(HiddenSizes = [| 64; 64 |], BatchSize = 256)
        let run graphs =
            use dev = new DeviceSacContext(cfg, 17, 6, bk)
            use learner = DeviceSac.upload dev (Sac.init (SacContext(cfg, 17, 6, ReferenceGemm.Instance)) 5UL)
            bk.CaptureGraphs <- graphs
            let metrics = [ for k in 0 .. 19 -> DeviceSac.update dev (DeviceCheck.randomBatch 256 17 6 (uint64 k)) learner ]
            bk.CaptureGraphs <- false
            metrics, DeviceSac.download dev learner
        let plainMetrics, plain = run false
        let graphMetrics, graphed = run true
        Assert.Equal(19L, bk.GraphCounts.Launches)
        Assert.Equal<SacMetrics list>(plainMetrics, graphMetrics)
        Assert.Equal<float32[]>(plain.Actor, graphed.Actor)
        Assert.Equal<float32[]>(plain.Critic, graphed.Critic)
        Assert.Equal<float32[]>(plain.TargetCritic, graphed.TargetCritic)
        Assert.Equal(plain.LogAlpha, graphed.LogAlpha)

let tests = testList "Backend" [
    OnFake.tests
    ``every device check passes on the host backend``
    ``device checks fail on a backend that is off by 1e-4 or throws, and keep going``
    ``the element error is absolute below 1, relative above, and NaN-aware``
    ``on the GPU every operation matches its CPU reference and DeviceSac tracks Sac.update over 100 updates``
    ``on the GPU SAC updates captured as CUDA graphs leave bitwise the same learner and metrics as uncaptured ones``
]
