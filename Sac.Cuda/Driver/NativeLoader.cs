using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Sac.Cuda.Driver;

/// <summary>Finds and loads a CUDA library: an explicit path, else the environment override, else the usual names.</summary>
internal static class NativeLoader
{
    /// <summary>The names tried for <paramref name="library"/> when neither a path nor the environment variable is given.</summary>
    public static string[] DefaultNames(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1"],
        _ => OperatingSystem.IsWindows()
            ? ["cublas64_12.dll", "cublas64_11.dll"]
            : ["libcublas.so.12", "libcublas.so.11", "libcublas.so"],
    };

    /// <summary>The candidates in order: <paramref name="explicitPath"/> alone when given, else the environment
    /// variable's value alone when set, else <see cref="DefaultNames"/>.</summary>
    public static IReadOnlyList<string> Candidates(CudaLibrary library, string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return [explicitPath];
        var env = Environment.GetEnvironmentVariable(CudaUnavailableException.EnvironmentVariableOf(library));
        return string.IsNullOrEmpty(env) ? DefaultNames(library) : [env];
    }

    /// <summary>Loads the first candidate that loads; throws <see cref="CudaUnavailableException"/> naming them all otherwise.</summary>
    /// <remarks>The library is never unloaded: driver state (contexts, allocations) lives inside it for the process's life.</remarks>
    public static (nint Handle, string Path) Load(CudaLibrary library, string? explicitPath)
    {
        var tried = Candidates(library, explicitPath);
        foreach (var name in tried)
            if (NativeLibrary.TryLoad(name, out var handle))
                return (handle, name);
        throw CudaUnavailableException.NotFound(library, tried);
    }
}
