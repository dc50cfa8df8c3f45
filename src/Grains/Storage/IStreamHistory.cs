using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Storage;

/// <summary>
/// The bounded history of every stream, and the one place sequence numbers come from. In-memory on a single node,
/// Redis Streams in a cluster. Each append is one atomic step in the store that numbers the events after the stream's
/// newest, so two activations of one grain (possible for a moment while a silo fails) interleave but can never
/// renumber, duplicate or lose an event; and a publish id seen within the idempotency window is answered with the
/// sequence it got the first time instead of being stored again.
/// </summary>
public interface IStreamHistory
{
    /// <summary>Appends <paramref name="events"/> to <paramref name="stream"/>, in order, in one step.</summary>
    /// <returns>The stream's epoch and, for each event, its sequence (the first one's, for a repeated publish id).</returns>
    /// <exception cref="RoutingUnavailableException">The store could not be reached; nothing was appended.</exception>
    Task<AppendResult> AppendAsync(StreamKey stream, IReadOnlyList<PendingEvent> events, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads up to <paramref name="maxCount"/> events of <paramref name="stream"/> after <paramref name="afterSequence"/>,
    /// oldest first, in the stream's current epoch. If the history no longer holds <c>afterSequence + 1</c> the result
    /// starts later: callers detect the gap by comparing the first sequence with the one they expected.
    /// </summary>
    Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default);

    /// <summary>The epoch and newest sequence of each stream (<c>(0, 0)</c> for a stream with no event).</summary>
    Task<StreamTail[]> GetTailsAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default);

    /// <summary>False while the store cannot be reached (always true in memory).</summary>
    bool IsAvailable { get; }
}

/// <summary>An event to append, with the id of the publish it came from.</summary>
public readonly record struct PendingEvent(Guid PublishId, EventPayload Payload);

/// <summary>What an append did: the stream's epoch, and one sequence per event appended (or recognised by its publish id).</summary>
public sealed record AppendResult(int Epoch, long[] Sequences);

/// <summary>The result of <see cref="IStreamHistory.ReadAsync"/>.</summary>
/// <param name="Events">Events after the position asked for, oldest first, consecutive.</param>
/// <param name="Tail">The stream's epoch and newest sequence when it was read.</param>
public sealed record StreamRead(IReadOnlyList<StreamEvent> Events, StreamTail Tail)
{
    public long LastSequence => Tail.LastSequence;

    public int Epoch => Tail.Epoch;
}
