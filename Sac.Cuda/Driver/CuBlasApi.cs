using System.Runtime.InteropServices;

namespace Sac.Cuda.Driver;

/// <summary>
/// The cuBLAS v2 entry points this binding uses. Every function but the status-text ones returns a
/// <c>cublasStatus_t</c> (0 = success); the handle and stream are pointers; matrices are device addresses.
/// <c>cublasGemmEx</c>, <c>cublasGetStatusName</c> and <c>cublasGetStatusString</c> are optional (null when absent).
/// </summary>
internal sealed unsafe class CuBlasApi
{
    public readonly string Path;
    public readonly delegate* unmanaged<nint*, int> cublasCreate_v2;
    public readonly delegate* unmanaged<nint, int> cublasDestroy_v2;
    public readonly delegate* unmanaged<nint, nint, int> cublasSetStream_v2;
    // handle, transa, transb, m, n, k, alpha*, A, lda, B, ldb, beta*, C, ldc
    public readonly delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int> cublasSgemm_v2;
    // handle, transa, transb, m, n, k, alpha*, A, Atype, lda, B, Btype, ldb, beta*, C, Ctype, ldc, computeType, algo
    public readonly delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int> cublasGemmEx;
    public readonly delegate* unmanaged<int, byte*> cublasGetStatusName;
    public readonly delegate* unmanaged<int, byte*> cublasGetStatusString;

    /// <summary><c>CUBLAS_OP_N</c>.</summary>
    public const int OpN = 0;
    /// <summary><c>CUBLAS_OP_T</c>.</summary>
    public const int OpT = 1;
    /// <summary><c>CUDA_R_32F</c>.</summary>
    public const int DataTypeR32F = 0;
    /// <summary><c>CUBLAS_COMPUTE_32F</c>.</summary>
    public const int Compute32F = 68;
    /// <summary><c>CUBLAS_COMPUTE_32F_FAST_TF32</c>.</summary>
    public const int Compute32FFastTf32 = 77;
    /// <summary><c>CUBLAS_GEMM_DEFAULT</c>.</summary>
    public const int GemmDefault = -1;

    CuBlasApi(nint library, string path)
    {
        Path = path;
        nint Get(string name) =>
            NativeLibrary.TryGetExport(library, name, out var p)
                ? p
                : throw CudaUnavailableException.ExportMissing(CudaLibrary.CuBlas, path, name);
        nint Optional(string name) => NativeLibrary.TryGetExport(library, name, out var p) ? p : 0;

        cublasCreate_v2 = (delegate* unmanaged<nint*, int>)Get(nameof(cublasCreate_v2));
        cublasDestroy_v2 = (delegate* unmanaged<nint, int>)Get(nameof(cublasDestroy_v2));
        cublasSetStream_v2 = (delegate* unmanaged<nint, nint, int>)Get(nameof(cublasSetStream_v2));
        cublasSgemm_v2 = (delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int>)Get(nameof(cublasSgemm_v2));
        cublasGemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int>)Optional(nameof(cublasGemmEx));
        cublasGetStatusName = (delegate* unmanaged<int, byte*>)Optional(nameof(cublasGetStatusName));
        cublasGetStatusString = (delegate* unmanaged<int, byte*>)Optional(nameof(cublasGetStatusString));
    }

    /// <summary>Loads cuBLAS: <paramref name="explicitPath"/>, else <c>SAC_LIBCUBLAS</c>, else libcublas.so.12/.11/.so.</summary>
    public static CuBlasApi Load(string? explicitPath)
    {
        var (handle, path) = NativeLoader.Load(CudaLibrary.CuBlas, explicitPath);
        return new CuBlasApi(handle, path);
    }

    /// <summary>The status's symbolic name: cuBLAS's own where exported, else the table in cublas_api.h.</summary>
    public string StatusName(int status)
    {
        if (cublasGetStatusName != null && cublasGetStatusName(status) is var p && p != null)
            return Marshal.PtrToStringUTF8((nint)p) ?? "";
        return KnownStatus(status).Name;
    }

    /// <summary>The status's description: cuBLAS's own where exported, else ours.</summary>
    public string StatusString(int status)
    {
        if (cublasGetStatusString != null && cublasGetStatusString(status) is var p && p != null)
            return Marshal.PtrToStringUTF8((nint)p) ?? "";
        return KnownStatus(status).Description;
    }

    /// <summary>Names and descriptions of the <c>cublasStatus_t</c> values.</summary>
    internal static (string Name, string Description) KnownStatus(int status) => status switch
    {
        0 => ("CUBLAS_STATUS_SUCCESS", "success"),
        1 => ("CUBLAS_STATUS_NOT_INITIALIZED", "the library was not initialized"),
        3 => ("CUBLAS_STATUS_ALLOC_FAILED", "resource allocation failed"),
        7 => ("CUBLAS_STATUS_INVALID_VALUE", "an unsupported value or parameter was passed to the function"),
        8 => ("CUBLAS_STATUS_ARCH_MISMATCH", "the function requires a feature absent from the device architecture"),
        11 => ("CUBLAS_STATUS_MAPPING_ERROR", "an access to GPU memory space failed"),
        13 => ("CUBLAS_STATUS_EXECUTION_FAILED", "the GPU program failed to execute"),
        14 => ("CUBLAS_STATUS_INTERNAL_ERROR", "an internal operation failed"),
        15 => ("CUBLAS_STATUS_NOT_SUPPORTED", "the functionality requested is not supported"),
        16 => ("CUBLAS_STATUS_LICENSE_ERROR", "the functionality requested requires a license"),
        _ => ($"cublasStatus_t {status}", "unrecognised status code"),
    };
}
