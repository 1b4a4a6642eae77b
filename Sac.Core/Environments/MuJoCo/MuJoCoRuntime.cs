using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>
/// The MuJoCo C library (Debian's <c>libmujoco2.2.2</c>) as this process sees it: whether it loads, its version, and
/// why not when it does not. Everything else in the library works without it.
/// </summary>
/// <remarks>
/// The library is found at <c>SAC_LIBMUJOCO</c> when that variable is set, else as <c>libmujoco.so.2.2.2</c> on the
/// loader's path. It is reached through <c>libsac_mujoco.so</c>, a small shim built with Sac.Core that turns MuJoCo's
/// errors (which would otherwise end the process) into <see cref="MuJoCoException"/>s. Only version 2.2.2 is accepted:
/// the field offsets the library reads are those of 2.2.2's headers.
/// </remarks>
public static unsafe class MuJoCoRuntime
{
    /// <summary>The command that installs the library on Debian 12, as root.</summary>
    public const string InstallCommand = "apt-get install -y libmujoco2.2.2";

    /// <summary>The environment variable that names the library file, overriding the default name.</summary>
    public const string LibraryVariable = "SAC_LIBMUJOCO";

    /// <summary>The library file loaded when <see cref="LibraryVariable"/> is not set.</summary>
    public const string DefaultLibrary = "libmujoco.so.2.2.2";

    /// <summary>The only <c>mj_version()</c> accepted, 222 (MuJoCo 2.2.2).</summary>
    public const int RequiredVersion = MuJoCoLayout.Version;

    static readonly Lazy<(bool Ok, string Reason, int Version)> State = new(Initialise);

    /// <summary>True when MuJoCo 2.2.2 and the shim loaded.</summary>
    public static bool IsAvailable => State.Value.Ok;

    /// <summary>Empty when available; otherwise why not (without the install hint).</summary>
    public static string UnavailableReason => State.Value.Reason;

    /// <summary>The loaded library's <c>mj_version()</c>, or 0 when none loaded.</summary>
    public static int Version => State.Value.Version;

    /// <summary>Throws <see cref="MuJoCoUnavailableException"/> unless <see cref="IsAvailable"/>.</summary>
    /// <exception cref="MuJoCoUnavailableException">MuJoCo cannot be used; the message ends with the install command.</exception>
    public static void EnsureAvailable()
    {
        if (!State.Value.Ok) throw new MuJoCoUnavailableException(State.Value.Reason);
    }

    static (bool, string, int) Initialise()
    {
        if (!OperatingSystem.IsLinux()) return (false, "the MuJoCo environments run on Linux only", 0);
        if (!TryLoadShim(out var shim, out var shimReason)) return (false, shimReason, 0);
        MuJoCoNative.Bind(shim);
        var library = Environment.GetEnvironmentVariable(LibraryVariable);
        if (string.IsNullOrEmpty(library)) library = DefaultLibrary;
        int version = MuJoCoNative.Init(library, out var reason);
        if (version < 0) return (false, reason, 0);
        if (version != RequiredVersion)
            return (false, $"{library} is MuJoCo version {version}, and only {RequiredVersion} (2.2.2) has the field layout this library reads", version);
        return (true, "", version);
    }

    static bool TryLoadShim(out nint handle, out string reason)
    {
        const string ShimFile = "libsac_mujoco.so";
        var tried = new List<string>();
        foreach (var dir in new[] { Path.GetDirectoryName(typeof(MuJoCoRuntime).Assembly.Location), AppContext.BaseDirectory })
        {
            if (string.IsNullOrEmpty(dir)) continue;
            var path = Path.Combine(dir, ShimFile);
            tried.Add(path);
            if (File.Exists(path) && NativeLibrary.TryLoad(path, out handle))
            {
                reason = "";
                return true;
            }
            // A portable app copies the package's runtimes/<rid>/native beside the assembly; a script that references
            // the package's lib/<tfm>/Sac.Core.dll directly finds it two levels up, in the package itself.
            foreach (var rid in new[] { Path.Combine(dir, "runtimes", "linux-x64", "native", ShimFile), Path.Combine(dir, "..", "..", "runtimes", "linux-x64", "native", ShimFile) })
            {
                tried.Add(rid);
                if (File.Exists(rid) && NativeLibrary.TryLoad(rid, out handle))
                {
                    reason = "";
                    return true;
                }
            }
        }
        if (NativeLibrary.TryLoad(ShimFile, typeof(MuJoCoRuntime).Assembly, null, out handle))
        {
            reason = "";
            return true;
        }
        reason = $"the shim {ShimFile} was not found (tried {string.Join(", ", tried)}); it is built with Sac.Core by gcc";
        return false;
    }
}
