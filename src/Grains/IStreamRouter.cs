using SseCluster.Contracts;

namespace SseCluster.Grains;

/// <summary>
/// The routing layer as a gateway sees it: the per-user, per-topic and broadcast grains.
/// Each grain owns one stream: a gap-free sequence of events with a bounded history.
/// </summary>
public interface IStreamRouter
{
    /// <summary>
    /// Appends <paramref name="payload"/> to each of <paramref name="streams"/> in one step per grain and announces
    /// it live to the gateways that need it. Completes only after every stream has stored the event.
    /// </summary>
    /// <exception cref="RoutingUnavailableException">The event could not be stored.</exception>
    Task<PublishReceipt> PublishAsync(IReadOnlyList<StreamKey> streams, EventPayload payload, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads up to <paramref name="maxCount"/> events of <paramref name="stream"/> after <paramref name="afterSequence"/>,
    /// oldest first. If the history no longer holds <c>afterSequence + 1</c> the result starts later: callers detect the
    /// gap by comparing the first sequence with the one they expected.
    /// </summary>
    Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default);

    /// <summary>The sequence of the newest event of each stream (0 for a stream with none yet).</summary>
    Task<long[]> GetLastSequencesAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default);

    /// <summary>
    /// Tells the stream's grain that this gateway holds a connection reading it, so the gateway's inbox receives its
    /// live events. Gateways call it on their first local reader of a user or topic stream (not for broadcast).
    /// </summary>
    Task AttachAsync(StreamKey stream, CancellationToken cancellationToken = default);

    /// <summary>Undoes <see cref="AttachAsync"/> after the gateway's last local reader of the stream left.</summary>
    Task DetachAsync(StreamKey stream, CancellationToken cancellationToken = default);

    /// <summary>Starts delivering this gateway's live events and control commands to <paramref name="inbox"/>.</summary>
    Task<IAsyncDisposable> OpenInboxAsync(IGatewayInbox inbox, CancellationToken cancellationToken = default);
}

/// <summary>The result of <see cref="IStreamRouter.ReadAsync"/>.</summary>
/// <param name="Events">Events after the position asked for, oldest first, consecutive.</param>
/// <param name="LastSequence">The newest sequence of the stream when it was read.</param>
public sealed record StreamRead(IReadOnlyList<StreamEvent> Events, long LastSequence);
