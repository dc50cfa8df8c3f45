namespace SseCluster.Contracts.Routing;

// The messages grains and gateways exchange. Every one is immutable once sent.

/// <summary>The answer to <see cref="IStreamGrain.Publish"/>.</summary>
/// <param name="Sequence">The event's sequence in the stream.</param>
/// <param name="Epoch">The stream's epoch (see <see cref="StreamTail.Epoch"/>).</param>
/// <param name="Gateways">The live gateways the event was handed to.</param>
/// <param name="Connections">Connections those gateways queued it to (none for a gateway that did not answer in time).</param>
[GenerateSerializer]
[Immutable]
[Alias("sse.PublishAck")]
public sealed record PublishAck(long Sequence, int Epoch, IReadOnlyList<SiloAddress> Gateways, int Connections);

/// <summary>
/// Where a stream stands: its epoch and newest sequence. The epoch is a random number the store gives a stream when it
/// creates it; a store that lost the stream (a Redis restarted empty, an idle stream expired) starts it again under
/// another epoch, so positions from before are recognised as belonging to a stream that no longer exists. 0 means the
/// stream has no event yet.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.StreamTail")]
public readonly record struct StreamTail(int Epoch, long LastSequence);

/// <summary>One stored event as a gateway receives it live.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.LiveEvent")]
public sealed record LiveEvent(long Sequence, EventPayload Payload);

/// <summary>Consecutive events of one stream, oldest first, handed to a gateway in one call.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.LiveDelivery")]
public sealed record LiveDelivery(StreamKey Stream, int Epoch, IReadOnlyList<LiveEvent> Events);

/// <summary>What a control command targets.</summary>
[GenerateSerializer]
[Alias("sse.ControlTarget")]
public enum ControlTarget : byte
{
    /// <summary>Every connection of a user.</summary>
    User,
    /// <summary>One connection by id.</summary>
    Connection,
}

/// <summary>Close connections with <c>event: close</c> carrying <paramref name="Reason"/>.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.ControlCommand")]
public sealed record ControlCommand(ControlTarget Target, string Id, string Reason, bool Reconnect);

/// <summary>A gateway as it registers: its silo, its name, when it started and its endpoint.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.GatewayRegistration")]
public sealed record GatewayRegistration(SiloAddress Address, string Name, DateTimeOffset StartedAt, IGatewayEndpoint Endpoint);

/// <summary>A registered gateway and when it last registered.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.RegisteredGateway")]
public sealed record RegisteredGateway(GatewayRegistration Registration, DateTimeOffset LastSeen);

/// <summary>A gateway's connections, counted per user, and the topics they read.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.GatewayPresence")]
public sealed record GatewayPresence(int Connections, IReadOnlyDictionary<string, int> UserConnections, IReadOnlyList<string> Topics);

/// <summary>Which connections <see cref="IGatewayEndpoint.FindConnections"/> returns: a user's, or one by id.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.ConnectionQuery")]
public sealed record ConnectionQuery(string? UserId, string? ConnectionId);

/// <summary>One connection as a gateway describes it.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.ConnectionRecord")]
public sealed record ConnectionRecord(
    string ConnectionId,
    string Gateway,
    string? UserId,
    string? ClientId,
    IReadOnlyList<string> Topics,
    DateTimeOffset ConnectedAt,
    string? RemoteAddress,
    string? UserAgent);
