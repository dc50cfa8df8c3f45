using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SseCluster.Client;
using SseCluster.Contracts;
using SseCluster.Grains;
using SseCluster.Grains.Redis;
using SseCluster.Grains.Redis.Internal;
using SseCluster.Tests.Shared;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>Behaviour only the Redis routing layer has: constant subscriptions, lease expiry, self-healing, the client library.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisRoutingTests(RedisServer redis, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _prefix = "redis-" + Guid.NewGuid().ToString("N")[..10];
    private readonly List<RoutingNode> _nodes = [];

    [Fact]
    public async Task Gateway_SubscribesToTheSameThreeChannels_With10Or2000AttachedUsers()
    {
        var node = Node("gw-channels");
        await node.OpenInboxAsync();

        await AttachUsersAsync(node, 0, 10);
        var with10 = await ChannelsAsync();
        var clock = Stopwatch.StartNew();
        await AttachUsersAsync(node, 10, 2000);
        var attachTime = clock.Elapsed;
        var with2000 = await ChannelsAsync();
        var subscriptions = await SubscriptionCountAsync("sse-gw-channels");

        output.WriteLine($"channels with 10 users: {with10.Count}, with 2000: {with2000.Count}; 1990 attaches took {attachTime.TotalMilliseconds:0} ms; the gateway's subscriber connection holds {subscriptions} subscription(s)");
        Assert.Equal(3, with10.Count);
        Assert.Equal(with10, with2000);
        Assert.Equal(3, subscriptions);
        Assert.Contains(_prefix + ":broadcast", with2000);
        Assert.Contains(_prefix + ":control", with2000);
        Assert.Single(with2000, c => c.StartsWith(_prefix + ":inbox:gw-channels@", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KilledGateway_DisappearsFromPresenceAndDirectories_WithinThreeRefreshIntervals()
    {
        const double interval = 0.2;
        var settings = new Dictionary<string, string?> { ["SseCluster:Redis:PresenceRefreshSeconds"] = interval.ToString(CultureInfo.InvariantCulture) };
        var victim = Node("gw-victim", settings);
        var observer = Node("gw-observer", settings);
        await victim.OpenInboxAsync();
        await observer.OpenInboxAsync();
        await victim.Router.AttachAsync(StreamKey.ForUser("victim-user"));
        await victim.Directory.AddAsync(victim.Connection("v1", "victim-user", "news"));
        Assert.Equal(2, (await observer.Directory.GetStatsAsync(5)).Gateways.Count);
        Assert.Equal(1, (await observer.Publisher.SendToUserAsync("victim-user", OutgoingEvent.FromJson(null, "1"))).Gateways);

        await victim.Services.GetRequiredService<RedisStreamRouter>().SimulateCrashAsync();
        var remaining = await RemainingLifetimesAsync(RedisKeys.InstanceId(victim.Gateway), "victim-user");
        var gone = await Eventually.TrueAsync(
            async () => (await observer.Directory.GetStatsAsync(5)).Gateways.All(g => g.GatewayId != "gw-victim"),
            "gw-victim leaving the stats",
            TimeSpan.FromSeconds(10));

        output.WriteLine($"after the crash Redis held the victim's records for at most {remaining.Max()} ms more ({string.Join(", ", remaining)}); it left the stats after {gone.TotalMilliseconds:0} ms (lease {3 * interval * 1000:0} ms)");
        Assert.All(remaining, ms => Assert.InRange(ms, 1, (long)(3 * interval * 1000)));

        // Wall-clock bound with room for a loaded machine; the exact bound is the one on Redis' own clock above.
        Assert.True(gone <= TimeSpan.FromSeconds(3 * interval + 1.5), $"expired after {gone.TotalMilliseconds:0} ms");
        Assert.Null(await observer.Directory.FindAsync("v1"));
        Assert.Empty(await observer.Directory.GetUserConnectionsAsync("victim-user"));
        var receipt = await observer.Publisher.SendToUserAsync("victim-user", OutgoingEvent.FromJson(null, "2"));
        Assert.Equal((0, 0), (receipt.Gateways, receipt.Connections));
        Assert.Equal(0, await observer.Publisher.DisconnectUserAsync("victim-user"));
    }

    [Fact]
    public async Task LostRedisData_IsRewrittenByTheRefreshLoop()
    {
        var node = Node("gw-heal", new Dictionary<string, string?> { ["SseCluster:Redis:PresenceRefreshSeconds"] = "0.2" });
        var inbox = await node.OpenInboxAsync();
        await node.Router.AttachAsync(StreamKey.ForUser("alice"));
        await node.Directory.AddAsync(node.Connection("a1", "alice", "news"));

        await redis.ExecuteAsync("EVAL", "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1", "0", _prefix + ":*");
        Assert.Equal(0, (await node.Directory.GetStatsAsync(5)).Connections);

        await Eventually.TrueAsync(async () => (await node.Directory.GetStatsAsync(5)).Connections == 1, "the presence record rewritten", TimeSpan.FromSeconds(5));
        Assert.Equal("a1", (await node.Directory.FindAsync("a1"))?.ConnectionId);
        Assert.Single(await node.Directory.GetUserConnectionsAsync("alice"));
        var receipt = await node.Publisher.SendToUserAsync("alice", OutgoingEvent.FromJson(null, "\"healed\""));
        await inbox.WaitForAsync("u:alice", "\"healed\"");
        Assert.Equal((1, 1), (receipt.Gateways, receipt.Connections));
    }

    [Fact]
    public async Task ClientLibraryPublisher_ConfiguredInCode_ReachesAGatewayInbox_WithoutJoiningTheCluster()
    {
        var gateway = Node("gw-client");
        var inbox = await gateway.OpenInboxAsync();
        await gateway.Router.AttachAsync(StreamKey.ForUser("alice"));
        await gateway.Router.AttachAsync(StreamKey.ForTopic("orders"));
        await gateway.Directory.AddAsync(gateway.Connection("a1", "alice", "orders"));
        var services = new ServiceCollection()
            .AddSingleton(new TestLogSink(output, "publisher"))
            .AddSingleton(typeof(ILogger<>), typeof(TestLogger<>))
            .AddSseClusterPublisher(o =>
            {
                o.RedisConfiguration = redis.ConnectionString;
                o.Prefix = _prefix;
            });
        await using var provider = services.BuildServiceProvider();
        var publisher = provider.GetRequiredService<ISseEventPublisher>();

        var toUser = await publisher.SendToUserAsync("alice", OutgoingEvent.FromJson("invoice.paid", "{\"id\":7}"));
        var toTopic = await publisher.PublishToTopicAsync("orders", OutgoingEvent.FromJson(null, "{\"id\":8}"));
        var delivered = await inbox.WaitForAsync("u:alice");
        await inbox.WaitForAsync("t:orders");
        var closed = await publisher.DisconnectUserAsync("alice", "logout");
        await inbox.WaitForCommandAsync(c => c.Id == "alice", "alice's disconnect");

        Assert.Equal((1, 1), (toUser.Gateways, toUser.Connections));
        Assert.Equal((1, 1), (toTopic.Gateways, toTopic.Connections));
        Assert.Equal(1, closed);
        Assert.Equal("invoice.paid", delivered.Payload.EventType);
        Assert.Equal(["gw-client"], (await gateway.Directory.GetStatsAsync(5)).Gateways.Select(g => g.GatewayId));
    }

    [Fact]
    public async Task ClientLibraryPublisher_ConfiguredFromTheGatewaysKeys_SharesTheirStreams()
    {
        var gateway = Node("gw-keys");
        await gateway.Router.PublishAsync([StreamKey.ForUser("bob")], new EventPayload(null, "1", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["SseCluster:Redis:Configuration"] = redis.ConnectionString,
                ["SseCluster:Redis:Prefix"] = _prefix,
            })
            .Build();
        await using var provider = new ServiceCollection()
            .AddSingleton(new TestLogSink(output, "publisher"))
            .AddSingleton(typeof(ILogger<>), typeof(TestLogger<>))
            .AddSseClusterPublisher(configuration)
            .BuildServiceProvider();

        var receipt = await provider.GetRequiredService<ISseEventPublisher>().SendToUserAsync("bob", OutgoingEvent.FromJson(null, "2"));

        Assert.Equal(2, receipt.Events.Single().Sequence);
        Assert.Equal(2, (await gateway.Router.ReadAsync(StreamKey.ForUser("bob"), 0, 10)).Events.Count);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    private RoutingNode Node(string gatewayId, Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["SseCluster:GatewayId"] = gatewayId,
            ["SseCluster:Redis:Configuration"] = redis.ConnectionString,
            ["SseCluster:Redis:Prefix"] = _prefix,
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        var node = RoutingNode.Create((s, c) => s.AddSseClusterRedisRouting(c), settings, output);
        _nodes.Add(node);
        return node;
    }

    /// <summary>
    /// How long (ms, by Redis' clock) each of an instance's records still lives: its presence keys' TTLs, and its lease
    /// in the gateway registry and in a user's grain.
    /// </summary>
    private async Task<long[]> RemainingLifetimesAsync(string instance, string userId)
    {
        var time = (List<object?>)(await redis.ExecuteAsync("TIME"))!;
        var now = long.Parse((string)time[0]!, CultureInfo.InvariantCulture) * 1000 + long.Parse((string)time[1]!, CultureInfo.InvariantCulture) / 1000;
        var result = new List<long>();
        foreach (var part in new[] { "connections", "users", "topics" })
        {
            result.Add((long)(await redis.ExecuteAsync("PTTL", $"{_prefix}:{{gw:{instance}}}:{part}"))!);
        }

        foreach (var grain in new[] { "b", "u:" + userId })
        {
            var score = (string)(await redis.ExecuteAsync("ZSCORE", $"{_prefix}:{{{grain}}}:gateways", instance))!;
            result.Add((long)double.Parse(score, CultureInfo.InvariantCulture) - now);
        }

        return [.. result];
    }

    private static Task AttachUsersAsync(RoutingNode node, int from, int to) =>
        Task.WhenAll(Enumerable.Range(from, to - from).Select(i => node.Router.AttachAsync(StreamKey.ForUser($"user-{i}"))));

    private async Task<List<string>> ChannelsAsync()
    {
        var reply = (List<object?>)(await redis.ExecuteAsync("PUBSUB", "CHANNELS", _prefix + ":*"))!;
        return reply.Cast<string>().Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The subscriptions held by the connections with this client name (CLIENT LIST's <c>sub=</c>).</summary>
    private async Task<int> SubscriptionCountAsync(string clientName)
    {
        var list = (string)(await redis.ExecuteAsync("CLIENT", "LIST"))!;
        return list.Split('\n')
            .Where(line => line.Contains($" name={clientName} ", StringComparison.Ordinal))
            .Select(line => line.Split(' ').First(f => f.StartsWith("sub=", StringComparison.Ordinal)))
            .Sum(f => int.Parse(f[4..], CultureInfo.InvariantCulture));
    }
}
