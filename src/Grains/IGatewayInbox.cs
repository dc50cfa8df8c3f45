using SseCluster.Contracts;

namespace SseCluster.Grains;

/// <summary>
/// Where the routing layer hands a gateway its live events and control commands. Implementations only enqueue:
/// they are called on the routing layer's delivery thread and must never wait for a client.
/// </summary>
public interface IGatewayInbox
{
    /// <summary>Queues an event to the local connections reading any of its streams.</summary>
    /// <returns>How many local connections it was queued to.</returns>
    int Deliver(LiveDelivery delivery);

    /// <summary>Applies a control command to the local connections it names.</summary>
    /// <returns>How many local connections it affected.</returns>
    int Control(ControlCommand command);
}

/// <summary>One published event and the streams (with their sequence numbers) this gateway must deliver it on.</summary>
public sealed class LiveDelivery(EventPayload payload, IReadOnlyList<StreamSequence> streams)
{
    public EventPayload Payload { get; } = payload;

    public IReadOnlyList<StreamSequence> Streams { get; } = streams;
}

/// <summary>What a control command targets.</summary>
public enum ControlTarget : byte
{
    /// <summary>Every connection of a user.</summary>
    User,
    /// <summary>One connection by id.</summary>
    Connection,
}

/// <summary>Close connections with <c>event: close</c> carrying <paramref name="Reason"/>.</summary>
public sealed record ControlCommand(ControlTarget Target, string Id, string Reason, bool Reconnect);
