using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Contracts;
using SseCluster.Grains;
using SseCluster.Tests.Shared;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>Redis going away and coming back. Each test owns its redis-server, because it kills it.</summary>
public sealed class RedisOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly RedisServer _redis = new();
    private readonly List<RoutingNode> _nodes = [];

    public Task InitializeAsync() => _redis.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task RedisStopped_PublishThrowsRoutingUnavailable_AndHealthTurnsFalse_UntilItReturns()
    {
        var node = Node("gw-outage");
        await node.OpenInboxAsync();
        await node.Publisher.SendToUserAsync("alice", OutgoingEvent.FromJson(null, "1"));
        Assert.True(node.Health.IsAvailable);

        await _redis.StopAsync();

        var noticed = await Eventually.TrueAsync(() => !node.Health.IsAvailable, "IsAvailable turning false", TimeSpan.FromSeconds(10));
        output.WriteLine($"IsAvailable turned false {noticed.TotalMilliseconds:0} ms after Redis was killed");
        var failure = await Assert.ThrowsAsync<RoutingUnavailableException>(() => node.Publisher.SendToUserAsync("alice", OutgoingEvent.FromJson(null, "2")));
        Assert.Contains("publishing to u:alice", failure.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<RoutingUnavailableException>(() => node.Router.ReadAsync(StreamKey.ForUser("alice"), 0, 10));
        await Assert.ThrowsAsync<RoutingUnavailableException>(() => node.Directory.GetStatsAsync(5));
        await Assert.ThrowsAsync<RoutingUnavailableException>(() => node.Tickets.RedeemAsync("t"));

        await _redis.StartAsync();

        var back = await Eventually.TrueAsync(() => node.Health.IsAvailable, "IsAvailable turning true again", TimeSpan.FromSeconds(15));
        output.WriteLine($"IsAvailable turned true {back.TotalMilliseconds:0} ms after Redis restarted");
        Assert.Equal(1, (await node.Publisher.SendToUserAsync("alice", OutgoingEvent.FromJson(null, "3"))).Events.Single().Sequence);
    }

    [Fact]
    public async Task RedisRestartedOnTheSamePort_LiveDeliveryToTheInboxResumesByItself()
    {
        // The default 5 s refresh interval: resuming faster than that shows leases are re-taken as soon as Redis returns.
        var gateway = Node("gw-resume");
        var publisher = Node("gw-publisher");
        var inbox = await gateway.OpenInboxAsync();
        await gateway.Router.AttachAsync(StreamKey.ForUser("alice"));
        await gateway.Directory.AddAsync(gateway.Connection("a1", "alice"));
        await publisher.Publisher.SendToUserAsync("alice", OutgoingEvent.FromJson(null, "\"before\""));
        await inbox.WaitForAsync("u:alice", "\"before\"");

        await _redis.StopAsync();
        await Eventually.TrueAsync(() => !gateway.Health.IsAvailable, "the gateway noticing the outage");
        await _redis.StartAsync();
        var clock = Stopwatch.StartNew();

        var attempts = await PublishUntilReceivedAsync(
            inbox,
            n => publisher.Publisher.SendToUserAsync("alice", OutgoingEvent.FromJson(null, $"\"after-{n}\"")),
            "u:alice",
            "\"after-",
            TimeSpan.FromSeconds(15));
        var resumed = clock.Elapsed;
        await PublishUntilReceivedAsync(
            inbox,
            n => publisher.Publisher.BroadcastAsync(OutgoingEvent.FromJson(null, $"\"broadcast-{n}\"")),
            "b",
            "\"broadcast-",
            TimeSpan.FromSeconds(15));

        output.WriteLine($"live delivery resumed {resumed.TotalMilliseconds:0} ms after Redis restarted, after {attempts} publish(es); broadcast by {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.True(resumed < TimeSpan.FromSeconds(5), $"resumed only after {resumed.TotalMilliseconds:0} ms, not before the next 5 s refresh");
        await Eventually.TrueAsync(
            async () => (await publisher.Directory.GetStatsAsync(5)).Gateways.SingleOrDefault(g => g.GatewayId == "gw-resume")?.Connections == 1,
            "gw-resume's presence record rewritten after the restart",
            TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task GatewayStartedWhileRedisIsDown_OpensItsInboxOnceRedisIsUp()
    {
        await _redis.StopAsync();
        var node = Node("gw-early");

        await Assert.ThrowsAsync<RoutingUnavailableException>(() => node.OpenInboxAsync());
        Assert.False(node.Health.IsAvailable);

        await _redis.StartAsync();
        await Eventually.TrueAsync(() => node.Health.IsAvailable, "IsAvailable after Redis started", TimeSpan.FromSeconds(15));
        var inbox = await node.OpenInboxAsync();
        await node.Publisher.BroadcastAsync(OutgoingEvent.FromJson(null, "\"hello\""));
        await inbox.WaitForAsync("b", "\"hello\"");
    }

    /// <summary>
    /// Publishes every 100 ms until the inbox receives one of these events: after a restart, subscriptions and leases
    /// come back by themselves at moments no signal announces.
    /// </summary>
    /// <returns>How many publishes it took.</returns>
    private static async Task<int> PublishUntilReceivedAsync(RecordingInbox inbox, Func<int, Task> publish, string stream, string dataPrefix, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        var attempts = 0;
        var failures = 0;
        while (true)
        {
            try
            {
                await publish(attempts++);
            }
            catch (RoutingUnavailableException)
            {
                failures++; // still reconnecting
            }

            try
            {
                await inbox.WaitForDeliveryAsync(
                    d => d.Streams.Any(s => s.Stream.ToString() == stream) && d.Payload.Data.StartsWith(dataPrefix, StringComparison.Ordinal),
                    $"an event on {stream} published after the restart",
                    TimeSpan.FromMilliseconds(100));
                return attempts;
            }
            catch (TimeoutException) when (clock.Elapsed < limit)
            {
                // Publish again.
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"no event on {stream} reached the inbox within {limit.TotalSeconds:0} s of Redis restarting ({attempts} publishes, {failures} refused)");
            }
        }
    }

    private RoutingNode Node(string gatewayId)
    {
        var settings = new Dictionary<string, string?>
        {
            ["SseCluster:GatewayId"] = gatewayId,
            ["SseCluster:Redis:Configuration"] = _redis.ConnectionString,
        };
        var node = RoutingNode.Create((s, c) => s.AddSseClusterRedisRouting(c), settings, output);
        _nodes.Add(node);
        return node;
    }
}
