using System.Globalization;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Every stream's history in Redis (standalone or Cluster): per stream a meta hash (epoch, newest sequence), a Redis
/// Stream of its newest events (entry ids <c>&lt;sequence&gt;-0</c>), trimmed by count and by age, and one short-lived
/// key per recent publish id — all under the stream's hash tag (<see cref="RedisKeys"/>).
/// <para>
/// Guarantees: an append is one Lua script, so its events get consecutive sequences in one atomic step however many
/// silos append to the stream at once; a publish id seen within the idempotency window gets its first sequence back
/// and nothing is stored again. A stream not appended to for
/// <c>max(MaxAgeSeconds, IdempotencyWindowSeconds)</c> expires in Redis as a whole and starts again under another
/// epoch, as does every stream of a Redis that restarted empty. Epoch 0 is never used. Redis 6.2 or later.
/// </para>
/// </summary>
internal sealed class RedisStreamHistory(
    RedisConnection connection,
    RedisKeys keys,
    RedisErrors errors,
    IOptions<HistoryOptions> options,
    TimeProvider time) : IStreamHistory
{
    private const string Store = "stream store";
    private const int FixedAppendArguments = 5;
    private const int ArgumentsPerEvent = 4;

    private static readonly RedisValue[] MetaFields = ["epoch", "seq"];

    private readonly HistoryOptions _options = options.Value;

    /// <inheritdoc/>
    public bool IsAvailable => connection.IsAvailable;

    /// <inheritdoc/>
    /// <remarks>
    /// Throws <see cref="RoutingUnavailableException"/> when Redis cannot be reached. After a timeout the append may
    /// still have happened; repeating it with the same publish ids returns the same sequences without storing twice.
    /// </remarks>
    public async Task<AppendResult> AppendAsync(StreamKey stream, IReadOnlyList<PendingEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var redisKeys = new RedisKey[2 + events.Count];
        redisKeys[0] = keys.Meta(stream);
        redisKeys[1] = keys.Events(stream);
        var values = new RedisValue[FixedAppendArguments + ArgumentsPerEvent * events.Count];
        values[0] = NewEpoch();
        values[1] = Math.Max(_options.MaxEventsPerStream, 0);
        values[2] = MinPublishedAt();

        // Meta outlives every publish-id key written with it, so a repeated publish never finds a sequence of a
        // stream that expired meanwhile (the in-memory history likewise keeps a stream while its publish ids live).
        values[3] = Math.Max(Math.Max(_options.MaxAgeSeconds, _options.IdempotencyWindowSeconds), 1) * 1000L;
        values[4] = Math.Max(_options.IdempotencyWindowSeconds, 0) * 1000L;
        for (var i = 0; i < events.Count; i++)
        {
            var (publishId, payload) = events[i];
            ArgumentNullException.ThrowIfNull(payload);
            redisKeys[2 + i] = keys.PublishId(stream, publishId);
            var at = FixedAppendArguments + ArgumentsPerEvent * i;
            values[at] = payload.PublishedAt;
            values[at + 1] = payload.EventType ?? "";
            values[at + 2] = EncodeFilter(payload.UserFilter);
            values[at + 3] = payload.Data;
        }

        var operation = "appending to " + stream;
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await errors.GuardAsync(Store, operation, () => db.ScriptEvaluateAsync(RedisScripts.Append, redisKeys, values), cancellationToken)
            .ConfigureAwait(false);
        var parts = (RedisResult[])result!;
        var sequences = new long[parts.Length - 1];
        for (var i = 0; i < sequences.Length; i++)
        {
            sequences[i] = (long)parts[i + 1];
        }

        return new AppendResult((int)parts[0], sequences);
    }

    /// <inheritdoc/>
    public async Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        RedisKey[] redisKeys = [keys.Meta(stream), keys.Events(stream)];
        RedisValue[] values = [Math.Max(afterSequence, 0), maxCount, MinPublishedAt()];
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await errors.GuardAsync(Store, "reading " + stream, () => db.ScriptEvaluateAsync(RedisScripts.Read, redisKeys, values), cancellationToken)
            .ConfigureAwait(false);
        var parts = (RedisResult[])result!;
        var tail = new StreamTail((int)parts[0], (long)parts[1]);
        if (parts.Length < 3)
        {
            return new StreamRead([], tail);
        }

        var entries = (RedisResult[])parts[2]!;
        var read = new StreamEvent[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            read[i] = DecodeEntry(stream, entries[i]);
        }

        return new StreamRead(read, tail);
    }

    /// <inheritdoc/>
    /// <remarks>One <c>HMGET</c> per stream, all sent before any is awaited: on a Redis Cluster the streams live on different shards.</remarks>
    public async Task<StreamTail[]> GetTailsAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streams);
        if (streams.Count == 0)
        {
            return [];
        }

        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var operation = streams.Count == 1 ? "reading the tail of " + streams[0] : $"reading the tails of {streams.Count} streams";
        var replies = await errors.GuardAsync(
            Store,
            operation,
            () =>
            {
                var pending = new Task<RedisValue[]>[streams.Count];
                for (var i = 0; i < pending.Length; i++)
                {
                    pending[i] = db.HashGetAsync(keys.Meta(streams[i]), MetaFields);
                }

                return Task.WhenAll(pending);
            },
            cancellationToken).ConfigureAwait(false);

        var tails = new StreamTail[replies.Length];
        for (var i = 0; i < replies.Length; i++)
        {
            var (epoch, last) = (replies[i][0], replies[i][1]);
            if (!last.IsNull && (long)last > 0)
            {
                tails[i] = new StreamTail(epoch.IsNull ? 0 : (int)epoch, (long)last);
            }
        }

        return tails;
    }

    // A random epoch per stream incarnation, used by the script only if it creates the stream; never 0.
    private static int NewEpoch() => Random.Shared.Next(1, 1 << 30);

    // '=' then the comma-separated user ids (ids never contain commas), '=' alone for an empty filter, '' for none.
    private static string EncodeFilter(IReadOnlyList<string>? filter) => filter is null ? "" : "=" + string.Join(',', filter);

    private static IReadOnlyList<string>? DecodeFilter(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return text.Length == 1 ? [] : text[1..].Split(',');
    }

    // One XRANGE entry: [id, [field, value, …]].
    private static StreamEvent DecodeEntry(StreamKey stream, RedisResult entry)
    {
        var parts = (RedisResult[])entry!;
        var id = (string)parts[0]!;
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        var sequence = long.Parse(dash < 0 ? id : id[..dash], NumberStyles.None, CultureInfo.InvariantCulture);
        var fields = (RedisValue[])parts[1]!;
        string? eventType = null;
        string? filter = null;
        var data = "";
        long publishedAt = 0;
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            switch ((string?)fields[i])
            {
                case "p":
                    publishedAt = (long)fields[i + 1];
                    break;
                case "e":
                    eventType = fields[i + 1];
                    break;
                case "f":
                    filter = fields[i + 1];
                    break;
                case "d":
                    data = fields[i + 1]!;
                    break;
            }
        }

        return new StreamEvent(stream, sequence, new EventPayload(eventType, data, publishedAt, DecodeFilter(filter)));
    }

    private long MinPublishedAt() => time.GetUtcNow().ToUnixTimeMilliseconds() - _options.MaxAgeSeconds * 1000L;
}
