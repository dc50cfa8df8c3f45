using System.Diagnostics;
using System.Text.Json;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// A gateway that dies without a word (SIGKILL) leaves <c>/sse/stats</c> and the listings on the survivors, with its
/// connections, within seconds: the gateways themselves answer for their connections, so a dead one has nothing to
/// answer with, and membership soon declares its silo dead.
/// </summary>
public sealed class PresenceExpiryTests(ITestOutputHelper output)
{
    // Loose on purpose: the time is reported, and the bound only catches a gateway that never leaves.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task KilledGateway_DisappearsFromStatsAndListings_WithinSeconds()
    {
        await using var cluster = await ProcessCluster.StartAsync(3);
        var victim = cluster.Gateways[2];
        var survivor = cluster.Gateways[0];
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        // Three streams on the victim, one on each survivor.
        var run = Guid.NewGuid().ToString("N")[..6];
        var victimUser = $"victim-user-{run}";
        var streams = new List<(HttpClient Client, SseStream Stream)>();
        try
        {
            foreach (var (node, user) in new[] { (victim, victimUser), (victim, victimUser), (victim, $"other-{run}"), (cluster.Gateways[0], $"a-{run}"), (cluster.Gateways[1], $"b-{run}") })
            {
                var client = new HttpClient { BaseAddress = node.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
                client.DefaultRequestHeaders.Authorization = new("Bearer", Tokens.For(user));
                var stream = await SseStream.OpenAsync(client, "/sse/connect?clientId=presence");
                await stream.WaitForAsync("welcome");
                streams.Add((client, stream));
            }

            // Before: the survivor sees all three gateways and the victim's three connections.
            JsonElement stats = default;
            var before = Stopwatch.StartNew();
            while (before.Elapsed < TimeSpan.FromSeconds(10))
            {
                stats = await ProcessCluster.StatsAsync(http, survivor);
                if (ProcessCluster.GatewayIdsIn(stats).Count == 3 && stats.GetProperty("connections").GetInt32() == 5)
                {
                    break;
                }

                await Task.Delay(100);
            }

            Assert.Equal(["gw-1", "gw-2", "gw-3"], ProcessCluster.GatewayIdsIn(stats).Order());
            Assert.Equal(3, VictimRow(stats, victim.GatewayId).GetProperty("connections").GetInt32());
            Assert.Equal(5, stats.GetProperty("connections").GetInt32());

            var killed = Stopwatch.StartNew();
            victim.Kill();
            TimeSpan? goneAfter = null;
            var lastSeenAt = TimeSpan.Zero; // when the last stats call that still listed the victim started
            while (killed.Elapsed < Bound)
            {
                var asked = killed.Elapsed;
                stats = await ProcessCluster.StatsAsync(http, survivor);
                if (!ProcessCluster.GatewayIdsIn(stats).Contains(victim.GatewayId))
                {
                    goneAfter = killed.Elapsed;
                    break;
                }

                lastSeenAt = asked;
                await Task.Delay(50);
            }

            output.WriteLine($"{victim.GatewayId} last listed by a stats call started {lastSeenAt.TotalMilliseconds:F0} ms after SIGKILL, " +
                             $"gone in one answered {goneAfter?.TotalMilliseconds:F0} ms after");
            output.WriteLine(stats.GetRawText());
            Assert.True(goneAfter is not null, $"{victim.GatewayId} still listed {killed.Elapsed.TotalSeconds:F1} s after SIGKILL: {stats.GetRawText()}");

            // Its connections went with it; the survivors' are still counted, whichever node is asked.
            Assert.Equal(["gw-1", "gw-2"], ProcessCluster.GatewayIdsIn(stats).Order());
            Assert.Equal(2, stats.GetProperty("connections").GetInt32());
            var other = await ProcessCluster.StatsAsync(http, cluster.Gateways[1]);
            Assert.Equal(["gw-1", "gw-2"], ProcessCluster.GatewayIdsIn(other).Order());
            var admin = new HttpClient { BaseAddress = survivor.BaseAddress };
            admin.DefaultRequestHeaders.Authorization = new("Bearer", Tokens.Admin());
            var listing = await admin.GetJsonAsync($"/sse/users/{victimUser}/connections");
            Assert.Equal(0, listing.GetArrayLength());
            admin.Dispose();
        }
        finally
        {
            foreach (var (client, stream) in streams)
            {
                await stream.DisposeAsync();
                client.Dispose();
            }
        }
    }

    private static JsonElement VictimRow(JsonElement stats, string gatewayId) =>
        stats.GetProperty("gateways").EnumerateArray().Single(g => g.GetProperty("gatewayId").GetString() == gatewayId);
}
