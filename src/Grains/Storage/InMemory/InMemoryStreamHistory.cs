using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Storage.InMemory;

/// <summary>
/// Every stream's history in this process (the single-node default). Each stream is locked on its own, so streams
/// never wait for each other. Streams with nothing left worth keeping are forgotten by a sweep that runs at most
/// every <see cref="SweepInterval"/>, during appends, so idle streams do not hold memory for ever.
/// </summary>
internal sealed class InMemoryStreamHistory(IOptions<HistoryOptions> options, TimeProvider time) : IStreamHistory
{
    public static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<StreamKey, StreamLog> _streams = new();
    private readonly HistoryOptions _options = options.Value;
    private long _nextSweepAt;
    private int _sweeping;

    public bool IsAvailable => true;

    /// <summary>Streams held now (tests and metrics).</summary>
    public int StreamCount => _streams.Count;

    public Task<AppendResult> AppendAsync(StreamKey stream, IReadOnlyList<PendingEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        SweepIfDue(now);
        while (true)
        {
            var log = _streams.GetOrAdd(stream, static key => new StreamLog(key, NewEpoch()));
            lock (log)
            {
                if (log.Removed)
                {
                    continue; // forgotten by the sweep a moment ago: start the stream anew
                }

                var sequences = new long[events.Count];
                for (var i = 0; i < events.Count; i++)
                {
                    sequences[i] = log.Append(events[i], _options, now);
                }

                return Task.FromResult(new AppendResult(log.Epoch, sequences));
            }
        }
    }

    public Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        if (!_streams.TryGetValue(stream, out var log))
        {
            return Task.FromResult(new StreamRead([], default));
        }

        lock (log)
        {
            return Task.FromResult(log.Read(afterSequence, maxCount, _options, time.GetUtcNow().ToUnixTimeMilliseconds()));
        }
    }

    public Task<StreamTail[]> GetTailsAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streams);
        var result = new StreamTail[streams.Count];
        for (var i = 0; i < streams.Count; i++)
        {
            if (_streams.TryGetValue(streams[i], out var log))
            {
                lock (log)
                {
                    result[i] = log.Tail;
                }
            }
        }

        return Task.FromResult(result);
    }

    /// <summary>Forgets every stream with nothing left worth keeping; returns how many.</summary>
    internal int Sweep(long now)
    {
        var removed = 0;
        foreach (var (key, log) in _streams)
        {
            lock (log)
            {
                if (!log.IsIdle(_options, now))
                {
                    continue;
                }

                log.Removed = true;
                _streams.TryRemove(new KeyValuePair<StreamKey, StreamLog>(key, log));
                removed++;
            }
        }

        return removed;
    }

    // A random epoch per stream incarnation: a forgotten stream that starts again is told apart from the old one.
    private static int NewEpoch() => Random.Shared.Next(1, 1 << 30);

    private void SweepIfDue(long now)
    {
        if (now < Volatile.Read(ref _nextSweepAt) || Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            Volatile.Write(ref _nextSweepAt, now + (long)SweepInterval.TotalMilliseconds);
            Sweep(now);
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }
}
