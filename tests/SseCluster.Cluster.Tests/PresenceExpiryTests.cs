using System.Diagnostics;
using System.Text.Json;
using SseCluster.Cluster.Tests.Support;
using SseCluster.Tests.Infrastructure;
using SseCluster.Tests.Shared;
using Xunit.Abstractions;

namespace SseCluster.Cluster.Tests;

/// <summary>A gateway that dies without cleaning up disappears from the cluster when its leases run out.</summary>
[Collection(RedisCollection.Name)]
public sealed class PresenceExpiryTests(RedisServer redis, ITestOutputHelper output)
{
    private const double RefreshSeconds = 1;

    [Fact]
    public async Task GatewayProcessKilled_DisappearsFromStatsOnTheSurvivor_WithinThreeRefreshIntervals_AndItsConnectionsStopCounting()
    {
        await using var survivors = await GatewayCluster.StartAsync(redis.ConnectionString, 1, new Dictionary<string, string?>
        {
            ["SseCluster:Redis:PresenceRefreshSeconds"] = RefreshSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var survivorId = survivors.GatewayId(0);
        var doomedId = survivors.Prefix + "-doomed";
        await using var doomed = await GatewayProcess.StartAsync(new Dictionary<string, string>
        {
            ["SseCluster:Redis:Configuration"] = redis.ConnectionString,
            ["SseCluster:Redis:Prefix"] = survivors.Prefix,
            ["SseCluster:Redis:PresenceRefreshSeconds"] = RefreshSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SseCluster:GatewayId"] = doomedId,
        });
        using var admin = survivors[0].CreateClient(Tokens.Admin());

        var victim = ThreeGateways.Unique("victim");
        var topic = ThreeGateways.Unique("doomed-topic");
        using var victimClient = doomed.CreateClient(Tokens.For(victim));
        await using var onDoomed = await SseStream.OpenAsync(victimClient, $"/sse/connect?topics={topic}");
        Assert.Equal(doomedId, (await onDoomed.WaitForAsync("welcome")).Json.GetProperty("gatewayId").GetString());
        var survivorUser = ThreeGateways.Unique("survivor-user");
        await using var onSurvivor = await UserConnection.OpenAsync(survivors[0], survivorUser);

        // Both nodes and both connections are counted; a send through the survivor reaches the other process.
        JsonElement stats = default;
        await Until.TrueAsync(
            async () =>
            {
                stats = await admin.GetJsonAsync("/sse/stats");
                return Rows(stats) == string.Join(",", new[] { $"{doomedId}:1", $"{survivorId}:1" }.Order(StringComparer.Ordinal)) && stats.GetProperty("connections").GetInt32() == 2;
            },
            () => $"/sse/stats on the survivor to show both gateways with one connection each; last: {stats}");
        Assert.Equal(1, stats.GetProperty("topics").GetInt32());
        var receipt = await admin.SendAsync(victim, "{\"alive\":true}", "ping");
        Assert.Equal((1, 1), (receipt.GetProperty("gateways").GetInt32(), receipt.GetProperty("connections").GetInt32()));
        await onDoomed.WaitForAsync("ping");

        var victimLastId = onDoomed.LastEventId;

        // SIGKILL: no drain, no cleanup.
        var clock = Stopwatch.StartNew();
        await doomed.KillAsync();
        var killed = clock.Elapsed;
        await admin.SendAsync(victim, "{\"missed\":true}", "while-dead"); // stored: the victim gets it when it comes back
        TimeSpan? gone = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            stats = await admin.GetJsonAsync("/sse/stats");
            if (!stats.GetProperty("gateways").EnumerateArray().Any(g => g.GetProperty("gatewayId").GetString() == doomedId))
            {
                gone = clock.Elapsed;
                break;
            }

            await Task.Delay(50);
        }

        Assert.True(gone is not null, $"the killed gateway was still listed 15 s after SIGKILL: {stats}");
        var expiry = gone!.Value - killed;
        var limit = TimeSpan.FromSeconds(3 * RefreshSeconds + 2); // 3 refresh intervals + slack
        output.WriteLine($"killed gateway left /sse/stats {expiry.TotalMilliseconds:0} ms after SIGKILL (leases: 3 × {RefreshSeconds:0.#} s)");
        Assert.True(expiry <= limit, $"the killed gateway left /sse/stats only after {expiry.TotalMilliseconds:0} ms (limit {limit.TotalMilliseconds:0} ms)");

        // Its connection is no longer counted anywhere.
        Assert.Equal(1, stats.GetProperty("connections").GetInt32());
        Assert.Equal(1, stats.GetProperty("users").GetInt32());
        Assert.Equal(0, stats.GetProperty("topics").GetInt32());
        Assert.Equal($"{survivorId}:1", Rows(stats));
        Assert.DoesNotContain(stats.GetProperty("topUsers").EnumerateArray(), u => u.GetProperty("userId").GetString() == victim);
        Assert.Equal(0, (await admin.GetJsonAsync($"/sse/users/{victim}/connections")).GetArrayLength());
        JsonElement send = default, publish = default;
        await Until.TrueAsync(
            async () =>
            {
                send = await admin.SendAsync(victim, "{}", "ping");
                publish = await admin.PublishAsync(topic, "{}", "ping");
                return Reach(send) == (0, 0) && Reach(publish) == (0, 0);
            },
            () => $"publishes to the dead gateway's user and topic to reach no gateway; last: {send} {publish}",
            TimeSpan.FromSeconds(5));
        output.WriteLine($"user and topic grains dropped the dead gateway {(clock.Elapsed - killed).TotalMilliseconds:0} ms after SIGKILL");

        // The survivor is unaffected, and the victim, reconnecting there with its last id, gets what it missed.
        await admin.SendAsync(survivorUser, "{}", "still-served");
        await onSurvivor.Stream.WaitForAsync("still-served");
        await using var back = await UserConnection.OpenAsync(survivors[0], victim, topics: topic, lastEventId: victimLastId);
        Assert.Equal("{\"missed\":true}", (await back.Stream.WaitForAsync("while-dead")).Data);
        Assert.DoesNotContain(back.Stream.Received, e => e.EventType == "reset");
    }

    private static string Rows(JsonElement stats) => string.Join(",", stats.GetProperty("gateways").EnumerateArray()
        .Select(g => $"{g.GetProperty("gatewayId").GetString()}:{g.GetProperty("connections").GetInt32()}")
        .Order(StringComparer.Ordinal));

    private static (int, int) Reach(JsonElement receipt) => (receipt.GetProperty("gateways").GetInt32(), receipt.GetProperty("connections").GetInt32());
}
