using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Grains.InMemory;

namespace SseCluster.Grains;

/// <summary>Registers the routing layer.</summary>
public static class RoutingServiceCollectionExtensions
{
    /// <summary>
    /// Registers the in-memory routing layer (one node, no server to install) and the publisher over it,
    /// with history bounds from <c>SseCluster:History</c>.
    /// </summary>
    public static IServiceCollection AddSseClusterInMemoryRouting(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddRoutingCore(configuration);
        services.TryAddSingleton<InMemoryStreamRouter>();
        services.TryAddSingleton<IStreamRouter>(sp => sp.GetRequiredService<InMemoryStreamRouter>());
        services.TryAddSingleton<IControlBus, InMemoryControlBus>();
        services.TryAddSingleton<IConnectionDirectory, InMemoryConnectionDirectory>();
        services.TryAddSingleton<ITicketStore, InMemoryTicketStore>();
        services.TryAddSingleton<IRoutingHealth, AlwaysAvailable>();
        return services;
    }

    /// <summary>What every routing implementation shares: options, clock, gateway identity and the publisher.</summary>
    public static IServiceCollection AddRoutingCore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<HistoryOptions>()
            .Bind(configuration.GetSection("SseCluster:History"))
            .Validate(o => o.MaxEventsPerStream is >= 1 and <= 1_000_000, "SseCluster:History:MaxEventsPerStream must be between 1 and 1000000")
            .Validate(o => o.MaxAgeSeconds is >= 1 and <= 30 * 24 * 3600, "SseCluster:History:MaxAgeSeconds must be between 1 and 2592000")
            .ValidateOnStart();
        services.AddOptions<PublisherOptions>()
            .Bind(configuration.GetSection("SseCluster:Limits"))
            .Validate(o => o.ReconnectBlockSeconds is >= 0 and <= 86_400, "SseCluster:Limits:ReconnectBlockSeconds must be between 0 and 86400")
            .ValidateOnStart();
        services.TryAddSingleton(sp => new GatewayIdentity(
            configuration["SseCluster:GatewayId"] is { Length: > 0 } id ? id : $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..6]}",
            sp.GetRequiredService<TimeProvider>().GetUtcNow()));
        services.TryAddSingleton<ISseEventPublisher, RoutingPublisher>();
        return services;
    }
}
