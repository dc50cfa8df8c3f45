using System.Diagnostics;
using System.Globalization;
using SseCluster.Contracts;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// The specification against one standalone <c>redis-server</c> (shared by the collection), plus Redis going away
/// and coming back: those tests start a server of their own, since they kill it.
/// </summary>
[Collection(RedisCollections.Server)]
public sealed class RedisStreamStoreTests(RedisServer redis, ITestOutputHelper output) : RedisStreamStoreSpecification(output)
{
    private static readonly string[] RedisWords =
    [
        "127.0.0.1", "localhost", "EVAL", "EVALSHA", "SCRIPT", "XADD", "XRANGE", "XTRIM", "HMGET", "HGETALL", "HSET", "HDEL",
        "GETDEL", "EXISTS", "PING", "PX", "SET ", "DEL ", "{", "}", "meta", "events", "pid:", "ticket:", ":block",
        "No connection", "UnableToConnect", "SocketFailure", "Timeout", "timeout", "StackExchange",
    ];

    private readonly List<RedisServer> _ownServers = [];

    protected override string ConnectionString => redis.ConnectionString;

    protected override IReadOnlyList<RedisServer> Servers => [redis];

    [Fact]
    public async Task RedisStopped_EveryOperationThrowsRoutingUnavailable_WithoutRedisDetails_ThenTheStoreWorksAgainUnderANewEpoch()
    {
        var server = await StartOwnServerAsync();
        var node = CreateNamedNode("node-outage", ("SseCluster:Redis:Configuration", server.ConnectionString));
        var stream = StreamKey.ForUser("alice");
        var before = await node.History.AppendAsync(stream, [Event("1")]);
        await Eventually.TrueAsync(() => node.History.IsAvailable, "IsAvailable before the outage");

        await server.StopAsync();
        var noticed = await Eventually.TrueAsync(() => !node.History.IsAvailable, "IsAvailable turning false after redis-server was killed");
        Output.WriteLine($"IsAvailable turned false {noticed.TotalMilliseconds:0} ms after redis-server was killed");

        var clock = Stopwatch.StartNew();
        var failures = await Task.WhenAll(Operations(node, stream).Select(async op => (op.Name, Failure: await Assert.ThrowsAsync<RoutingUnavailableException>(op.Run))));
        Output.WriteLine($"{failures.Length} operations failed within {clock.ElapsedMilliseconds} ms");

        var forbidden = RedisWords.Concat([server.ConnectionString, server.Port.ToString(CultureInfo.InvariantCulture), Prefix, "tk-secret"]).ToArray();
        foreach (var (name, failure) in failures)
        {
            Output.WriteLine($"{name}: {failure.Message}");
            Assert.Null(failure.InnerException);
            Assert.False(string.IsNullOrWhiteSpace(failure.Message), $"{name}: empty message");
            var leaked = forbidden.Where(word => failure.Message.Contains(word, StringComparison.Ordinal)).ToList();
            Assert.True(leaked.Count == 0, $"{name}: the message '{failure.Message}' names Redis details: {string.Join(", ", leaked)}");
        }

        await server.StartAsync();
        var back = await Eventually.TrueAsync(() => node.History.IsAvailable, "IsAvailable turning true after redis-server restarted", TimeSpan.FromSeconds(20));
        Output.WriteLine($"IsAvailable turned true {back.TotalMilliseconds:0} ms after redis-server restarted");

        var after = await node.History.AppendAsync(stream, [Event("after")]);
        Assert.Equal([1L], after.Sequences);
        Assert.NotEqual(before.Epoch, after.Epoch);
        await node.Tickets.StoreAsync("tk-secret-1", "grant", TimeSpan.FromSeconds(30));
        Assert.Equal("grant", await node.Tickets.RedeemAsync("tk-secret-1"));
        await node.Attachments.AddAsync(stream, "gateway", "endpoint");
        Assert.Equal(["gateway"], (await node.Attachments.GetAsync(stream)).Keys);
    }

    [Fact]
    public async Task NodeStartedWhileRedisIsDown_ReportsUnavailableAndThrows_ThenWorksOnceRedisAnswers()
    {
        var server = await StartOwnServerAsync();
        await server.StopAsync();
        var node = CreateNamedNode("node-early", ("SseCluster:Redis:Configuration", server.ConnectionString));
        var stream = StreamKey.ForTopic("early");

        var failure = await Assert.ThrowsAsync<RoutingUnavailableException>(() => node.History.AppendAsync(stream, [Event("1")]));
        Assert.False(node.History.IsAvailable);
        Assert.DoesNotContain(server.Port.ToString(CultureInfo.InvariantCulture), failure.Message, StringComparison.Ordinal);

        await server.StartAsync();
        await Eventually.TrueAsync(() => node.History.IsAvailable, "IsAvailable after redis-server started", TimeSpan.FromSeconds(20));
        var appended = await node.History.AppendAsync(stream, [Event("1")]);
        Assert.Equal([1L], appended.Sequences);
    }

    public override async Task DisposeAsync()
    {
        // Nodes first: a server stopped under a live node only adds "connection lost" noise to the output.
        await base.DisposeAsync();
        foreach (var server in _ownServers)
        {
            await server.DisposeAsync();
        }
    }

    private async Task<RedisServer> StartOwnServerAsync()
    {
        var server = await RedisServer.StartNewAsync();
        _ownServers.Add(server);
        return server;
    }

    private (string Name, Func<Task> Run)[] Operations(StoreNode node, StreamKey stream) =>
    [
        ("append", () => node.History.AppendAsync(stream, [Event("2"), Event("3")])),
        ("read", () => node.History.ReadAsync(stream, 0, 10)),
        ("tails", () => node.History.GetTailsAsync([stream, StreamKey.Broadcast])),
        ("get attachments", () => node.Attachments.GetAsync(stream)),
        ("attach", () => node.Attachments.AddAsync(stream, "gateway", "endpoint")),
        ("detach", () => node.Attachments.RemoveAsync(stream, "gateway")),
        ("block", () => node.Blocks.BlockAsync("mallory", TimeSpan.FromMinutes(1))),
        ("unblock", () => node.Blocks.BlockAsync("mallory", TimeSpan.Zero)),
        ("is blocked", () => node.Blocks.IsBlockedAsync("mallory")),
        ("store ticket", () => node.Tickets.StoreAsync("tk-secret-2", "grant", TimeSpan.FromSeconds(30))),
        ("redeem ticket", () => node.Tickets.RedeemAsync("tk-secret-2")),
    ];
}
