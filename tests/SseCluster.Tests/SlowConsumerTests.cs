using System.Net.Sockets;
using System.Text;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>A client that stops reading is cut once its queue bound is hit; memory stays bounded and others carry on.</summary>
/// <remarks>Alone: it measures the process's managed heap, which other tests' gateways would grow meanwhile.</remarks>
[Collection(MemoryMeasurementCollection.Name)]
public sealed class SlowConsumerTests : IAsyncLifetime
{
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
    {
        ["SseCluster:Limits:ConnectionQueueCapacity"] = "32",
        ["SseCluster:Limits:PublishPerSecond"] = "100000",
        ["SseCluster:History:MaxEventsPerStream"] = "50",
        ["SseCluster:Limits:MaxPayloadBytes"] = "65536",
    });

    public Task DisposeAsync() => _gateway.DisposeAsync().AsTask();

    [Fact]
    public async Task StalledReader_IsDisconnected_MemoryStaysBounded_OthersKeepReceiving()
    {
        using var admin = _gateway.CreateClient(Tokens.Admin());
        using var publisher = _gateway.CreateClient(Tokens.Publisher());
        using var healthyClient = _gateway.CreateClient(Tokens.For("healthy"));
        await using var healthy = await SseStream.OpenAsync(healthyClient, "/sse/connect", retain: false);
        await healthy.WaitForAsync("welcome");

        // A raw socket with a tiny receive buffer that sends its request and never reads again.
        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(_gateway.BaseAddress.Host, _gateway.BaseAddress.Port);
        var request = $"GET /sse/connect HTTP/1.1\r\nHost: {_gateway.BaseAddress.Authority}\r\nAuthorization: Bearer {Tokens.For("stalled")}\r\nAccept: text/event-stream\r\n\r\n";
        await stalled.SendAsync(Encoding.ASCII.GetBytes(request));
        await Eventually.TrueAsync(async () => (await admin.GetJsonAsync("/sse/stats")).GetProperty("connections").GetInt32() == 2, "the stalled client to connect");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);

        // 16 KiB events broadcast to both: the stalled socket fills, then its queue, then it is cut.
        var payload = "\"" + new string('x', 16 * 1024) + "\"";
        var sent = 0;
        while ((await admin.GetJsonAsync("/sse/stats")).GetProperty("connections").GetInt32() == 2)
        {
            Assert.True(sent < 3000, "the stalled connection was never cut");
            for (var i = 0; i < 20; i++, sent++)
            {
                await publisher.BroadcastAsync(payload, "bulk");
            }
        }

        // The healthy client got everything published, in order, while the other was cut.
        await publisher.BroadcastAsync("\"done\"", "last");
        Assert.Equal(sent, await healthy.CountAsync("bulk", sent, TimeSpan.FromSeconds(30)));
        await healthy.WaitForAsync("last");

        var metrics = await (await admin.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Matches("(?m)^sse_slow_consumer_disconnects_total(\\{[^}]*\\})? 1$", metrics);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        // Published: sent × 16 KiB (tens of MB); retained: bounded history and queues, well under that.
        Assert.True(after - before < 8 * 1024 * 1024, $"managed memory grew by {(after - before) / 1024} KiB after {sent} events of 16 KiB");
    }
}

/// <summary>Tests that measure the process's memory: they run when nothing else does.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "Memory measurement";
}
