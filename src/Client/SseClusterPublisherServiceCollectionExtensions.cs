using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using StackExchange.Redis;

namespace SseCluster.Client;

/// <summary>
/// Registers <see cref="ISseEventPublisher"/> and <see cref="ISseAnswerWriter"/> for services that publish to an
/// SseCluster, or write its streamed answers, without an HTTP hop.
/// </summary>
public static partial class SseClusterPublisherServiceCollectionExtensions
{
    /// <summary>
    /// Registers an Orleans client that finds the gateways' silos through the cluster's Redis, and
    /// <see cref="ISseEventPublisher"/> and <see cref="ISseAnswerWriter"/> over it. Reads the gateways' own keys: <c>SseCluster:Redis:Configuration</c>
    /// (required), <c>SseCluster:Orleans:ClusterId</c> / <c>ServiceId</c> (defaults shared with the gateways),
    /// <c>SseCluster:Publish:*</c> and <c>SseCluster:Limits:ReconnectBlockSeconds</c>. The client connects when the host
    /// starts, and keeps trying (logging once) while no gateway is up.
    /// </summary>
    /// <remarks>
    /// A publish that returns stored the event in every target stream's history. While the cluster cannot store it
    /// (its Redis is down, or a silo died and is not yet declared dead) the publish retries with the same publish id for
    /// <c>SseCluster:Publish:RetryForSeconds</c>, then throws <see cref="RoutingUnavailableException"/>.
    /// </remarks>
    public static IServiceCollection AddSseClusterPublisher(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var redis = configuration[SseClusterIdentity.RedisConfigurationKey];
        var clusterId = configuration[SseClusterIdentity.ClusterIdKey] is { Length: > 0 } c ? c : SseClusterIdentity.DefaultClusterId;
        var serviceId = configuration[SseClusterIdentity.ServiceIdKey] is { Length: > 0 } s ? s : SseClusterIdentity.DefaultServiceId;
        // The Redis connection is ours to close (see ClusterRedisConnection): disposing the host must not wait for Redis.
        services.TryAddSingleton<ClusterRedisConnection>();
        services.AddOptions<RedisClusteringOptions>()
            .Configure<ClusterRedisConnection>((o, connection) => o.CreateMultiplexer = connection.ConnectAsync);
        services.AddOrleansClient(client =>
        {
            client.UseRedisClustering(o => o.ConfigurationOptions = ParseRedis(redis));
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = serviceId;
            });
            client.UseConnectionRetryFilter<ClusterConnectionRetry>();

            // A publish from a traced service continues its trace through the stream grain to the gateways.
            client.AddActivityPropagation();
        });
        return services.AddSseClusterPublishing(configuration);
    }

    /// <summary>Registers the publisher library configured in code. See the other overload.</summary>
    public static IServiceCollection AddSseClusterPublisher(this IServiceCollection services, Action<SseClusterPublisherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new SseClusterPublisherOptions();
        configure(options);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [SseClusterIdentity.RedisConfigurationKey] = options.RedisConfiguration,
                [SseClusterIdentity.ClusterIdKey] = options.ClusterId,
                [SseClusterIdentity.ServiceIdKey] = options.ServiceId,
                ["SseCluster:Publish:AttemptTimeoutMilliseconds"] = options.AttemptTimeoutMilliseconds.ToString(CultureInfo.InvariantCulture),
                ["SseCluster:Publish:RetryForSeconds"] = options.RetryForSeconds.ToString(CultureInfo.InvariantCulture),
                ["SseCluster:Limits:ReconnectBlockSeconds"] = options.ReconnectBlockSeconds.ToString(CultureInfo.InvariantCulture),
            })
            .Build();
        return services.AddSseClusterPublisher(configuration);
    }

    /// <summary>
    /// Registers <see cref="ISseEventPublisher"/> and <see cref="ISseAnswerWriter"/> over the grains of the cluster this process already belongs to — a
    /// silo it hosts (as the gateway does) or an Orleans client registered by the caller. Reads <c>SseCluster:Publish</c>
    /// and <c>SseCluster:Limits:ReconnectBlockSeconds</c>.
    /// </summary>
    public static IServiceCollection AddSseClusterPublishing(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<PublisherOptions>()
            .Bind(configuration.GetSection("SseCluster:Limits"))
            .Bind(configuration.GetSection(PublisherOptions.Section))
            .Validate(o => o.AttemptTimeoutMilliseconds is >= 50 and <= 60_000, "SseCluster:Publish:AttemptTimeoutMilliseconds must be between 50 and 60000")
            .Validate(o => o.RetryForSeconds is >= 0 and <= 120, "SseCluster:Publish:RetryForSeconds must be between 0 and 120")
            .Validate(o => o.MaxBytesPerPublish is >= 1024, "SseCluster:Publish:MaxBytesPerPublish must be at least 1024")
            .Validate(o => o.ReconnectBlockSeconds is >= 0 and <= 86_400, "SseCluster:Limits:ReconnectBlockSeconds must be between 0 and 86400")
            .ValidateOnStart();
        services.TryAddSingleton<ISseEventPublisher, GrainPublisher>();
        services.TryAddSingleton<ISseAnswerWriter, GrainAnswerWriter>();
        return services;
    }

    private static ConfigurationOptions ParseRedis(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new OptionsValidationException(
                SseClusterIdentity.RedisConfigurationKey,
                typeof(SseClusterPublisherOptions),
                [$"{SseClusterIdentity.RedisConfigurationKey} is required: the Redis the gateways keep their cluster membership in"]);
        }

        var options = ConfigurationOptions.Parse(text);
        options.AbortOnConnectFail = false;
        return options;
    }

    /// <summary>Keeps the client trying to reach the cluster (logging the first failure) instead of failing the host's start.</summary>
    private sealed partial class ClusterConnectionRetry(ILogger<ClusterConnectionRetry> logger) : IClientConnectionRetryFilter
    {
        private int _failures;

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            if (_failures++ == 0)
            {
                Log.WaitingForCluster(logger, exception.GetType().Name, exception.Message);
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            return true;
        }

        private static partial class Log
        {
            [LoggerMessage(310, LogLevel.Warning, "No SseCluster gateway answers yet ({Error}: {Message}); the publisher keeps trying")]
            public static partial void WaitingForCluster(ILogger logger, string error, string message);
        }
    }
}
