using System.Diagnostics;

namespace SseCluster.Gateway.Streaming;

/// <summary>What a connection's writer does with a queued item.</summary>
internal enum OutboundKind : byte
{
    /// <summary>An event of one of the connection's streams: written with the connection's id line, in sequence order.</summary>
    Event,
    /// <summary>An event of a stream the connection reads but that is not for it (a filtered broadcast): only the position moves.</summary>
    Skip,
    /// <summary>Bytes written as they are (heartbeats).</summary>
    Raw,
    /// <summary>A checkpoint id, a jittered retry, the body (close/reauth events), then the stream ends.</summary>
    Close,
}

/// <summary>
/// One item of a connection's bounded queue. A struct, so queuing an event to ten thousand connections allocates
/// nothing per connection: <see cref="Body"/> is the one shared, preformatted frame.
/// </summary>
internal readonly struct OutboundItem(OutboundKind kind, byte[]? body, int slot = -1, long sequence = 0, int epoch = 0, long enqueuedAt = 0)
{
    public OutboundKind Kind { get; } = kind;

    public byte[]? Body { get; } = body;

    /// <summary>The id slot of the event's stream (see <see cref="SseConnection.StreamAt"/>).</summary>
    public int Slot { get; } = slot;

    public long Sequence { get; } = sequence;

    /// <summary>The epoch of the stream the sequence belongs to.</summary>
    public int Epoch { get; } = epoch;

    /// <summary>When the item was queued (<see cref="Stopwatch"/> ticks); a fan-out passes one timestamp for all its items.</summary>
    public long EnqueuedAt { get; } = enqueuedAt != 0 ? enqueuedAt : Stopwatch.GetTimestamp();
}
