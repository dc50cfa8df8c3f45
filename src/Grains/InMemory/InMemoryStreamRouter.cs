using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;

namespace SseCluster.Grains.InMemory;

/// <summary>
/// The routing layer inside one process: every stream's grain is a <see cref="StreamHistory"/>, and the single local
/// gateway receives every live event. One lock orders append and announcement across all streams, so live delivery
/// order always equals sequence order (appending is a few hundred nanoseconds; the inbox only enqueues).
/// </summary>
internal sealed class InMemoryStreamRouter(IOptions<HistoryOptions> options, TimeProvider time) : IStreamRouter
{
    private readonly ConcurrentDictionary<StreamKey, StreamHistory> _streams = new();
    private readonly Lock _publishLock = new();
    private readonly HistoryOptions _options = options.Value;
    private volatile IGatewayInbox? _inbox;

    public IGatewayInbox? Inbox => _inbox;

    public Task<PublishReceipt> PublishAsync(IReadOnlyList<StreamKey> streams, EventPayload payload, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentNullException.ThrowIfNull(payload);
        var sequences = new StreamSequence[streams.Count];
        var minPublishedAt = MinPublishedAt();
        int connections;
        lock (_publishLock)
        {
            for (var i = 0; i < streams.Count; i++)
            {
                var history = _streams.GetOrAdd(streams[i], static key => new StreamHistory(key));
                sequences[i] = new StreamSequence(streams[i], history.Append(payload, _options.MaxEventsPerStream, minPublishedAt));
            }

            connections = _inbox?.Deliver(new LiveDelivery(payload, sequences)) ?? 0;
        }

        return Task.FromResult(new PublishReceipt(sequences, _inbox is null ? 0 : 1, connections));
    }

    public Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        if (!_streams.TryGetValue(stream, out var history))
        {
            return Task.FromResult(new StreamRead([], 0));
        }

        lock (_publishLock)
        {
            return Task.FromResult(history.Read(afterSequence, maxCount, _options.MaxEventsPerStream, MinPublishedAt()));
        }
    }

    public Task<long[]> GetLastSequencesAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streams);
        var result = new long[streams.Count];
        lock (_publishLock)
        {
            for (var i = 0; i < streams.Count; i++)
            {
                result[i] = _streams.TryGetValue(streams[i], out var history) ? history.LastSequence : 0;
            }
        }

        return Task.FromResult(result);
    }

    // One process, one gateway: it receives every stream's events, so there is no directory to keep.
    public Task AttachAsync(StreamKey stream, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task DetachAsync(StreamKey stream, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task<IAsyncDisposable> OpenInboxAsync(IGatewayInbox inbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inbox);
        if (Interlocked.CompareExchange(ref _inbox, inbox, null) is not null)
        {
            throw new InvalidOperationException("The in-memory routing layer serves one gateway; an inbox is already open.");
        }

        return Task.FromResult<IAsyncDisposable>(new InboxRegistration(this, inbox));
    }

    private long MinPublishedAt() => time.GetUtcNow().ToUnixTimeMilliseconds() - _options.MaxAgeSeconds * 1000L;

    private sealed class InboxRegistration(InMemoryStreamRouter router, IGatewayInbox inbox) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            Interlocked.CompareExchange(ref router._inbox, null, inbox);
            return ValueTask.CompletedTask;
        }
    }
}
