using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;

namespace Sac.Cuda.Kernels;

/// <summary>
/// The PTX modules compiled from <c>native/*.cu</c> at build time and embedded in this assembly, one per source file,
/// with the kernel entries each must contain. The CUDA backend loads them with <c>cuModuleLoadDataEx</c>.
/// </summary>
public static class KernelImages
{
    const string ResourcePrefix = "Sac.Cuda.ptx.";
    const string ResourceSuffix = ".ptx";

    /// <summary>Every module the backend expects, with its kernel entries (unmangled <c>extern "C"</c> names).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> KernelNames { get; } =
        new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal)
        {
            ["soft_target"] = ["soft_target"],
            ["polyak"] = ["polyak"],
            ["adam"] = ["sum_squares_partial", "adam"],
            ["tanh_gaussian"] = ["tanh_gaussian_forward", "tanh_gaussian_backward"],
            ["philox"] = ["philox_uint32", "philox_normal"],
            ["mlp_ops"] = ["bias_activation_forward", "activation_backward", "column_sums", "concat_columns", "sum_column_block"],
            ["losses"] = ["critic_loss", "actor_loss"],
            ["reduce"] = ["sum_reduce"],
        };

    static readonly Assembly Self = typeof(KernelImages).Assembly;

    /// <summary>The names of the modules embedded in this build (e.g. <c>"adam"</c>), sorted; empty when built without kernels.</summary>
    public static IReadOnlyList<string> ModuleNames { get; } =
        Self.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(ResourceSuffix, StringComparison.Ordinal))
            .Select(n => n[ResourcePrefix.Length..^ResourceSuffix.Length])
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>Whether every module of <see cref="KernelNames"/> was compiled and embedded.</summary>
    public static bool BuiltWithKernels { get; } = KernelNames.Keys.All(m => ModuleNames.Contains(m, StringComparer.Ordinal));

    /// <summary>Why there are no kernels (no PTX compiler at build time), or null when <see cref="BuiltWithKernels"/>.</summary>
    public static string? MissingReason { get; } = BuiltWithKernels
        ? null
        : "Sac.Cuda was built without kernels: neither clang-14 nor nvcc was found at build time";

    /// <summary>The PTX text of one module, ready for <c>cuModuleLoadDataEx</c> (append a NUL byte when passing bytes).</summary>
    /// <param name="moduleName">A module name such as <c>"adam"</c> (the source file name without <c>.cu</c>).</param>
    /// <returns>The module's PTX assembly.</returns>
    /// <exception cref="KernelImageMissingException">The module is not embedded in this build.</exception>
    public static string GetPtx(string moduleName)
    {
        ArgumentNullException.ThrowIfNull(moduleName);
        using Stream? stream = Self.GetManifestResourceStream(ResourcePrefix + moduleName + ResourceSuffix);
        if (stream is null)
        {
            string why = MissingReason ?? $"the embedded modules are: {string.Join(", ", ModuleNames)}";
            throw new KernelImageMissingException(moduleName, $"PTX module '{moduleName}' is not embedded in Sac.Cuda ({why}).");
        }
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>A PTX module that <see cref="KernelImages.GetPtx"/> was asked for is not embedded in this build.</summary>
public sealed class KernelImageMissingException : InvalidOperationException
{
    /// <summary>Creates the exception for module <paramref name="moduleName"/>.</summary>
    /// <param name="moduleName">The module asked for.</param>
    /// <param name="message">What is missing and why.</param>
    public KernelImageMissingException(string moduleName, string message) : base(message) => ModuleName = moduleName;

    /// <summary>The module that was asked for.</summary>
    public string ModuleName { get; }
}
