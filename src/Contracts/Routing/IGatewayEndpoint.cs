using Orleans.Concurrency;

namespace SseCluster.Contracts.Routing;

/// <summary>
/// The one endpoint each gateway offers the grains: an observer object in the gateway process. Every call only queues
/// work to local connections (or reads local state) and never waits for a client. Grains call it once per gateway per
/// batch of events, however many local connections read the stream there. Orleans promises neither the order nor the
/// delivery of these calls; the gateway orders each stream by sequence and fills holes from the stream store.
/// <para>
/// Every method interleaves: an observer otherwise runs its calls one at a time, so one delivery that reads a hole
/// from the store would hold up every other stream's deliveries, and stats and look-ups behind them. The gateway
/// orders each stream itself, and a stream grain keeps one delivery per gateway in flight.
/// </para>
/// </summary>
[Alias("sse.IGatewayEndpoint")]
public interface IGatewayEndpoint : IGrainObserver
{
    /// <summary>Queues the events of one stream to the local connections reading it.</summary>
    /// <returns>For each event of the delivery, how many local connections it was queued to.</returns>
    [Alias("deliver")]
    [AlwaysInterleave]
    Task<int[]> Deliver([Immutable] LiveDelivery delivery);

    /// <summary>Closes the local connections a command names.</summary>
    /// <returns>How many local connections it closed.</returns>
    [Alias("control")]
    [AlwaysInterleave]
    Task<int> Control(ControlCommand command);

    /// <summary>What this gateway holds now: its connections per user and the topics they read.</summary>
    [Alias("presence")]
    [AlwaysInterleave]
    Task<GatewayPresence> GetPresence();

    /// <summary>This gateway's connections of one user, or the one connection with an id (<see cref="ConnectionQuery"/>).</summary>
    [Alias("connections")]
    [AlwaysInterleave]
    Task<IReadOnlyList<ConnectionRecord>> FindConnections(ConnectionQuery query);
}
