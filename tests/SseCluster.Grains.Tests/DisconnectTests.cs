using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Tests.Support;

namespace SseCluster.Grains.Tests;

/// <summary>
/// <see cref="IStreamGrain.Disconnect"/> sends the command to the <c>Control</c> of every gateway attached to the
/// user's stream, answers the sum of what they closed, and with <c>Reconnect = false</c> blocks the user in the store.
/// </summary>
public sealed class DisconnectTests(InMemoryClusterFixture fixture) : IClassFixture<InMemoryClusterFixture>
{
    private readonly GatewayCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task Disconnect_ReachesEachAttachedGatewaysControlOnce_AndReturnsTheSumOfTheirCounts()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("kick"));
        var gateways = _cluster.Gateways;
        var (a, idle, c) = (gateways[0], gateways[1], gateways[2]);
        a.Endpoint.SetConnections(user, 2);
        c.Endpoint.SetConnections(user, 3);
        idle.Endpoint.SetConnections(user, 50); // claims connections, but never attached: must not be asked
        await _cluster.AttachAsync(user, a, c);
        var command = new ControlCommand(ControlTarget.User, user.Name, "session revoked", Reconnect: true);

        var closed = await _cluster.Grain(user).Disconnect(command, TimeSpan.FromMinutes(1));

        Assert.Equal(5, closed);
        Assert.Equal(command, Assert.Single(a.Endpoint.Commands, x => x.Id == user.Name));
        Assert.Equal(command, Assert.Single(c.Endpoint.Commands, x => x.Id == user.Name));
        Assert.DoesNotContain(idle.Endpoint.Commands, x => x.Id == user.Name);
        Assert.False(await _cluster.Blocks.IsBlockedAsync(user.Name)); // reconnect allowed: no block
    }

    [Fact]
    public async Task DisconnectWithoutReconnect_BlocksTheUserInTheStore_ThroughTheGrainAndThroughThePublisher()
    {
        var viaGrain = StreamKey.ForUser(GatewayCluster.Unique("ban"));
        var viaPublisher = StreamKey.ForUser(GatewayCluster.Unique("banp"));
        var gateway = _cluster.Gateways[1];
        gateway.Endpoint.SetConnections(viaGrain, 1);
        gateway.Endpoint.SetConnections(viaPublisher, 4);
        await _cluster.AttachAsync(viaGrain, gateway);
        await _cluster.AttachAsync(viaPublisher, gateway);

        var closed = await _cluster.Grain(viaGrain).Disconnect(
            new ControlCommand(ControlTarget.User, viaGrain.Name, "banned", Reconnect: false), TimeSpan.FromMinutes(1));
        var closedByPublisher = await _cluster.Publisher.DisconnectUserAsync(viaPublisher.Name, "banned", reconnect: false);

        Assert.Equal((1, 4), (closed, closedByPublisher));
        Assert.True(await _cluster.Blocks.IsBlockedAsync(viaGrain.Name), "the grain's disconnect did not block the user");
        Assert.True(await _cluster.Blocks.IsBlockedAsync(viaPublisher.Name), "the publisher's disconnect did not block the user");
        var command = Assert.Single(gateway.Endpoint.Commands, x => x.Id == viaPublisher.Name);
        Assert.Equal(("banned", false), (command.Reason, command.Reconnect));
    }

    [Fact]
    public async Task DisconnectOfAUserNoGatewayReads_ReturnsZero_AndDisconnectOfATopicIsRefused()
    {
        var nobody = GatewayCluster.Unique("nobody");
        Assert.Equal(0, await _cluster.Publisher.DisconnectUserAsync(nobody));

        var topic = StreamKey.ForTopic(GatewayCluster.Unique("room"));
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            _cluster.Grain(topic).Disconnect(new ControlCommand(ControlTarget.User, "x", "r", true), TimeSpan.Zero));
    }
}
