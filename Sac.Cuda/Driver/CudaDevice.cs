using System;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Sac.Cuda.Driver;

/// <summary>A device's compute capability, e.g. 9.0 for an H100.</summary>
/// <param name="Major">Major version (<c>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR</c>).</param>
/// <param name="Minor">Minor version (<c>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR</c>).</param>
public readonly record struct ComputeCapability(int Major, int Minor)
{
    /// <summary><c>Major.Minor</c>.</summary>
    public override string ToString() => $"{Major}.{Minor}";
}

/// <summary>One CUDA device as the driver describes it: ordinal, name, memory, compute capability, SM count.</summary>
/// <remarks>Owns nothing; <see cref="OpenContext"/> or <see cref="TryOpen(int, out CudaContext?, out string)"/> retains its primary context.</remarks>
public sealed unsafe class CudaDevice
{
    CudaDevice(CudaDriver driver, int ordinal, int handle, string name, long totalMemory, ComputeCapability cc, int sms)
    {
        Driver = driver;
        Ordinal = ordinal;
        Handle = handle;
        Name = name;
        TotalMemory = totalMemory;
        ComputeCapability = cc;
        MultiprocessorCount = sms;
    }

    /// <summary>The driver the device was found through.</summary>
    public CudaDriver Driver { get; }

    /// <summary>The device's ordinal, 0 to <see cref="CudaDriver.DeviceCount"/> - 1.</summary>
    public int Ordinal { get; }

    /// <summary>The driver's <c>CUdevice</c> handle.</summary>
    public int Handle { get; }

    /// <summary>The product name (<c>cuDeviceGetName</c>).</summary>
    public string Name { get; }

    /// <summary>Total device memory in bytes (<c>cuDeviceTotalMem_v2</c>).</summary>
    public long TotalMemory { get; }

    /// <summary>The compute capability.</summary>
    public ComputeCapability ComputeCapability { get; }

    /// <summary>Number of streaming multiprocessors.</summary>
    public int MultiprocessorCount { get; }

    /// <summary>Describes the device at <paramref name="ordinal"/>.</summary>
    /// <param name="driver">A loaded driver.</param>
    /// <param name="ordinal">Device ordinal.</param>
    /// <exception cref="CudaException">A driver query failed (e.g. <c>CUDA_ERROR_INVALID_DEVICE</c>).</exception>
    public static CudaDevice Get(CudaDriver driver, int ordinal)
    {
        ArgumentNullException.ThrowIfNull(driver);
        var api = driver.Api;
        int dev, major, minor, sms;
        driver.Check(api.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
        const int nameCapacity = 256;
        byte* name = stackalloc byte[nameCapacity];
        driver.Check(api.cuDeviceGetName(name, nameCapacity, dev), "cuDeviceGetName");
        int nameLength = new ReadOnlySpan<byte>(name, nameCapacity).IndexOf((byte)0);
        string text = Encoding.UTF8.GetString(name, nameLength < 0 ? nameCapacity : nameLength);
        nuint bytes;
        driver.Check(api.cuDeviceTotalMem_v2(&bytes, dev), "cuDeviceTotalMem_v2");
        driver.Check(api.cuDeviceGetAttribute(&major, DriverApi.AttributeComputeCapabilityMajor, dev), "cuDeviceGetAttribute");
        driver.Check(api.cuDeviceGetAttribute(&minor, DriverApi.AttributeComputeCapabilityMinor, dev), "cuDeviceGetAttribute");
        driver.Check(api.cuDeviceGetAttribute(&sms, DriverApi.AttributeMultiprocessorCount, dev), "cuDeviceGetAttribute");
        return new CudaDevice(driver, ordinal, dev, text, (long)bytes, new ComputeCapability(major, minor), sms);
    }

    /// <summary>Retains this device's primary context and makes it current on the calling thread.</summary>
    /// <exception cref="CudaException">The driver refused.</exception>
    public CudaContext OpenContext() => new(this);

    /// <summary>
    /// Opens device <paramref name="ordinal"/> through the default driver (<c>SAC_LIBCUDA</c>, else <c>libcuda.so.1</c>).
    /// Never throws for a missing driver or device: answers false with <c>no usable GPU: why</c>.
    /// </summary>
    /// <param name="ordinal">Device ordinal, usually 0.</param>
    /// <param name="context">The device's primary context, current on the calling thread; null on failure.</param>
    /// <param name="reason">Empty on success, else <c>no usable GPU: why</c>.</param>
    public static bool TryOpen(int ordinal, [NotNullWhen(true)] out CudaContext? context, out string reason) =>
        TryOpen((string?)null, ordinal, out context, out reason);

    /// <summary>As <see cref="TryOpen(int, out CudaContext?, out string)"/>, with the driver loaded from <paramref name="libraryPath"/>.</summary>
    /// <param name="libraryPath">An explicit driver library path, or null for the default location.</param>
    /// <param name="ordinal">Device ordinal.</param>
    /// <param name="context">The device's primary context; null on failure.</param>
    /// <param name="reason">Empty on success, else <c>no usable GPU: why</c>.</param>
    public static bool TryOpen(string? libraryPath, int ordinal, [NotNullWhen(true)] out CudaContext? context, out string reason)
    {
        if (!CudaDriver.TryLoad(libraryPath, out var driver, out var why))
        {
            context = null;
            reason = "no usable GPU: " + why;
            return false;
        }
        return TryOpen(driver, ordinal, out context, out reason);
    }

    /// <summary>As <see cref="TryOpen(int, out CudaContext?, out string)"/>, through an already loaded driver.</summary>
    /// <param name="driver">A loaded driver.</param>
    /// <param name="ordinal">Device ordinal.</param>
    /// <param name="context">The device's primary context; null on failure.</param>
    /// <param name="reason">Empty on success, else <c>no usable GPU: why</c>.</param>
    public static bool TryOpen(CudaDriver driver, int ordinal, [NotNullWhen(true)] out CudaContext? context, out string reason)
    {
        ArgumentNullException.ThrowIfNull(driver);
        context = null;
        try
        {
            int count = driver.DeviceCount;
            if (ordinal < 0 || ordinal >= count)
            {
                reason = count == 0
                    ? $"no usable GPU: the CUDA driver ({driver.LibraryPath}) reports no devices"
                    : $"no usable GPU: device {ordinal} was asked for, the CUDA driver reports {count} device(s)";
                return false;
            }
            context = Get(driver, ordinal).OpenContext();
            reason = "";
            return true;
        }
        catch (CudaException e)
        {
            reason = "no usable GPU: " + e.Message;
            return false;
        }
    }

    /// <summary>e.g. <c>NVIDIA H100 (cc 9.0, 132 SMs, 79.1 GiB)</c>.</summary>
    public override string ToString() =>
        $"{Name} (cc {ComputeCapability}, {MultiprocessorCount} SMs, {TotalMemory / (1024.0 * 1024 * 1024):F1} GiB)";
}
