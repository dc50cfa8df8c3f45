using SseCluster.Contracts;

namespace SseCluster.Grains;

/// <summary>
/// <see cref="ISseEventPublisher"/> over a routing layer: what services and the gateway's HTTP API publish through.
/// </summary>
internal sealed class RoutingPublisher(IStreamRouter router, IControlBus control, TimeProvider time, Microsoft.Extensions.Options.IOptions<PublisherOptions> options)
    : ISseEventPublisher
{
    public Task<PublishReceipt> SendToUserAsync(string userId, OutgoingEvent evt, CancellationToken cancellationToken = default) =>
        SendToUsersAsync([userId], evt, cancellationToken);

    public Task<PublishReceipt> SendToUsersAsync(IReadOnlyCollection<string> userIds, OutgoingEvent evt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        ArgumentNullException.ThrowIfNull(evt);
        if (userIds.Count == 0)
        {
            throw new ArgumentException("at least one user id is required", nameof(userIds));
        }

        var streams = userIds.Distinct(StringComparer.Ordinal).Select(StreamKey.ForUser).ToList();
        return router.PublishAsync(streams, Payload(evt, null), cancellationToken);
    }

    public Task<PublishReceipt> BroadcastAsync(OutgoingEvent evt, IReadOnlyCollection<string>? onlyUserIds = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        string[]? filter = null;
        if (onlyUserIds is not null)
        {
            foreach (var userId in onlyUserIds)
            {
                _ = StreamKey.ForUser(userId); // validates
            }

            filter = onlyUserIds.Distinct(StringComparer.Ordinal).ToArray();
        }

        return router.PublishAsync([StreamKey.Broadcast], Payload(evt, filter), cancellationToken);
    }

    public Task<PublishReceipt> PublishToTopicAsync(string topic, OutgoingEvent evt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        return router.PublishAsync([StreamKey.ForTopic(topic)], Payload(evt, null), cancellationToken);
    }

    public Task<int> DisconnectUserAsync(string userId, string? reason = null, bool reconnect = true, CancellationToken cancellationToken = default)
    {
        _ = StreamKey.ForUser(userId);
        var command = new ControlCommand(ControlTarget.User, userId, string.IsNullOrWhiteSpace(reason) ? "disconnected" : reason, reconnect);
        return control.SendAsync(command, TimeSpan.FromSeconds(options.Value.ReconnectBlockSeconds), cancellationToken);
    }

    private EventPayload Payload(OutgoingEvent evt, string[]? filter) =>
        new(evt.EventType, evt.Data, time.GetUtcNow().ToUnixTimeMilliseconds(), filter);
}
