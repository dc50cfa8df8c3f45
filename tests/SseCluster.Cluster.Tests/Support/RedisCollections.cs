using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests.Support;

// Here, not in SseCluster.TestSupport: xunit finds collection definitions only in the test assembly.
[CollectionDefinition(RedisCollections.Server)]
public sealed class RedisServerCollection : ICollectionFixture<RedisServer>;

[CollectionDefinition(RedisCollections.Cluster)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterServer>;
