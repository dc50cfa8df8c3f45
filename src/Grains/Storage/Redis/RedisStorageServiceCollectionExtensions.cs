using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>Registers the Redis store (standalone Redis or Redis Cluster).</summary>
public static class RedisStorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Redis implementations of <see cref="IStreamHistory"/>, <see cref="IGatewayAttachments"/>,
    /// <see cref="IReconnectBlocks"/> and <see cref="ITicketStore"/>, replacing any registered before (so the order in
    /// which a host adds stores does not matter), over one shared connection.
    /// <para>
    /// Reads <c>SseCluster:Redis:Configuration</c> (required) and <c>SseCluster:Redis:Prefix</c> (default <c>sse</c>),
    /// validated when the host starts with messages naming the key at fault. The caller binds
    /// <see cref="HistoryOptions"/> (<c>SseCluster:History</c>) and registers logging; a <see cref="TimeProvider"/> is
    /// added if none is. Every silo of one cluster must use the same prefix and history settings.
    /// </para>
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configuration">The host's configuration, read from <c>SseCluster:Redis</c>.</param>
    /// <param name="clientName">The name this process shows in Redis <c>CLIENT LIST</c>, e.g. the silo's name.</param>
    public static IServiceCollection AddSseClusterRedisStore(this IServiceCollection services, IConfiguration configuration, string clientName)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrWhiteSpace(clientName);

        services.AddOptions<RedisStoreOptions>()
            .Bind(configuration.GetSection(RedisStoreOptions.Section))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisStoreOptions>, RedisStoreOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new RedisKeys(sp.GetRequiredService<IOptions<RedisStoreOptions>>().Value.Prefix));
        services.TryAddSingleton<RedisErrors>();
        services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<RedisConnection>(sp, clientName));

        // Replace, not TryAdd: whichever order the host registers stores in, Redis wins when asked for.
        services.RemoveAll<IStreamHistory>().AddSingleton<IStreamHistory, RedisStreamHistory>();
        services.RemoveAll<IGatewayAttachments>().AddSingleton<IGatewayAttachments, RedisGatewayAttachments>();
        services.RemoveAll<IReconnectBlocks>().AddSingleton<IReconnectBlocks, RedisReconnectBlocks>();
        services.RemoveAll<ITicketStore>().AddSingleton<ITicketStore, RedisTicketStore>();
        return services;
    }
}
