using System;

namespace Sac.Core.Runs;

/// <summary>The field checks every checkpoint header shares; each names the field in its <see cref="ArgumentException"/>.</summary>
internal static class HeaderChecks
{
    internal static string NotBlank(string value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentException($"{name} must not be null or blank, got {(value is null ? "null" : $"'{value}'")}.", name);
        return value;
    }

    /// <summary>A header's hidden activation as stored: null for ReLU (the default, so ReLU files keep no field), the
    /// value for the others a configuration allows.</summary>
    internal static Sac.Core.Compute.Activation? StoredActivation(Sac.Core.Compute.Activation? value, string name) =>
        value is not { } a || a == Sac.Core.Compute.Activation.Relu
            ? null
            : Sac.Core.Config.ConfigChecks.HiddenActivation(a, name);

    internal static long NotNegative(long value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be zero or more, got {value}.", name);
}
