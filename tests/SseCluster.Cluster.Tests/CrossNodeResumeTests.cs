using System.Diagnostics;
using SseCluster.Cluster.Tests.Support;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests;

/// <summary>A client that reconnects to any node with its last id gets exactly what it missed, whichever node published it.</summary>
public abstract class CrossNodeResumeTests(ThreeGateways cluster)
{
    [Fact]
    public async Task ResumeOnC_After50EventsPublishedThroughB_ReplaysEveryOne_InOrderPerStream_Once()
    {
        var user = ThreeGateways.Unique("resumer");
        var topic = ThreeGateways.Unique("resume-room");
        string lastId;
        await using (var onA = await UserConnection.OpenAsync(cluster.A, user, topics: topic))
        {
            await cluster.AdminOfB.SendAsync(user, "{\"before\":true}", "seen");
            await onA.Stream.WaitForAsync("seen");
            lastId = onA.Stream.LastEventId!;
        }

        // 50 events to the three streams the connection reads, interleaved, through B.
        var expected = new Dictionary<int, List<string>> { [0] = [], [1] = [], [2] = [] };
        for (var i = 0; i < 50; i++)
        {
            var data = $"{{\"n\":{i}}}";
            switch (i % 3)
            {
                case 0: await cluster.AdminOfB.SendAsync(user, data, "missed"); break;
                case 1: await cluster.AdminOfB.PublishAsync(topic, data, "missed"); break;
                default: await cluster.AdminOfB.BroadcastAsync(data, "missed"); break;
            }

            expected[i % 3].Add(data);
        }

        await using var onC = await UserConnection.OpenAsync(cluster.C, user, topics: topic, lastEventId: lastId);
        Assert.Equal(cluster.Cluster.GatewayId(2), onC.GatewayId);
        var replayed = (await onC.Stream.CollectAsync("missed", 50, TimeSpan.FromSeconds(20))).Select(e => e.Data).ToList();
        await cluster.AdminOfB.SendAsync(user, "{\"after\":true}", "live");
        await onC.Stream.WaitForAsync("live");

        foreach (var (stream, events) in expected)
        {
            Assert.Equal(events, replayed.Where(events.Contains).ToList()); // that stream's events, in its order
        }

        Assert.Equal(50, replayed.Distinct().Count());
        Assert.Equal(50, onC.Stream.Received.Count(e => e.EventType == "missed")); // none twice, even after the live one
        Assert.DoesNotContain(onC.Stream.Received, e => e.EventType is "seen" or "reset");
    }

    [Fact]
    public async Task ResumeOnAnotherNode_WithAnIdOlderThanTheHistory_GetsResetForThatStream_ThenLiveEvents()
    {
        await using var small = await GatewayCluster.StartAsync(cluster.RedisConfiguration, 2, new Dictionary<string, string?>
        {
            ["SseCluster:History:MaxEventsPerStream"] = "5",
        });
        using var publisherOnB = small[1].CreateClient(Tokens.Publisher());
        var user = ThreeGateways.Unique("too-late");
        string lastId;
        await using (var onA = await UserConnection.OpenAsync(small[0], user))
        {
            await publisherOnB.SendAsync(user, "{\"n\":0}", "old");
            await onA.Stream.WaitForAsync("old");
            lastId = onA.Stream.LastEventId!;
        }

        for (var i = 1; i <= 20; i++)
        {
            await publisherOnB.SendAsync(user, $"{{\"n\":{i}}}", "old"); // history keeps the newest 5 only
        }

        await using var onB = await UserConnection.OpenAsync(small[1], user, lastEventId: lastId);
        var reset = (await onB.Stream.WaitForAsync("reset")).Json;
        Assert.Equal("history-gap", reset.GetProperty("reason").GetString());
        Assert.Equal(["u:" + user], reset.GetProperty("streams").EnumerateArray().Select(s => s.GetString()!).ToArray());

        await publisherOnB.SendAsync(user, "{\"n\":21}", "live");
        Assert.Equal("{\"n\":21}", (await onB.Stream.WaitForAsync("live")).Data);
        Assert.DoesNotContain(onB.Stream.Received, e => e.EventType == "old"); // continues live from now: no partial replay
    }

    [Fact]
    public async Task ReconnectingAlternatelyToAAndC_While200EventsArePublishedThroughB_GetsEveryEventOnce_InOrder()
    {
        const int total = 200;
        var user = ThreeGateways.Unique("hopper");
        using var clientOfA = cluster.A.CreateClient(Tokens.For(user));
        using var clientOfC = cluster.C.CreateClient(Tokens.For(user));
        var received = new List<int>();
        var connections = 0;
        string? lastId = null;

        // The first connection is open before publishing starts: every event is for it, live or on resume.
        var current = await SseStream.OpenAsync(clientOfA, "/sse/connect");
        await current.WaitForAsync("welcome");
        var publishing = Task.Run(async () =>
        {
            for (var n = 0; n < total; n++)
            {
                await cluster.AdminOfB.SendAsync(user, $"{{\"n\":{n}}}", "race");
                await Task.Delay(5);
            }
        });

        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                connections++;
                if (!publishing.IsCompleted)
                {
                    await Task.Delay(Random.Shared.Next(20, 120)); // pacing, not an assertion: how long this connection lives
                }

                var done = publishing.IsCompleted && received.Count + CountRace(current) >= total;
                if (publishing.IsCompleted && !done)
                {
                    // Publishing is over: this connection stays until everything arrived (or the deadline).
                    await Eventually.TrueAsync(
                        () => Task.FromResult(received.Count + CountRace(current) >= total),
                        $"all {total} events on the last connection (had {received.Count + CountRace(current)} after {connections} connections)",
                        TimeSpan.FromSeconds(20));
                    done = true;
                }

                await current.DisposeAsync();
                foreach (var e in current.Received)
                {
                    Assert.NotEqual("reset", e.EventType);
                    if (e.EventType == "race")
                    {
                        received.Add(e.Json.GetProperty("n").GetInt32());
                    }
                }

                lastId = current.LastEventId ?? lastId;
                if (done)
                {
                    break;
                }

                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"still reconnecting after 60 s: {received.Count} of {total} events over {connections} connections");
                current = await SseStream.OpenAsync(connections % 2 == 0 ? clientOfA : clientOfC, "/sse/connect", lastId);
            }
        }
        finally
        {
            await current.DisposeAsync();
        }

        await publishing;
        Assert.True(connections >= 10, $"only {connections} connections: the race did not happen");
        Assert.Equal(Enumerable.Range(0, total), received);
    }

    private static int CountRace(SseStream stream)
    {
        lock (stream.Received)
        {
            return stream.Received.Count(e => e.EventType == "race");
        }
    }
}

[Collection(RedisCollections.Server)]
public sealed class CrossNodeResumeOnStandaloneRedis(ThreeGatewaysOnStandaloneRedis cluster)
    : CrossNodeResumeTests(cluster), IClassFixture<ThreeGatewaysOnStandaloneRedis>;

[Collection(RedisCollections.Cluster)]
public sealed class CrossNodeResumeOnRedisCluster(ThreeGatewaysOnRedisCluster cluster)
    : CrossNodeResumeTests(cluster), IClassFixture<ThreeGatewaysOnRedisCluster>;
