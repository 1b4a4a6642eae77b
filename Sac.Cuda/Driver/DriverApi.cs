using System;
using System.Runtime.InteropServices;

namespace Sac.Cuda.Driver;

/// <summary>
/// The CUDA driver entry points this binding uses, resolved from one loaded library into unmanaged function
/// pointers. Every function returns a <c>CUresult</c> (0 = success). Types as in <c>cuda.h</c> on a 64-bit host:
/// <c>CUdevice</c> = int, <c>CUdeviceptr</c> = ulong, <c>size_t</c> = nuint, handles (context, module, function,
/// stream, event) = nint. The <c>_v2</c> entry points are the ones <c>cuda.h</c> maps the plain names onto.
/// </summary>
internal sealed unsafe class DriverApi
{
    public readonly delegate* unmanaged<uint, int> cuInit;
    public readonly delegate* unmanaged<int*, int> cuDriverGetVersion;
    public readonly delegate* unmanaged<int*, int> cuDeviceGetCount;
    public readonly delegate* unmanaged<int*, int, int> cuDeviceGet;
    public readonly delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;
    public readonly delegate* unmanaged<nuint*, int, int> cuDeviceTotalMem_v2;
    public readonly delegate* unmanaged<int*, int, int, int> cuDeviceGetAttribute;
    public readonly delegate* unmanaged<nint*, int, int> cuDevicePrimaryCtxRetain;
    public readonly delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease_v2;
    public readonly delegate* unmanaged<int, uint*, int*, int> cuDevicePrimaryCtxGetState;
    public readonly delegate* unmanaged<nint, int> cuCtxSetCurrent;
    public readonly delegate* unmanaged<int> cuCtxSynchronize;
    public readonly delegate* unmanaged<ulong*, nuint, int> cuMemAlloc_v2;
    public readonly delegate* unmanaged<ulong, int> cuMemFree_v2;
    public readonly delegate* unmanaged<ulong, void*, nuint, int> cuMemcpyHtoD_v2;
    public readonly delegate* unmanaged<void*, ulong, nuint, int> cuMemcpyDtoH_v2;
    public readonly delegate* unmanaged<ulong, ulong, nuint, int> cuMemcpyDtoD_v2;
    public readonly delegate* unmanaged<ulong, ulong, nuint, nint, int> cuMemcpyDtoDAsync_v2;
    public readonly delegate* unmanaged<ulong, void*, nuint, nint, int> cuMemcpyHtoDAsync_v2;
    public readonly delegate* unmanaged<void*, ulong, nuint, nint, int> cuMemcpyDtoHAsync_v2;
    public readonly delegate* unmanaged<ulong, uint, nuint, int> cuMemsetD32_v2;
    public readonly delegate* unmanaged<ulong, uint, nuint, nint, int> cuMemsetD32Async;
    public readonly delegate* unmanaged<nint*, void*, uint, int*, void**, int> cuModuleLoadDataEx;
    public readonly delegate* unmanaged<nint, int> cuModuleUnload;
    public readonly delegate* unmanaged<nint*, nint, byte*, int> cuModuleGetFunction;
    public readonly delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> cuLaunchKernel;
    public readonly delegate* unmanaged<nint*, uint, int> cuStreamCreate;
    public readonly delegate* unmanaged<nint, int> cuStreamDestroy_v2;
    public readonly delegate* unmanaged<nint, int> cuStreamSynchronize;
    public readonly delegate* unmanaged<nint*, uint, int> cuEventCreate;
    public readonly delegate* unmanaged<nint, nint, int> cuEventRecord;
    public readonly delegate* unmanaged<nint, int> cuEventSynchronize;
    public readonly delegate* unmanaged<float*, nint, nint, int> cuEventElapsedTime;
    public readonly delegate* unmanaged<nint, int> cuEventDestroy_v2;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorName;
    public readonly delegate* unmanaged<int, byte**, int> cuGetErrorString;
    public readonly delegate* unmanaged<void**, nuint, int> cuMemAllocHost_v2;
    public readonly delegate* unmanaged<void*, int> cuMemFreeHost;

    // Stream capture and graphs, optional (null when absent): cuGraphExecUpdate_v2 is CUDA 12.0's, the rest older.
    public readonly delegate* unmanaged<nint, int, int> cuStreamBeginCapture_v2;
    public readonly delegate* unmanaged<nint, nint*, int> cuStreamEndCapture;
    public readonly delegate* unmanaged<nint*, nint, ulong, int> cuGraphInstantiateWithFlags;
    public readonly delegate* unmanaged<nint, nint, GraphExecUpdateResultInfo*, int> cuGraphExecUpdate_v2;
    public readonly delegate* unmanaged<nint, nint, int> cuGraphLaunch;
    public readonly delegate* unmanaged<nint, int> cuGraphDestroy;
    public readonly delegate* unmanaged<nint, int> cuGraphExecDestroy;

    /// <summary>The graph entry points, in the order <see cref="MissingGraphExport"/> looks for them.</summary>
    public static readonly string[] GraphExports =
    [
        nameof(cuStreamBeginCapture_v2), nameof(cuStreamEndCapture), nameof(cuGraphInstantiateWithFlags),
        nameof(cuGraphExecUpdate_v2), nameof(cuGraphLaunch), nameof(cuGraphDestroy), nameof(cuGraphExecDestroy),
    ];

    /// <summary>The first graph entry point the library lacks, or null when it has them all.</summary>
    public readonly string? MissingGraphExport;

    /// <summary><c>CU_STREAM_CAPTURE_MODE_THREAD_LOCAL</c>: while capturing, this thread may not make calls that are
    /// unsafe during capture (allocations, context-wide waits); other threads may.</summary>
    public const int CaptureModeThreadLocal = 1;
    /// <summary><c>CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE</c>: the new graph's topology differs from the instantiated one's.</summary>
    public const int ErrorGraphExecUpdateFailure = 910;

    /// <summary><c>CU_JIT_INFO_LOG_BUFFER</c>: a <c>char*</c> for the JIT's informational messages.</summary>
    public const int JitInfoLogBuffer = 3;
    /// <summary><c>CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES</c>: in, the buffer's size; out, the bytes written (the value
    /// itself sits in the option's pointer slot).</summary>
    public const int JitInfoLogBufferSizeBytes = 4;
    /// <summary><c>CU_JIT_ERROR_LOG_BUFFER</c>: a <c>char*</c> for the JIT's error messages.</summary>
    public const int JitErrorLogBuffer = 5;
    /// <summary><c>CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES</c>: as <see cref="JitInfoLogBufferSizeBytes"/>, for the error log.</summary>
    public const int JitErrorLogBufferSizeBytes = 6;

    /// <summary><c>CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT</c>.</summary>
    public const int AttributeMultiprocessorCount = 16;
    /// <summary><c>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR</c>.</summary>
    public const int AttributeComputeCapabilityMajor = 75;
    /// <summary><c>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR</c>.</summary>
    public const int AttributeComputeCapabilityMinor = 76;

    /// <summary>Resolves every entry point from <paramref name="library"/>; throws naming the first missing one.</summary>
    public DriverApi(nint library, string path)
    {
        nint Get(string name) =>
            NativeLibrary.TryGetExport(library, name, out var p)
                ? p
                : throw CudaUnavailableException.ExportMissing(CudaLibrary.Driver, path, name);

        cuInit = (delegate* unmanaged<uint, int>)Get(nameof(cuInit));
        cuDriverGetVersion = (delegate* unmanaged<int*, int>)Get(nameof(cuDriverGetVersion));
        cuDeviceGetCount = (delegate* unmanaged<int*, int>)Get(nameof(cuDeviceGetCount));
        cuDeviceGet = (delegate* unmanaged<int*, int, int>)Get(nameof(cuDeviceGet));
        cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Get(nameof(cuDeviceGetName));
        cuDeviceTotalMem_v2 = (delegate* unmanaged<nuint*, int, int>)Get(nameof(cuDeviceTotalMem_v2));
        cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Get(nameof(cuDeviceGetAttribute));
        cuDevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)Get(nameof(cuDevicePrimaryCtxRetain));
        cuDevicePrimaryCtxRelease_v2 = (delegate* unmanaged<int, int>)Get(nameof(cuDevicePrimaryCtxRelease_v2));
        cuDevicePrimaryCtxGetState = (delegate* unmanaged<int, uint*, int*, int>)Get(nameof(cuDevicePrimaryCtxGetState));
        cuCtxSetCurrent = (delegate* unmanaged<nint, int>)Get(nameof(cuCtxSetCurrent));
        cuCtxSynchronize = (delegate* unmanaged<int>)Get(nameof(cuCtxSynchronize));
        cuMemAlloc_v2 = (delegate* unmanaged<ulong*, nuint, int>)Get(nameof(cuMemAlloc_v2));
        cuMemFree_v2 = (delegate* unmanaged<ulong, int>)Get(nameof(cuMemFree_v2));
        cuMemcpyHtoD_v2 = (delegate* unmanaged<ulong, void*, nuint, int>)Get(nameof(cuMemcpyHtoD_v2));
        cuMemcpyDtoH_v2 = (delegate* unmanaged<void*, ulong, nuint, int>)Get(nameof(cuMemcpyDtoH_v2));
        cuMemcpyDtoD_v2 = (delegate* unmanaged<ulong, ulong, nuint, int>)Get(nameof(cuMemcpyDtoD_v2));
        cuMemcpyDtoDAsync_v2 = (delegate* unmanaged<ulong, ulong, nuint, nint, int>)Get(nameof(cuMemcpyDtoDAsync_v2));
        cuMemcpyHtoDAsync_v2 = (delegate* unmanaged<ulong, void*, nuint, nint, int>)Get(nameof(cuMemcpyHtoDAsync_v2));
        cuMemcpyDtoHAsync_v2 = (delegate* unmanaged<void*, ulong, nuint, nint, int>)Get(nameof(cuMemcpyDtoHAsync_v2));
        cuMemsetD32_v2 = (delegate* unmanaged<ulong, uint, nuint, int>)Get(nameof(cuMemsetD32_v2));
        cuMemsetD32Async = (delegate* unmanaged<ulong, uint, nuint, nint, int>)Get(nameof(cuMemsetD32Async));
        cuModuleLoadDataEx = (delegate* unmanaged<nint*, void*, uint, int*, void**, int>)Get(nameof(cuModuleLoadDataEx));
        cuModuleUnload = (delegate* unmanaged<nint, int>)Get(nameof(cuModuleUnload));
        cuModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)Get(nameof(cuModuleGetFunction));
        cuLaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)Get(nameof(cuLaunchKernel));
        cuStreamCreate = (delegate* unmanaged<nint*, uint, int>)Get(nameof(cuStreamCreate));
        cuStreamDestroy_v2 = (delegate* unmanaged<nint, int>)Get(nameof(cuStreamDestroy_v2));
        cuStreamSynchronize = (delegate* unmanaged<nint, int>)Get(nameof(cuStreamSynchronize));
        cuEventCreate = (delegate* unmanaged<nint*, uint, int>)Get(nameof(cuEventCreate));
        cuEventRecord = (delegate* unmanaged<nint, nint, int>)Get(nameof(cuEventRecord));
        cuEventSynchronize = (delegate* unmanaged<nint, int>)Get(nameof(cuEventSynchronize));
        cuEventElapsedTime = (delegate* unmanaged<float*, nint, nint, int>)Get(nameof(cuEventElapsedTime));
        cuEventDestroy_v2 = (delegate* unmanaged<nint, int>)Get(nameof(cuEventDestroy_v2));
        cuGetErrorName = (delegate* unmanaged<int, byte**, int>)Get(nameof(cuGetErrorName));
        cuGetErrorString = (delegate* unmanaged<int, byte**, int>)Get(nameof(cuGetErrorString));
        cuMemAllocHost_v2 = (delegate* unmanaged<void**, nuint, int>)Get(nameof(cuMemAllocHost_v2));
        cuMemFreeHost = (delegate* unmanaged<void*, int>)Get(nameof(cuMemFreeHost));

        nint Optional(string name) => NativeLibrary.TryGetExport(library, name, out var p) ? p : 0;
        cuStreamBeginCapture_v2 = (delegate* unmanaged<nint, int, int>)Optional(nameof(cuStreamBeginCapture_v2));
        cuStreamEndCapture = (delegate* unmanaged<nint, nint*, int>)Optional(nameof(cuStreamEndCapture));
        cuGraphInstantiateWithFlags = (delegate* unmanaged<nint*, nint, ulong, int>)Optional(nameof(cuGraphInstantiateWithFlags));
        cuGraphExecUpdate_v2 = (delegate* unmanaged<nint, nint, GraphExecUpdateResultInfo*, int>)Optional(nameof(cuGraphExecUpdate_v2));
        cuGraphLaunch = (delegate* unmanaged<nint, nint, int>)Optional(nameof(cuGraphLaunch));
        cuGraphDestroy = (delegate* unmanaged<nint, int>)Optional(nameof(cuGraphDestroy));
        cuGraphExecDestroy = (delegate* unmanaged<nint, int>)Optional(nameof(cuGraphExecDestroy));
        foreach (string name in GraphExports)
            if (!NativeLibrary.TryGetExport(library, name, out _))
            {
                MissingGraphExport = name;
                break;
            }
    }
}

/// <summary><c>CUgraphExecUpdateResultInfo</c> (CUDA 12.0): why <c>cuGraphExecUpdate_v2</c> refused, and where.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GraphExecUpdateResultInfo
{
    public int Result;
    public nint ErrorNode;
    public nint ErrorFromNode;
}
