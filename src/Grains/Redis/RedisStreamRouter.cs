using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Grains.Redis.Internal;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis;

/// <summary>
/// The routing layer on Redis (standalone or Cluster). Each stream's grain lives under one hash tag and each grain
/// method is one Lua script on the shard that owns it: a publish increments the grain's sequence, appends to its
/// Redis Stream (trimmed by count and age) and announces the event — to the broadcast channel for the broadcast grain,
/// otherwise to the inbox channel of each gateway instance holding a live lease in the grain's directory.
/// <para>
/// Guarantees: a stream's sequences are 1, 2, 3, … without gaps (one INCR per stored event, in the same atomic step);
/// <see cref="PublishAsync"/> completes only after every stream stored the event and throws
/// <see cref="RoutingUnavailableException"/> otherwise; live messages of one stream reach a gateway in sequence order.
/// A gateway subscribes to exactly three channels — its inbox, broadcast and control — however many users and
/// topics it serves. With several streams in one publish, each stream is announced in its own message.
/// </para>
/// </summary>
internal sealed class RedisStreamRouter(
    RedisConnection redis,
    RedisKeys keys,
    GatewayPresence presence,
    IOptions<HistoryOptions> history,
    TimeProvider time,
    ILogger<RedisStreamRouter> logger) : IStreamRouter
{
    // Above this many filtered users a broadcast's receipt counts every connection instead of summing per user.
    private const int MaxFilterUsersCounted = 1000;

    private readonly HistoryOptions _history = history.Value;
    private RedisInboxSubscription? _inbox;

    public async Task<PublishReceipt> PublishAsync(IReadOnlyList<StreamKey> streams, EventPayload payload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentNullException.ThrowIfNull(payload);
        if (streams.Count == 0)
        {
            return new PublishReceipt([], 0, 0);
        }

        var operation = streams.Count == 1 ? $"publishing to {streams[0]}" : $"publishing to {streams.Count} streams";
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var (publishedAt, eventType, filter, data) = RedisEventCodec.Encode(payload);
        RedisValue maxEvents = _history.MaxEventsPerStream;
        RedisValue minPublishedAt = MinPublishedAt();
        RedisValue historyTtl = _history.MaxAgeSeconds * 1000L;
        var pending = new Task<RedisResult>[streams.Count];
        for (var i = 0; i < streams.Count; i++)
        {
            var stream = streams[i];
            var broadcast = stream.Kind == StreamKind.Broadcast;
            pending[i] = RedisScriptRunner.Start(
                db,
                RedisScripts.Publish,
                [.. keys.GrainDirectory(stream), keys.Sequence(stream), keys.Events(stream)],
                [
                    maxEvents, minPublishedAt, historyTtl,
                    broadcast ? "b" : "d",
                    broadcast ? keys.BroadcastChannelName : keys.InboxChannelPrefix,
                    stream.ToString(), publishedAt, eventType, filter, data,
                ]);
        }

        var results = await RedisErrors.Guard(Task.WhenAll(pending), operation, cancellationToken).ConfigureAwait(false);
        var sequences = new StreamSequence[streams.Count];
        var gateways = new HashSet<string>(StringComparer.Ordinal);
        var connections = 0;
        for (var i = 0; i < results.Length; i++)
        {
            var parts = (RedisResult[])results[i]!;
            sequences[i] = new StreamSequence(streams[i], (long)parts[0]);
            for (var j = 2; j < parts.Length; j++)
            {
                gateways.Add((string)parts[j]!);
            }

            var streamConnections = (int)parts[1];
            if (streams[i].Kind == StreamKind.Broadcast && payload.UserFilter is { Count: <= MaxFilterUsersCounted } only)
            {
                streamConnections = await CountUsersAsync(db, only, streamConnections).ConfigureAwait(false);
            }

            connections += streamConnections;
        }

        return new PublishReceipt(sequences, gateways.Count, connections);
    }

    public async Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var pending = RedisScriptRunner.Start(
            db,
            RedisScripts.Read,
            [keys.Sequence(stream), keys.Events(stream)],
            [Math.Max(afterSequence, 0), maxCount, MinPublishedAt()]);
        var result = (RedisResult[])(await RedisErrors.Guard(pending, $"reading {stream}", cancellationToken).ConfigureAwait(false))!;
        var last = (long)result[0];
        if (result.Length < 2)
        {
            return new StreamRead([], last);
        }

        var entries = (RedisResult[])result[1]!;
        var events = new StreamEvent[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            events[i] = RedisEventCodec.DecodeEntry(stream, entries[i]);
        }

        return new StreamRead(events, last);
    }

    public async Task<long[]> GetLastSequencesAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streams);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);

        // One GET per stream: on Redis Cluster the streams live on different shards, so no MGET.
        var pending = streams.Select(s => db.StringGetAsync(keys.Sequence(s))).ToArray();
        var values = await RedisErrors.Guard(Task.WhenAll(pending), "reading stream positions", cancellationToken).ConfigureAwait(false);
        return values.Select(v => v.IsNull ? 0L : (long)v).ToArray();
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Takes this gateway's lease in the grain and keeps renewing it until <see cref="DetachAsync"/> or the inbox is
    /// disposed. Throws <see cref="RoutingUnavailableException"/> when Redis is unreachable; the lease is then taken by
    /// the refresh loop as soon as Redis returns.
    /// </remarks>
    public Task AttachAsync(StreamKey stream, CancellationToken cancellationToken = default) => presence.AttachAsync(stream, cancellationToken);

    public Task DetachAsync(StreamKey stream, CancellationToken cancellationToken = default) => presence.DetachAsync(stream, cancellationToken);

    /// <inheritdoc/>
    /// <remarks>
    /// Subscribes to this gateway's inbox, the broadcast and the control channel, and registers the gateway. StackExchange.Redis
    /// restores the subscriptions by itself after Redis comes back (and this router re-asserts its leases at once).
    /// <paramref name="inbox"/> is called on the Redis delivery thread, in each stream's sequence order. Disposing the
    /// result unsubscribes and removes this gateway's leases and presence records. One inbox per router.
    /// </remarks>
    public async Task<IAsyncDisposable> OpenInboxAsync(IGatewayInbox inbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inbox);
        var subscription = new RedisInboxSubscription(this, inbox, keys, presence, logger);
        if (Interlocked.CompareExchange(ref _inbox, subscription, null) is not null)
        {
            throw new InvalidOperationException("This router already has an open inbox; dispose it before opening another.");
        }

        try
        {
            var multiplexer = await redis.GetMultiplexerAsync(cancellationToken).ConfigureAwait(false);
            await subscription.SubscribeAsync(multiplexer.GetSubscriber(), cancellationToken).ConfigureAwait(false);
            await presence.OpenAsync(cancellationToken).ConfigureAwait(false);
            return subscription;
        }
        catch
        {
            await subscription.CloseAsync(cleanup: false).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops refreshing and unsubscribes without removing anything from Redis: what a killed gateway does.</summary>
    internal async Task SimulateCrashAsync()
    {
        if (Volatile.Read(ref _inbox) is { } inbox)
        {
            await inbox.CloseAsync(cleanup: false).ConfigureAwait(false);
        }
        else
        {
            await presence.CloseAsync(cleanup: false).ConfigureAwait(false);
        }
    }

    internal void Release(RedisInboxSubscription subscription) => Interlocked.CompareExchange(ref _inbox, null, subscription);

    private long MinPublishedAt() => time.GetUtcNow().ToUnixTimeMilliseconds() - _history.MaxAgeSeconds * 1000L;

    private async Task<int> CountUsersAsync(IDatabase db, IReadOnlyList<string> userIds, int fallback)
    {
        try
        {
            var pending = userIds.Where(Identifiers.IsValidUserId).Select(u =>
                RedisScriptRunner.Start(db, RedisScripts.CountConnections, keys.GrainDirectory(StreamKey.ForUser(u)), []));
            var counts = await Task.WhenAll(pending).ConfigureAwait(false);
            return counts.Sum(c => (int)c);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            // The event is stored already; an upper bound is better than reporting a stored event as failed.
            return fallback;
        }
    }
}
