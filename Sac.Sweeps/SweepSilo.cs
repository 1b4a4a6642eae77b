using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Sac.Sweeps;

/// <summary>What a silo (<c>sac worker</c>) is given.</summary>
/// <param name="Cluster">The membership provider.</param>
/// <param name="Address">The address the silo listens on and advertises (127.0.0.1 on one machine).</param>
/// <param name="SiloPort">The port silos talk to each other on.</param>
/// <param name="GatewayPort">The port clients connect to.</param>
/// <param name="PrimarySiloPort">Localhost clustering: the silo port of the primary silo (the one holding the
/// membership table; a silo whose own port this is, is the primary).</param>
/// <param name="MaxRuns">How many runs may train on this silo at once.</param>
/// <param name="ClusterId">The cluster's id (silos and clients of one cluster share it).</param>
public sealed record SiloSettings(ClusterAddress Cluster, IPAddress Address, int SiloPort, int GatewayPort, int PrimarySiloPort, int MaxRuns, string ClusterId);

/// <summary>A silo of the sweep cluster, hosting run grains.</summary>
public static class SweepSilo
{
    /// <summary>The service id every sweep cluster uses.</summary>
    public const string ServiceId = "sac-sweeps";

    /// <summary>Membership timings that notice a lost silo within seconds on one machine, where a missed probe is not
    /// network trouble; a real deployment keeps Orleans' defaults.</summary>
    internal static void FastFailureDetection(ClusterMembershipOptions m)
    {
        m.ProbeTimeout = TimeSpan.FromSeconds(1);
        m.NumMissedProbesLimit = 2;
    }

    /// <summary>Starts a silo, runs it until the process is asked to stop (SIGINT, SIGTERM) or <paramref name="stop"/> fires.</summary>
    /// <param name="settings">The silo's settings.</param>
    /// <param name="executor">Trains runs (the same code path as <c>sac train</c>).</param>
    /// <param name="started">Called once the silo has joined the cluster.</param>
    /// <param name="stop">Stops the silo.</param>
    /// <returns>When the silo has stopped.</returns>
    public static async Task RunAsync(SiloSettings settings, IRunExecutor executor, Action<string> started, CancellationToken stop)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ApplicationName = "sac-worker" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Orleans' own start-up notes (server GC, watchdog) are noise here; its errors still show.
        builder.Logging.AddFilter("Orleans", LogLevel.Error);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton(executor);
        builder.Services.AddSingleton(new RunSlots(settings.MaxRuns));
        builder.UseOrleans(silo =>
        {
            if (settings.Cluster.Redis is { } redis)
            {
                silo.UseRedisClustering(redis);
                silo.Configure<ClusterOptions>(o => { o.ClusterId = settings.ClusterId; o.ServiceId = ServiceId; });
                silo.ConfigureEndpoints(settings.Address, settings.SiloPort, settings.GatewayPort);
            }
            else
            {
                silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort,
                    new IPEndPoint(IPAddress.Loopback, settings.PrimarySiloPort), ServiceId, settings.ClusterId);
                silo.Configure<ClusterMembershipOptions>(FastFailureDetection);
            }
        });
        using var host = builder.Build();
        await host.StartAsync(stop);
        started($"silo {settings.Address}:{settings.SiloPort} (gateway {settings.GatewayPort}) joined cluster {settings.ClusterId} on {settings.Cluster}; at most {settings.MaxRuns} runs at once");
        await host.WaitForShutdownAsync(stop);
    }
}
