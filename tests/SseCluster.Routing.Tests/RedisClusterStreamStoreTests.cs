using SseCluster.Contracts;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>The specification against a 3-master Redis Cluster (shared by the collection).</summary>
[Collection(RedisCollections.Cluster)]
public sealed class RedisClusterStreamStoreTests(RedisClusterServer cluster, ITestOutputHelper output) : RedisStreamStoreSpecification(output)
{
    protected override string ConnectionString => cluster.ConnectionString;

    protected override IReadOnlyList<RedisServer> Servers => cluster.Nodes;

    [Fact]
    public async Task Streams_SpreadOverAllThreeMasters_EachStreamsKeysOnOneMaster()
    {
        var node = CreateNode();
        var streams = Enumerable.Range(0, 30).Select(i => StreamKey.ForUser($"spread-{i}")).ToList();
        foreach (var stream in streams)
        {
            await node.History.AppendAsync(stream, [Event("1")]);
            await node.Attachments.AddAsync(stream, "gateway", "endpoint");
        }

        var keysPerMaster = await Task.WhenAll(Servers.Select(s => KeysAsync(s, Prefix + ":*")));

        Output.WriteLine($"keys per master: {string.Join(", ", keysPerMaster.Select(k => k.Count))}");
        Assert.All(keysPerMaster, keys => Assert.NotEmpty(keys));
        foreach (var stream in streams)
        {
            var holders = keysPerMaster.Count(keys => keys.Any(k => k.StartsWith($"{Prefix}:{{{stream}}}:", StringComparison.Ordinal)));
            Assert.True(holders == 1, $"the keys of {stream} are on {holders} masters");
            var all = keysPerMaster.SelectMany(k => k).Where(k => k.StartsWith($"{Prefix}:{{{stream}}}:", StringComparison.Ordinal)).ToList();
            Assert.Contains($"{Prefix}:{{{stream}}}:meta", all);
            Assert.Contains($"{Prefix}:{{{stream}}}:events", all);
            Assert.Contains($"{Prefix}:{{{stream}}}:gateways", all);
        }
    }
}
