using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Contracts;
using SseCluster.Grains;

namespace SseCluster.Client;

/// <summary>Registers <see cref="ISseEventPublisher"/> for services that publish to an SseCluster without an HTTP hop.</summary>
public static class SseClusterPublisherServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ISseEventPublisher"/> writing straight to the cluster's Redis through the same routing code
    /// the gateways run. It only publishes: it opens no inbox and keeps no presence, so it holds one Redis connection
    /// and nothing else. Reads the gateways' keys: <c>SseCluster:Redis:Configuration</c> (required),
    /// <c>SseCluster:Redis:Prefix</c>, <c>SseCluster:History</c>, <c>SseCluster:Limits:ReconnectBlockSeconds</c> —
    /// share the gateways' configuration section and they cannot disagree.
    /// </summary>
    /// <remarks>
    /// A publish that returns stored the event in every target stream's history. When Redis is unreachable it throws
    /// <see cref="RoutingUnavailableException"/> and nothing was accepted for the streams that failed.
    /// </remarks>
    public static IServiceCollection AddSseClusterPublisher(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddSseClusterRedisRouting(configuration);
    }

    /// <summary>Registers <see cref="ISseEventPublisher"/> configured in code. See the other overload.</summary>
    public static IServiceCollection AddSseClusterPublisher(this IServiceCollection services, Action<SseClusterPublisherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new SseClusterPublisherOptions();
        configure(options);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["SseCluster:Redis:Configuration"] = options.RedisConfiguration,
                ["SseCluster:Redis:Prefix"] = options.Prefix,
                ["SseCluster:History:MaxEventsPerStream"] = options.MaxEventsPerStream.ToString(CultureInfo.InvariantCulture),
                ["SseCluster:History:MaxAgeSeconds"] = options.MaxAgeSeconds.ToString(CultureInfo.InvariantCulture),
                ["SseCluster:Limits:ReconnectBlockSeconds"] = options.ReconnectBlockSeconds.ToString(CultureInfo.InvariantCulture),
            })
            .Build();
        return services.AddSseClusterRedisRouting(configuration);
    }
}
