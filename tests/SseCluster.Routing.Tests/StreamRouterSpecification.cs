using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Contracts;
using SseCluster.Grains;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// What every routing implementation must do, seen by one gateway. In-memory, Redis and Redis Cluster all inherit
/// these tests, so they cannot drift apart; <see cref="ScaleoutStreamRouterSpecification"/> adds what needs several
/// gateways.
/// </summary>
public abstract class StreamRouterSpecification(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<RoutingNode> _nodes = [];

    protected ITestOutputHelper Output { get; } = output;

    /// <summary>The registration under test (what the gateway calls).</summary>
    protected abstract void Register(IServiceCollection services, IConfiguration configuration);

    /// <summary>Settings every node of one test shares (the Redis endpoint and a prefix of its own, for example).</summary>
    protected virtual void AddSettings(Dictionary<string, string?> settings)
    {
    }

    protected RoutingNode CreateNode(string gatewayId = "gw-a", IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?> { ["SseCluster:GatewayId"] = gatewayId };
        AddSettings(settings);
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var node = RoutingNode.Create(Register, settings, Output);
        _nodes.Add(node);
        return node;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    protected static EventPayload Payload(string data, string? eventType = null, long? publishedAt = null, IReadOnlyList<string>? filter = null) =>
        new(eventType, data, publishedAt ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), filter);

    protected static OutgoingEvent Json(string json, string? eventType = null) => OutgoingEvent.FromJson(eventType, json);

    [Fact]
    public async Task Publish_NumbersEachStreamFromOneWithoutGaps()
    {
        var node = CreateNode();
        var user = StreamKey.ForUser("alice");
        var topic = StreamKey.ForTopic("news");

        var userSequences = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            userSequences.Add((await node.Router.PublishAsync([user], Payload($"{i}"))).Events.Single().Sequence);
        }

        var topicSequences = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            topicSequences.Add((await node.Router.PublishAsync([topic], Payload($"{i}"))).Events.Single().Sequence);
        }

        var broadcast = await node.Router.PublishAsync([StreamKey.Broadcast], Payload("1"));

        Assert.Equal([1, 2, 3, 4, 5], userSequences);
        Assert.Equal([1, 2, 3], topicSequences);
        Assert.Equal(new StreamSequence(StreamKey.Broadcast, 1), broadcast.Events.Single());
        var last = await node.Router.GetLastSequencesAsync([user, topic, StreamKey.Broadcast, StreamKey.ForUser("nobody")]);
        Assert.Equal([5L, 3L, 1L, 0L], last);
    }

    [Fact]
    public async Task Publish_ConcurrentlyToOneStream_GivesEachEventItsOwnConsecutiveSequence()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("busy");

        var receipts = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => node.Router.PublishAsync([stream], Payload($"{i}"))));

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), receipts.Select(r => r.Events.Single().Sequence).Order());
        var read = await node.Router.ReadAsync(stream, 0, 500);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), read.Events.Select(e => e.Sequence));
        Assert.Equal(200, read.LastSequence);
    }

    [Fact]
    public async Task Publish_ToSeveralStreams_StoresTheEventInEachWithItsOwnSequence()
    {
        var node = CreateNode();
        await node.Router.PublishAsync([StreamKey.ForUser("u1")], Payload("first"));

        var receipt = await node.Publisher.SendToUsersAsync(["u1", "u2"], Json("{\"n\":2}"));

        Assert.Equal([new StreamSequence(StreamKey.ForUser("u1"), 2), new StreamSequence(StreamKey.ForUser("u2"), 1)], receipt.Events);
        Assert.Equal("{\"n\":2}", (await node.Router.ReadAsync(StreamKey.ForUser("u2"), 0, 10)).Events.Single().Payload.Data);
    }

    [Fact]
    public async Task Read_AfterAPosition_ReturnsTheLaterEventsInOrderWithTheirPayloadIntact()
    {
        var node = CreateNode();
        var stream = StreamKey.ForTopic("room-7");
        const string pretty = "{\n  \"text\": \"héllo ✓ 😀\",\n  \"n\": [1, 2]\n}";
        await node.Router.PublishAsync([stream], Payload("\"one\""));
        await node.Router.PublishAsync([stream], Payload(pretty, "chat.message", publishedAt: 1_700_000_000_123));
        await node.Router.PublishAsync([stream], Payload("3", "message"));

        var read = await node.Router.ReadAsync(stream, 1, 100);

        Assert.Equal(3, read.LastSequence);
        Assert.Equal([2L, 3L], read.Events.Select(e => e.Sequence));
        Assert.All(read.Events, e => Assert.Equal(stream, e.Stream));
        var second = read.Events[0].Payload;
        Assert.Equal(pretty, second.Data);
        Assert.Equal("chat.message", second.EventType);
        Assert.Equal(1_700_000_000_123, second.PublishedAt);
        Assert.Null(second.UserFilter);
        Assert.Null(read.Events[1].Payload.EventType);
    }

    [Fact]
    public async Task Read_WithMaxCount_ReturnsOnlyThatManyOldestFirst()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("reader");
        for (var i = 0; i < 5; i++)
        {
            await node.Router.PublishAsync([stream], Payload($"{i}"));
        }

        var read = await node.Router.ReadAsync(stream, 1, 2);

        Assert.Equal([2L, 3L], read.Events.Select(e => e.Sequence));
        Assert.Equal(5, read.LastSequence);
    }

    [Fact]
    public async Task Read_AtTheLastSequenceOrOfAnUnknownStream_ReturnsNothing()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("caught-up");
        await node.Router.PublishAsync([stream], Payload("1"));

        var atEnd = await node.Router.ReadAsync(stream, 1, 10);
        var unknown = await node.Router.ReadAsync(StreamKey.ForTopic("never"), 0, 10);

        Assert.Empty(atEnd.Events);
        Assert.Equal(1, atEnd.LastSequence);
        Assert.Empty(unknown.Events);
        Assert.Equal(0, unknown.LastSequence);
    }

    [Fact]
    public async Task History_TrimmedByCount_StartsLaterSoTheCallerSeesTheGap()
    {
        var node = CreateNode(extra: new Dictionary<string, string?> { ["SseCluster:History:MaxEventsPerStream"] = "3" });
        var stream = StreamKey.ForUser("trimmed");
        for (var i = 1; i <= 5; i++)
        {
            await node.Router.PublishAsync([stream], Payload($"{i}"));
        }

        var fromStart = await node.Router.ReadAsync(stream, 0, 100);
        var recent = await node.Router.ReadAsync(stream, 3, 100);

        Assert.Equal([3L, 4L, 5L], fromStart.Events.Select(e => e.Sequence));
        Assert.Equal(5, fromStart.LastSequence);
        Assert.Equal([4L, 5L], recent.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task History_TrimmedByAge_DropsOldEventsSoTheCallerSeesTheGap()
    {
        var node = CreateNode(extra: new Dictionary<string, string?> { ["SseCluster:History:MaxAgeSeconds"] = "60" });
        var stream = StreamKey.ForTopic("aged");
        var twoHoursAgo = DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeMilliseconds();
        await node.Router.PublishAsync([stream], Payload("old-1", publishedAt: twoHoursAgo));
        await node.Router.PublishAsync([stream], Payload("old-2", publishedAt: twoHoursAgo + 1));
        await node.Router.PublishAsync([stream], Payload("new"));

        var read = await node.Router.ReadAsync(stream, 0, 100);

        Assert.Equal([3L], read.Events.Select(e => e.Sequence));
        Assert.Equal("new", read.Events[0].Payload.Data);
        Assert.Equal(3, read.LastSequence);
    }

    [Fact]
    public async Task SendToUser_ReachesTheAttachedGatewaysInbox_WithStreamSequenceAndPayload()
    {
        var node = CreateNode();
        var inbox = await node.OpenInboxAsync();
        inbox.DeliverResult = _ => 2;
        var user = StreamKey.ForUser("alice");
        await node.Router.AttachAsync(user);
        await node.Directory.AddAsync(node.Connection("c1", "alice"));
        await node.Directory.AddAsync(node.Connection("c2", "alice"));

        var receipt = await node.Publisher.SendToUserAsync("alice", Json("{\"order\":42}", "order.updated"));
        var delivery = await inbox.WaitForAsync("u:alice");

        Assert.Equal([new StreamSequence(user, 1)], receipt.Events);
        Assert.Equal(1, receipt.Gateways);
        Assert.Equal(2, receipt.Connections);
        Assert.Equal([new StreamSequence(user, 1)], delivery.Streams);
        Assert.Equal("{\"order\":42}", delivery.Payload.Data);
        Assert.Equal("order.updated", delivery.Payload.EventType);
        Assert.Null(delivery.Payload.UserFilter);
        Assert.InRange(delivery.Payload.PublishedAt, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task LiveEvents_OfOneStream_ArriveInSequenceOrder()
    {
        var node = CreateNode();
        var inbox = await node.OpenInboxAsync();
        var stream = StreamKey.ForTopic("ticker");
        await node.Router.AttachAsync(stream);

        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => node.Router.PublishAsync([stream], Payload($"{i}"))));
        await inbox.WaitForDeliveryAsync(d => d.Streams[0].Sequence == 50, "the 50th event on t:ticker");

        var sequences = inbox.Deliveries.SelectMany(d => d.Streams).Where(s => s.Stream == stream).Select(s => s.Sequence).ToList();
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), sequences);
    }

    [Fact]
    public async Task Broadcast_ReachesTheInbox_CarryingTheUserFilter()
    {
        var node = CreateNode();
        var inbox = await node.OpenInboxAsync();
        await node.Directory.AddAsync(node.Connection("a1", "alice"));
        await node.Directory.AddAsync(node.Connection("a2", "alice"));
        await node.Directory.AddAsync(node.Connection("b1", "bob"));
        await node.Directory.AddAsync(node.Connection("c1", "carol"));
        var perUser = new Dictionary<string, int> { ["alice"] = 2, ["bob"] = 1, ["carol"] = 1 };
        inbox.DeliverResult = d => d.Payload.UserFilter is { } only ? only.Sum(u => perUser.GetValueOrDefault(u)) : 4;
        foreach (var user in perUser.Keys)
        {
            await node.Router.AttachAsync(StreamKey.ForUser(user));
        }

        var filtered = await node.Publisher.BroadcastAsync(Json("{\"maintenance\":true}", "notice"), ["alice", "bob"]);
        var everyone = await node.Publisher.BroadcastAsync(Json("2"));
        var nobody = await node.Publisher.BroadcastAsync(Json("3"), []);
        var first = await inbox.WaitForAsync("b", "{\"maintenance\":true}");
        var second = await inbox.WaitForAsync("b", "2");
        var third = await inbox.WaitForAsync("b", "3");

        Assert.Equal([new StreamSequence(StreamKey.Broadcast, 1)], filtered.Events);
        Assert.Equal(1, filtered.Gateways);
        Assert.Equal(3, filtered.Connections);
        Assert.Equal(4, everyone.Connections);
        Assert.Equal(0, nobody.Connections);
        Assert.Equal(["alice", "bob"], first.Payload.UserFilter);
        Assert.Equal("notice", first.Payload.EventType);
        Assert.Equal([new StreamSequence(StreamKey.Broadcast, 2)], second.Streams);
        Assert.Null(second.Payload.UserFilter);
        Assert.NotNull(third.Payload.UserFilter);
        Assert.Empty(third.Payload.UserFilter!);
        var stored = await node.Router.ReadAsync(StreamKey.Broadcast, 0, 10);
        Assert.Equal(["alice", "bob"], stored.Events[0].Payload.UserFilter);
        Assert.Empty(stored.Events[2].Payload.UserFilter!);
    }

    [Fact]
    public async Task PublishToTopic_ReachesTheInboxOfAGatewayAttachedToTheTopic()
    {
        var node = CreateNode();
        var inbox = await node.OpenInboxAsync();
        await node.Router.AttachAsync(StreamKey.ForTopic("sport"));
        await node.Directory.AddAsync(node.Connection("c1", "alice", "sport", "news"));

        var receipt = await node.Publisher.PublishToTopicAsync("sport", Json("{\"goal\":1}", "score"));
        var delivery = await inbox.WaitForAsync("t:sport");

        Assert.Equal([new StreamSequence(StreamKey.ForTopic("sport"), 1)], receipt.Events);
        Assert.Equal(1, receipt.Gateways);
        Assert.Equal(1, receipt.Connections);
        Assert.Equal("{\"goal\":1}", delivery.Payload.Data);
    }

    [Fact]
    public async Task Ticket_IsRedeemedOnceOnly()
    {
        var node = CreateNode();
        await node.Tickets.StoreAsync("tk-1", "grant-for-alice", TimeSpan.FromSeconds(30));

        Assert.Equal("grant-for-alice", await node.Tickets.RedeemAsync("tk-1"));
        Assert.Null(await node.Tickets.RedeemAsync("tk-1"));
        Assert.Null(await node.Tickets.RedeemAsync("never-issued"));
    }

    [Fact]
    public async Task Ticket_PastItsLifetime_CannotBeRedeemed()
    {
        var node = CreateNode();
        await node.Tickets.StoreAsync("tk-short", "grant", TimeSpan.FromMilliseconds(100));

        // Expiry is the passing of time itself; no signal to wait on.
        await Task.Delay(400);

        Assert.Null(await node.Tickets.RedeemAsync("tk-short"));
    }

    [Fact]
    public async Task DisconnectUser_ReachesTheInbox_AndReturnsTheUsersConnectionCount()
    {
        var node = CreateNode();
        var inbox = await node.OpenInboxAsync();
        inbox.ControlResult = c => c.Id == "alice" ? 2 : 0;
        await node.Router.AttachAsync(StreamKey.ForUser("alice"));
        await node.Directory.AddAsync(node.Connection("c1", "alice"));
        await node.Directory.AddAsync(node.Connection("c2", "alice"));
        await node.Directory.AddAsync(node.Connection("c3", "bob"));

        var closed = await node.Publisher.DisconnectUserAsync("alice", "account-deleted", reconnect: true);
        var command = await inbox.WaitForCommandAsync(c => c.Id == "alice", "the disconnect command for alice");

        Assert.Equal(2, closed);
        Assert.Equal(new ControlCommand(ControlTarget.User, "alice", "account-deleted", true), command);
        Assert.False(await node.Control.IsReconnectBlockedAsync("alice"));
    }

    [Fact]
    public async Task DisconnectConnection_ReachesTheInbox_AndCountsTheConnectionOnce()
    {
        var node = CreateNode();
        var inbox = await node.OpenInboxAsync();
        inbox.ControlResult = c => c.Id == "c1" ? 1 : 0;
        await node.Directory.AddAsync(node.Connection("c1", "alice"));

        var closed = await node.Control.SendAsync(new ControlCommand(ControlTarget.Connection, "c1", "disconnected", true), TimeSpan.FromSeconds(60));
        var command = await inbox.WaitForCommandAsync(c => c.Id == "c1", "the disconnect command for connection c1");

        Assert.Equal(1, closed);
        Assert.Equal(ControlTarget.Connection, command.Target);
    }

    [Fact]
    public async Task DisconnectWithoutReconnect_BlocksThatUserOnly_UntilTheWindowEnds()
    {
        var node = CreateNode();
        await node.OpenInboxAsync();

        await node.Control.SendAsync(new ControlCommand(ControlTarget.User, "mallory", "banned", false), TimeSpan.FromMilliseconds(500));

        Assert.True(await node.Control.IsReconnectBlockedAsync("mallory"));
        Assert.False(await node.Control.IsReconnectBlockedAsync("alice"));
        await Eventually.TrueAsync(async () => !await node.Control.IsReconnectBlockedAsync("mallory"), "the end of mallory's reconnect block", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Presence_ListsFindsAndCountsConnections_UntilTheyAreRemoved()
    {
        var node = CreateNode();
        await node.OpenInboxAsync();
        var a1 = node.Connection("a1", "alice", "news");
        var a2 = node.Connection("a2", "alice") with { ConnectedAt = a1.ConnectedAt.AddSeconds(1) };
        var b1 = node.Connection("b1", "bob", "news", "sport");
        await node.Directory.AddAsync(a2);
        await node.Directory.AddAsync(a1);
        await node.Directory.AddAsync(b1);

        var alices = await node.Directory.GetUserConnectionsAsync("alice");
        var found = await node.Directory.FindAsync("b1");
        var stats = await node.Directory.GetStatsAsync(10);

        Assert.Equal(["a1", "a2"], alices.Select(c => c.ConnectionId));
        Assert.NotNull(found);
        Assert.Equal(("b1", node.GatewayId, "bob", "client-b1"), (found.ConnectionId, found.GatewayId, found.UserId, found.ClientId));
        Assert.Equal(["news", "sport"], found.Topics);
        Assert.Equal(b1.ConnectedAt.ToUnixTimeMilliseconds(), found.ConnectedAt.ToUnixTimeMilliseconds());
        Assert.Equal((3, 2, 2), (stats.Connections, stats.Users, stats.Topics));
        var row = Assert.Single(stats.Gateways);
        Assert.Equal((node.GatewayId, 3, 2), (row.GatewayId, row.Connections, row.Users));
        Assert.Equal(node.Gateway.StartedAt.ToUnixTimeMilliseconds(), row.StartedAt.ToUnixTimeMilliseconds());
        Assert.Equal([new UserConnectionCountDto("alice", 2), new UserConnectionCountDto("bob", 1)], stats.TopUsers);
        Assert.Equal([new UserConnectionCountDto("alice", 2)], (await node.Directory.GetStatsAsync(1)).TopUsers);

        await node.Directory.RemoveAsync(a1);
        await node.Directory.RemoveAsync(b1);

        var after = await node.Directory.GetStatsAsync(10);
        Assert.Equal((1, 1, 0), (after.Connections, after.Users, after.Topics));
        Assert.Null(await node.Directory.FindAsync("b1"));
        Assert.Equal(["a2"], (await node.Directory.GetUserConnectionsAsync("alice")).Select(c => c.ConnectionId));
        Assert.Empty(await node.Directory.GetUserConnectionsAsync("bob"));
    }

    [Fact]
    public async Task Health_ReportsAvailable_WhenTheRoutingLayerIsReachable()
    {
        var node = CreateNode();
        await node.Router.GetLastSequencesAsync([StreamKey.Broadcast]);

        await Eventually.TrueAsync(() => node.Health.IsAvailable, "IsAvailable", TimeSpan.FromSeconds(5));
    }
}
