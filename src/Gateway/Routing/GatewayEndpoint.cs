using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Streaming;
using SseCluster.Grains.Streams;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// The object behind this gateway's <see cref="IGatewayEndpoint"/> observer reference: what grains call. Deliveries and
/// commands only queue to local connections; queries read the local registry.
/// </summary>
internal sealed class GatewayEndpoint(LocalDispatcher dispatcher, ConnectionRegistry registry, GatewayIdentity identity) : IGatewayEndpoint
{
    public async Task<int[]> Deliver(LiveDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        using var span = SseClusterTracing.StartEnqueue(identity.Name, delivery.Stream.ToString(), delivery.Events.Count);
        return await dispatcher.DeliverAsync(delivery);
    }

    public Task<int> Control(ControlCommand command) => Task.FromResult(dispatcher.Control(command));

    public Task<GatewayPresence> GetPresence() => Task.FromResult(registry.Presence());

    public Task<IReadOnlyList<ConnectionRecord>> FindConnections(ConnectionQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        IReadOnlyList<ConnectionRecord> found = query switch
        {
            { ConnectionId: { } id } => registry.Find(id) is { } one && (query.UserId is null || query.UserId == one.UserId) ? [one.Record] : [],
            { UserId: { } userId } => registry.ForUser(userId).Select(c => c.Record).ToList(),
            _ => [],
        };
        return Task.FromResult(found);
    }
}
