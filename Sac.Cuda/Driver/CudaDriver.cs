using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sac.Cuda.Driver;

/// <summary>
/// The CUDA driver API loaded from one library (<c>libcuda.so.1</c>, or the path in <c>SAC_LIBCUDA</c>, or an explicit
/// path) and initialised with <c>cuInit</c>. Every other wrapper reaches the driver through the instance it was made
/// from, so a process can use a real and a stand-in driver side by side.
/// </summary>
/// <remarks>Not disposable: the library stays loaded for the process's life, as driver state lives inside it.</remarks>
public sealed unsafe class CudaDriver
{
    readonly DriverApi _api;

    CudaDriver(string path, DriverApi api)
    {
        LibraryPath = path;
        _api = api;
    }

    /// <summary>The file name or path the library was loaded from.</summary>
    public string LibraryPath { get; }

    internal DriverApi Api => _api;

    /// <summary>
    /// Loads the driver and calls <c>cuInit(0)</c>. <paramref name="libraryPath"/> when given, else <c>SAC_LIBCUDA</c>
    /// when set, else <c>libcuda.so.1</c>.
    /// </summary>
    /// <param name="libraryPath">An explicit library path, or null.</param>
    /// <exception cref="CudaUnavailableException">The library could not be loaded or lacks an entry point.</exception>
    /// <exception cref="CudaException"><c>cuInit</c> failed (e.g. <c>CUDA_ERROR_NO_DEVICE</c>).</exception>
    public static CudaDriver Load(string? libraryPath = null)
    {
        var (handle, path) = NativeLoader.Load(CudaLibrary.Driver, libraryPath);
        var driver = new CudaDriver(path, new DriverApi(handle, path));
        driver.Check(driver._api.cuInit(0), "cuInit");
        return driver;
    }

    /// <summary>As <see cref="Load"/> from the default location, answering false with the reason instead of throwing.</summary>
    /// <param name="driver">The loaded driver, or null.</param>
    /// <param name="reason">Empty on success, else why the driver is unusable.</param>
    public static bool TryLoad([NotNullWhen(true)] out CudaDriver? driver, out string reason) => TryLoad(null, out driver, out reason);

    /// <summary>As <see cref="Load"/>, answering false with the reason instead of throwing.</summary>
    /// <param name="libraryPath">An explicit library path, or null for the default location.</param>
    /// <param name="driver">The loaded driver, or null.</param>
    /// <param name="reason">Empty on success, else why the driver is unusable.</param>
    public static bool TryLoad(string? libraryPath, [NotNullWhen(true)] out CudaDriver? driver, out string reason)
    {
        try
        {
            driver = Load(libraryPath);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is CudaUnavailableException or CudaException)
        {
            driver = null;
            reason = e.Message;
            return false;
        }
    }

    /// <summary>The driver's CUDA version as <c>1000 * major + 10 * minor</c> (<c>cuDriverGetVersion</c>), e.g. 12040.</summary>
    public int Version
    {
        get
        {
            int v;
            Check(_api.cuDriverGetVersion(&v), "cuDriverGetVersion");
            return v;
        }
    }

    /// <summary>Number of CUDA devices the driver sees (<c>cuDeviceGetCount</c>).</summary>
    public int DeviceCount
    {
        get
        {
            int n;
            Check(_api.cuDeviceGetCount(&n), "cuDeviceGetCount");
            return n;
        }
    }

    /// <summary>Throws <see cref="CudaException"/> for a non-zero <c>CUresult</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Check(int status, string call)
    {
        if (status != 0) throw Error(status, call);
    }

    /// <summary>The exception for a failed call, with the driver's own name and description of the status.</summary>
    /// <param name="status">The non-zero <c>CUresult</c>.</param>
    /// <param name="call">The entry point that returned it.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public CudaException Error(int status, string call) => Error(status, call, null);

    /// <summary>As <see cref="Error(int, string)"/>, carrying what the driver logged about the failure.</summary>
    /// <param name="status">The non-zero <c>CUresult</c>.</param>
    /// <param name="call">The entry point that returned it.</param>
    /// <param name="log">The driver's log (e.g. the PTX JIT's), or null.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public CudaException Error(int status, string call, string? log)
    {
        // cuGetErrorName/String fail (and leave the pointer null) for codes the driver does not know.
        byte* name = null, text = null;
        string errorName = _api.cuGetErrorName(status, &name) == 0 && name != null
            ? Marshal.PtrToStringUTF8((nint)name) ?? "" : $"CUresult {status}";
        string errorString = _api.cuGetErrorString(status, &text) == 0 && text != null
            ? Marshal.PtrToStringUTF8((nint)text) ?? "" : "unrecognised error code";
        return new CudaException(CudaLibrary.Driver, call, status, errorName, errorString, log);
    }
}
