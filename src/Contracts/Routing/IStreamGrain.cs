namespace SseCluster.Contracts.Routing;

/// <summary>
/// The grain of one stream: a user's (<c>u:42</c>), a topic's (<c>t:room-7</c>) or the broadcast stream (<c>b</c>),
/// keyed by <see cref="StreamKey.GrainKey"/>. It orders the stream's publishes, stores them in the stream's bounded
/// history (which numbers them 1, 2, 3, … without gaps) and hands each one, once, to every live gateway that holds a
/// connection reading the stream. It keeps no state that matters beyond its activation: the history, the sequence
/// and the list of attached gateways live in the stream store, so a grain that re-activates on another silo carries on.
/// </summary>
[Alias("sse.IStreamGrain")]
public interface IStreamGrain : IGrainWithStringKey
{
    /// <summary>
    /// Stores <paramref name="payload"/> in the stream's history and hands it to the attached gateways. Completes once
    /// the store answered (and the live hand-off finished or timed out): a completed call means the event is stored.
    /// A second call with the same <paramref name="publishId"/> within the idempotency window stores nothing and
    /// answers the first call's sequence.
    /// </summary>
    /// <exception cref="RoutingUnavailableException">The store could not be reached; nothing was stored.</exception>
    [Alias("publish")]
    Task<PublishAck> Publish([Immutable] EventPayload payload, Guid publishId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records that <paramref name="gateway"/> holds connections reading this stream, so live events go to
    /// <paramref name="endpoint"/>. Gateways call it for their first local reader of the stream. Idempotent.
    /// </summary>
    /// <remarks>When the call completes, every event the grain hands out from then on goes to the gateway too.</remarks>
    [Alias("attach")]
    Task Attach(SiloAddress gateway, IGatewayEndpoint endpoint, CancellationToken cancellationToken = default);

    /// <summary>Undoes <see cref="Attach"/> after the gateway's last local reader of the stream left. Idempotent.</summary>
    [Alias("detach")]
    Task Detach(SiloAddress gateway, CancellationToken cancellationToken = default);

    /// <summary>
    /// User streams: closes the user's connections on every attached gateway; with <c>Reconnect = false</c> and a
    /// positive <paramref name="reconnectBlock"/> the user's reconnects are refused for that long.
    /// </summary>
    /// <returns>How many connections the gateways closed.</returns>
    [Alias("disconnect")]
    Task<int> Disconnect(ControlCommand command, TimeSpan reconnectBlock, CancellationToken cancellationToken = default);
}
