using SseCluster.Contracts;
using System.Diagnostics;
using SseCluster.Grains.Tests.Support;
using Xunit.Abstractions;

namespace SseCluster.Grains.Tests;

/// <summary>
/// Fan-out through real stream grains: one <c>Deliver</c> per attached gateway per event (never one per connection),
/// nothing to gateways that did not attach, and receipts that count the gateways and the connections they answered.
/// Run once on shared in-memory stores and once on a real redis-server.
/// </summary>
public abstract class DeliveryTests(GatewayCluster cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task FiveHundredConcurrentBroadcasts_AreNumberedWithoutGaps_AndReachEachGatewayInFarFewerDelivers()
    {
        const int Count = 500;
        var gateways = cluster.Gateways;
        await cluster.AttachAsync(StreamKey.Broadcast, [.. gateways]);
        var before = (await cluster.History.GetTailsAsync([StreamKey.Broadcast]))[0].LastSequence;
        var callsBefore = gateways.ToDictionary(g => g, g => g.Endpoint.DeliveriesOf(StreamKey.Broadcast).Count);
        var grain = cluster.Grain(StreamKey.Broadcast);

        var clock = Stopwatch.StartNew();
        var acks = await Task.WhenAll(Enumerable.Range(0, Count).Select(i => grain.Publish(GatewayCluster.Payload($"{{\"i\":{i}}}"), Guid.NewGuid())));
        clock.Stop();

        var expected = Enumerable.Range(1, Count).Select(i => before + i).ToList();
        Assert.Equal(expected, acks.Select(a => a.Sequence).Order());
        var stored = (await cluster.History.ReadAsync(StreamKey.Broadcast, before, Count + 10)).Events;
        Assert.Equal(expected, stored.Select(e => e.Sequence));
        Assert.All(acks, a => Assert.Equal(gateways.Count, a.Gateways.Count));
        var report = new List<string>();
        foreach (var gateway in gateways)
        {
            var deliveries = gateway.Endpoint.DeliveriesOf(StreamKey.Broadcast).Skip(callsBefore[gateway]).ToList();
            var sequences = deliveries.SelectMany(d => d.Events).Select(e => e.Sequence).ToList();
            Assert.Equal(expected, sequences.Order()); // each event once, none twice
            // One call in flight per gateway: what queues up meanwhile travels together, whatever the store's speed.
            Assert.True(deliveries.Count < Count / 10, $"gateway {gateway.Name} got {deliveries.Count} Deliver calls for {Count} events");

            report.Add($"{gateway.Name}: {deliveries.Count} Deliver calls (largest {deliveries.Max(d => d.Events.Count)} events)");
        }

        output.WriteLine($"{cluster.Store}: {Count} concurrent publishes to b (on {cluster.HostOf(grain).Name}) in {clock.ElapsedMilliseconds} ms; {string.Join("; ", report)}");
    }

    [Fact]
    public async Task SendToUserAttachedByOneGateway_ReachesItInOneDeliverPerEvent_AndNoOtherGateway()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("one"));
        var gateways = cluster.Gateways;
        var reader = gateways[1];
        reader.Endpoint.SetConnections(user, 3); // three local connections read the user there
        await cluster.AttachAsync(user, reader);

        var receipts = new List<PublishReceipt>();
        for (var i = 1; i <= 3; i++)
        {
            receipts.Add(await cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json($"{{\"n\":{i}}}")));
        }

        Assert.Equal([1L, 2L, 3L], receipts.Select(r => Assert.Single(r.Events).Sequence));
        Assert.All(receipts, r => Assert.Equal((1, 3), (r.Gateways, r.Connections)));

        // A publish returns after the gateways answered its delivery: what they recorded by now is all they will get.
        var deliveries = reader.Endpoint.DeliveriesOf(user);
        Assert.Equal(3, deliveries.Count);
        Assert.All(deliveries, d => Assert.Single(d.Events));
        Assert.Equal([1L, 2L, 3L], reader.Endpoint.SequencesOf(user));
        Assert.Equal("{\"n\":2}", deliveries[1].Events[0].Payload.Data);
        foreach (var other in gateways.Where(g => g != reader))
        {
            Assert.Empty(other.Endpoint.DeliveriesOf(user));
        }
    }

    [Fact]
    public async Task UserAttachedOnTwoOfThreeGateways_ReachesExactlyThoseTwo_OnceEach()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("two"));
        var gateways = cluster.Gateways;
        var (a, c, idle) = (gateways[0], gateways[2], gateways[1]);
        a.Endpoint.SetConnections(user, 2);
        c.Endpoint.SetConnections(user, 5);
        await cluster.AttachAsync(user, a, c);

        var receipt = await cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json("{\"to\":\"a+c\"}", "note"));

        Assert.Equal((2, 7), (receipt.Gateways, receipt.Connections));
        var sequence = Assert.Single(receipt.Events).Sequence;
        foreach (var reader in new[] { a, c })
        {
            var delivery = Assert.Single(reader.Endpoint.DeliveriesOf(user));
            var live = Assert.Single(delivery.Events);
            Assert.Equal((sequence, "note", "{\"to\":\"a+c\"}"), (live.Sequence, live.Payload.EventType, live.Payload.Data));
        }

        Assert.Empty(idle.Endpoint.DeliveriesOf(user));
    }

    [Fact]
    public async Task Broadcast_ReachesEveryGatewayOnce_AndTheReceiptAddsTheirCounts()
    {
        var gateways = cluster.Gateways;
        for (var i = 0; i < gateways.Count; i++)
        {
            gateways[i].Endpoint.SetConnections(StreamKey.Broadcast, i + 1);
        }

        await cluster.AttachAsync(StreamKey.Broadcast, [.. gateways]);
        var before = gateways.ToDictionary(g => g, g => g.Endpoint.DeliveriesOf(StreamKey.Broadcast).Count);

        var receipt = await cluster.Publisher.BroadcastAsync(GatewayCluster.Json("{\"all\":true}"));

        Assert.Equal((3, 1 + 2 + 3), (receipt.Gateways, receipt.Connections));
        var sequence = Assert.Single(receipt.Events).Sequence;
        foreach (var gateway in gateways)
        {
            var deliveries = gateway.Endpoint.DeliveriesOf(StreamKey.Broadcast);
            Assert.Equal(before[gateway] + 1, deliveries.Count);
            Assert.Equal(sequence, Assert.Single(deliveries[^1].Events).Sequence);
        }
    }

    [Fact]
    public async Task PublishRepeatedWithTheSamePublishId_AnswersTheSameSequence_AndStoresNothingNew()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("again"));
        var grain = cluster.Grain(user);
        var id = Guid.NewGuid();

        var first = await grain.Publish(GatewayCluster.Payload("{\"v\":1}"), id);
        var other = await grain.Publish(GatewayCluster.Payload("{\"v\":2}"), Guid.NewGuid());
        var repeat = await grain.Publish(GatewayCluster.Payload("{\"v\":1}"), id);

        Assert.Equal((1L, 2L, 1L), (first.Sequence, other.Sequence, repeat.Sequence));
        Assert.Equal(first.Epoch, repeat.Epoch);
        var history = await cluster.ReadHistoryAsync(user);
        Assert.Equal([(1L, "{\"v\":1}"), (2L, "{\"v\":2}")], history.Select(e => (e.Sequence, e.Payload.Data)));
    }

    [Fact]
    public async Task DetachedGateway_GetsNothingMore_AlsoAfterTheGrainReactivates()
    {
        var topic = StreamKey.ForTopic(GatewayCluster.Unique("left"));
        var (stays, leaves) = (cluster.Gateways[1], cluster.Gateways[2]);
        await cluster.AttachAsync(topic, stays, leaves);
        await cluster.Publisher.PublishToTopicAsync(topic.Name, GatewayCluster.Json("{\"n\":1}"));

        await cluster.Grain(topic).Detach(leaves.Address);
        var second = await cluster.Publisher.PublishToTopicAsync(topic.Name, GatewayCluster.Json("{\"n\":2}"));
        await cluster.Cluster.DeactivateAsync(cluster.Grain(topic));
        var third = await cluster.Publisher.PublishToTopicAsync(topic.Name, GatewayCluster.Json("{\"n\":3}"));

        Assert.Equal((1, 1), (second.Gateways, third.Gateways));
        Assert.Equal([1L, 2L, 3L], stays.Endpoint.SequencesOf(topic));
        Assert.Equal([1L], leaves.Endpoint.SequencesOf(topic));
        Assert.Equal([stays.Address.ToParsableString()], (await cluster.Attachments.GetAsync(topic)).Keys);
    }

    [Fact]
    public async Task GrainThatReactivates_StillDeliversToTheGatewaysAttachedBefore()
    {
        var topic = StreamKey.ForTopic(GatewayCluster.Unique("room"));
        var gateways = cluster.Gateways;
        var (a, b) = (gateways[0], gateways[2]);
        await cluster.AttachAsync(topic, a, b);
        var first = await cluster.Publisher.PublishToTopicAsync(topic.Name, GatewayCluster.Json("{\"n\":1}"));
        Assert.Equal(2, first.Gateways);

        var grain = cluster.Grain(topic);
        await cluster.Cluster.DeactivateAsync(grain);
        Assert.False(cluster.Cluster.TryGetGrainContext(grain.GetGrainId(), out _), $"{topic} is still active after DeactivateAsync");

        // The new activation knows the gateways only from the store.
        var second = await cluster.Publisher.PublishToTopicAsync(topic.Name, GatewayCluster.Json("{\"n\":2}"));

        Assert.Equal((2L, 2), (Assert.Single(second.Events).Sequence, second.Gateways));
        foreach (var gateway in new[] { a, b })
        {
            Assert.Equal([1L, 2L], gateway.Endpoint.SequencesOf(topic));
        }

        Assert.Empty(gateways[1].Endpoint.DeliveriesOf(topic));
    }
}

public sealed class InMemoryDeliveryTests(InMemoryClusterFixture fixture, ITestOutputHelper output)
    : DeliveryTests(fixture.Cluster, output), IClassFixture<InMemoryClusterFixture>;

public sealed class RedisDeliveryTests(RedisClusterFixture fixture, ITestOutputHelper output)
    : DeliveryTests(fixture.Cluster, output), IClassFixture<RedisClusterFixture>;
