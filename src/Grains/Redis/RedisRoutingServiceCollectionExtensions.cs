using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SseCluster.Grains.Redis;
using SseCluster.Grains.Redis.Internal;

namespace SseCluster.Grains;

/// <summary>Registers the Redis (cluster-mode) routing layer.</summary>
public static class RedisRoutingServiceCollectionExtensions
{
    /// <summary>
    /// Registers the routing layer on Redis — standalone or Redis Cluster — and the publisher over it
    /// (<see cref="SseCluster.Contracts.ISseEventPublisher"/>), replacing any in-memory routing registered before.
    /// <para>
    /// Reads <c>SseCluster:Redis:Configuration</c> (required: <c>127.0.0.1:6379</c>, or several endpoints of a
    /// cluster), <c>SseCluster:Redis:Prefix</c> (default <c>sse</c>), <c>SseCluster:Redis:PresenceRefreshSeconds</c>
    /// (default 5; leases and presence records live 3 intervals), plus what <see cref="RoutingServiceCollectionExtensions.AddRoutingCore"/>
    /// reads (<c>SseCluster:History</c>, <c>SseCluster:Limits:ReconnectBlockSeconds</c>, <c>SseCluster:GatewayId</c>).
    /// The settings are validated when the host starts; the messages name the key at fault. Every process that
    /// publishes to the same cluster must use the same prefix and history settings.
    /// </para>
    /// </summary>
    public static IServiceCollection AddSseClusterRedisRouting(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddRoutingCore(configuration);
        services.AddOptions<RedisRoutingOptions>()
            .Bind(configuration.GetSection(RedisRoutingOptions.Section))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisRoutingOptions>, RedisRoutingOptionsValidator>());
        services.TryAddSingleton(sp => new RedisKeys(sp.GetRequiredService<IOptions<RedisRoutingOptions>>().Value.Prefix));
        services.TryAddSingleton<RedisConnection>();
        services.TryAddSingleton<GatewayPresence>();
        services.TryAddSingleton<RedisStreamRouter>();

        // Replace, not TryAdd: whichever order the host registers routing layers in, Redis wins when asked for.
        services.RemoveAll<IStreamRouter>().AddSingleton<IStreamRouter>(sp => sp.GetRequiredService<RedisStreamRouter>());
        services.RemoveAll<IControlBus>().AddSingleton<IControlBus, RedisControlBus>();
        services.RemoveAll<IConnectionDirectory>().AddSingleton<IConnectionDirectory, RedisConnectionDirectory>();
        services.RemoveAll<ITicketStore>().AddSingleton<ITicketStore, RedisTicketStore>();
        services.RemoveAll<IRoutingHealth>().AddSingleton<IRoutingHealth>(sp => sp.GetRequiredService<RedisConnection>());
        return services;
    }
}
