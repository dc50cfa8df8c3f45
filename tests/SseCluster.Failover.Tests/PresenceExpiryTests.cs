using System.Diagnostics;
using System.Text.Json;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.Tests.Infrastructure;

namespace SseCluster.Failover.Tests;

/// <summary>
/// A gateway that dies without a word stops renewing its leases: with <c>PresenceRefreshSeconds=1</c> it must be gone
/// from <c>/sse/stats</c> on a survivor, with its connections, within three refresh intervals of the SIGKILL.
/// </summary>
public sealed class PresenceExpiryTests(ITestOutputHelper output)
{
    private const double RefreshSeconds = 1;

    [Fact]
    public async Task KilledGateway_DisappearsFromStats_WithinThreeRefreshIntervals()
    {
        await using var cluster = await ProcessCluster.StartAsync(3, new Dictionary<string, string>
        {
            ["SseCluster__Redis__PresenceRefreshSeconds"] = RefreshSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
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
            while (killed.Elapsed < TimeSpan.FromSeconds(RefreshSeconds * 3 + 5))
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
                             $"gone in one answered {goneAfter?.TotalMilliseconds:F0} ms after (refresh {RefreshSeconds} s, lease {RefreshSeconds * 3} s)");
            output.WriteLine(stats.GetRawText());
            Assert.True(goneAfter is not null, $"{victim.GatewayId} still listed {killed.Elapsed.TotalSeconds:F1} s after SIGKILL: {stats.GetRawText()}");

            // Its last refresh was before the kill and its lease is three intervals, so no stats call that starts
            // later may list it (a few ms for the kill itself). The first call that does not list it is checked
            // loosely: a slow answer on a busy machine is not the gateway's fault.
            Assert.True(lastSeenAt <= TimeSpan.FromSeconds(RefreshSeconds * 3) + TimeSpan.FromMilliseconds(50),
                $"{victim.GatewayId} was still listed by a stats call started {lastSeenAt.TotalMilliseconds:F0} ms after SIGKILL (3 intervals = {RefreshSeconds * 3000} ms)");
            Assert.True(goneAfter <= TimeSpan.FromSeconds(RefreshSeconds * 3) + TimeSpan.FromSeconds(1),
                $"{victim.GatewayId} disappeared only after {goneAfter?.TotalMilliseconds:F0} ms (3 intervals = {RefreshSeconds * 3000} ms)");

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
