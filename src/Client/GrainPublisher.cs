using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Client;

/// <summary>
/// <see cref="ISseEventPublisher"/> over the stream grains: what services publish through, and what the gateway's HTTP
/// API calls. A publish to several streams calls their grains at once; each call carries the publish's id through every
/// retry, so a grain that stored the event before its silo died answers the retry with the same sequence.
/// </summary>
internal sealed class GrainPublisher : ISseEventPublisher
{
    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly PublisherOptions _options;
    private readonly PublishRetry _retry;

    // Grain references by stream: making one resolves the grain's interface type each time, a measurable part of a
    // publish. Bounded: past the bound it starts over.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<StreamKey, IStreamGrain> _references = new();
    private const int MaxReferences = 100_000;

    public GrainPublisher(IGrainFactory grains, TimeProvider time, IOptions<PublisherOptions> options, ILogger<GrainPublisher> logger)
    {
        _grains = grains;
        _time = time;
        _options = options.Value;
        _retry = new PublishRetry(_options, time, logger);
    }

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

        var streams = new List<StreamKey>(userIds.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var userId in userIds)
        {
            if (seen.Add(userId))
            {
                streams.Add(StreamKey.ForUser(userId));
            }
        }

        return PublishAsync(streams, Payload(evt, null), evt.PublishId ?? Guid.NewGuid(), cancellationToken);
    }

    public Task<PublishReceipt> BroadcastAsync(OutgoingEvent evt, IReadOnlyCollection<string>? onlyUserIds = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        string[]? filter = null;
        if (onlyUserIds is not null)
        {
            foreach (var userId in onlyUserIds)
            {
                if (!Identifiers.IsValidUserId(userId))
                {
                    throw new ArgumentException($"'{userId}' is not a valid user id: {Identifiers.UserIdRule}", nameof(onlyUserIds));
                }
            }

            filter = onlyUserIds.Distinct(StringComparer.Ordinal).ToArray();
        }

        return PublishAsync([StreamKey.Broadcast], Payload(evt, filter), evt.PublishId ?? Guid.NewGuid(), cancellationToken);
    }

    public Task<PublishReceipt> PublishToTopicAsync(string topic, OutgoingEvent evt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        return PublishAsync([StreamKey.ForTopic(topic)], Payload(evt, null), evt.PublishId ?? Guid.NewGuid(), cancellationToken);
    }

    public Task<int> DisconnectUserAsync(string userId, string? reason = null, bool reconnect = true, CancellationToken cancellationToken = default)
    {
        var stream = StreamKey.ForUser(userId);
        var command = new ControlCommand(ControlTarget.User, userId, string.IsNullOrWhiteSpace(reason) ? "disconnected" : reason, reconnect);
        var block = TimeSpan.FromSeconds(_options.ReconnectBlockSeconds);
        var grain = Grain(stream);
        return _retry.RunAsync(ct => grain.Disconnect(command, block, ct), $"disconnecting user {userId}", cancellationToken);
    }

    private async Task<PublishReceipt> PublishAsync(IReadOnlyList<StreamKey> streams, EventPayload payload, Guid publishId, CancellationToken cancellationToken)
    {
        var bytes = (long)payload.DataBytes * streams.Count;
        if (bytes > _options.MaxBytesPerPublish)
        {
            throw new PublishTooLargeException(
                $"the publish would store {bytes} bytes ({payload.DataBytes} bytes of data for each of {streams.Count} streams); at most {_options.MaxBytesPerPublish} are allowed ({PublisherOptions.Section}:{nameof(PublisherOptions.MaxBytesPerPublish)}) — send large data to a topic or a filtered broadcast, which store it once");
        }

        var acks = await Task.WhenAll(streams.Select(stream => PublishOneAsync(stream, payload, publishId, cancellationToken))).ConfigureAwait(false);
        var events = new StreamSequence[streams.Count];
        var gateways = new HashSet<SiloAddress>();
        var connections = 0;
        for (var i = 0; i < acks.Length; i++)
        {
            events[i] = new StreamSequence(streams[i], acks[i].Sequence);
            gateways.UnionWith(acks[i].Gateways);
            connections += acks[i].Connections;
        }

        return new PublishReceipt(events, gateways.Count, connections);
    }

    private Task<PublishAck> PublishOneAsync(StreamKey stream, EventPayload payload, Guid publishId, CancellationToken cancellationToken)
    {
        var grain = Grain(stream);
        return _retry.RunAsync(ct => grain.Publish(payload, publishId, ct), $"publishing to {stream}", cancellationToken);
    }

    private IStreamGrain Grain(StreamKey stream)
    {
        if (_references.TryGetValue(stream, out var grain))
        {
            return grain;
        }

        if (_references.Count >= MaxReferences)
        {
            _references.Clear();
        }

        return _references[stream] = _grains.GetGrain<IStreamGrain>(stream.GrainKey);
    }

    private EventPayload Payload(OutgoingEvent evt, string[]? filter) =>
        new(evt.EventType, evt.Data, _time.GetUtcNow().ToUnixTimeMilliseconds(), filter);
}
