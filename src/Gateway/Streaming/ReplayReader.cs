using System.Collections.Concurrent;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Observability;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Reads history for resumes and gap fills on behalf of every connection of this gateway, so that a stream's events are
/// read from the store once and formatted once, however many connections replay them. After a gateway dies, all its
/// clients come back at once with the same positions: without this, each of thousands of connections would make its
/// own store round trip and format the same events again.
/// <para>
/// Concurrent reads of one stream from one position share a single store read. Each stream keeps a short window of
/// the formatted events it read last (consecutive, one epoch), so a connection arriving a moment later is served from
/// memory. An event of an epoch is immutable, so a window can only ever hold what the store held; a window is replaced
/// when its stream starts a new epoch and dropped within a second of being unused for <see cref="IdleLifetime"/>; all
/// windows together stay under <see cref="MaxBytes"/>.
/// </para>
/// </summary>
internal sealed class ReplayReader : IDisposable
{
    /// <summary>The most events a stream's window keeps; older ones leave first.</summary>
    internal const int MaxEventsPerWindow = 1024;

    /// <summary>The most formatted bytes all windows keep together; past it, reads are served but not kept.</summary>
    internal const long MaxBytes = 64L << 20;

    internal static readonly TimeSpan IdleLifetime = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<StreamKey, Window> _windows = new();
    private readonly ConcurrentDictionary<(StreamKey, long), Task<ReplayRead>> _reads = new();
    private readonly IStreamHistory _history;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ITimer _sweeper;
    private long _bytes;

    public ReplayReader(IStreamHistory history, GatewayMetrics metrics, TimeProvider time)
    {
        _history = history;
        _metrics = metrics;
        _time = time;
        _sweeper = time.CreateTimer(static self => ((ReplayReader)self!).Sweep(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Formatted bytes the windows hold now.</summary>
    internal long CachedBytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// Up to <paramref name="maxCount"/> events of <paramref name="stream"/> after <paramref name="afterSequence"/>, with
    /// the same meaning as <see cref="IStreamHistory.ReadAsync"/>: a result that starts later than
    /// <c>afterSequence + 1</c> is a gap in history.
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="afterSequence">The caller's position: the last sequence it has.</param>
    /// <param name="maxCount">The most events to return.</param>
    /// <param name="epoch">The epoch the caller's position belongs to; a window of another epoch is not used. 0: unknown, read the store.</param>
    /// <param name="cancellationToken">Ends this caller's wait, not the shared read.</param>
    public async ValueTask<ReplayRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, int epoch, CancellationToken cancellationToken)
    {
        if (epoch != 0 && _windows.TryGetValue(stream, out var window) && window.TryRead(afterSequence, maxCount, epoch, _time.GetTimestamp()) is { } cached)
        {
            return cached;
        }

        // One store read per stream and position at a time, shared by every caller that asks meanwhile. No caller's
        // cancellation may end it, so each waits with its own.
        var key = (stream, afterSequence);
        var mine = new TaskCompletionSource<ReplayRead>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shared = _reads.GetOrAdd(key, mine.Task);
        if (shared == mine.Task)
        {
            _ = ReadFromStoreAsync(key, mine);
        }

        var result = await shared.WaitAsync(cancellationToken);
        return result.Events.Count <= maxCount ? result : result with { Events = result.Events.Take(maxCount).ToArray() };
    }

    private async Task ReadFromStoreAsync((StreamKey Stream, long After) key, TaskCompletionSource<ReplayRead> completion)
    {
        ReplayRead result;
        try
        {
            // A full batch, whatever this caller asked for: the others resuming from here may want more than it does.
            var read = await _history.ReadAsync(key.Stream, key.After, ConnectionWriter.ReplayBatch, CancellationToken.None);
            _metrics.ReplayStoreReads.Add(1);
            var frames = new ReplayFrame[read.Events.Count];
            long bytes = 0;
            for (var i = 0; i < frames.Length; i++)
            {
                var e = read.Events[i];
                frames[i] = new ReplayFrame(e.Sequence, SseFrames.FormatEvent(e.Payload.EventType, e.Payload.Data), e.Payload.UserFilter);
                bytes += frames[i].Frame.Length;
            }

            _metrics.ReplayFramesFormatted.Add(frames.Length);
            result = new ReplayRead(frames, read.Tail);
            Keep(key.Stream, result, bytes);
        }
        catch (Exception ex)
        {
            // Leave the map first: a caller that comes after the waiters learnt of the failure reads the store again.
            _reads.TryRemove(new KeyValuePair<(StreamKey, long), Task<ReplayRead>>(key, completion.Task));
            completion.SetException(ex);
            return;
        }

        // The window holds the events now, so a caller arriving from here on finds them there.
        _reads.TryRemove(new KeyValuePair<(StreamKey, long), Task<ReplayRead>>(key, completion.Task));
        completion.SetResult(result);
    }

    private void Keep(StreamKey stream, ReplayRead read, long bytes)
    {
        if (read.Events.Count == 0 || Interlocked.Read(ref _bytes) + bytes > MaxBytes)
        {
            return;
        }

        var window = _windows.GetOrAdd(stream, static _ => new Window());
        Interlocked.Add(ref _bytes, window.Add(read, _time.GetTimestamp()));
    }

    /// <summary>Drops the windows nobody read for <see cref="IdleLifetime"/>; every second, and from tests.</summary>
    internal void Sweep()
    {
        var now = _time.GetTimestamp();
        var idle = (long)(IdleLifetime.TotalSeconds * _time.TimestampFrequency);
        foreach (var (stream, window) in _windows)
        {
            if (window.IdleSince(now) > idle && _windows.TryRemove(new KeyValuePair<StreamKey, Window>(stream, window)))
            {
                Interlocked.Add(ref _bytes, -window.Clear());
            }
        }
    }

    public void Dispose() => _sweeper.Dispose();

    /// <summary>One stream's most recent formatted events, consecutive and of one epoch.</summary>
    private sealed class Window
    {
        private readonly Lock _lock = new();
        private readonly List<ReplayFrame> _frames = [];
        private StreamTail _tail;
        private long _bytes;
        private long _lastUsed;
        private bool _retired;

        public ReplayRead? TryRead(long afterSequence, int maxCount, int epoch, long now)
        {
            lock (_lock)
            {
                if (_frames.Count == 0 || _tail.Epoch != epoch)
                {
                    return null;
                }

                var index = afterSequence + 1 - _frames[0].Sequence;
                if (index < 0 || index >= _frames.Count)
                {
                    return null;
                }

                _lastUsed = now;
                var count = (int)Math.Min(maxCount, _frames.Count - index);
                return new ReplayRead(_frames.GetRange((int)index, count), _tail);
            }
        }

        /// <summary>Adds a store read's events; returns the change in bytes held.</summary>
        public long Add(ReplayRead read, long now)
        {
            lock (_lock)
            {
                if (_retired)
                {
                    return 0; // swept while this read was under way: what it holds is counted nowhere
                }

                var before = _bytes;
                _lastUsed = now;
                var first = read.Events[0].Sequence;
                var continues = _frames.Count > 0 && _tail.Epoch == read.Tail.Epoch
                    && first >= _frames[0].Sequence && first <= _frames[^1].Sequence + 1;
                if (!continues)
                {
                    // Another epoch, or not next to what is held (a gap, or older than the window): start over from this read.
                    _frames.Clear();
                    _bytes = 0;
                }

                var next = _frames.Count == 0 ? first : _frames[^1].Sequence + 1;
                foreach (var frame in read.Events)
                {
                    if (frame.Sequence >= next)
                    {
                        _frames.Add(frame);
                        _bytes += frame.Frame.Length;
                    }
                }

                var excess = _frames.Count - MaxEventsPerWindow;
                if (excess > 0)
                {
                    for (var i = 0; i < excess; i++)
                    {
                        _bytes -= _frames[i].Frame.Length;
                    }

                    _frames.RemoveRange(0, excess);
                }

                if (!continues || read.Tail.LastSequence > _tail.LastSequence)
                {
                    _tail = read.Tail;
                }

                return _bytes - before;
            }
        }

        public long IdleSince(long now)
        {
            lock (_lock)
            {
                return now - _lastUsed;
            }
        }

        /// <summary>Empties the window for good (it has left the map); returns the bytes it held.</summary>
        public long Clear()
        {
            lock (_lock)
            {
                var bytes = _bytes;
                _retired = true;
                _frames.Clear();
                _bytes = 0;
                return bytes;
            }
        }
    }
}

/// <summary>A history event formatted for the wire (its <c>event:</c> and <c>data:</c> lines; each connection writes its own <c>id:</c>).</summary>
/// <param name="Sequence">Its place in the stream.</param>
/// <param name="Frame">The formatted lines, shared by every connection that replays it.</param>
/// <param name="UserFilter">Broadcast only: the users it is for; null for everyone.</param>
internal sealed record ReplayFrame(long Sequence, byte[] Frame, IReadOnlyList<string>? UserFilter);

/// <summary>What <see cref="ReplayReader.ReadAsync"/> found: formatted events after the position asked for, and the stream's tail when they were read.</summary>
internal sealed record ReplayRead(IReadOnlyList<ReplayFrame> Events, StreamTail Tail)
{
    public long LastSequence => Tail.LastSequence;

    public int Epoch => Tail.Epoch;
}
