namespace SseCluster.TestSupport;

/// <summary>
/// Names of the xunit collections whose test classes share one Redis (they run one at a time). xunit finds a
/// collection definition only in the test assembly itself (xunit/xunit#833), so each test project that uses one
/// declares it, one line each:
/// <code>
/// [CollectionDefinition(RedisCollections.Server)]
/// public sealed class RedisServerCollection : ICollectionFixture&lt;RedisServer&gt;;
/// </code>
/// </summary>
public static class RedisCollections
{
    /// <summary>One standalone <see cref="RedisServer"/>.</summary>
    public const string Server = "Redis server";

    /// <summary>One 3-master <see cref="RedisClusterServer"/>.</summary>
    public const string Cluster = "Redis Cluster";
}
