using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Grains;
using SseCluster.Tests.Shared;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>The specification against Redis routing on one standalone redis-server.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisStreamRouterTests(RedisServer redis, ITestOutputHelper output) : ScaleoutStreamRouterSpecification(output)
{
    private readonly string _prefix = "spec-" + Guid.NewGuid().ToString("N")[..10];

    protected override void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSseClusterRedisRouting(configuration);

    protected override void AddSettings(Dictionary<string, string?> settings)
    {
        settings["SseCluster:Redis:Configuration"] = redis.ConnectionString;
        settings["SseCluster:Redis:Prefix"] = _prefix;
    }
}

/// <summary>The specification against Redis routing on a 3-master Redis Cluster: every grain script must stay in one slot.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterStreamRouterTests(RedisClusterServer cluster, ITestOutputHelper output) : ScaleoutStreamRouterSpecification(output)
{
    private readonly string _prefix = "spec-" + Guid.NewGuid().ToString("N")[..10];

    protected override void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSseClusterRedisRouting(configuration);

    protected override void AddSettings(Dictionary<string, string?> settings)
    {
        settings["SseCluster:Redis:Configuration"] = cluster.ConnectionString;
        settings["SseCluster:Redis:Prefix"] = _prefix;
    }
}
