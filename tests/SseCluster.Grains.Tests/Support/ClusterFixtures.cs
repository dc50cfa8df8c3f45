using SseCluster.TestSupport;

namespace SseCluster.Grains.Tests.Support;

/// <summary>A three-silo cluster over shared in-memory stores, for the tests of one class (they run one at a time).</summary>
public sealed class InMemoryClusterFixture : IAsyncLifetime
{
    private GatewayCluster? _cluster;

    public GatewayCluster Cluster => _cluster ?? throw new InvalidOperationException("the cluster has not started");

    public async Task InitializeAsync() => _cluster = await GatewayCluster.StartAsync();

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>
/// A three-silo cluster whose stores are in a real redis-server (<see cref="RedisServer"/>, started and stopped
/// with the fixture; the cluster uses a prefix of its own).
/// </summary>
public sealed class RedisClusterFixture : IAsyncLifetime
{
    private readonly RedisServer _redis = new();
    private GatewayCluster? _cluster;

    public GatewayCluster Cluster => _cluster ?? throw new InvalidOperationException("the cluster has not started");

    public async Task InitializeAsync()
    {
        await _redis.InitializeAsync();
        _cluster = await GatewayCluster.StartAsync(redis: _redis);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_cluster is not null)
            {
                await _cluster.DisposeAsync();
            }
        }
        finally
        {
            await _redis.DisposeAsync();
        }
    }
}
