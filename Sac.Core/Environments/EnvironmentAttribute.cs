using System;

namespace Sac.Core.Environments;

/// <summary>
/// Marks a public <see cref="IEnvironment"/> class with a public parameterless constructor as an environment that
/// <see cref="EnvironmentRegistry.RegisterAssembly"/> (and <c>sac --plugin ASSEMBLY.dll</c>) registers under
/// <see cref="Id"/>.
/// </summary>
/// <example><c>[Environment("DoubleIntegrator-v0", MaxEpisodeSteps = 200)] public sealed class DoubleIntegrator : IEnvironment { … }</c></example>
/// <param name="id">The id to register, e.g. <c>"DoubleIntegrator-v0"</c>; the environment's <see cref="IEnvironment.Id"/> must equal it.</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class EnvironmentAttribute(string id) : Attribute
{
    /// <summary>The id the environment is registered under.</summary>
    public string Id { get; } = id;

    /// <summary>The episode limit that <see cref="EnvironmentRegistry.Make"/> enforces through <see cref="TimeLimit"/>;
    /// 0 (the default) takes the environment's own <see cref="IEnvironment.MaxEpisodeSteps"/>.</summary>
    public int MaxEpisodeSteps { get; set; }
}

/// <summary>An environment plugin could not be loaded or registered; the message names the file or type and what is wrong.</summary>
/// <param name="message">What went wrong.</param>
/// <param name="inner">The underlying exception, if any.</param>
public sealed class EnvironmentPluginException(string message, Exception? inner = null) : Exception(message, inner);
