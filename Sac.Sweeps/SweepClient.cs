using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Sac.Sweeps;

/// <summary>A client of the sweep cluster (<c>sac sweep</c>): connects through the silos' gateways.</summary>
public static class SweepClient
{
    /// <summary>Connects to a cluster, trying for at most <paramref name="connectFor"/>.</summary>
    /// <param name="cluster">The membership provider.</param>
    /// <param name="gatewayPorts">Localhost clustering: the gateway ports of the silos on 127.0.0.1.</param>
    /// <param name="clusterId">The cluster's id.</param>
    /// <param name="connectFor">How long to keep trying to reach a gateway.</param>
    /// <param name="stop">Cancels connecting.</param>
    /// <returns>The started client host; its services hold the <see cref="IClusterClient"/>.</returns>
    public static async Task<IHost> ConnectAsync(ClusterAddress cluster, IReadOnlyList<int> gatewayPorts, string clusterId, TimeSpan connectFor, CancellationToken stop)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ApplicationName = "sac-sweep" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        var deadline = DateTime.UtcNow + connectFor;
        builder.UseOrleansClient(client =>
        {
            if (cluster.Redis is { } redis)
            {
                client.UseRedisClustering(redis);
                client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = SweepSilo.ServiceId; });
            }
            else client.UseLocalhostClustering([.. gatewayPorts], SweepSilo.ServiceId, clusterId);
            // A call to a silo that was just lost fails after this long instead of Orleans' default 30 s.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10));
            client.UseConnectionRetryFilter(async (_, token) =>
            {
                if (DateTime.UtcNow >= deadline) return false;
                await Task.Delay(TimeSpan.FromSeconds(1), token);
                return true;
            });
        });
        var host = builder.Build();
        await host.StartAsync(stop);
        return host;
    }
}
