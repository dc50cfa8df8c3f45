namespace SseCluster.Contracts;

/// <summary>
/// Publishes events to browsers connected to any gateway of the cluster. A returned task that
/// completes successfully means the event is stored in the history of every target stream, so
/// every recipient gets it — live, or on resume. A failure to store throws and nothing is half-sent.
/// </summary>
public interface ISseEventPublisher
{
    /// <summary>Sends to every connection of one user (all tabs and devices).</summary>
    Task<PublishReceipt> SendToUserAsync(string userId, OutgoingEvent evt, CancellationToken cancellationToken = default);

    /// <summary>Sends to every connection of each listed user; each user's stream gets its own sequence number.</summary>
    Task<PublishReceipt> SendToUsersAsync(IReadOnlyCollection<string> userIds, OutgoingEvent evt, CancellationToken cancellationToken = default);

    /// <summary>Sends to every connection, or only to those of <paramref name="onlyUserIds"/> when given.</summary>
    Task<PublishReceipt> BroadcastAsync(OutgoingEvent evt, IReadOnlyCollection<string>? onlyUserIds = null, CancellationToken cancellationToken = default);

    /// <summary>Sends to every connection subscribed to <paramref name="topic"/>.</summary>
    Task<PublishReceipt> PublishToTopicAsync(string topic, OutgoingEvent evt, CancellationToken cancellationToken = default);

    /// <summary>
    /// Closes every connection of the user with <c>event: close</c>. With <paramref name="reconnect"/> false the
    /// user's reconnects are answered 204 for the block window, so browsers stop retrying.
    /// </summary>
    /// <returns>How many connections were closed.</returns>
    Task<int> DisconnectUserAsync(string userId, string? reason = null, bool reconnect = true, CancellationToken cancellationToken = default);
}
