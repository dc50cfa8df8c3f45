using SseCluster.Contracts;
using SseCluster.Grains.Tests.Support;

namespace SseCluster.Grains.Tests;

/// <summary>
/// A publish repeated with the same publish id — what <see cref="ISseEventPublisher"/> does on every retry, and what a
/// caller does with <see cref="OutgoingEvent.WithPublishId"/> or <see cref="OutgoingEvent.WithIdempotencyKey"/> —
/// answers the first sequence and stores nothing new.
/// </summary>
public sealed class PublishIdTests(InMemoryClusterFixture fixture) : IClassFixture<InMemoryClusterFixture>
{
    private readonly GatewayCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task SendWithTheSamePublishIdTwice_AnswersTheSameSequence_AndTheHistoryHoldsItOnce()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("pid"));
        var evt = GatewayCluster.Json("{\"order\":42}", "shipped").WithPublishId(Guid.NewGuid());

        var first = await _cluster.Publisher.SendToUserAsync(user.Name, evt);
        var retry = await _cluster.Publisher.SendToUserAsync(user.Name, evt);
        var next = await _cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json("{\"order\":43}", "shipped"));

        Assert.Equal(1, Assert.Single(first.Events).Sequence);
        Assert.Equal(first.Events, retry.Events);
        Assert.Equal(2, Assert.Single(next.Events).Sequence);
        var history = await _cluster.ReadHistoryAsync(user);
        Assert.Equal([(1L, "{\"order\":42}"), (2L, "{\"order\":43}")], history.Select(e => (e.Sequence, e.Payload.Data)));
    }

    [Fact]
    public async Task SendToUsersWithTheSameIdempotencyKey_AnswersEachStreamsFirstSequence_AndStoresNothingNew()
    {
        var (a, b) = (GatewayCluster.Unique("ika"), GatewayCluster.Unique("ikb"));
        var key = GatewayCluster.Unique("order-shipped");
        await _cluster.Publisher.SendToUserAsync(b, GatewayCluster.Json("{\"before\":true}")); // b's stream is one ahead

        var first = await _cluster.Publisher.SendToUsersAsync([a, b], GatewayCluster.Json("{\"k\":1}").WithIdempotencyKey(key));
        // Another event object, built again from the key, as a caller retrying after a crash would.
        var retry = await _cluster.Publisher.SendToUsersAsync([a, b], GatewayCluster.Json("{\"k\":1}").WithIdempotencyKey(key));

        Assert.Equal([(StreamKey.ForUser(a), 1L), (StreamKey.ForUser(b), 2L)], first.Events.Select(e => (e.Stream, e.Sequence)));
        Assert.Equal(first.Events, retry.Events);
        Assert.Single(await _cluster.ReadHistoryAsync(StreamKey.ForUser(a)));
        Assert.Equal(2, (await _cluster.ReadHistoryAsync(StreamKey.ForUser(b))).Count);
    }

    [Fact]
    public async Task BroadcastAndTopicPublishWithTheSamePublishId_AreStoredOnce()
    {
        var topic = GatewayCluster.Unique("news");
        var evt = GatewayCluster.Json("{\"headline\":1}").WithPublishId(Guid.NewGuid());

        var topicFirst = await _cluster.Publisher.PublishToTopicAsync(topic, evt);
        var topicRetry = await _cluster.Publisher.PublishToTopicAsync(topic, evt);
        var broadcastFirst = await _cluster.Publisher.BroadcastAsync(evt);
        var broadcastRetry = await _cluster.Publisher.BroadcastAsync(evt);

        Assert.Equal(topicFirst.Events, topicRetry.Events);
        Assert.Equal(broadcastFirst.Events, broadcastRetry.Events);
        Assert.Single(await _cluster.ReadHistoryAsync(StreamKey.ForTopic(topic)));
        var broadcast = await _cluster.ReadHistoryAsync(StreamKey.Broadcast);
        Assert.Single(broadcast, e => e.Sequence == broadcastFirst.Events[0].Sequence);
        Assert.Equal(broadcast.Count, broadcast.Select(e => e.Sequence).Distinct().Count());
        Assert.Equal(broadcastFirst.Events[0].Sequence, broadcast[^1].Sequence); // the retry added nothing after it
    }
}
