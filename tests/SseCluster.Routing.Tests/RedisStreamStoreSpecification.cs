using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// The specification against the Redis stores, plus what only a shared store has: several nodes (silos) on one Redis
/// see the same streams, attachments, blocks and tickets; keys of other prefixes stay apart; streams expire in Redis.
/// Each test uses a key prefix of its own, so tests sharing a server never see each other's keys.
/// </summary>
public abstract class RedisStreamStoreSpecification(ITestOutputHelper output) : StreamStoreSpecification(output)
{
    protected string Prefix { get; } = "spec-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The <c>SseCluster:Redis:Configuration</c> value a gateway of this deployment would have.</summary>
    protected abstract string ConnectionString { get; }

    /// <summary>Every Redis server (master) of the deployment.</summary>
    protected abstract IReadOnlyList<RedisServer> Servers { get; }

    protected override bool Clustered => true;

    protected override void AddSettings(Dictionary<string, string?> settings)
    {
        settings["SseCluster:Redis:Configuration"] = ConnectionString;
        settings["SseCluster:Redis:Prefix"] = Prefix;
    }

    /// <summary>Deletes every key of the stream, wherever it lives, as a Redis that restarted empty would have.</summary>
    protected override Task LoseStreamAsync(StoreNode node, StreamKey stream) => DeleteKeysAsync(StreamKeyPattern(stream, "*"));

    protected string StreamKeyPattern(StreamKey stream, string part) => $"{Prefix}:{{{stream}}}:{part}";

    /// <summary>The keys matching <paramref name="pattern"/> on one server (on a Redis Cluster master, only its own).</summary>
    protected static async Task<List<string>> KeysAsync(RedisServer server, string pattern) =>
        ((List<object?>)(await server.ExecuteAsync("KEYS", pattern))!).Cast<string>().ToList();

    /// <summary>Deletes the keys matching <paramref name="pattern"/> on every server; returns how many.</summary>
    protected async Task<int> DeleteKeysAsync(string pattern)
    {
        var deleted = 0;
        foreach (var server in Servers)
        {
            foreach (var key in await KeysAsync(server, pattern))
            {
                deleted += (int)(long)(await server.ExecuteAsync("DEL", key))!;
            }
        }

        return deleted;
    }

    [Fact]
    public async Task TwoNodes_OnOneRedis_ContinueOneStream_UnderOneEpoch_AndShareItsPublishIds()
    {
        var a = CreateNamedNode("node-a");
        var b = CreateNamedNode("node-b");
        var stream = StreamKey.ForUser("shared");
        var id = Guid.NewGuid();

        var fromA = await a.History.AppendAsync(stream, [Event("a1", publishId: id), Event("a2")]);
        var fromB = await b.History.AppendAsync(stream, [Event("b3")]);
        var retriedOnB = await b.History.AppendAsync(stream, [Event("a1 retried", publishId: id)]);
        var readOnB = await b.History.ReadAsync(stream, 0, 10);
        var tailOnA = (await a.History.GetTailsAsync([stream])).Single();

        Assert.Equal([1L, 2L], fromA.Sequences);
        Assert.Equal([3L], fromB.Sequences);
        Assert.Equal([1L], retriedOnB.Sequences);
        Assert.Equal(fromA.Epoch, fromB.Epoch);
        Assert.Equal(fromA.Epoch, retriedOnB.Epoch);
        Assert.Equal(["a1", "a2", "b3"], readOnB.Events.Select(e => e.Payload.Data));
        Assert.Equal(new StreamTail(fromA.Epoch, 3), tailOnA);
    }

    [Fact]
    public async Task TwoNodes_AppendingConcurrentlyToOneStream_NumberIt1To200_WithoutGapsOrDuplicates()
    {
        var a = CreateNamedNode("node-a");
        var b = CreateNamedNode("node-b");
        var stream = StreamKey.ForTopic("contended");

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => (i % 2 == 0 ? a : b).History.AppendAsync(stream, [Event($"{i}")])));

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), results.Select(r => r.Sequences.Single()).Order());
        Assert.Single(results.Select(r => r.Epoch).Distinct());
        var read = await a.History.ReadAsync(stream, 0, 500);
        Assert.Equal(200, read.Events.Select(e => e.Payload.Data).Distinct().Count());
    }

    [Fact]
    public async Task TwoNodes_OnOneRedis_ShareAttachmentsReconnectBlocksAndTickets()
    {
        var a = CreateNamedNode("node-a");
        var b = CreateNamedNode("node-b");
        var stream = StreamKey.ForUser("alice");

        await a.Attachments.AddAsync(stream, "gateway-a", "endpoint-a");
        await b.Attachments.AddAsync(stream, "gateway-b", "endpoint-b");
        await a.Blocks.BlockAsync("mallory", TimeSpan.FromMinutes(5));
        await a.Tickets.StoreAsync("tk-shared", "grant", TimeSpan.FromSeconds(30));
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var redeemers = Enumerable.Range(0, 20).Select(async i =>
        {
            await start.Task;
            return await (i % 2 == 0 ? a : b).Tickets.RedeemAsync("tk-shared");
        }).ToArray();
        start.SetResult();

        Assert.Equal("grant", Assert.Single(await Task.WhenAll(redeemers), g => g is not null));
        Assert.Equal(new Dictionary<string, string> { ["gateway-a"] = "endpoint-a", ["gateway-b"] = "endpoint-b" }, await b.Attachments.GetAsync(stream));
        Assert.True(await b.Blocks.IsBlockedAsync("mallory"));
        await b.Attachments.RemoveAsync(stream, "gateway-a");
        Assert.Equal(["gateway-b"], (await a.Attachments.GetAsync(stream)).Keys);
    }

    [Fact]
    public async Task NodesWithDifferentPrefixes_OnOneRedis_NeverSeeEachOthersStreams()
    {
        var mine = CreateNamedNode("node-mine");
        var theirs = CreateNamedNode("node-theirs", ("SseCluster:Redis:Prefix", Prefix + "-other"));
        var stream = StreamKey.ForUser("alice");
        var id = Guid.NewGuid();

        await mine.History.AppendAsync(stream, [Event("mine-1", publishId: id), Event("mine-2")]);
        await mine.Attachments.AddAsync(stream, "gateway", "endpoint");
        await mine.Tickets.StoreAsync("tk", "grant", TimeSpan.FromSeconds(30));
        await mine.Blocks.BlockAsync("mallory", TimeSpan.FromMinutes(5));
        var theirAppend = await theirs.History.AppendAsync(stream, [Event("theirs-1", publishId: id)]);

        Assert.Equal([1L], theirAppend.Sequences);
        Assert.Equal(["theirs-1"], (await theirs.History.ReadAsync(stream, 0, 10)).Events.Select(e => e.Payload.Data));
        Assert.Equal(2, (await mine.History.GetTailsAsync([stream])).Single().LastSequence);
        Assert.Empty(await theirs.Attachments.GetAsync(stream));
        Assert.Null(await theirs.Tickets.RedeemAsync("tk"));
        Assert.False(await theirs.Blocks.IsBlockedAsync("mallory"));
        Assert.Equal("grant", await mine.Tickets.RedeemAsync("tk"));
    }

    [Fact]
    public async Task IdleStream_ExpiresInRedisAsAWhole_AndStartsAgainAtOneUnderANewEpoch()
    {
        var node = CreateNode(("SseCluster:History:MaxAgeSeconds", "1"), ("SseCluster:History:IdempotencyWindowSeconds", "1"));
        var stream = StreamKey.ForTopic("short-lived");
        var before = await node.History.AppendAsync(stream, [Event("1"), Event("2")]);

        await LetTimePassAsync(node, TimeSpan.FromSeconds(1));
        var lostTail = (await node.History.GetTailsAsync([stream])).Single();
        var leftKeys = (await Task.WhenAll(Servers.Select(s => KeysAsync(s, StreamKeyPattern(stream, "*"))))).SelectMany(k => k).ToList();
        var after = await node.History.AppendAsync(stream, [Event("again")]);

        Assert.Equal(new StreamTail(0, 0), lostTail);
        Assert.Empty(leftKeys);
        Assert.Equal([1L], after.Sequences);
        Assert.NotEqual(before.Epoch, after.Epoch);
    }

    [Fact]
    public async Task PublishId_ThatOutlivedItsStream_IsNotAnsweredWithASequenceOfTheStreamsNextIncarnation()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("evicted");
        var id = Guid.NewGuid();
        var before = await node.History.AppendAsync(stream, [Event("\"retried later\"", publishId: id)]);

        // Redis evicting a stream's meta and events under memory pressure, but not its publish-id keys.
        Assert.Equal(2, await DeleteKeysAsync(StreamKeyPattern(stream, "meta")) + await DeleteKeysAsync(StreamKeyPattern(stream, "events")));
        var newIncarnation = await node.History.AppendAsync(stream, [Event("\"someone else's\"")]);
        var retried = await node.History.AppendAsync(stream, [Event("\"retried later\"", publishId: id)]);

        Assert.Equal([1L], newIncarnation.Sequences);
        Assert.NotEqual(before.Epoch, newIncarnation.Epoch);
        Assert.Equal([2L], retried.Sequences);
        Assert.Equal(["\"someone else's\"", "\"retried later\""], (await node.History.ReadAsync(stream, 0, 10)).Events.Select(e => e.Payload.Data));
    }

    [Fact]
    public void Node_WithABracedPrefixOrNoEndpoint_FailsAtStart_NamingTheKeyAtFault()
    {
        var prefix = Assert.Throws<OptionsValidationException>(() => CreateNode(("SseCluster:Redis:Prefix", "bad{prefix}")));
        var endpoint = Assert.Throws<OptionsValidationException>(() => CreateNode(("SseCluster:Redis:Configuration", "password=hunter2")));

        Assert.Contains("SseCluster:Redis:Prefix", prefix.Message, StringComparison.Ordinal);
        Assert.Contains("SseCluster:Redis:Configuration", endpoint.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", endpoint.Message, StringComparison.Ordinal);
    }
}
