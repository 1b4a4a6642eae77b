/// The CUDA driver and cuBLAS binding. Without a GPU, the binding runs against tests/fake-cuda/fake_cuda.c, a
/// stand-in driver built at test time whose "device memory" is host memory: error mapping, call sequence, argument
/// passing and the row-major to column-major GEMM mapping are checked there. GPU tests skip unless a device opens.
module CudaDriverTests

open System
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open Xunit
open Expecto
open FsCheck
open FsCheck.FSharp
open Sac.Core.Compute
open Sac.Cuda.Driver

// ------------------------------------------------------------------------------------------------ the fake driver

[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private UnitFn = delegate of unit -> unit
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private IntFn = delegate of unit -> int
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private SetIntFn = delegate of int -> unit
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private IntOfIntFn = delegate of int -> int
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private FailFn = delegate of string * int -> unit
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private LiveFn = delegate of string -> int
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private LastLaunchFn = delegate of uint32[] -> uint64
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private ScalarsFn = delegate of double[] * int64[] * uint32[] -> unit
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private IntsFn = delegate of int[] -> unit
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private LaunchLogFn = delegate of int * byte[] * int * uint32[] * uint64[] -> int
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private TextFn = delegate of unit -> nativeint
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private MemsetFn = delegate of uint64 * uint32 * unativeint -> int
[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private CallLogFn = delegate of int * byte[] * int -> int

let private export<'T> (handle: nativeint) (name: string) : 'T =
    Marshal.GetDelegateForFunctionPointer<'T>(NativeLibrary.GetExport(handle, name))

/// One built copy of the fake driver (also serving as cuBLAS) and its control exports.
type FakeCuda private (path: string, handle: nativeint) =
    let reset = export<UnitFn> handle "fake_reset"
    let fail = export<FailFn> handle "fake_fail"
    let clearFails = export<UnitFn> handle "fake_clear_fails"
    let setDevices = export<SetIntFn> handle "fake_set_devices"
    let primaryRefs = export<IntOfIntFn> handle "fake_primary_refs"
    let live = export<LiveFn> handle "fake_live"
    let launches = export<IntFn> handle "fake_launches"
    let lastLaunch = export<LastLaunchFn> handle "fake_last_launch"
    let scalars = export<ScalarsFn> handle "fake_scalars"
    let gemmCalls = export<IntFn> handle "fake_gemm_calls"
    let lastGemm = export<IntsFn> handle "fake_last_gemm"
    let launchLog = export<LaunchLogFn> handle "fake_launch_log"
    let calls = export<LiveFn> handle "fake_calls"
    let hazards = export<IntFn> handle "fake_hazards"
    let lastHazard = export<TextFn> handle "fake_last_hazard"
    let stagingHazards = export<IntFn> handle "fake_staging_hazards"
    let lastStagingHazard = export<TextFn> handle "fake_last_staging_hazard"
    let captureRefusals = export<IntFn> handle "fake_capture_refusals"
    let captures = export<IntFn> handle "fake_captures"
    let graphLaunches = export<IntFn> handle "fake_graph_launches"
    let lastCaptureNodes = export<IntFn> handle "fake_last_capture_nodes"
    let callLog = export<CallLogFn> handle "fake_call_log"
    let legacyMemset = export<MemsetFn> handle "cuMemsetD32_v2"

    /// The library's path: pass it as the driver and the cuBLAS path.
    member _.Path = path
    /// Frees everything, forgets scripted failures, one device, uninitialised.
    member _.Reset() = reset.Invoke()
    /// Makes every later call of symbol return code.
    member _.Fail(symbol: string, code: int) = fail.Invoke(symbol, code)
    member _.ClearFails() = clearFails.Invoke()
    member _.SetDevices(n: int) = setDevices.Invoke n
    member _.PrimaryRefs(device: int) = primaryRefs.Invoke device
    /// Live objects of a kind: allocations, streams, events, modules, cublas.
    member _.Live(kind: string) = live.Invoke kind
    member _.Launches = launches.Invoke()
    /// Grid xyz, block xyz, shared bytes; and the stream handle.
    member _.LastLaunch =
        let dims = Array.zeroCreate<uint32> 7
        let stream = lastLaunch.Invoke dims
        dims, stream
    member _.Scalars =
        let d, l, u = [| 0.0 |], [| 0L |], [| 0u |]
        scalars.Invoke(d, l, u)
        d.[0], l.[0], u.[0]
    member _.GemmCalls = gemmCalls.Invoke()
    /// Calls of one entry point since the reset.
    member _.Calls(symbol: string) = calls.Invoke symbol
    /// Operations on the legacy default stream while a non-blocking stream had unfinished work, or the reverse.
    member _.Hazards = hazards.Invoke()
    /// The last hazard, described; "" when none.
    member _.LastHazard = Marshal.PtrToStringUTF8(lastHazard.Invoke()) |> Option.ofObj |> Option.defaultValue ""
    /// Pinned memory rewritten or freed while a copy from it was pending.
    member _.StagingHazards = stagingHazards.Invoke()
    /// The last staging hazard, described; "" when none.
    member _.LastStagingHazard = Marshal.PtrToStringUTF8(lastStagingHazard.Invoke()) |> Option.ofObj |> Option.defaultValue ""
    /// Calls refused because a stream capture was in progress.
    member _.CaptureRefusals = captureRefusals.Invoke()
    /// Stream captures begun.
    member _.Captures = captures.Invoke()
    /// Graph launches.
    member _.GraphLaunches = graphLaunches.Invoke()
    /// Nodes of the last capture ended.
    member _.LastCaptureNodes = lastCaptureNodes.Invoke()
    /// The entry points called since the reset, oldest first (the last 4096 are kept).
    member _.CallLog =
        let name = Array.zeroCreate<byte> 64
        [ let mutable i = 0
          let mutable n = callLog.Invoke(i, name, name.Length)
          while n >= 0 do
              yield Text.Encoding.ASCII.GetString(name, 0, n)
              i <- i + 1
              n <- callLog.Invoke(i, name, name.Length) ]
    /// cuMemsetD32_v2 called directly: a fill on the legacy default stream that waits for nothing.
    member _.LegacyFill(pointer: uint64, value: uint32, count: int) = legacyMemset.Invoke(pointer, value, unativeint count)
    /// transa, transb, m, n, k, lda, ldb, ldc, compute type (0 for Sgemm), stream set.
    member _.LastGemm =
        let out = Array.zeroCreate<int> 10
        lastGemm.Invoke out
        out

    /// Launch number `index` since the reset (the last 64 are kept): kernel name, grid xyz + block xyz + shared
    /// bytes, and each argument's value zero-extended to 64 bits; None when not in the log.
    member _.Launch(index: int) =
        let name = Array.zeroCreate<byte> 64
        let dims = Array.zeroCreate<uint32> 7
        let args = Array.zeroCreate<uint64> 32
        match launchLog.Invoke(index, name, name.Length, dims, args) with
        | n when n < 0 -> None
        | n -> Some(Text.Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, 0uy)), dims, Array.sub args 0 n)

    static member val Compiler : string option =
        let onPath name =
            (Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue "").Split(':')
            |> Array.map (fun dir -> Path.Combine(dir, name))
            |> Array.tryFind File.Exists
        [ "clang-14"; "clang"; "gcc"; "cc" ] |> List.tryPick onPath

    static member private Build(defines: string list, name: string) =
        let compiler = FakeCuda.Compiler |> Option.defaultWith (fun () -> failwith "no C compiler")
        let source = Path.Combine(AppContext.BaseDirectory, "fake-cuda", "fake_cuda.c")
        let dir = Path.Combine(Path.GetTempPath(), sprintf "sac-fake-cuda-%d-%s" Environment.ProcessId (Guid.NewGuid().ToString "N"))
        Directory.CreateDirectory dir |> ignore
        AppDomain.CurrentDomain.ProcessExit.Add(fun _ -> try Directory.Delete(dir, true) with _ -> ())
        let output = Path.Combine(dir, name)
        let psi = ProcessStartInfo(compiler, RedirectStandardError = true)
        for a in [ "-shared"; "-fPIC"; "-O1"; "-o"; output ] @ defines @ [ source ] do psi.ArgumentList.Add a
        use p = nonNull (Process.Start psi)
        let err = p.StandardError.ReadToEnd()
        p.WaitForExit()
        if p.ExitCode <> 0 then failwithf "%s failed to build the fake driver: %s" compiler err
        FakeCuda(output, NativeLibrary.Load output)

    /// The fake with cuBLAS's status-text exports.
    static member val Full = lazy (FakeCuda.Build([], "libfakecuda.so"))
    /// A separate copy (its own global state) for the backend tests, which run beside the binding's tests.
    static member val ForBackend = lazy (FakeCuda.Build([], "libfakecuda-backend.so"))
    /// The fake without cublasGetStatusName/String, so the binding falls back to its own table.
    static member val NoStatusText = lazy (FakeCuda.Build([ "-DFAKE_NO_STATUS_TEXT" ], "libfakecuda-notext.so"))
    /// The fake without the stream-capture and graph entry points, as a driver older than CUDA 12.0.
    static member val NoGraphs = lazy (FakeCuda.Build([ "-DFAKE_NO_GRAPHS" ], "libfakecuda-nographs.so"))

/// Why the fake driver cannot be built here (no C compiler), if so.
let fakeCudaMissing () =
    if FakeCuda.Compiler.IsNone then Some "no C compiler (clang-14, clang, gcc or cc) on PATH to build tests/fake-cuda" else None

/// A test that needs a C compiler to build the fake driver.
let fakeCudaCase = Conditional.testCaseWhere fakeCudaMissing

// ------------------------------------------------------------------------------------------------ the real driver

/// Whether device 0 opens through the default driver, else why not; asked once.
let private gpu =
    lazy
        (match CudaDevice.TryOpen 0 with
         | true, ctx, _ -> (nonNull ctx).Dispose(); Ok()
         | false, _, reason -> Error reason)

/// A test that needs a real CUDA device; skips with the reason otherwise.
let gpuCase =
    Conditional.testCaseWhere (fun () ->
        match gpu.Value with
        | Ok() -> None
        | Error reason -> Some("no CUDA device: " + reason))

let private throws<'E when 'E :> exn> (f: unit -> unit) : 'E =
    let outcome =
        try
            f ()
            None
        with e -> Some e
    match outcome with
    | Some(:? 'E as e) -> e
    | Some e -> failwithf "expected %s, got %s: %s" typeof<'E>.Name (e.GetType().Name) e.Message
    | None -> failwithf "expected %s, nothing was thrown" typeof<'E>.Name

let ``a missing driver library gives CudaUnavailableException naming the path tried and SAC_LIBCUDA`` = testCase "a missing driver library gives CudaUnavailableException naming the path tried and SAC_LIBCUDA" <| fun () ->
    let path = "/nonexistent/sac/libcuda.so.1"
    let e = throws<CudaUnavailableException> (fun () -> CudaDriver.Load path |> ignore)
    Assert.Equal(CudaLibrary.Driver, e.Library)
    Assert.Equal<string list>([ path ], List.ofSeq e.Tried)
    Assert.Null e.MissingExport
    Assert.Equal("SAC_LIBCUDA", e.EnvironmentVariable)
    Assert.Contains(path, e.Message)
    Assert.Contains("SAC_LIBCUDA", e.Message)
    let ok, driver, reason = CudaDriver.TryLoad path
    Assert.False ok
    Assert.Null driver
    Assert.Equal(e.Message, reason)

let ``a library without the driver's entry points is refused naming the missing export`` = testCase "a library without the driver's entry points is refused naming the missing export" <| fun () ->
    // libc loads everywhere this runs, and exports none of the driver API.
    let e = throws<CudaUnavailableException> (fun () -> CudaDriver.Load "libc.so.6" |> ignore)
    Assert.Equal("cuInit", e.MissingExport)
    Assert.Contains("does not export cuInit", e.Message)
    Assert.Contains("SAC_LIBCUDA", e.Message)

let ``TryOpen through the default driver never throws and explains a missing driver`` = testCase "TryOpen through the default driver never throws and explains a missing driver" <| fun () ->
    match CudaDevice.TryOpen 0 with
    | true, ctx, reason ->
        use ctx = nonNull ctx
        Assert.Equal("", reason)
        Assert.Equal(0, ctx.Device.Ordinal)
    | false, ctx, reason ->
        Assert.Null ctx
        Assert.StartsWith("no usable GPU: ", reason)
        let env = Environment.GetEnvironmentVariable "SAC_LIBCUDA"
        let mutable h = 0n
        if String.IsNullOrEmpty env && not (NativeLibrary.TryLoad("libcuda.so.1", &h)) then
            Assert.Contains("libcuda.so.1", reason)
            Assert.Contains("SAC_LIBCUDA", reason)

let ``TryOpen with an absent library path answers false with the path in the reason`` = testCase "TryOpen with an absent library path answers false with the path in the reason" <| fun () ->
    let path = "/nonexistent/sac/libcuda.so.1"
    match CudaDevice.TryOpen(path, 0) with
    | true, _, _ -> failwith "opened a device through a library that does not exist"
    | false, ctx, reason ->
        Assert.Null ctx
        Assert.StartsWith("no usable GPU: The CUDA driver library could not be loaded (tried: " + path + ")", reason)

let ``KernelArgs takes at most Capacity arguments of at most 8 bytes`` = testCase "KernelArgs takes at most Capacity arguments of at most 8 bytes" <| fun () ->
    let mutable args = KernelArgs()
    for i in 1 .. KernelArgs.Capacity do args.Add i
    Assert.Equal(KernelArgs.Capacity, args.Count)
    let full =
        try
            args.Add 1.0f
            None
        with :? InvalidOperationException as e -> Some e.Message
    Assert.True(full.IsSome, "a 33rd argument was accepted")
    let mutable small = KernelArgs()
    let wide =
        try
            small.Add(Guid.NewGuid())
            None
        with :? ArgumentException as e -> Some e.Message
    Assert.True(wide.IsSome, "a 16-byte argument was accepted")
    Assert.Equal(0, small.Count)

// ------------------------------------------------------------------------------------------------ against the fake

/// The tests that drive the fake. They share its global state, so they live in one class and run one at a time.
module OnFakeDriver =

    let private ptx =
        ".version 7.0\n.target sm_70\n.address_size 64\n" +
        ".visible .entry saxpy(.param .u64 y, .param .u64 x, .param .f32 a, .param .u32 n)\n{\n\tret;\n}\n" +
        ".visible .entry scalars(.param .f64 d, .param .u64 l, .param .u32 u)\n{\n\tret;\n}\n"

    /// Resets the fake, loads it, opens device 0.
    let private openFake (fake: FakeCuda) =
        fake.Reset()
        let driver = CudaDriver.Load fake.Path
        driver, CudaDevice.Get(driver, 0).OpenContext()

    let private fill (rnd: Random) n = Array.init n (fun _ -> float32 (rnd.NextDouble() * 2.0 - 1.0))

    let ``the device, its context and device memory round-trip through the driver`` = fakeCudaCase "the device, its context and device memory round-trip through the driver" <| fun () ->
        let fake = FakeCuda.Full.Value
        let driver, ctx = openFake fake
        Assert.Equal(12040, driver.Version)
        Assert.Equal(1, driver.DeviceCount)
        Assert.Equal(fake.Path, driver.LibraryPath)
        let d = ctx.Device
        Assert.Equal("Fake CUDA Device 0", d.Name)
        Assert.Equal(16L <<< 30, d.TotalMemory)
        Assert.Equal(ComputeCapability(8, 6), d.ComputeCapability)
        Assert.Equal(4, d.MultiprocessorCount)
        Assert.Equal(1, fake.PrimaryRefs 0)
        let prop (len: int) (seed: int) =
            let rnd = Random seed
            let len = 1 + abs len % 200
            let host = fill rnd len
            use a = ctx.Allocate len
            use b = ctx.Allocate len
            use stream = ctx.CreateStream()
            a.Upload(ReadOnlySpan host)
            let back = Array.zeroCreate len
            a.Download(Span back)
            Assert.Equal<float32[]>(host, back)
            // A sub-range through the stream-ordered copies.
            let off = rnd.Next len
            let part = fill rnd (rnd.Next(len - off + 1))
            a.Upload(ReadOnlySpan part, off, stream)
            let expected = Array.copy host
            Array.blit part 0 expected off part.Length
            let got = Array.zeroCreate len
            a.Download(Span got, 0, stream)
            Assert.Equal<float32[]>(expected, got)
            // Device to device, then a fill of a sub-range.
            a.CopyTo b
            let count = rnd.Next(len - off + 1)
            b.Fill(-3.5f, off, count)
            for i in off .. off + count - 1 do expected.[i] <- -3.5f
            b.Download(Span got)
            Assert.Equal<float32[]>(expected, got)
            true
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 40, prop)
        Assert.Equal(0, fake.Live "allocations")
        Assert.Equal(0, fake.Live "streams")
        ctx.Dispose()
        Assert.Equal(0, fake.PrimaryRefs 0)

    let ``out-of-range element ranges are refused before the driver is called`` = fakeCudaCase "out-of-range element ranges are refused before the driver is called" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use a = ctx.Allocate 8
        use b = ctx.Allocate 4
        throws<ArgumentOutOfRangeException> (fun () -> a.Upload(ReadOnlySpan(Array.zeroCreate<float32> 5), 4)) |> ignore
        throws<ArgumentOutOfRangeException> (fun () -> a.Download(Span(Array.zeroCreate<float32> 9))) |> ignore
        throws<ArgumentOutOfRangeException> (fun () -> a.CopyTo(6, b, 0, 3)) |> ignore
        throws<ArgumentOutOfRangeException> (fun () -> a.Fill(0f, -1, 2)) |> ignore
        throws<ArgumentException> (fun () -> a.CopyTo b) |> ignore
        // An empty buffer allocates nothing and copies nothing.
        use empty = ctx.Allocate 0
        empty.Upload(ReadOnlySpan<float32>.Empty)
        Assert.Equal(2, fake.Live "allocations")

    /// Driver codes used by the error-mapping test, with the names and strings the fake's driver gives them.
    let private driverErrors =
        [ 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"
          1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"
          201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"
          700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"
          100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"
          999, "CUDA_ERROR_UNKNOWN", "unknown error"
          500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"
          218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed" ]

    /// What each driver call needs to exist before it can be made to fail.
    type private Env =
        { Fake: FakeCuda; Driver: CudaDriver; Ctx: CudaContext; A: DeviceBuffer; B: DeviceBuffer
          Stream: CudaStream; Module: CudaModule; Fn: CudaFunction; E1: CudaEvent; E2: CudaEvent }

    let private launchSaxpy (env: Env) =
        let mutable args = KernelArgs()
        args.Add env.A
        args.Add env.B
        args.Add 2.0f
        args.Add 4
        env.Fn.Launch(1, 4, 0, env.Stream, &args)

    /// The optional graph entry points of the binding (DriverApi.GraphExports, internal).
    let private DriverApiGraphExports : string[] =
        let api = nonNull (typeof<CudaDriver>.Assembly.GetType("Sac.Cuda.Driver.DriverApi", true))
        nonNull ((nonNull (api.GetField "GraphExports")).GetValue(null)) :?> string[]

    /// Every driver entry point the binding calls, with an action that reaches it.
    let private driverCalls : (string * (Env -> unit)) list =
        let host = Array.zeroCreate<float32> 4
        [ "cuInit", fun e -> CudaDriver.Load e.Fake.Path |> ignore
          "cuDriverGetVersion", fun e -> e.Driver.Version |> ignore
          "cuDeviceGetCount", fun e -> e.Driver.DeviceCount |> ignore
          "cuDeviceGet", fun e -> CudaDevice.Get(e.Driver, 0) |> ignore
          "cuDeviceGetName", fun e -> CudaDevice.Get(e.Driver, 0) |> ignore
          "cuDeviceTotalMem_v2", fun e -> CudaDevice.Get(e.Driver, 0) |> ignore
          "cuDeviceGetAttribute", fun e -> CudaDevice.Get(e.Driver, 0) |> ignore
          "cuDevicePrimaryCtxRetain", fun e -> e.Ctx.Device.OpenContext() |> ignore
          "cuDevicePrimaryCtxRelease_v2", fun e -> e.Ctx.Device.OpenContext().Dispose()
          "cuCtxSetCurrent", fun e -> e.Ctx.MakeCurrent()
          "cuCtxSynchronize", fun e -> e.Ctx.Synchronize()
          "cuMemAlloc_v2", fun e -> e.Ctx.Allocate 4 |> ignore
          "cuMemFree_v2", fun e -> e.Ctx.Allocate(4).Dispose()
          "cuMemcpyHtoD_v2", fun e -> e.A.Upload(ReadOnlySpan host)
          "cuMemcpyDtoH_v2", fun e -> e.A.Download(Span host)
          "cuMemcpyDtoD_v2", fun e -> e.A.CopyTo e.B
          "cuMemcpyDtoDAsync_v2", fun e -> e.A.CopyTo(0, e.B, 0, 4, e.Stream)
          "cuMemcpyHtoDAsync_v2", fun e -> e.A.Upload(ReadOnlySpan host, 0, e.Stream)
          "cuMemcpyDtoHAsync_v2", fun e -> e.A.Download(Span host, 0, e.Stream)
          "cuMemsetD32_v2", fun e -> e.A.Fill 1.0f
          "cuMemsetD32Async", fun e -> e.A.Fill(1.0f, 0, 4, e.Stream)
          "cuModuleLoadDataEx", fun e -> e.Ctx.LoadModule ptx |> ignore
          "cuModuleGetFunction", fun e -> e.Module.GetFunction "saxpy" |> ignore
          "cuModuleUnload", fun e -> e.Ctx.LoadModule(ptx).Dispose()
          "cuLaunchKernel", launchSaxpy
          "cuStreamCreate", fun e -> e.Ctx.CreateStream() |> ignore
          "cuStreamSynchronize", fun e -> e.Stream.Synchronize()
          "cuStreamDestroy_v2", fun e -> e.Ctx.CreateStream().Dispose()
          "cuEventCreate", fun e -> e.Ctx.CreateEvent() |> ignore
          "cuEventRecord", fun e -> e.E1.Record e.Stream
          "cuEventSynchronize", fun e -> e.E1.Synchronize()
          "cuEventElapsedTime", fun e -> e.E1.Record e.Stream; e.E2.Record e.Stream; CudaEvent.ElapsedMilliseconds(e.E1, e.E2) |> ignore
          "cuEventDestroy_v2", fun e -> e.Ctx.CreateEvent().Dispose()
          "cuMemAllocHost_v2", fun e -> e.Ctx.AllocatePinned 4 |> ignore
          "cuMemFreeHost", fun e -> e.Ctx.AllocatePinned(4).Dispose() ]

    let private withEnv (fake: FakeCuda) (body: Env -> unit) =
        let driver, ctx = openFake fake
        let a, b = ctx.Allocate 4, ctx.Allocate 4
        let stream = ctx.CreateStream()
        let m = ctx.LoadModule ptx
        let env =
            { Fake = fake; Driver = driver; Ctx = ctx; A = a; B = b; Stream = stream; Module = m
              Fn = m.GetFunction "saxpy"; E1 = ctx.CreateEvent(); E2 = ctx.CreateEvent() }
        try
            body env
        finally
            fake.ClearFails()
            for r in [ env.E2 :> IDisposable; env.E1; m; stream; b; a; ctx ] do r.Dispose()

    let ``every failing driver call becomes a CudaException naming the call, code, error name and string`` = fakeCudaCase "every failing driver call becomes a CudaException naming the call, code, error name and string" <| fun () ->
        let fake = FakeCuda.Full.Value
        driverCalls
        |> List.iteri (fun i (symbol, action) ->
            let code, name, text = driverErrors.[i % driverErrors.Length]
            withEnv fake (fun env ->
                fake.Fail(symbol, code)
                let e = throws<CudaException> (fun () -> action env)
                Assert.Equal(CudaLibrary.Driver, e.Library)
                Assert.Equal(symbol, e.Call)
                Assert.Equal(code, e.Code)
                Assert.Equal(name, e.ErrorName)
                Assert.Equal(text, e.ErrorString)
                Assert.Equal(sprintf "%s failed: %s (%d): %s" symbol name code text, e.Message)))
        // The list covers every entry point the binding resolves, except the two error-text ones used above,
        // cuDevicePrimaryCtxGetState, which is only asked whether a release is still owed (a failure means "cannot
        // tell" and skips the release, never throws), and the graph entry points, which only CudaBackend calls (their
        // failures are tested with it; cuGraphDestroy's is ignored, the captured graph being dropped either way).
        let quiet = set ([ "cuGetErrorName"; "cuGetErrorString"; "cuDevicePrimaryCtxGetState" ] @ List.ofArray DriverApiGraphExports)
        let resolved =
            (nonNull (typeof<CudaDriver>.Assembly.GetType("Sac.Cuda.Driver.DriverApi", true))).GetFields()
            |> Array.filter (fun f -> f.Name.StartsWith "cu" && not (quiet.Contains f.Name))
            |> Array.map (fun f -> f.Name)
            |> Set.ofArray
        Assert.Equal<Set<string>>(resolved, driverCalls |> List.map fst |> Set.ofList)

    let ``a status the driver cannot name still gives a typed exception`` = fakeCudaCase "a status the driver cannot name still gives a typed exception" <| fun () ->
        let fake = FakeCuda.Full.Value
        withEnv fake (fun env ->
            fake.Fail("cuMemAlloc_v2", 4242)
            let e = throws<CudaException> (fun () -> env.Ctx.Allocate 1 |> ignore)
            Assert.Equal(4242, e.Code)
            Assert.Equal("CUresult 4242", e.ErrorName)
            Assert.Equal("cuMemAlloc_v2 failed: CUresult 4242 (4242): unrecognised error code", e.Message))

    let ``a zero-filled device array frees its memory when the fill fails`` = fakeCudaCase "a zero-filled device array frees its memory when the fill fails" <| fun () ->
        let fake = FakeCuda.Full.Value
        withEnv fake (fun env ->
            let before = fake.Live "allocations"
            fake.Fail("cuMemsetD32_v2", 2)
            throws<CudaException> (fun () -> new CudaDeviceArray(env.Ctx, 16) |> ignore) |> ignore
            Assert.Equal(before, fake.Live "allocations"))

    let ``TryOpen answers false with the reason for no devices, a bad ordinal and a failing cuInit`` = fakeCudaCase "TryOpen answers false with the reason for no devices, a bad ordinal and a failing cuInit" <| fun () ->
        let fake = FakeCuda.Full.Value
        fake.Reset()
        fake.SetDevices 0
        match CudaDevice.TryOpen(fake.Path, 0) with
        | false, null, reason -> Assert.Equal(sprintf "no usable GPU: the CUDA driver (%s) reports no devices" fake.Path, reason)
        | r -> failwithf "unexpected %A" r
        fake.Reset()
        match CudaDevice.TryOpen(fake.Path, 1) with
        | false, null, reason -> Assert.Equal("no usable GPU: device 1 was asked for, the CUDA driver reports 1 device(s)", reason)
        | r -> failwithf "unexpected %A" r
        fake.Fail("cuInit", 100)
        match CudaDevice.TryOpen(fake.Path, 0) with
        | false, null, reason ->
            Assert.Equal("no usable GPU: cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected", reason)
        | r -> failwithf "unexpected %A" r
        fake.Reset()
        fake.Fail("cuDevicePrimaryCtxRetain", 2)
        match CudaDevice.TryOpen(fake.Path, 0) with
        | false, null, reason -> Assert.StartsWith("no usable GPU: cuDevicePrimaryCtxRetain failed: CUDA_ERROR_OUT_OF_MEMORY", reason)
        | r -> failwithf "unexpected %A" r
        fake.Reset()
        match CudaDevice.TryOpen(fake.Path, 0) with
        | true, ctx, "" ->
            let ctx = nonNull ctx
            Assert.Equal("Fake CUDA Device 0", ctx.Device.Name)
            Assert.Equal(1, fake.PrimaryRefs 0)
            ctx.Dispose()
            Assert.Equal(0, fake.PrimaryRefs 0)
        | r -> failwithf "unexpected %A" r

    let ``a context whose make-current fails gives its retain back`` = fakeCudaCase "a context whose make-current fails gives its retain back" <| fun () ->
        let fake = FakeCuda.Full.Value
        fake.Reset()
        let driver = CudaDriver.Load fake.Path
        let device = CudaDevice.Get(driver, 0)
        fake.Fail("cuCtxSetCurrent", 201)
        throws<CudaException> (fun () -> device.OpenContext() |> ignore) |> ignore
        Assert.Equal(0, fake.PrimaryRefs 0)

    let ``disposing twice is safe and any use after dispose throws ObjectDisposedException`` = fakeCudaCase "disposing twice is safe and any use after dispose throws ObjectDisposedException" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        let buffer = ctx.Allocate 8
        let array = new CudaDeviceArray(ctx, 8)
        let stream = ctx.CreateStream()
        let ev = ctx.CreateEvent()
        let m = ctx.LoadModule ptx
        let fn = m.GetFunction "saxpy"
        let blas = new CuBlas(ctx, stream, fake.Path)
        Assert.Equal(2, fake.Live "allocations")
        for r in [ buffer :> IDisposable; array; stream; ev; m; blas ] do
            r.Dispose()
            r.Dispose()
        for kind in [ "allocations"; "streams"; "events"; "modules"; "cublas" ] do Assert.Equal(0, fake.Live kind)
        let disposed (f: unit -> unit) = throws<ObjectDisposedException> f |> ignore
        disposed (fun () -> buffer.Upload(ReadOnlySpan [| 1.0f |]))
        disposed (fun () -> buffer.Download(Span [| 1.0f |]))
        disposed (fun () -> buffer.Fill 0f)
        disposed (fun () -> buffer.DevicePointer |> ignore)
        disposed (fun () -> CudaDeviceArray.Upload(ReadOnlySpan(Array.zeroCreate<float32> 8), array.All))
        disposed (fun () -> stream.Synchronize())
        disposed (fun () -> ev.Record stream)
        disposed (fun () -> m.GetFunction "saxpy" |> ignore)
        disposed (fun () ->
            let mutable args = KernelArgs()
            fn.Launch(1, 1, 0, stream, &args))
        disposed (fun () -> blas.Stream <- null)
        ctx.Dispose()
        ctx.Dispose()
        Assert.Equal(0, fake.PrimaryRefs 0)
        disposed (fun () -> ctx.Synchronize())
        disposed (fun () -> ctx.Allocate 1 |> ignore)

    let ``resources disposed after their context skip the release the context already did`` = fakeCudaCase "resources disposed after their context skip the release the context already did" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        let buffer = ctx.Allocate 8
        let stream = ctx.CreateStream()
        ctx.Dispose()
        // The fake freed the context's memory with its last retain, as the driver does; freeing again would fail.
        Assert.Equal(0, fake.Live "allocations")
        buffer.Dispose()
        stream.Dispose()
        throws<ObjectDisposedException> (fun () -> buffer.Fill 0f) |> ignore

    let ``a launch passes grid, block, shared bytes, stream and each argument's value`` = fakeCudaCase "a launch passes grid, block, shared bytes, stream and each argument's value" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use m = ctx.LoadModule ptx
        let saxpy = m.GetFunction "saxpy"
        Assert.Equal("saxpy", saxpy.Name)
        use stream = ctx.CreateStream()
        let prop (n: int) (blockSize: int) (short: bool) (seed: int) =
            let rnd = Random seed
            let n = abs n % 300
            let blockSize = 1 + abs blockSize % 64
            // Too few blocks leaves the tail alone, which shows the grid and block sizes reach the kernel.
            let grid = max 1 ((n + blockSize - 1) / blockSize - (if short then 1 else 0))
            let len = n + 3
            let x, y = fill rnd len, fill rnd len
            let a = float32 (rnd.NextDouble() * 4.0 - 2.0)
            use dx = ctx.Allocate len
            use dy = ctx.Allocate len
            dx.Upload(ReadOnlySpan x)
            dy.Upload(ReadOnlySpan y)
            let before = fake.Launches
            let mutable args = KernelArgs()
            args.Add dy
            args.Add dx
            args.Add a
            args.Add n
            saxpy.Launch(grid, blockSize, 16 * blockSize, stream, &args)
            stream.Synchronize()
            Assert.Equal(before + 1, fake.Launches)
            let dims, s = fake.LastLaunch
            Assert.Equal<uint32[]>([| uint32 grid; 1u; 1u; uint32 blockSize; 1u; 1u; uint32 (16 * blockSize) |], dims)
            Assert.Equal(uint64 stream.Handle, s)
            let got = Array.zeroCreate len
            dy.Download(Span got)
            let ran = min n (grid * blockSize)
            let expected = Array.init len (fun i -> if i < ran then y.[i] + a * x.[i] else y.[i])
            Assert.Equal<float32[]>(expected, got)
            true
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 60, prop)
        // Eight-byte scalars and a three-dimensional launch.
        let scalars = m.GetFunction "scalars"
        let mutable args = KernelArgs()
        args.Add 2.718281828459045
        args.Add(-1234567890123L)
        args.Add 4000000000u
        scalars.Launch(Dim3(2, 3, 4), Dim3(5, 6, 7), 0, stream, &args)
        Assert.Equal((2.718281828459045, -1234567890123L, 4000000000u), fake.Scalars)
        let dims, s = fake.LastLaunch
        Assert.Equal<uint32[]>([| 2u; 3u; 4u; 5u; 6u; 7u; 0u |], dims)
        Assert.Equal(uint64 stream.Handle, s)
        throws<CudaException> (fun () -> m.GetFunction "missing" |> ignore) |> ignore
        throws<ArgumentOutOfRangeException> (fun () ->
            let mutable none = KernelArgs()
            scalars.Launch(0, 1, 0, stream, &none))
        |> ignore

    let ``events record on a stream and report elapsed milliseconds`` = fakeCudaCase "events record on a stream and report elapsed milliseconds" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use stream = ctx.CreateStream()
        use e1 = ctx.CreateEvent()
        use e2 = ctx.CreateEvent()
        e1.Record stream
        e2.Record stream
        e2.Synchronize()
        let ms = CudaEvent.ElapsedMilliseconds(e1, e2)
        Assert.True(Single.IsFinite ms && ms >= 0.0f, sprintf "elapsed %g ms" ms)

    let private saxpyArgs (y: DeviceBuffer) (x: DeviceBuffer) (n: int) =
        let mutable args = KernelArgs()
        args.Add y
        args.Add x
        args.Add 1.0f
        args.Add n
        args

    let ``synchronous copies, fills and stream-less GEMMs wait for the non-blocking streams, and launches and events need a stream`` = fakeCudaCase "synchronous copies, fills and stream-less GEMMs wait for the non-blocking streams, and launches and events need a stream" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use m = ctx.LoadModule ptx
        let saxpy = m.GetFunction "saxpy"
        use stream = ctx.CreateStream()
        use a = ctx.Allocate 8
        use b = ctx.Allocate 8
        use arr = new CudaDeviceArray(ctx, 8)
        let host = Array.init 8 float32
        let back = Array.zeroCreate<float32> 8
        let launch () =
            let mutable args = saxpyArgs b a 8
            saxpy.Launch(1, 8, 0, stream, &args)
        // Each synchronous operation right after stream work it must not race with, and stream work right after it.
        let steps : (string * (unit -> unit)) list =
            [ "Upload", fun () -> a.Upload(ReadOnlySpan host)
              "Download", fun () -> b.Download(Span back)
              "CopyTo", fun () -> a.CopyTo b
              "CopyTo range", fun () -> a.CopyTo(0, b, 2, 4)
              "Fill", fun () -> b.Fill 2.0f
              "Fill range", fun () -> b.Fill(3.0f, 1, 5, null)
              "CudaDeviceArray.Upload", fun () -> CudaDeviceArray.Upload(ReadOnlySpan host, arr.All)
              "CudaDeviceArray.Download", fun () -> CudaDeviceArray.Download(arr.All, Span back)
              "CudaDeviceArray.Copy", fun () -> CudaDeviceArray.Copy(arr.Slice(0, 4), arr.Slice(4, 4))
              "new CudaDeviceArray", fun () -> (new CudaDeviceArray(ctx, 4)).Dispose() ]
        for name, step in steps do
            launch ()
            step ()
            launch ()
            Assert.True((fake.Hazards = 0), $"{name}: {fake.LastHazard}")
        stream.Synchronize()
        // No launch or event on the legacy default stream (a null stream, which F# callers can only pass unchecked).
        throws<ArgumentNullException> (fun () ->
            let mutable args = saxpyArgs b a 8
            saxpy.Launch(1, 8, 0, Unchecked.defaultof<CudaStream>, &args))
        |> ignore
        use ev = ctx.CreateEvent()
        throws<ArgumentNullException> (fun () -> ev.Record(Unchecked.defaultof<CudaStream>)) |> ignore
        Assert.Equal(0, fake.Hazards)
        // cuBLAS without a stream runs on the legacy stream: each GEMM waits for the context before and after, so
        // neither the stream's work before it nor after it races with it.
        use blas = new CuBlas(ctx, null, fake.Path)
        a.Upload(ReadOnlySpan [| 1f; 2f; 3f; 4f; 0f; 0f; 0f; 0f |])
        for _ in 1 .. 3 do
            launch ()
            let syncs = fake.Calls "cuCtxSynchronize"
            blas.Sgemm(Transpose.No, Transpose.No, 2, 2, 2, 1f, a, 2, a, 2, 0f, b, 2)
            Assert.Equal(syncs + 2, fake.Calls "cuCtxSynchronize")
            launch ()
            Assert.True((fake.Hazards = 0), fake.LastHazard)
        stream.Synchronize()
        let c = Array.zeroCreate<float32> 4
        b.Download(Span c, 0, stream)
        // A A, then the stream's saxpy added A.
        Assert.Equal<float32[]>([| 8f; 12f; 18f; 26f |], c)
        // Bound to a stream, it waits for nothing.
        blas.Stream <- stream
        let syncs = fake.Calls "cuCtxSynchronize"
        launch ()
        blas.Sgemm(Transpose.No, Transpose.No, 2, 2, 2, 1f, a, 2, a, 2, 0f, b, 2)
        launch ()
        Assert.Equal(syncs, fake.Calls "cuCtxSynchronize")
        Assert.Equal(0, fake.Hazards)
        // The fake does see a hazard where there is one: a fill on the legacy stream that waits for nothing.
        Assert.Equal(0, fake.LegacyFill(b.DevicePointer, 0u, 4))
        Assert.Equal(1, fake.Hazards)
        Assert.StartsWith("cuMemsetD32_v2 on the legacy default stream while a non-blocking stream has unfinished work", fake.LastHazard)

    let ``an upload from pinned memory is asynchronous, and the fake flags pinned memory rewritten or freed before its copy completed`` = fakeCudaCase "an upload from pinned memory is asynchronous, and the fake flags pinned memory rewritten or freed before its copy completed" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use stream = ctx.CreateStream()
        use done' = ctx.CreateEvent()
        use d = ctx.Allocate 16
        let pinned = ctx.AllocatePinned 8
        Assert.Equal(1, fake.Live "pinned")
        Assert.Equal(8, pinned.Length)
        let back = Array.zeroCreate<float32> 4
        // Written, copied, waited for through an event, and only then rewritten: no hazard, and the data arrives.
        for round in 0 .. 2 do
            let values = Array.init 4 (fun i -> float32 (10 * round + i))
            values.AsSpan().CopyTo(pinned.Span.Slice(2))
            d.Upload(pinned, 2, 4 * round, 4, stream)
            done'.Record stream
            done'.Synchronize()
            d.Download(Span back, 4 * round, stream)
            Assert.Equal<float32[]>(values, back)
        Assert.Equal(0, fake.StagingHazards)
        // Rewritten while the copy is pending: flagged when the copy is seen to complete.
        pinned.Span.Fill 1f
        d.Upload(pinned, 0, 0, 8, stream)
        pinned.Span.[3] <- 2f
        Assert.Equal(0, fake.StagingHazards)
        stream.Synchronize()
        Assert.Equal(1, fake.StagingHazards)
        Assert.StartsWith("pinned memory rewritten while a copy from it was pending: 32 bytes at offset 0", fake.LastStagingHazard)
        // Out-of-range source or destination ranges are refused before the driver is called.
        let copies = fake.Calls "cuMemcpyHtoDAsync_v2"
        throws<ArgumentOutOfRangeException> (fun () -> d.Upload(pinned, 5, 0, 4, stream)) |> ignore
        throws<ArgumentOutOfRangeException> (fun () -> d.Upload(pinned, 0, 14, 4, stream)) |> ignore
        Assert.Equal(copies, fake.Calls "cuMemcpyHtoDAsync_v2")
        // Freed while a copy from it is pending: flagged too.
        d.Upload(pinned, 0, 0, 8, stream)
        pinned.Dispose()
        Assert.Equal(2, fake.StagingHazards)
        Assert.StartsWith("pinned memory freed while a copy from it was pending", fake.LastStagingHazard)
        Assert.Equal(0, fake.Live "pinned")
        throws<ObjectDisposedException> (fun () -> pinned.Span.[0] <- 0f) |> ignore

    let ``a resource disposed after its context still frees itself while the primary context lives on`` = fakeCudaCase "a resource disposed after its context still frees itself while the primary context lives on" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        // Another retain of the same primary context, as cuBLAS's runtime holds one.
        let other = ctx.Device.OpenContext()
        let buffer = ctx.Allocate 8
        let stream = ctx.CreateStream()
        let m = ctx.LoadModule ptx
        let ev = ctx.CreateEvent()
        ctx.Dispose()
        Assert.Equal(1, fake.PrimaryRefs 0)
        Assert.Equal(1, fake.Live "allocations")
        for r in [ buffer :> IDisposable; stream; m; ev ] do r.Dispose()
        for kind in [ "allocations"; "streams"; "modules"; "events" ] do Assert.Equal(0, fake.Live kind)
        other.Dispose()
        Assert.Equal(0, fake.PrimaryRefs 0)
        // A resource of a context released to nothing and retained afresh since: its memory went with the old
        // lifetime, and its address may be in use again, so nothing is freed.
        let first = other.Device.OpenContext()
        let stale = first.Allocate 4
        first.Dispose()
        Assert.Equal(0, fake.Live "allocations")
        let second = first.Device.OpenContext()
        use _ = second
        use fresh = second.Allocate 4
        let frees = fake.Calls "cuMemFree_v2"
        stale.Dispose()
        Assert.Equal(frees, fake.Calls "cuMemFree_v2")
        Assert.Equal(1, fake.Live "allocations")

    let ``a PTX the JIT rejects gives CUDA_ERROR_INVALID_PTX with the JIT's log in the message`` = fakeCudaCase "a PTX the JIT rejects gives CUDA_ERROR_INVALID_PTX with the JIT's log in the message" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        let bad = ptx + "// FAKE_JIT_ERROR: Unknown symbol 'missing_global'\n"
        let line = (ptx |> Seq.filter ((=) '\n') |> Seq.length) + 1
        let e = throws<CudaException> (fun () -> ctx.LoadModule bad |> ignore)
        Assert.Equal("cuModuleLoadDataEx", e.Call)
        Assert.Equal(218, e.Code)
        Assert.Equal("CUDA_ERROR_INVALID_PTX", e.ErrorName)
        let expected = $"ptxas application ptx input, line {line}; error   : Unknown symbol 'missing_global'"
        Assert.StartsWith(expected, nonNull e.Log)
        Assert.Contains("0 of 2 entry function(s) compiled", nonNull e.Log)
        Assert.StartsWith("cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (218): a PTX JIT compilation failed", e.Message)
        Assert.Contains(expected, e.Message)
        Assert.Equal(0, fake.Live "modules")
        // A module that loads keeps the JIT's info log.
        use m = ctx.LoadModule ptx
        Assert.Equal("ptxas info    : 2 entry function(s) compiled for sm_86", m.JitInfoLog)
        // A failure without a log keeps the one-line message.
        let empty = throws<CudaException> (fun () -> ctx.LoadModule "" |> ignore)
        Assert.Equal("cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_IMAGE (200): device kernel image is invalid" + Environment.NewLine + "fake JIT: empty image", empty.Message)

    let ``a launch with the wrong number of arguments is refused before the driver is called`` = fakeCudaCase "a launch with the wrong number of arguments is refused before the driver is called" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use m = ctx.LoadModule ptx
        use stream = ctx.CreateStream()
        use a = ctx.Allocate 8
        let saxpy = m.GetFunction "saxpy"
        Assert.Equal(Nullable 4, saxpy.ParameterCount)
        Assert.Equal(Nullable 3, (m.GetFunction "scalars").ParameterCount)
        let before = fake.Launches
        let e =
            throws<ArgumentException> (fun () ->
                let mutable args = KernelArgs()
                args.Add a
                args.Add a
                args.Add 1.0f
                saxpy.Launch(1, 8, 0, stream, &args))
        Assert.Contains("Kernel saxpy takes 4 argument(s); 3 were given.", e.Message)
        throws<ArgumentException> (fun () ->
            let mutable args = saxpyArgs a a 8
            args.Add 7
            saxpy.Launch(1, 8, 0, stream, &args))
        |> ignore
        Assert.Equal(before, fake.Launches)
        // The parameter lists as clang and nvcc print them: one per line, aligned structs, none at all.
        let text =
            ".visible .entry polyak(\n\t.param .u32 polyak_param_0,\n\t.param .f32 polyak_param_1,\n\t.param .u64 polyak_param_2\n)\n{\n}\n" +
            ".entry polyak_twice (.param .align 8 .b8 p[16], .param .u64 q)\n{\n}\n.entry empty()\n{\n}\n"
        Assert.Equal(Nullable 3, CudaModule.EntryParameterCount(text, "polyak"))
        Assert.Equal(Nullable 2, CudaModule.EntryParameterCount(text, "polyak_twice"))
        Assert.Equal(Nullable 0, CudaModule.EntryParameterCount(text, "empty"))
        Assert.Equal(Nullable(), CudaModule.EntryParameterCount(text, "twice"))

    let ``copies between overlapping ranges of one buffer are refused`` = fakeCudaCase "copies between overlapping ranges of one buffer are refused" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use stream = ctx.CreateStream()
        use a = ctx.Allocate 10
        a.Upload(ReadOnlySpan(Array.init 10 float32))
        let copies = fake.Calls "cuMemcpyDtoD_v2" + fake.Calls "cuMemcpyDtoDAsync_v2"
        let e = throws<ArgumentException> (fun () -> a.CopyTo(0, a, 2, 4))
        Assert.Contains("Cannot copy elements [0, 4) onto [2, 6) of the same buffer: the ranges overlap", e.Message)
        throws<ArgumentException> (fun () -> a.CopyTo(5, a, 2, 4, stream)) |> ignore
        use arr = new CudaDeviceArray(ctx, 10)
        throws<ArgumentException> (fun () -> CudaDeviceArray.Copy(arr.Slice(1, 5), arr.Slice(0, 5))) |> ignore
        // A range onto itself is already there; neighbouring ranges copy.
        a.CopyTo(3, a, 3, 4)
        Assert.Equal(copies, fake.Calls "cuMemcpyDtoD_v2" + fake.Calls "cuMemcpyDtoDAsync_v2")
        a.CopyTo(0, a, 4, 4)
        a.CopyTo(8, a, 0, 2, stream)
        let back = Array.zeroCreate<float32> 10
        a.Download(Span back)
        Assert.Equal<float32[]>([| 8.0f; 9.0f; 2.0f; 3.0f; 0.0f; 1.0f; 2.0f; 3.0f; 8.0f; 9.0f |], back)

    type GemmCase =
        { TA: Transpose; TB: Transpose; M: int; N: int; K: int; Alpha: float32; Beta: float32
          PadA: int; PadB: int; PadC: int; OffA: int; OffB: int; OffC: int; Tf32: bool; Seed: int }

    let private gemmCase =
        gen {
            let! ta = Gen.elements [ Transpose.No; Transpose.Yes ]
            let! tb = Gen.elements [ Transpose.No; Transpose.Yes ]
            let! m = Gen.choose (0, 9)
            let! n = Gen.choose (0, 9)
            let! k = Gen.choose (0, 9)
            let! alpha = Gen.elements [ 1.0f; -0.5f; 2.0f ]
            let! beta = Gen.elements [ 0.0f; 1.0f; 0.25f ]
            let! pads = Gen.arrayOfLength 3 (Gen.choose (0, 3))
            let! offs = Gen.arrayOfLength 3 (Gen.choose (0, 5))
            let! tf32 = Gen.elements [ false; true ]
            let! seed = Gen.choose (0, 1_000_000)
            return { TA = ta; TB = tb; M = m; N = n; K = k; Alpha = alpha; Beta = beta; PadA = pads.[0]; PadB = pads.[1]
                     PadC = pads.[2]; OffA = offs.[0]; OffB = offs.[1]; OffC = offs.[2]; Tf32 = tf32; Seed = seed }
        }

    let ``row-major Sgemm on the column-major fake cuBLAS equals ReferenceGemm exactly`` = fakeCudaCase "row-major Sgemm on the column-major fake cuBLAS equals ReferenceGemm exactly" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use stream = ctx.CreateStream()
        use blas = new CuBlas(ctx, stream, fake.Path)
        Assert.True blas.SupportsTf32
        let prop (c: GemmCase) =
            let rnd = Random c.Seed
            let aRows, aCols = if c.TA = Transpose.No then c.M, c.K else c.K, c.M
            let bRows, bCols = if c.TB = Transpose.No then c.K, c.N else c.N, c.K
            let lda, ldb, ldc = aCols + c.PadA, bCols + c.PadB, c.N + c.PadC
            let a, b, c0 = fill rnd (aRows * lda), fill rnd (bRows * ldb), fill rnd (c.M * ldc)
            // beta = 0 must not read C: NaNs there must not reach the result.
            if c.Beta = 0.0f then for i in 0 .. c0.Length - 1 do if i % 3 = 0 then c0.[i] <- nanf
            // Each operand sits at an offset inside a larger array, with a guard band after it.
            use da = new CudaDeviceArray(ctx, c.OffA + a.Length + 2)
            use db = new CudaDeviceArray(ctx, c.OffB + b.Length + 2)
            use dc = new CudaDeviceArray(ctx, c.OffC + c0.Length + 2)
            let sa, sb, sc = da.Slice(c.OffA, a.Length), db.Slice(c.OffB, b.Length), dc.Slice(c.OffC, c0.Length)
            CudaDeviceArray.Upload(ReadOnlySpan a, sa)
            CudaDeviceArray.Upload(ReadOnlySpan b, sb)
            CudaDeviceArray.Upload(ReadOnlySpan c0, sc)
            blas.Math <- (if c.Tf32 then GemmMath.Tf32 else GemmMath.Float32)
            let calls = fake.GemmCalls
            blas.Sgemm(c.TA, c.TB, c.M, c.N, c.K, c.Alpha, sa, lda, sb, ldb, c.Beta, sc, ldc)
            let expected = Array.copy c0
            ReferenceGemm.Instance.Sgemm(c.TA, c.TB, c.M, c.N, c.K, c.Alpha, ReadOnlySpan a, lda, ReadOnlySpan b, ldb, c.Beta, Span expected, ldc)
            let whole = Array.zeroCreate dc.Length
            CudaDeviceArray.Download(dc.All, Span whole)
            let got = whole.[c.OffC .. c.OffC + c0.Length - 1]
            // Same double accumulation in the same order: equal bit for bit, padding columns untouched.
            for i in 0 .. got.Length - 1 do
                if BitConverter.SingleToInt32Bits got.[i] <> BitConverter.SingleToInt32Bits expected.[i] then
                    failwithf "%A: C[%d] = %g, reference %g" c i got.[i] expected.[i]
            Assert.True(Array.forall (fun v -> v = 0.0f) whole.[.. c.OffC - 1] && Array.forall (fun v -> v = 0.0f) whole.[c.OffC + c0.Length ..])
            if c.M > 0 && c.N > 0 then
                // The mapping: C^T = op(B)^T op(A)^T, so cuBLAS sees B's flag first, then A's, and n x m.
                Assert.Equal(calls + 1, fake.GemmCalls)
                let g = fake.LastGemm
                let op t = if t = Transpose.Yes then 1 else 0
                Assert.Equal<int[]>(
                    [| op c.TB; op c.TA; c.N; c.M; c.K; max ldb (max 1 bCols); max lda (max 1 aCols); ldc; (if c.Tf32 then 77 else 0); 1 |], g)
            else Assert.Equal(calls, fake.GemmCalls)
            true
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 150, Prop.forAll (Arb.fromGen gemmCase) prop)

    let ``Sgemm refuses shapes that do not fit their buffers before calling cuBLAS`` = fakeCudaCase "Sgemm refuses shapes that do not fit their buffers before calling cuBLAS" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        use blas = new CuBlas(ctx, null, fake.Path)
        use a = ctx.Allocate 12
        use b = ctx.Allocate 12
        use c = ctx.Allocate 9
        let calls = fake.GemmCalls
        // lda smaller than A's 4 columns; then C too short for 3 x 4.
        throws<ArgumentException> (fun () -> blas.Sgemm(Transpose.No, Transpose.No, 3, 3, 4, 1f, a, 3, b, 3, 0f, c, 3)) |> ignore
        throws<ArgumentException> (fun () -> blas.Sgemm(Transpose.No, Transpose.No, 3, 4, 3, 1f, a, 3, b, 4, 0f, c, 4)) |> ignore
        Assert.Equal(calls, fake.GemmCalls)
        blas.Sgemm(Transpose.No, Transpose.No, 3, 3, 4, 1f, a, 4, b, 3, 0f, c, 3)
        Assert.Equal(calls + 1, fake.GemmCalls)

    /// Every cuBLAS entry point the binding calls, with an action that reaches it and the status to script.
    let private smallGemm (blas: CuBlas) (ctx: CudaContext) =
        use a = ctx.Allocate 4
        blas.Sgemm(Transpose.No, Transpose.No, 2, 2, 2, 1f, a, 2, a, 2, 0f, a, 2)

    let private setStream (ctx: CudaContext) (s: CudaStream) (path: string) =
        use blas = new CuBlas(ctx, null, path)
        blas.Stream <- s

    let private sgemm (ctx: CudaContext) (_: CudaStream) (path: string) =
        use blas = new CuBlas(ctx, null, path)
        smallGemm blas ctx

    let private gemmEx (ctx: CudaContext) (_: CudaStream) (path: string) =
        use blas = new CuBlas(ctx, null, path)
        blas.Math <- GemmMath.Tf32
        smallGemm blas ctx

    /// Every cuBLAS entry point the binding calls, with an action that reaches it and the status to script.
    let private blasCalls : (string * int * (CudaContext -> CudaStream -> string -> unit)) list =
        [ "cublasCreate_v2", 1, (fun ctx _ path -> new CuBlas(ctx, null, path) |> ignore)
          "cublasSetStream_v2", 7, setStream
          "cublasSgemm_v2", 13, sgemm
          "cublasGemmEx", 15, gemmEx
          "cublasDestroy_v2", 1, (fun ctx _ path -> (new CuBlas(ctx, null, path)).Dispose()) ]

    let private blasFailures (fake: FakeCuda) (names: Map<int, string * string>) =
        for symbol, code, action in blasCalls do
            let _, ctx = openFake fake
            use _ = ctx
            use stream = ctx.CreateStream()
            fake.Fail(symbol, code)
            let e = throws<CudaException> (fun () -> action ctx stream fake.Path)
            fake.ClearFails()
            let name, text = names.[code]
            Assert.Equal(CudaLibrary.CuBlas, e.Library)
            Assert.Equal(symbol, e.Call)
            Assert.Equal(code, e.Code)
            Assert.Equal(name, e.ErrorName)
            Assert.Equal(text, e.ErrorString)
            Assert.Equal(sprintf "%s failed: %s (%d): %s" symbol name code text, e.Message)

    let ``every failing cuBLAS call becomes a CudaException with cuBLAS's own status name and string`` = fakeCudaCase "every failing cuBLAS call becomes a CudaException with cuBLAS's own status name and string" <| fun () ->
        blasFailures FakeCuda.Full.Value (
            Map [ 1, ("CUBLAS_STATUS_NOT_INITIALIZED", "fake cuBLAS: not initialized")
                  7, ("CUBLAS_STATUS_INVALID_VALUE", "fake cuBLAS: invalid value")
                  13, ("CUBLAS_STATUS_EXECUTION_FAILED", "fake cuBLAS: execution failed")
                  15, ("CUBLAS_STATUS_NOT_SUPPORTED", "fake cuBLAS: not supported") ])

    let ``without cublasGetStatusString the status names come from the binding's own table`` = fakeCudaCase "without cublasGetStatusString the status names come from the binding's own table" <| fun () ->
        blasFailures FakeCuda.NoStatusText.Value (
            Map [ 1, ("CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized")
                  7, ("CUBLAS_STATUS_INVALID_VALUE", "an unsupported value or parameter was passed to the function")
                  13, ("CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute")
                  15, ("CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported") ])

    let ``a missing or wrong cuBLAS library gives CudaUnavailableException naming it and SAC_LIBCUBLAS`` = fakeCudaCase "a missing or wrong cuBLAS library gives CudaUnavailableException naming it and SAC_LIBCUBLAS" <| fun () ->
        let fake = FakeCuda.Full.Value
        let _, ctx = openFake fake
        use _ = ctx
        let path = "/nonexistent/sac/libcublas.so.12"
        let e = throws<CudaUnavailableException> (fun () -> new CuBlas(ctx, null, path) |> ignore)
        Assert.Equal(CudaLibrary.CuBlas, e.Library)
        Assert.Equal<string list>([ path ], List.ofSeq e.Tried)
        Assert.Contains("SAC_LIBCUBLAS", e.Message)
        let wrong = throws<CudaUnavailableException> (fun () -> new CuBlas(ctx, null, "libc.so.6") |> ignore)
        Assert.Equal("cublasCreate_v2", wrong.MissingExport)
        Assert.Equal(0, fake.Live "cublas")

    let tests = testList "OnFakeDriver" [
        ``the device, its context and device memory round-trip through the driver``
        ``out-of-range element ranges are refused before the driver is called``
        ``every failing driver call becomes a CudaException naming the call, code, error name and string``
        ``a status the driver cannot name still gives a typed exception``
        ``a zero-filled device array frees its memory when the fill fails``
        ``TryOpen answers false with the reason for no devices, a bad ordinal and a failing cuInit``
        ``a context whose make-current fails gives its retain back``
        ``disposing twice is safe and any use after dispose throws ObjectDisposedException``
        ``resources disposed after their context skip the release the context already did``
        ``a launch passes grid, block, shared bytes, stream and each argument's value``
        ``events record on a stream and report elapsed milliseconds``
        ``synchronous copies, fills and stream-less GEMMs wait for the non-blocking streams, and launches and events need a stream``
        ``an upload from pinned memory is asynchronous, and the fake flags pinned memory rewritten or freed before its copy completed``
        ``a resource disposed after its context still frees itself while the primary context lives on``
        ``a PTX the JIT rejects gives CUDA_ERROR_INVALID_PTX with the JIT's log in the message``
        ``a launch with the wrong number of arguments is refused before the driver is called``
        ``copies between overlapping ranges of one buffer are refused``
        ``row-major Sgemm on the column-major fake cuBLAS equals ReferenceGemm exactly``
        ``Sgemm refuses shapes that do not fit their buffers before calling cuBLAS``
        ``every failing cuBLAS call becomes a CudaException with cuBLAS's own status name and string``
        ``without cublasGetStatusString the status names come from the binding's own table``
        ``a missing or wrong cuBLAS library gives CudaUnavailableException naming it and SAC_LIBCUBLAS``
    ]

// ------------------------------------------------------------------------------------------------ on a real GPU

/// Tests that need a CUDA device; they skip with the reason where none opens.
module OnGpu =

    let private openGpu () =
        match CudaDevice.TryOpen 0 with
        | true, ctx, _ -> nonNull ctx
        | false, _, reason -> failwith reason

    let ``device memory round-trips through a real GPU`` = gpuCase "device memory round-trips through a real GPU" <| fun () ->
        use ctx = openGpu ()
        let rnd = Random 5
        let host = Array.init 10_000 (fun _ -> float32 (rnd.NextDouble()))
        use a = ctx.Allocate host.Length
        use b = new CudaDeviceArray(ctx, host.Length)
        use stream = ctx.CreateStream()
        a.Upload(ReadOnlySpan host, 0, stream)
        a.CopyTo(0, b.Buffer, 0, host.Length)
        b.Buffer.Fill(7.0f, 100, 50, stream)
        let back = Array.zeroCreate host.Length
        CudaDeviceArray.Download(b.All, Span back)
        let expected = Array.mapi (fun i v -> if i >= 100 && i < 150 then 7.0f else v) host
        Assert.Equal<float32[]>(expected, back)
        ctx.Synchronize()

    let ``cuBLAS Sgemm on a real GPU matches ReferenceGemm`` = gpuCase "cuBLAS Sgemm on a real GPU matches ReferenceGemm" <| fun () ->
        use ctx = openGpu ()
        use stream = ctx.CreateStream()
        use blas = new CuBlas(ctx, stream)
        let prop (ta: bool) (tb: bool) (m: int) (n: int) (k: int) (seed: int) =
            let ta, tb = (if ta then Transpose.Yes else Transpose.No), (if tb then Transpose.Yes else Transpose.No)
            let m, n, k = 1 + abs m % 70, 1 + abs n % 70, 1 + abs k % 70
            let rnd = Random seed
            let aRows, aCols = if ta = Transpose.No then m, k else k, m
            let bRows, bCols = if tb = Transpose.No then k, n else n, k
            let fill len = Array.init len (fun _ -> float32 (rnd.NextDouble() * 2.0 - 1.0))
            let a, b, c0 = fill (aRows * aCols), fill (bRows * bCols), fill (m * n)
            use da = ctx.Allocate a.Length
            use db = ctx.Allocate b.Length
            use dc = ctx.Allocate c0.Length
            da.Upload(ReadOnlySpan a)
            db.Upload(ReadOnlySpan b)
            dc.Upload(ReadOnlySpan c0)
            blas.Sgemm(ta, tb, m, n, k, 0.5f, da, aCols, db, bCols, 0.25f, dc, n)
            let got = Array.zeroCreate c0.Length
            dc.Download(Span got, 0, stream)
            let expected = Array.copy c0
            ReferenceGemm.Instance.Sgemm(ta, tb, m, n, k, 0.5f, ReadOnlySpan a, aCols, ReadOnlySpan b, bCols, 0.25f, Span expected, n)
            let tol = 1e-5f * float32 (k + 4)
            Array.forall2 (fun (g: float32) e -> abs (g - e) <= tol) got expected
        Check.One(Config.QuickThrowOnFailure.WithMaxTest 30, prop)

    let tests = testList "OnGpu" [
        ``device memory round-trips through a real GPU``
        ``cuBLAS Sgemm on a real GPU matches ReferenceGemm``
    ]

let tests = testList "Driver" [
    ``a missing driver library gives CudaUnavailableException naming the path tried and SAC_LIBCUDA``
    ``a library without the driver's entry points is refused naming the missing export``
    ``TryOpen through the default driver never throws and explains a missing driver``
    ``TryOpen with an absent library path answers false with the path in the reason``
    ``KernelArgs takes at most Capacity arguments of at most 8 bytes``
    OnFakeDriver.tests
    OnGpu.tests
]
