using System.Net;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>The stream and the delivery targets, over real HTTP on a loopback port.</summary>
public sealed class StreamingTests : IAsyncLifetime
{
    private GatewayHost _gateway = null!;
    private HttpClient _publisher = null!;

    public async Task InitializeAsync()
    {
        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Heartbeat:IntervalSeconds"] = "1",
            ["SseCluster:Heartbeat:Mode"] = "event",
        });
        _publisher = _gateway.CreateClient(Tokens.Publisher());
    }

    public async Task DisposeAsync()
    {
        _publisher.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Connect_AnswersEventStreamHeaders_RetryAndWelcome()
    {
        using var client = _gateway.CreateClient(Tokens.For("alice"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect?clientId=tab-1&topics=news,alerts");

        var headers = stream.Response;
        Assert.Equal("text/event-stream", headers.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no-cache, no-transform", headers.Headers.NonValidated["Cache-Control"].ToString());
        Assert.Equal("no", headers.Headers.GetValues("X-Accel-Buffering").Single());
        Assert.Equal("nosniff", headers.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Empty(headers.Content.Headers.ContentEncoding);

        var welcome = (await stream.WaitForAsync("welcome")).Json;
        Assert.Equal("tab-1", welcome.GetProperty("clientId").GetString());
        Assert.Equal("alice", welcome.GetProperty("userId").GetString());
        Assert.False(string.IsNullOrEmpty(welcome.GetProperty("connectionId").GetString()));
        Assert.False(string.IsNullOrEmpty(welcome.GetProperty("gatewayId").GetString()));
        Assert.True(welcome.TryGetProperty("serverTime", out _));
        Assert.Equal(["alerts", "news"], welcome.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.NotNull(stream.LastEventId);
    }

    [Fact]
    public async Task Heartbeat_InEventMode_ArrivesWithTimestamp()
    {
        using var client = _gateway.CreateClient(Tokens.For("hb-user"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        var heartbeat = await stream.WaitForAsync("heartbeat", TimeSpan.FromSeconds(5));
        var timestamp = heartbeat.Json.GetProperty("timestamp").GetInt64();
        Assert.InRange(timestamp, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Heartbeats_ArriveOnEveryInterval_WithoutSkippedBeats()
    {
        using var client = _gateway.CreateClient(Tokens.For("hb-regular"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        var beats = await stream.CollectAsync("heartbeat", 7, TimeSpan.FromSeconds(15));
        // Interval 1 s. Judged on the server's own timestamps and over six intervals, not one gap: a busy machine may
        // deliver one beat late or coalesce one tick, but skipping beats (every other one, say) doubles the average.
        var stamps = beats.Select(b => b.Json.GetProperty("timestamp").GetInt64()).ToList();
        Assert.Equal(stamps.Order().ToList(), stamps);
        var averageMs = (stamps[^1] - stamps[0]) / (double)(stamps.Count - 1);
        Assert.InRange(averageMs, 800, 1400);
    }

    [Fact]
    public async Task SendToUser_ReachesEveryConnectionOfThatUserOnly()
    {
        using var alice = _gateway.CreateClient(Tokens.For("alice-2"));
        using var bob = _gateway.CreateClient(Tokens.For("bob-2"));
        await using var tab1 = await SseStream.OpenAsync(alice, "/sse/connect");
        await using var tab2 = await SseStream.OpenAsync(alice, "/sse/connect");
        await using var other = await SseStream.OpenAsync(bob, "/sse/connect");
        await Task.WhenAll(tab1.WaitForAsync("welcome"), tab2.WaitForAsync("welcome"), other.WaitForAsync("welcome"));

        var receipt = await _publisher.SendAsync("alice-2", "{\"orderId\":7,\"note\":\"line1\\nline2\"}", "order.updated");
        Assert.Equal(2, receipt.GetProperty("connections").GetInt32());
        Assert.Equal("u:alice-2", receipt.GetProperty("events")[0].GetProperty("stream").GetString());

        foreach (var tab in new[] { tab1, tab2 })
        {
            var e = await tab.WaitForAsync("order.updated");
            Assert.Equal("{\"orderId\":7,\"note\":\"line1\\nline2\"}", e.Data);
            Assert.Equal(7, e.Json.GetProperty("orderId").GetInt32());
        }

        Assert.False(await other.ReceivesWithinAsync(e => e.EventType == "order.updated", TimeSpan.FromMilliseconds(500)));
    }

    [Fact]
    public async Task SendToUsers_ReachesEachListedUser()
    {
        using var a = _gateway.CreateClient(Tokens.For("multi-a"));
        using var b = _gateway.CreateClient(Tokens.For("multi-b"));
        await using var sa = await SseStream.OpenAsync(a, "/sse/connect");
        await using var sb = await SseStream.OpenAsync(b, "/sse/connect");
        await Task.WhenAll(sa.WaitForAsync("welcome"), sb.WaitForAsync("welcome"));

        var receipt = await _publisher.PostJsonAsync("/sse/send", "{\"userIds\":[\"multi-a\",\"multi-b\"],\"data\":{\"n\":1}}");
        Assert.Equal(2, receipt.GetProperty("events").GetArrayLength());
        Assert.Equal("{\"n\":1}", (await sa.WaitForAsync("message")).Data);
        Assert.Equal("{\"n\":1}", (await sb.WaitForAsync("message")).Data);
    }

    [Fact]
    public async Task Topic_ReachesSubscribersOnly()
    {
        using var client = _gateway.CreateClient(Tokens.For("topic-user"));
        await using var subscribed = await SseStream.OpenAsync(client, "/sse/connect?topics=room-7");
        await using var notSubscribed = await SseStream.OpenAsync(client, "/sse/connect?topics=room-8");
        await Task.WhenAll(subscribed.WaitForAsync("welcome"), notSubscribed.WaitForAsync("welcome"));

        await _publisher.PublishAsync("room-7", "{\"text\":\"hi\"}", "chat");
        Assert.Equal("{\"text\":\"hi\"}", (await subscribed.WaitForAsync("chat")).Data);
        Assert.False(await notSubscribed.ReceivesWithinAsync(e => e.EventType == "chat", TimeSpan.FromMilliseconds(500)));
    }

    [Fact]
    public async Task Broadcast_WithoutFilterReachesAll_WithFilterOnlyListedUsers()
    {
        using var a = _gateway.CreateClient(Tokens.For("bc-a"));
        using var b = _gateway.CreateClient(Tokens.For("bc-b"));
        await using var sa = await SseStream.OpenAsync(a, "/sse/connect");
        await using var sb = await SseStream.OpenAsync(b, "/sse/connect");
        await Task.WhenAll(sa.WaitForAsync("welcome"), sb.WaitForAsync("welcome"));

        await _publisher.BroadcastAsync("{\"all\":true}", "notice");
        Assert.Equal("{\"all\":true}", (await sa.WaitForAsync("notice")).Data);
        Assert.Equal("{\"all\":true}", (await sb.WaitForAsync("notice")).Data);

        await _publisher.BroadcastAsync("{\"only\":\"a\"}", "notice", onlyUsers: ["bc-a"]);
        await _publisher.BroadcastAsync("{\"all\":2}", "notice");
        Assert.Equal("{\"only\":\"a\"}", (await sa.WaitForAsync("notice")).Data);
        Assert.Equal("{\"all\":2}", (await sa.WaitForAsync("notice")).Data);
        // b skips the filtered event and gets the next one, with no gap reported.
        Assert.Equal("{\"all\":2}", (await sb.WaitForAsync("notice")).Data);
        Assert.DoesNotContain(sb.Received, e => e.EventType == "reset");
    }

    [Fact]
    public async Task DefaultEventType_IsSentWithoutEventLine_AndDataIsVerbatim()
    {
        using var client = _gateway.CreateClient(Tokens.For("plain-user"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");
        const string pretty = "{\n  \"a\": [1, 2],\r\n  \"b\": \"x\"\r}";
        await _publisher.PostJsonAsync("/sse/send", "{\"userId\":\"plain-user\",\"eventType\":\"message\",\"data\":" + pretty + "}");
        var e = await stream.WaitForAsync("message");
        // The parser joins data lines with LF; the JSON parses back to what was sent.
        Assert.Equal("{\n  \"a\": [1, 2],\n  \"b\": \"x\"\n}", e.Data);
        Assert.Equal(2, e.Json.GetProperty("a").GetArrayLength());
    }
}
