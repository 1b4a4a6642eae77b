using System;
using System.Collections.Generic;

namespace Sac.Cuda.Driver;

/// <summary>Which native library a status code or a load failure comes from.</summary>
public enum CudaLibrary
{
    /// <summary>The CUDA driver API (<c>libcuda.so.1</c>); status codes are <c>CUresult</c>.</summary>
    Driver = 0,
    /// <summary>cuBLAS (<c>libcublas.so</c>); status codes are <c>cublasStatus_t</c>.</summary>
    CuBlas = 1,
}

/// <summary>
/// A CUDA driver or cuBLAS call returned a status other than success. Carries the call, the numeric code and the
/// library's own name and description of it, e.g. <c>cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory</c>.
/// </summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception for a failed call.</summary>
    /// <param name="library">The library the call belongs to.</param>
    /// <param name="call">The entry point's exported name, e.g. <c>cuMemAlloc_v2</c>.</param>
    /// <param name="code">The status the call returned.</param>
    /// <param name="errorName">The status's symbolic name, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</param>
    /// <param name="errorString">The library's description of the status, e.g. <c>out of memory</c>.</param>
    public CudaException(CudaLibrary library, string call, int code, string errorName, string errorString)
        : this(library, call, code, errorName, errorString, null)
    {
    }

    /// <summary>Creates the exception for a failed call that left a log, e.g. the PTX JIT compiler's; the log
    /// follows the one-line message on the next lines.</summary>
    /// <param name="library">The library the call belongs to.</param>
    /// <param name="call">The entry point's exported name, e.g. <c>cuModuleLoadDataEx</c>.</param>
    /// <param name="code">The status the call returned.</param>
    /// <param name="errorName">The status's symbolic name, e.g. <c>CUDA_ERROR_INVALID_PTX</c>.</param>
    /// <param name="errorString">The library's description of the status.</param>
    /// <param name="log">What the library logged about the failure, or null or empty for nothing.</param>
    public CudaException(CudaLibrary library, string call, int code, string errorName, string errorString, string? log)
        : base($"{call} failed: {errorName} ({code}): {errorString}" + (string.IsNullOrEmpty(log) ? "" : Environment.NewLine + log))
    {
        Library = library;
        Call = call;
        Code = code;
        ErrorName = errorName;
        ErrorString = errorString;
        Log = string.IsNullOrEmpty(log) ? null : log;
    }

    /// <summary>The library the failed call belongs to.</summary>
    public CudaLibrary Library { get; }

    /// <summary>The entry point's exported name, e.g. <c>cuMemAlloc_v2</c>.</summary>
    public string Call { get; }

    /// <summary>The numeric status (<c>CUresult</c> or <c>cublasStatus_t</c>).</summary>
    public int Code { get; }

    /// <summary>The status's symbolic name, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c> or <c>CUBLAS_STATUS_INVALID_VALUE</c>.</summary>
    public string ErrorName { get; }

    /// <summary>The library's description of the status.</summary>
    public string ErrorString { get; }

    /// <summary>What the library logged about the failure (for a module load, the PTX JIT's error log, then its
    /// info log), or null when it logged nothing.</summary>
    public string? Log { get; }
}

/// <summary>
/// A CUDA library could not be used at all: no candidate file could be loaded, or a loaded file lacks an entry point
/// this binding needs. Says which names were tried and which environment variable points at the library.
/// </summary>
public sealed class CudaUnavailableException : Exception
{
    CudaUnavailableException(CudaLibrary library, IReadOnlyList<string> tried, string? missingExport, string message)
        : base(message)
    {
        Library = library;
        Tried = tried;
        MissingExport = missingExport;
    }

    /// <summary>The library that could not be used.</summary>
    public CudaLibrary Library { get; }

    /// <summary>The file names or paths tried, in order.</summary>
    public IReadOnlyList<string> Tried { get; }

    /// <summary>The entry point a loaded file lacked, or null when no file loaded.</summary>
    public string? MissingExport { get; }

    /// <summary>The environment variable that overrides where the library is looked for.</summary>
    public string EnvironmentVariable => EnvironmentVariableOf(Library);

    internal static string EnvironmentVariableOf(CudaLibrary library) =>
        library == CudaLibrary.Driver ? "SAC_LIBCUDA" : "SAC_LIBCUBLAS";

    static string Describe(CudaLibrary library) => library == CudaLibrary.Driver ? "The CUDA driver library" : "The cuBLAS library";

    internal static CudaUnavailableException NotFound(CudaLibrary library, IReadOnlyList<string> tried) =>
        new(library, tried, null,
            $"{Describe(library)} could not be loaded (tried: {string.Join(", ", tried)}). " +
            $"Install it or set {EnvironmentVariableOf(library)} to its path.");

    internal static CudaUnavailableException ExportMissing(CudaLibrary library, string path, string export) =>
        new(library, new[] { path }, export,
            $"{Describe(library)} loaded from {path} does not export {export}; it is too old or not a " +
            $"{(library == CudaLibrary.Driver ? "CUDA driver" : "cuBLAS")} library. Set {EnvironmentVariableOf(library)} to a suitable one.");
}
