using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>A client that reconnects with its last id gets exactly what it missed, from every stream it reads.</summary>
public sealed class ResumeTests : IAsyncLifetime
{
    private GatewayHost _gateway = null!;
    private HttpClient _publisher = null!;

    public async Task InitializeAsync()
    {
        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:History:MaxEventsPerStream"] = "100",
        });
        _publisher = _gateway.CreateClient(Tokens.Publisher());
    }

    public async Task DisposeAsync()
    {
        _publisher.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Reconnect_WithLastId_ReplaysAllMissedEventsOfUserTopicAndBroadcast_InOrder_Once()
    {
        using var client = _gateway.CreateClient(Tokens.For("resumer"));
        string lastId;
        await using (var first = await SseStream.OpenAsync(client, "/sse/connect?topics=room-1"))
        {
            await first.WaitForAsync("welcome");
            await _publisher.SendAsync("resumer", "{\"before\":true}", "seen");
            await first.WaitForAsync("seen");
            lastId = first.LastEventId!;
        }

        // 50 events while disconnected, spread over the three streams and interleaved.
        var expected = new List<string>();
        for (var i = 0; i < 50; i++)
        {
            var data = $"{{\"n\":{i}}}";
            switch (i % 3)
            {
                case 0: await _publisher.SendAsync("resumer", data, "missed"); break;
                case 1: await _publisher.PublishAsync("room-1", data, "missed"); break;
                default: await _publisher.BroadcastAsync(data, "missed"); break;
            }

            expected.Add(data);
        }

        await using var second = await SseStream.OpenAsync(client, "/sse/connect?topics=room-1", lastEventId: lastId);
        var replayed = await second.CollectAsync("missed", 50);
        await _publisher.SendAsync("resumer", "{\"after\":true}", "live");
        await second.WaitForAsync("live");

        // Each stream's events are in its own order; all 50 arrive exactly once.
        Assert.Equal(expected.OrderBy(x => x), replayed.Select(e => e.Data).OrderBy(x => x));
        foreach (var stream in new[] { 0, 1, 2 })
        {
            var ofStream = expected.Where((_, i) => i % 3 == stream).ToList();
            var got = replayed.Select(e => e.Data).Where(ofStream.Contains).ToList();
            Assert.Equal(ofStream, got);
        }

        Assert.Equal(50, second.Received.Count(e => e.EventType == "missed"));
        Assert.DoesNotContain(second.Received, e => e.EventType is "seen" or "reset");
    }

    [Fact]
    public async Task ReconnectStorm_ManyClientsResumingFromOnePlace_EachGetsWhatItMissed_FormattedOncePerGateway()
    {
        const int Clients = 60;
        const int Missed = 30;
        await _publisher.BroadcastAsync("{\"before\":true}", "seen");
        var clients = Enumerable.Range(0, Clients).Select(i => _gateway.CreateClient(Tokens.For($"storm-{i}"))).ToArray();
        try
        {
            // Everyone reads the broadcast stream up to the same place, then the gateway they were on "dies".
            var lastIds = new string[Clients];
            await Task.WhenAll(Enumerable.Range(0, Clients).Select(async i =>
            {
                await using var first = await SseStream.OpenAsync(clients[i], "/sse/connect");
                await first.WaitForAsync("welcome");
                lastIds[i] = first.LastEventId!;
            }));

            var expected = new List<string>();
            for (var i = 0; i < Missed; i++)
            {
                expected.Add($"{{\"n\":{i}}}");
                await _publisher.BroadcastAsync(expected[^1], "missed");
            }

            using var anonymous = _gateway.CreateClient();
            var before = await anonymous.GetStringAsync("/metrics");

            // All come back at once with their last ids.
            var streams = await Task.WhenAll(Enumerable.Range(0, Clients).Select(i => SseStream.OpenAsync(clients[i], "/sse/connect", lastEventId: lastIds[i])));
            try
            {
                var replays = await Task.WhenAll(streams.Select(s => s.CollectAsync("missed", Missed)));
                Assert.All(replays, replay => Assert.Equal(expected, replay.Select(e => e.Data)));
                Assert.All(streams, s => Assert.DoesNotContain(s.Received, e => e.EventType is "seen" or "reset"));

                var after = await anonymous.GetStringAsync("/metrics");
                double Delta(string name) => MetricsTests.Value(after, name) - (before.Contains(name + " ", StringComparison.Ordinal) ? MetricsTests.Value(before, name) : 0);

                // 60 connections replayed 30 events each; the store was read once and each event formatted once.
                Assert.Equal(Clients * Missed, Delta("sse_replayed_events_total"));
                Assert.Equal(Missed, Delta("sse_replay_frames_formatted_total"));
                Assert.Equal(1, Delta("sse_replay_store_reads_total"));
            }
            finally
            {
                foreach (var stream in streams)
                {
                    await stream.DisposeAsync();
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Reconnect_WithLastEventIdQueryParameter_ResumesLikeTheHeader()
    {
        using var client = _gateway.CreateClient(Tokens.For("query-resumer"));
        string lastId;
        await using (var first = await SseStream.OpenAsync(client, "/sse/connect"))
        {
            await first.WaitForAsync("welcome");
            lastId = first.LastEventId!;
        }

        await _publisher.SendAsync("query-resumer", "1", "missed");
        await _publisher.SendAsync("query-resumer", "2", "missed");
        await using var second = await SseStream.OpenAsync(client, "/sse/connect?lastEventId=" + Uri.EscapeDataString(lastId));
        var got = await second.CollectAsync("missed", 2);
        Assert.Equal(["1", "2"], got.Select(e => e.Data));
    }

    [Fact]
    public async Task Reconnect_WithIdOlderThanHistory_SendsResetForThatStream()
    {
        using var client = _gateway.CreateClient(Tokens.For("gap-user"));
        string lastId;
        await using (var first = await SseStream.OpenAsync(client, "/sse/connect"))
        {
            await first.WaitForAsync("welcome");
            lastId = first.LastEventId!;
        }

        for (var i = 0; i < 150; i++)
        {
            await _publisher.SendAsync("gap-user", $"{i}", "overflow"); // history keeps 100
        }

        await using var second = await SseStream.OpenAsync(client, "/sse/connect", lastEventId: lastId);
        var reset = await second.WaitForAsync("reset");
        Assert.Equal("history-gap", reset.Json.GetProperty("reason").GetString());
        Assert.Equal("u:gap-user", reset.Json.GetProperty("streams")[0].GetString());

        // After the notice the stream continues live.
        await _publisher.SendAsync("gap-user", "\"next\"", "live");
        Assert.Equal("\"next\"", (await second.WaitForAsync("live")).Data);
        Assert.DoesNotContain(second.Received, e => e.EventType == "overflow");
    }

    [Fact]
    public async Task Reconnect_WithAnotherTopicSet_ResetsTopicsButResumesTheUserStream()
    {
        using var client = _gateway.CreateClient(Tokens.For("topic-switcher"));
        string lastId;
        await using (var first = await SseStream.OpenAsync(client, "/sse/connect?topics=t-a"))
        {
            await first.WaitForAsync("welcome");
            lastId = first.LastEventId!;
        }

        await _publisher.SendAsync("topic-switcher", "\"mine\"", "missed");
        await using var second = await SseStream.OpenAsync(client, "/sse/connect?topics=t-b", lastEventId: lastId);
        var reset = await second.WaitForAsync("reset");
        Assert.Equal("topics-changed", reset.Json.GetProperty("reason").GetString());
        Assert.Equal("\"mine\"", (await second.WaitForAsync("missed")).Data);
    }

    [Fact]
    public async Task EventsPublishedWhileConnecting_ArriveExactlyOnceInOrder()
    {
        using var client = _gateway.CreateClient(Tokens.For("racer"));
        string lastId;
        await using (var first = await SseStream.OpenAsync(client, "/sse/connect"))
        {
            await first.WaitForAsync("welcome");
            lastId = first.LastEventId!;
        }

        // Publish 200 events while the client reconnects and resumes several times.
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                await _publisher.SendAsync("racer", $"{i}", "seq");
            }
        });
        var seen = new List<int>();
        while (seen.Count < 200)
        {
            await using var stream = await SseStream.OpenAsync(client, "/sse/connect", lastEventId: lastId);
            var take = Math.Min(40, 200 - seen.Count);
            var got = await stream.CollectAsync("seq", take, TimeSpan.FromSeconds(30));
            seen.AddRange(got.Select(e => int.Parse(e.Data)));

            // Resume from the last event taken, not the parser's newest id: it may have read further already.
            lastId = got[^1].Id!;
        }

        await publishing;
        Assert.Equal(Enumerable.Range(0, 200), seen);
    }
}
