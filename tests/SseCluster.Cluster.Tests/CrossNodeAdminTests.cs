using System.Net;
using System.Text.Json;
using SseCluster.Cluster.Tests.Support;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests;

/// <summary>Stats, connection listings, disconnects and tickets are cluster-wide whichever node is asked.</summary>
public abstract class CrossNodeAdminTests(ThreeGateways cluster)
{
    [Fact]
    public async Task Stats_AskedOnA_B_AndC_AgreeOnTotals_WithOneRowPerGateway()
    {
        var shared = ThreeGateways.Unique("s1");
        var single = ThreeGateways.Unique("s2");
        var topic1 = ThreeGateways.Unique("st1");
        var topic2 = ThreeGateways.Unique("st2");
        await using var sharedOnA = await UserConnection.OpenAsync(cluster.A, shared, topics: topic1);
        await using var singleOnB = await UserConnection.OpenAsync(cluster.B, single, topics: $"{topic1},{topic2}");
        await using var sharedOnC = await UserConnection.OpenAsync(cluster.C, shared, topics: topic2);

        var expectedRows = new[] { (cluster.Cluster.GatewayId(0), 1, 1), (cluster.Cluster.GatewayId(1), 1, 1), (cluster.Cluster.GatewayId(2), 1, 1) };
        JsonElement? last = null;
        await Eventually.TrueAsync(
            async () =>
            {
                last = await cluster.AdminOfA.GetJsonAsync("/sse/stats");
                return Summary(last.Value) == (3, 2, 2) && Rows(last.Value).SequenceEqual(expectedRows);
            },
            () => $"/sse/stats on A to show 3 connections, 2 users, 2 topics and one row per gateway (connections of earlier tests gone); last: {last}",
            TimeSpan.FromSeconds(15));

        var top = last!.Value.GetProperty("topUsers");
        Assert.Equal(shared, top[0].GetProperty("userId").GetString());
        Assert.Equal(2, top[0].GetProperty("connections").GetInt32());
        Assert.Equal(single, top[1].GetProperty("userId").GetString());
        Assert.Equal(1, top[1].GetProperty("connections").GetInt32());

        var onA = Comparable(last.Value);
        foreach (var admin in new[] { cluster.AdminOfB, cluster.AdminOfC })
        {
            var stats = await admin.GetJsonAsync("/sse/stats");
            Assert.Equal(onA, Comparable(stats));
        }
    }

    [Fact]
    public async Task UserConnections_AskedOnB_ListsTheUsersConnectionsOnEveryNode()
    {
        var user = ThreeGateways.Unique("listed");
        var topic = ThreeGateways.Unique("lt");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user, topics: topic, clientId: "phone");
        await using var onC = await UserConnection.OpenAsync(cluster.C, user, clientId: "laptop");
        await using var otherUser = await UserConnection.OpenAsync(cluster.B, ThreeGateways.Unique("not-listed"));

        var listed = (await cluster.AdminOfB.GetJsonAsync($"/sse/users/{user}/connections")).EnumerateArray().ToList();
        Assert.Equal(2, listed.Count);
        var byId = listed.ToDictionary(c => c.GetProperty("connectionId").GetString()!);
        Assert.True(byId.ContainsKey(onA.ConnectionId) && byId.ContainsKey(onC.ConnectionId), $"listing: {string.Join(", ", byId.Keys)}");
        var a = byId[onA.ConnectionId];
        Assert.Equal(cluster.Cluster.GatewayId(0), a.GetProperty("gatewayId").GetString());
        Assert.Equal(user, a.GetProperty("userId").GetString());
        Assert.Equal("phone", a.GetProperty("clientId").GetString());
        Assert.Equal([topic], a.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!).ToArray());
        var c = byId[onC.ConnectionId];
        Assert.Equal(cluster.Cluster.GatewayId(2), c.GetProperty("gatewayId").GetString());
        Assert.Equal("laptop", c.GetProperty("clientId").GetString());

        // Every node answers the same.
        foreach (var admin in new[] { cluster.AdminOfA, cluster.AdminOfC })
        {
            var ids = (await admin.GetJsonAsync($"/sse/users/{user}/connections")).EnumerateArray().Select(e => e.GetProperty("connectionId").GetString()).Order();
            Assert.Equal(byId.Keys.Order(), ids);
        }
    }

    [Fact]
    public async Task DisconnectUserThroughB_ClosesItsConnectionsOnAAndC_WithClose()
    {
        var user = ThreeGateways.Unique("kicked");
        var bystanderId = ThreeGateways.Unique("stays");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user);
        await using var onC = await UserConnection.OpenAsync(cluster.C, user);
        await using var bystander = await UserConnection.OpenAsync(cluster.A, bystanderId);

        var answer = await cluster.AdminOfB.PostJsonAsync($"/sse/users/{user}/disconnect", "{\"reason\":\"kicked\",\"reconnect\":true}", HttpStatusCode.OK);
        Assert.Equal(2, answer.GetProperty("connections").GetInt32());
        foreach (var (connection, node) in new[] { (onA, "A"), (onC, "C") })
        {
            var close = (await connection.Stream.WaitForAsync("close")).Json;
            Assert.Equal("kicked", close.GetProperty("reason").GetString());
            Assert.True(close.GetProperty("reconnect").GetBoolean());
            await connection.WaitEndedAsync($"the server to end the kicked user's stream on {node}");
        }

        // Only that user: another user's connection on A still receives.
        await cluster.AdminOfB.SendAsync(bystanderId, "{}", "still-here");
        await bystander.Stream.WaitForAsync("still-here");
        Assert.DoesNotContain(bystander.Stream.Received, e => e.EventType == "close");
        await Eventually.TrueAsync(
            async () => (await cluster.AdminOfB.GetJsonAsync($"/sse/users/{user}/connections")).GetArrayLength() == 0,
            "the kicked user's connections to leave the listing");
    }

    [Fact]
    public async Task DisconnectUserThroughPublisherLibrary_ClosesItsConnectionsOnEveryNode()
    {
        var user = ThreeGateways.Unique("library-kicked");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user);
        await using var onB = await UserConnection.OpenAsync(cluster.B, user);
        await using var alsoOnB = await UserConnection.OpenAsync(cluster.B, user);

        Assert.Equal(3, await cluster.Library.DisconnectUserAsync(user, "maintenance"));
        foreach (var connection in new[] { onA, onB, alsoOnB })
        {
            Assert.Equal("maintenance", (await connection.Stream.WaitForAsync("close")).Json.GetProperty("reason").GetString());
            await connection.WaitEndedAsync($"the stream of connection {connection.ConnectionId} on {connection.GatewayId} to end");
        }
    }

    [Fact]
    public async Task DisconnectUserThroughB_WithoutReconnect_RefusesTheUsersReconnectsOnEveryNodeWith204()
    {
        var user = ThreeGateways.Unique("banned");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user);

        var answer = await cluster.AdminOfB.PostJsonAsync($"/sse/users/{user}/disconnect", "{\"reconnect\":false}", HttpStatusCode.OK);
        Assert.Equal(1, answer.GetProperty("connections").GetInt32());
        var close = (await onA.Stream.WaitForAsync("close")).Json;
        Assert.False(close.GetProperty("reconnect").GetBoolean());
        await onA.WaitEndedAsync("the banned user's stream on A to end");

        foreach (var node in new[] { cluster.A, cluster.C })
        {
            using var client = node.CreateClient(Tokens.For(user));
            var (response, stream) = await SseStream.TryOpenAsync(client, "/sse/connect");
            using (response)
            {
                Assert.Null(stream);
                Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            }
        }
    }

    [Fact]
    public async Task DeleteConnectionThroughB_ClosesTheConnectionHeldByA_Only()
    {
        var user = ThreeGateways.Unique("deleted");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user);
        await using var sameUserOnC = await UserConnection.OpenAsync(cluster.C, user);

        using (var response = await cluster.AdminOfB.DeleteAsync($"/sse/connections/{onA.ConnectionId}"))
        {
            Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"DELETE answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        var close = (await onA.Stream.WaitForAsync("close")).Json;
        Assert.Equal("disconnected", close.GetProperty("reason").GetString());
        await onA.WaitEndedAsync("the deleted connection's stream on A to end");

        // The user's other connection is untouched, and the deleted one is gone from the cluster.
        await cluster.AdminOfB.SendAsync(user, "{}", "after-delete");
        await sameUserOnC.Stream.WaitForAsync("after-delete");
        await Eventually.TrueAsync(
            async () =>
            {
                using var again = await cluster.AdminOfC.DeleteAsync($"/sse/connections/{onA.ConnectionId}");
                return again.StatusCode == HttpStatusCode.NotFound;
            },
            "DELETE of the closed connection to answer 404 on C");
    }

    [Fact]
    public async Task DeleteConnectionThroughB_WithTheUsersOwnToken_ClosesItsConnectionOnA_ButNotAnotherUsers()
    {
        var owner = ThreeGateways.Unique("owner");
        await using var onA = await UserConnection.OpenAsync(cluster.A, owner);
        await using var othersOnC = await UserConnection.OpenAsync(cluster.C, ThreeGateways.Unique("someone-else"));
        using var ownerOnB = cluster.B.CreateClient(Tokens.For(owner));

        // Another user's connection answers as an unknown one would.
        using (var notYours = await ownerOnB.DeleteAsync($"/sse/connections/{othersOnC.ConnectionId}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, notYours.StatusCode);
        }

        using (var own = await ownerOnB.DeleteAsync($"/sse/connections/{onA.ConnectionId}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, own.StatusCode);
        }

        await onA.Stream.WaitForAsync("close");
        await onA.WaitEndedAsync("the owner's stream on A to end");
        Assert.False(othersOnC.Stream.Ended.IsCompleted, "the other user's connection on C was closed");
    }

    [Fact]
    public async Task TicketIssuedByA_IsAcceptedOnceByB_AndRefusedAfterwardsByC()
    {
        var user = ThreeGateways.Unique("ticketed");
        string ticket;
        using (var bearer = cluster.A.CreateClient(Tokens.For(user)))
        using (var issued = await bearer.PostAsync("/sse/tickets", null))
        {
            var body = await issued.Content.ReadAsStringAsync();
            Assert.True(issued.StatusCode == HttpStatusCode.Created, $"POST /sse/tickets on A answered {(int)issued.StatusCode}: {body}");
            ticket = JsonDocument.Parse(body).RootElement.GetProperty("ticket").GetString()!;
        }

        using var browserOnB = cluster.B.CreateClient(); // EventSource: no Authorization header
        await using (var stream = await SseStream.OpenAsync(browserOnB, "/sse/connect?ticket=" + Uri.EscapeDataString(ticket)))
        {
            var welcome = (await stream.WaitForAsync("welcome")).Json;
            Assert.Equal(user, welcome.GetProperty("userId").GetString());
            Assert.Equal(cluster.Cluster.GatewayId(1), welcome.GetProperty("gatewayId").GetString());
        }

        using var browserOnC = cluster.C.CreateClient();
        var (response, refused) = await SseStream.TryOpenAsync(browserOnC, "/sse/connect?ticket=" + Uri.EscapeDataString(ticket));
        using (response)
        {
            Assert.Null(refused);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
    }

    private static (int Connections, int Users, int Topics) Summary(JsonElement stats) =>
        (stats.GetProperty("connections").GetInt32(), stats.GetProperty("users").GetInt32(), stats.GetProperty("topics").GetInt32());

    private static IEnumerable<(string, int, int)> Rows(JsonElement stats) =>
        stats.GetProperty("gateways").EnumerateArray()
            .Select(g => (g.GetProperty("gatewayId").GetString()!, g.GetProperty("connections").GetInt32(), g.GetProperty("users").GetInt32()))
            .OrderBy(r => r.Item1, StringComparer.Ordinal);

    // Everything but lastSeen, which each refresh moves.
    private static string Comparable(JsonElement stats)
    {
        var rows = stats.GetProperty("gateways").EnumerateArray()
            .Select(g => $"{g.GetProperty("gatewayId").GetString()}:{g.GetProperty("connections").GetInt32()}:{g.GetProperty("users").GetInt32()}:{g.GetProperty("startedAt").GetDateTimeOffset():O}");
        return $"{Summary(stats)} rows [{string.Join(", ", rows)}] top {stats.GetProperty("topUsers")}";
    }
}

[Collection(RedisCollections.Server)]
public sealed class CrossNodeAdminOnStandaloneRedis(ThreeGatewaysOnStandaloneRedis cluster)
    : CrossNodeAdminTests(cluster), IClassFixture<ThreeGatewaysOnStandaloneRedis>;

[Collection(RedisCollections.Cluster)]
public sealed class CrossNodeAdminOnRedisCluster(ThreeGatewaysOnRedisCluster cluster)
    : CrossNodeAdminTests(cluster), IClassFixture<ThreeGatewaysOnRedisCluster>;
