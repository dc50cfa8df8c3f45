using SseCluster.Contracts;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>
/// Three gateways A, B, C on one Redis (a prefix of their own), an admin/publisher HTTP client on each, and the
/// publisher library on the same Redis. Test classes share one per backend; each test uses user ids and topics of its
/// own (<see cref="Unique"/>).
/// </summary>
public abstract class ThreeGateways(string redisConfiguration) : IAsyncLifetime
{
    public string RedisConfiguration { get; } = redisConfiguration;

    public GatewayCluster Cluster { get; private set; } = null!;

    public GatewayHost A => Cluster[0];

    public GatewayHost B => Cluster[1];

    public GatewayHost C => Cluster[2];

    /// <summary>Admin and publisher clients of A, B and C (the same token on each).</summary>
    public HttpClient[] Admins { get; private set; } = [];

    public HttpClient AdminOfA => Admins[0];

    public HttpClient AdminOfB => Admins[1];

    public HttpClient AdminOfC => Admins[2];

    public ISseEventPublisher Library => _library!.Publisher;

    private LibraryPublisher? _library;

    /// <summary>A name no other test of the fixture uses: <c>&lt;name&gt;-&lt;random&gt;</c>.</summary>
    public static string Unique(string name) => $"{name}-{Guid.NewGuid().ToString("N")[..8]}";

    public async Task InitializeAsync()
    {
        Cluster = await GatewayCluster.StartAsync(RedisConfiguration, 3);
        var admin = Tokens.Admin("cluster-admin");
        Admins = Cluster.Nodes.Select(n => n.CreateClient(admin)).ToArray();
        _library = await Cluster.CreateLibraryPublisherAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var client in Admins)
        {
            client.Dispose();
        }

        if (_library is not null)
        {
            await _library.DisposeAsync();
        }

        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }
}

/// <summary><see cref="ThreeGateways"/> on one standalone redis-server.</summary>
public sealed class ThreeGatewaysOnStandaloneRedis(RedisServer redis) : ThreeGateways(redis.ConnectionString);

/// <summary><see cref="ThreeGateways"/> on a 3-master Redis Cluster.</summary>
public sealed class ThreeGatewaysOnRedisCluster(RedisClusterServer redis) : ThreeGateways(redis.ConnectionString);
