using System.Diagnostics;
using SseCluster.Cluster.Tests.Support;
using SseCluster.Tests.Infrastructure;
using SseCluster.Tests.Shared;
using Xunit.Abstractions;

namespace SseCluster.Cluster.Tests;

/// <summary>
/// A gateway's Redis subscriptions do not grow with its users: the user grains announce to the gateway's one inbox
/// channel, so 10 users and 2,000 users cost the same three subscriptions.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class SubscriptionCountTests(RedisServer redis, ITestOutputHelper output)
{
    [Fact]
    public async Task GatewayWith10And2000ConnectedUsers_SubscribesToTheSameThreeChannels_AndStillDelivers()
    {
        await using var cluster = await GatewayCluster.StartAsync(redis.ConnectionString, 1, new Dictionary<string, string?>
        {
            ["SseCluster:Redis:PresenceRefreshSeconds"] = "5",
        });
        var gateway = cluster[0];
        using var admin = gateway.CreateClient(Tokens.Admin());
        var users = Enumerable.Range(0, 2000).Select(i => $"{cluster.Prefix}-user-{i}").ToArray();
        var connections = new List<RawSseConnection>();
        UserConnection? probe = null;
        try
        {
            await OpenAsync(gateway, users[..10], connections);
            await WaitForConnectionsAsync(admin, 10);
            var with10 = await SubscriptionsAsync(cluster);

            var clock = Stopwatch.StartNew();
            await OpenAsync(gateway, users[10..1999], connections);
            probe = await UserConnection.OpenAsync(gateway, users[1999]); // the 2,000th, read with SseParser
            output.WriteLine($"opened 1,990 more connections in {clock.ElapsedMilliseconds} ms");
            await WaitForConnectionsAsync(admin, 2000);
            var with2000 = await SubscriptionsAsync(cluster);

            output.WriteLine($"10 users: channels [{string.Join(", ", with10.Channels)}], gateway clients {with10.Clients} with sub={with10.Subscriptions} psub={with10.PatternSubscriptions}");
            output.WriteLine($"2,000 users: channels [{string.Join(", ", with2000.Channels)}], gateway clients {with2000.Clients} with sub={with2000.Subscriptions} psub={with2000.PatternSubscriptions}");
            Assert.Equal(
                new[] { $"{cluster.Prefix}:broadcast", $"{cluster.Prefix}:control", $"{cluster.Prefix}:inbox:" }.Order(StringComparer.Ordinal),
                with10.Channels.Select(c => c.StartsWith($"{cluster.Prefix}:inbox:", StringComparison.Ordinal) ? $"{cluster.Prefix}:inbox:" : c).Order(StringComparer.Ordinal));
            Assert.Equal(with10.Channels, with2000.Channels);
            Assert.Equal((3, 0), (with10.Subscriptions, with10.PatternSubscriptions));
            Assert.Equal((3, 0), (with2000.Subscriptions, with2000.PatternSubscriptions));
            Assert.Equal(with10.Clients, with2000.Clients);

            // Delivery still works for one of the 2,000, and a broadcast counts them all.
            var receipt = await admin.SendAsync(users[1999], "{\"one\":\"of 2000\"}", "probe");
            Assert.Equal("{\"one\":\"of 2000\"}", (await probe.Stream.WaitForAsync("probe")).Data);
            Assert.Equal((1, 1), (receipt.GetProperty("gateways").GetInt32(), receipt.GetProperty("connections").GetInt32()));
            var broadcast = await admin.BroadcastAsync("{}", "to-all");
            Assert.Equal(2000, broadcast.GetProperty("connections").GetInt32());
            await probe.Stream.WaitForAsync("to-all");
        }
        finally
        {
            if (probe is not null)
            {
                await probe.DisposeAsync();
            }

            foreach (var connection in connections)
            {
                connection.Dispose();
            }
        }
    }

    private static async Task OpenAsync(GatewayHost gateway, string[] users, List<RawSseConnection> connections)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var gate = new SemaphoreSlim(32);
        var opening = users.Select(async user =>
        {
            await gate.WaitAsync(timeout.Token);
            try
            {
                return await RawSseConnection.OpenAsync(gateway.BaseAddress, Tokens.For(user), "raw", timeout.Token);
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        try
        {
            await Task.WhenAll(opening);
        }
        finally
        {
            connections.AddRange(opening.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
        }
    }

    private static Task WaitForConnectionsAsync(HttpClient admin, int expected)
    {
        var last = 0;
        return Until.TrueAsync(
            async () => (last = (await admin.GetJsonAsync("/sse/stats")).GetProperty("connections").GetInt32()) == expected,
            () => $"/sse/stats to count {expected} connections (last {last})",
            TimeSpan.FromSeconds(30));
    }

    private sealed record RedisSubscriptions(string[] Channels, int Clients, int Subscriptions, int PatternSubscriptions);

    /// <summary>The prefix's channels with a subscriber (<c>PUBSUB CHANNELS</c>) and the gateway's Redis clients (<c>CLIENT LIST</c>).</summary>
    private async Task<RedisSubscriptions> SubscriptionsAsync(GatewayCluster cluster)
    {
        var channels = ((List<object?>)(await redis.ExecuteAsync("PUBSUB", "CHANNELS", cluster.Prefix + ":*"))!).Cast<string>().Order(StringComparer.Ordinal).ToArray();
        var clients = ((string)(await redis.ExecuteAsync("CLIENT", "LIST"))!)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Trim().Split(' ').Select(f => f.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]))
            .Where(c => c.GetValueOrDefault("name") == "sse-" + cluster.GatewayId(0))
            .ToList();
        return new RedisSubscriptions(
            channels,
            clients.Count,
            clients.Sum(c => int.Parse(c.GetValueOrDefault("sub", "0"), System.Globalization.CultureInfo.InvariantCulture)),
            clients.Sum(c => int.Parse(c.GetValueOrDefault("psub", "0"), System.Globalization.CultureInfo.InvariantCulture)));
    }
}
