using System.Text.Json;
using SseCluster.Cluster.Tests.Support;
using SseCluster.Contracts;
using SseCluster.TestSupport;

namespace SseCluster.Cluster.Tests;

/// <summary>
/// Sends, topic publishes and broadcasts made through one node (or straight to Redis with the publisher library) reach
/// the connections every other node holds, and the 202 receipt counts the gateways and connections they reached.
/// </summary>
public abstract class CrossNodeDeliveryTests(ThreeGateways cluster)
{
    [Fact]
    public async Task UserOnA_ReceivesSendThroughB_AndSendThroughPublisherLibrary()
    {
        var user = ThreeGateways.Unique("ua");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user);
        Assert.Equal(cluster.Cluster.GatewayId(0), onA.GatewayId);

        var receipt = await cluster.AdminOfB.SendAsync(user, "{\"via\":\"b\"}", "note");
        Assert.Equal("{\"via\":\"b\"}", (await onA.Stream.WaitForAsync("note")).Data);
        AssertReceipt(receipt, gateways: 1, connections: 1);
        var stream = receipt.GetProperty("events").EnumerateArray().Single();
        Assert.Equal("u:" + user, stream.GetProperty("stream").GetString());
        var sequence = stream.GetProperty("sequence").GetInt64();

        var library = await cluster.Library.SendToUserAsync(user, OutgoingEvent.FromJson("note", "{\"via\":\"library\"}"));
        Assert.Equal("{\"via\":\"library\"}", (await onA.Stream.WaitForAsync("note")).Data);
        Assert.Equal(1, library.Gateways);
        Assert.Equal(1, library.Connections);
        Assert.Equal(sequence + 1, Assert.Single(library.Events).Sequence); // one stream, one counter, whoever publishes
    }

    [Fact]
    public async Task UserWithConnectionsOnAAndC_GetsTheSendOnBoth()
    {
        var user = ThreeGateways.Unique("uac");
        await using var onA = await UserConnection.OpenAsync(cluster.A, user, clientId: "tab-a");
        await using var onC = await UserConnection.OpenAsync(cluster.C, user, clientId: "tab-c");

        var receipt = await cluster.AdminOfB.SendAsync(user, "{\"n\":1}", "both");
        Assert.Equal("{\"n\":1}", (await onA.Stream.WaitForAsync("both")).Data);
        Assert.Equal("{\"n\":1}", (await onC.Stream.WaitForAsync("both")).Data);
        AssertReceipt(receipt, gateways: 2, connections: 2);

        var library = await cluster.Library.SendToUsersAsync([user], OutgoingEvent.FromJson("both", "{\"n\":2}"));
        Assert.Equal("{\"n\":2}", (await onA.Stream.WaitForAsync("both")).Data);
        Assert.Equal("{\"n\":2}", (await onC.Stream.WaitForAsync("both")).Data);
        Assert.Equal((2, 2), (library.Gateways, library.Connections));
    }

    [Fact]
    public async Task TopicPublishThroughB_ReachesSubscribersOnAAndC_AndNobodyElse()
    {
        var topic = ThreeGateways.Unique("room");
        var other = ThreeGateways.Unique("other");
        await using var onA = await UserConnection.OpenAsync(cluster.A, ThreeGateways.Unique("ta"), topics: topic);
        await using var onC = await UserConnection.OpenAsync(cluster.C, ThreeGateways.Unique("tc"), topics: $"{other},{topic}");
        var bystanderId = ThreeGateways.Unique("tb");
        await using var bystander = await UserConnection.OpenAsync(cluster.B, bystanderId, topics: other);

        var receipt = await cluster.AdminOfB.PublishAsync(topic, "{\"headline\":1}", "headline");
        Assert.Equal("{\"headline\":1}", (await onA.Stream.WaitForAsync("headline")).Data);
        Assert.Equal("{\"headline\":1}", (await onC.Stream.WaitForAsync("headline")).Data);
        AssertReceipt(receipt, gateways: 2, connections: 2);
        Assert.Equal("t:" + topic, receipt.GetProperty("events")[0].GetProperty("stream").GetString());

        var library = await cluster.Library.PublishToTopicAsync(topic, OutgoingEvent.FromJson("headline", "{\"headline\":2}"));
        Assert.Equal("{\"headline\":2}", (await onA.Stream.WaitForAsync("headline")).Data);
        Assert.Equal("{\"headline\":2}", (await onC.Stream.WaitForAsync("headline")).Data);
        Assert.Equal((2, 2), (library.Gateways, library.Connections));

        // The node without subscribers was not told; its connection got nothing of the topic.
        await cluster.AdminOfB.SendAsync(bystanderId, "{}", "marker");
        await bystander.Stream.WaitForAsync("marker");
        Assert.DoesNotContain(bystander.Stream.Received, e => e.EventType == "headline");
    }

    [Fact]
    public async Task BroadcastThroughB_ReachesConnectionsOnEveryNode()
    {
        await using var onA = await UserConnection.OpenAsync(cluster.A, ThreeGateways.Unique("ba"));
        await using var onB = await UserConnection.OpenAsync(cluster.B, ThreeGateways.Unique("bb"));
        await using var onC = await UserConnection.OpenAsync(cluster.C, ThreeGateways.Unique("bc"));
        await WaitForClusterConnectionsAsync(3); // connections of earlier tests have left

        var receipt = await cluster.AdminOfB.BroadcastAsync("{\"notice\":1}", "notice");
        foreach (var connection in new[] { onA, onB, onC })
        {
            Assert.Equal("{\"notice\":1}", (await connection.Stream.WaitForAsync("notice")).Data);
        }

        AssertReceipt(receipt, gateways: 3, connections: 3);
        Assert.Equal("b", receipt.GetProperty("events")[0].GetProperty("stream").GetString());

        var library = await cluster.Library.BroadcastAsync(OutgoingEvent.FromJson("notice", "{\"notice\":2}"));
        foreach (var connection in new[] { onA, onB, onC })
        {
            Assert.Equal("{\"notice\":2}", (await connection.Stream.WaitForAsync("notice")).Data);
        }

        Assert.Equal((3, 3), (library.Gateways, library.Connections));
    }

    [Fact]
    public async Task BroadcastWithUserFilter_ReachesOnlyTheListedUsers_OnEveryNode()
    {
        var listed1 = ThreeGateways.Unique("f1");
        var listed2 = ThreeGateways.Unique("f2");
        await using var listed1OnA = await UserConnection.OpenAsync(cluster.A, listed1);
        await using var listed1OnC = await UserConnection.OpenAsync(cluster.C, listed1);
        await using var listed2OnB = await UserConnection.OpenAsync(cluster.B, listed2);
        await using var otherOnA = await UserConnection.OpenAsync(cluster.A, ThreeGateways.Unique("nf1"));
        await using var otherOnC = await UserConnection.OpenAsync(cluster.C, ThreeGateways.Unique("nf2"));

        var receipt = await cluster.AdminOfB.BroadcastAsync("{\"only\":true}", "filtered", [listed1, listed2, ThreeGateways.Unique("absent")]);
        foreach (var connection in new[] { listed1OnA, listed1OnC, listed2OnB })
        {
            Assert.Equal("{\"only\":true}", (await connection.Stream.WaitForAsync("filtered")).Data);
        }

        AssertReceipt(receipt, gateways: 3, connections: 3);

        // The broadcast stream is ordered: the users outside the filter get the next broadcast, never the filtered one.
        await cluster.AdminOfB.BroadcastAsync("{}", "everyone");
        foreach (var connection in new[] { otherOnA, otherOnC, listed1OnA, listed1OnC, listed2OnB })
        {
            await connection.Stream.WaitForAsync("everyone");
        }

        Assert.DoesNotContain(otherOnA.Stream.Received, e => e.EventType == "filtered");
        Assert.DoesNotContain(otherOnC.Stream.Received, e => e.EventType == "filtered");

        var library = await cluster.Library.BroadcastAsync(OutgoingEvent.FromJson("filtered", "{\"only\":2}"), [listed2]);
        Assert.Equal("{\"only\":2}", (await listed2OnB.Stream.WaitForAsync("filtered")).Data);
        Assert.Equal(1, library.Connections);
    }

    [Fact]
    public async Task TwoGateways_DeliverSendTopicAndBroadcastMadeThroughTheOther()
    {
        await using var pair = await GatewayCluster.StartAsync(cluster.RedisConfiguration, 2);
        using var publisherOnB = pair[1].CreateClient(Tokens.Publisher());
        var user = ThreeGateways.Unique("pair");
        await using var onA = await UserConnection.OpenAsync(pair[0], user, topics: "pair-news");

        AssertReceipt(await publisherOnB.SendAsync(user, "1", "direct"), gateways: 1, connections: 1);
        Assert.Equal("1", (await onA.Stream.WaitForAsync("direct")).Data);
        AssertReceipt(await publisherOnB.PublishAsync("pair-news", "2", "topic"), gateways: 1, connections: 1);
        Assert.Equal("2", (await onA.Stream.WaitForAsync("topic")).Data);
        // A broadcast goes to the gateways that hold connections: A, not B.
        AssertReceipt(await publisherOnB.BroadcastAsync("3", "all"), gateways: 1, connections: 1);
        Assert.Equal("3", (await onA.Stream.WaitForAsync("all")).Data);
    }

    private static void AssertReceipt(JsonElement receipt, int gateways, int connections)
    {
        Assert.True(
            receipt.GetProperty("gateways").GetInt32() == gateways && receipt.GetProperty("connections").GetInt32() == connections,
            $"expected a receipt with gateways {gateways} and connections {connections}, got {receipt}");
    }

    private Task WaitForClusterConnectionsAsync(int expected) =>
        Eventually.TrueAsync(
            async () => (await cluster.AdminOfA.GetJsonAsync("/sse/stats")).GetProperty("connections").GetInt32() == expected,
            $"/sse/stats to count exactly {expected} connections in the cluster",
            TimeSpan.FromSeconds(15));
}

[Collection(RedisCollections.Server)]
public sealed class CrossNodeDeliveryOnStandaloneRedis(ThreeGatewaysOnStandaloneRedis cluster)
    : CrossNodeDeliveryTests(cluster), IClassFixture<ThreeGatewaysOnStandaloneRedis>;

[Collection(RedisCollections.Cluster)]
public sealed class CrossNodeDeliveryOnRedisCluster(ThreeGatewaysOnRedisCluster cluster)
    : CrossNodeDeliveryTests(cluster), IClassFixture<ThreeGatewaysOnRedisCluster>;
