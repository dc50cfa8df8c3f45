using Xunit;

namespace SseCluster.Tests.Shared;

/// <summary>Test classes in this collection share one standalone <see cref="RedisServer"/> (they run one at a time).</summary>
[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "Redis server";
}

/// <summary>Test classes in this collection share one 3-master <see cref="RedisClusterServer"/>.</summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterServer>
{
    public const string Name = "Redis Cluster";
}
