using SseCluster.Contracts;
using SseCluster.Grains;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// What a routing layer shared by several gateways must do on top of <see cref="StreamRouterSpecification"/>: each
/// test runs two (or three) gateways with their own ids against the same backend.
/// </summary>
public abstract class ScaleoutStreamRouterSpecification(ITestOutputHelper output) : StreamRouterSpecification(output)
{
    [Fact]
    public async Task SendToUser_ReachesOnlyTheGatewayHoldingThatUser()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        var inboxA = await a.OpenInboxAsync();
        var inboxB = await b.OpenInboxAsync();
        await a.Router.AttachAsync(StreamKey.ForUser("alice"));
        await b.Router.AttachAsync(StreamKey.ForUser("bob"));

        var toAlice = await b.Publisher.SendToUserAsync("alice", Json("\"for alice\""));
        var toBob = await a.Publisher.SendToUserAsync("bob", Json("\"for bob\""));
        await inboxA.WaitForAsync("u:alice");
        await inboxB.WaitForAsync("u:bob");

        Assert.Equal(1, toAlice.Gateways);
        Assert.Equal(1, toBob.Gateways);
        Assert.False(inboxB.Received("u:alice"), "gw-b holds no connection of alice but received her event");
        Assert.False(inboxA.Received("u:bob"), "gw-a holds no connection of bob but received his event");
    }

    [Fact]
    public async Task SendToUser_OfAUserOnTwoGateways_ReachesBoth_AndCountsConnectionsClusterWide()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        var inboxA = await a.OpenInboxAsync();
        var inboxB = await b.OpenInboxAsync();
        await a.Router.AttachAsync(StreamKey.ForUser("alice"));
        await b.Router.AttachAsync(StreamKey.ForUser("alice"));
        await a.Directory.AddAsync(a.Connection("a1", "alice"));
        await b.Directory.AddAsync(b.Connection("b1", "alice"));
        await b.Directory.AddAsync(b.Connection("b2", "alice"));

        var receipt = await a.Publisher.SendToUserAsync("alice", Json("{\"x\":1}"));
        var atA = await inboxA.WaitForAsync("u:alice");
        var atB = await inboxB.WaitForAsync("u:alice");

        Assert.Equal(2, receipt.Gateways);
        Assert.Equal(3, receipt.Connections);
        Assert.Equal(atA.Streams, atB.Streams);
        Assert.Equal("{\"x\":1}", atB.Payload.Data);
    }

    [Fact]
    public async Task Broadcast_ReachesEveryGateway()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        var inboxA = await a.OpenInboxAsync();
        var inboxB = await b.OpenInboxAsync();
        await a.Directory.AddAsync(a.Connection("a1", "alice"));
        await b.Directory.AddAsync(b.Connection("b1", "bob"));

        var receipt = await a.Publisher.BroadcastAsync(Json("\"all\""), ["bob"]);
        var atA = await inboxA.WaitForAsync("b");
        var atB = await inboxB.WaitForAsync("b");

        Assert.Equal(2, receipt.Gateways);
        Assert.Equal(["bob"], atA.Payload.UserFilter);
        Assert.Equal(["bob"], atB.Payload.UserFilter);
        Assert.Equal(2, (await b.Publisher.BroadcastAsync(Json("\"again\""))).Connections);
    }

    [Fact]
    public async Task Topic_ReachesTheGatewaysAttachedToIt_AndStopsAtOneThatDetached()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        var c = CreateNode("gw-c");
        var inboxA = await a.OpenInboxAsync();
        var inboxB = await b.OpenInboxAsync();
        var inboxC = await c.OpenInboxAsync();
        var topic = StreamKey.ForTopic("room-7");
        await a.Router.AttachAsync(topic);
        await b.Router.AttachAsync(topic);

        var first = await c.Publisher.PublishToTopicAsync("room-7", Json("1"));
        await inboxA.WaitForAsync("t:room-7", "1");
        await inboxB.WaitForAsync("t:room-7", "1");
        await b.Router.DetachAsync(topic);
        var second = await c.Publisher.PublishToTopicAsync("room-7", Json("2"));
        await inboxA.WaitForAsync("t:room-7", "2");
        await c.Router.AttachAsync(StreamKey.ForUser("marker"));
        await a.Publisher.SendToUserAsync("marker", Json("0"));
        await inboxC.WaitForAsync("u:marker");

        Assert.Equal(2, first.Gateways);
        Assert.Equal(1, second.Gateways);
        Assert.DoesNotContain(inboxB.Deliveries, d => d.Payload.Data == "2");
        Assert.False(inboxC.Received("t:room-7"), "gw-c never attached t:room-7 but received its events");
    }

    [Fact]
    public async Task Ticket_StoredOnOneGateway_IsRedeemedOnceAcrossGateways()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        await a.Tickets.StoreAsync("tk-cross", "grant", TimeSpan.FromSeconds(30));
        await a.Tickets.StoreAsync("tk-race", "raced", TimeSpan.FromSeconds(30));

        var redeemedOnB = await b.Tickets.RedeemAsync("tk-cross");
        var againOnA = await a.Tickets.RedeemAsync("tk-cross");
        var race = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? a : b).Tickets.RedeemAsync("tk-race")));

        Assert.Equal("grant", redeemedOnB);
        Assert.Null(againOnA);
        Assert.Single(race, r => r is not null);
    }

    [Fact]
    public async Task DisconnectUser_ReachesEveryGateway_AndCountsConnectionsClusterWide()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        var inboxA = await a.OpenInboxAsync();
        var inboxB = await b.OpenInboxAsync();
        await a.Router.AttachAsync(StreamKey.ForUser("alice"));
        await b.Router.AttachAsync(StreamKey.ForUser("alice"));
        await a.Directory.AddAsync(a.Connection("a1", "alice"));
        await b.Directory.AddAsync(b.Connection("b1", "alice"));
        await b.Directory.AddAsync(b.Connection("b2", "alice"));

        var closed = await a.Publisher.DisconnectUserAsync("alice", "bye", reconnect: false);
        await inboxA.WaitForCommandAsync(c => c.Id == "alice", "alice's disconnect at gw-a");
        await inboxB.WaitForCommandAsync(c => c.Id == "alice", "alice's disconnect at gw-b");

        Assert.Equal(3, closed);
        Assert.True(await b.Control.IsReconnectBlockedAsync("alice"));
    }

    [Fact]
    public async Task Presence_SpansGateways_InListingsLookupsAndStats()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        await a.OpenInboxAsync();
        await b.OpenInboxAsync();
        await a.Directory.AddAsync(a.Connection("a1", "alice", "news"));
        await b.Directory.AddAsync(b.Connection("b1", "alice") with { ConnectedAt = DateTimeOffset.UtcNow.AddSeconds(1) });
        await b.Directory.AddAsync(b.Connection("b2", "bob", "sport"));

        var alices = await b.Directory.GetUserConnectionsAsync("alice");
        var found = await a.Directory.FindAsync("b2");
        var stats = await a.Directory.GetStatsAsync(5);

        Assert.Equal([("a1", "gw-a"), ("b1", "gw-b")], alices.Select(c => (c.ConnectionId, c.GatewayId)));
        Assert.Equal("gw-b", found?.GatewayId);
        Assert.Equal((3, 2, 2), (stats.Connections, stats.Users, stats.Topics));
        Assert.Equal([("gw-a", 1, 1), ("gw-b", 2, 2)], stats.Gateways.Select(g => (g.GatewayId, g.Connections, g.Users)));
        Assert.All(stats.Gateways, g => Assert.InRange(g.LastSeen, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1)));
        Assert.Equal([new UserConnectionCountDto("alice", 2), new UserConnectionCountDto("bob", 1)], stats.TopUsers);
    }

    [Fact]
    public async Task ClosingAnInbox_RemovesThatGatewaysLeasesAndPresence()
    {
        var a = CreateNode("gw-a");
        var b = CreateNode("gw-b");
        await a.OpenInboxAsync();
        await b.OpenInboxAsync();
        await b.Router.AttachAsync(StreamKey.ForUser("bob"));
        await b.Directory.AddAsync(b.Connection("b1", "bob", "news"));
        Assert.Equal(2, (await a.Directory.GetStatsAsync(5)).Gateways.Count);

        await b.CloseInboxAsync();

        var stats = await a.Directory.GetStatsAsync(5);
        Assert.Equal(["gw-a"], stats.Gateways.Select(g => g.GatewayId));
        Assert.Equal(0, stats.Connections);
        Assert.Null(await a.Directory.FindAsync("b1"));
        Assert.Empty(await a.Directory.GetUserConnectionsAsync("bob"));
        var receipt = await a.Publisher.SendToUserAsync("bob", Json("1"));
        Assert.Equal((0, 0), (receipt.Gateways, receipt.Connections));
    }
}
