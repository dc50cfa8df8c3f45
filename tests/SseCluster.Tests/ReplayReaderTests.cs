using System.Text;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Observability;
using SseCluster.Gateway.Streaming;
using SseCluster.Grains.Storage;

namespace SseCluster.Tests;

/// <summary>
/// Unit tests of <see cref="ReplayReader"/> over a scripted history: connections resuming from one place share one
/// store read and one formatted frame per event, and never get events of an epoch they did not ask for.
/// </summary>
public sealed class ReplayReaderTests : IDisposable
{
    private static readonly StreamKey Stream = StreamKey.Broadcast;

    private readonly ScriptedHistory _history = new();
    private readonly ManualTime _time = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ReplayReader _reader;

    public ReplayReaderTests()
    {
        _reader = new ReplayReader(_history, new GatewayMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), _time);
    }

    public void Dispose()
    {
        _reader.Dispose();
        _services.Dispose();
    }

    [Fact]
    public async Task ConcurrentReadsFromOnePosition_ShareOneStoreRead_AndTheSameFrames()
    {
        _history.Fill(epoch: 7, count: 100);
        _history.Hold();

        var reads = Enumerable.Range(0, 50).Select(_ => _reader.ReadAsync(Stream, 10, 20, 7, CancellationToken.None).AsTask()).ToArray();
        await _history.WaitForReadsAsync(1);
        _history.Release();
        var results = await Task.WhenAll(reads);

        Assert.Equal(1, _history.Reads);
        Assert.All(results, r => Assert.Equal(Enumerable.Range(11, 20).Select(i => (long)i), r.Events.Select(e => e.Sequence)));
        for (var i = 0; i < 20; i++)
        {
            Assert.All(results, r => Assert.Same(results[0].Events[i].Frame, r.Events[i].Frame));
        }

        Assert.Equal("event: e\ndata: {\"n\":11}\n\n", Encoding.UTF8.GetString(results[0].Events[0].Frame));
    }

    [Fact]
    public async Task ALaterReadInsideTheWindow_IsServedWithoutTheStore_AcrossTwoStoreReads()
    {
        _history.Fill(epoch: 3, count: 400);
        var first = await _reader.ReadAsync(Stream, 0, 256, 3, CancellationToken.None);
        var second = await _reader.ReadAsync(Stream, 256, 256, 3, CancellationToken.None);
        Assert.Equal(2, _history.Reads);
        Assert.Equal(256, first.Events.Count);
        Assert.Equal(144, second.Events.Count);

        var inside = await _reader.ReadAsync(Stream, 200, 100, 3, CancellationToken.None);

        Assert.Equal(2, _history.Reads);
        Assert.Equal(Enumerable.Range(201, 100).Select(i => (long)i), inside.Events.Select(e => e.Sequence));
        Assert.Same(first.Events[200].Frame, inside.Events[0].Frame);
        Assert.Same(second.Events[0].Frame, inside.Events[56].Frame);
        Assert.Equal(new StreamTail(3, 400), inside.Tail);
    }

    [Fact]
    public async Task AnotherOrAnUnknownEpoch_GoesToTheStore()
    {
        _history.Fill(epoch: 3, count: 50);
        await _reader.ReadAsync(Stream, 0, 50, 3, CancellationToken.None);

        // The store lost the stream and started it again under epoch 4: the window of epoch 3 must not answer for it.
        _history.Fill(epoch: 4, count: 20);
        var newer = await _reader.ReadAsync(Stream, 5, 10, 4, CancellationToken.None);
        var unknown = await _reader.ReadAsync(Stream, 5, 10, 0, CancellationToken.None);

        Assert.Equal(3, _history.Reads);
        Assert.Equal(4, newer.Epoch);
        Assert.Equal(4, unknown.Epoch);
        Assert.Equal(Enumerable.Range(6, 10).Select(i => (long)i), newer.Events.Select(e => e.Sequence));

        // The window now holds epoch 4; a caller still on epoch 3 reads the store, which says epoch 4.
        var older = await _reader.ReadAsync(Stream, 5, 10, 3, CancellationToken.None);
        Assert.Equal(4, _history.Reads);
        Assert.Equal(4, older.Epoch);
    }

    [Fact]
    public async Task AGapInHistory_IsReturnedAsTheStoreGaveIt()
    {
        _history.Fill(epoch: 1, count: 100, oldest: 61);

        var read = await _reader.ReadAsync(Stream, 10, 20, 1, CancellationToken.None);

        Assert.Equal(61, read.Events[0].Sequence);
        Assert.Equal(20, read.Events.Count);

        // The window starts at 61: position 10 is still not in it, and a read from 60 is.
        await _reader.ReadAsync(Stream, 10, 20, 1, CancellationToken.None);
        Assert.Equal(2, _history.Reads);
        var inside = await _reader.ReadAsync(Stream, 60, 5, 1, CancellationToken.None);
        Assert.Equal(2, _history.Reads);
        Assert.Equal(61, inside.Events[0].Sequence);
    }

    [Fact]
    public async Task AStoreFailure_ReachesEveryWaiter_AndTheNextReadTriesAgain()
    {
        _history.Fill(epoch: 1, count: 10);
        _history.Hold();
        var reads = Enumerable.Range(0, 5).Select(_ => _reader.ReadAsync(Stream, 0, 10, 1, CancellationToken.None).AsTask()).ToArray();
        await _history.WaitForReadsAsync(1);
        _history.Fail(new RoutingUnavailableException("store down"));

        foreach (var read in reads)
        {
            await Assert.ThrowsAsync<RoutingUnavailableException>(() => read);
        }

        var again = await _reader.ReadAsync(Stream, 0, 10, 1, CancellationToken.None);
        Assert.Equal(2, _history.Reads);
        Assert.Equal(10, again.Events.Count);
    }

    [Fact]
    public async Task CancellingOneWaiter_LeavesTheSharedReadToTheOthers()
    {
        _history.Fill(epoch: 1, count: 10);
        _history.Hold();
        using var cancel = new CancellationTokenSource();
        var cancelled = _reader.ReadAsync(Stream, 0, 10, 1, cancel.Token).AsTask();
        var other = _reader.ReadAsync(Stream, 0, 10, 1, CancellationToken.None).AsTask();
        await _history.WaitForReadsAsync(1);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        _history.Release();

        Assert.Equal(10, (await other).Events.Count);
        Assert.Equal(1, _history.Reads);
    }

    [Fact]
    public async Task AWindow_KeepsTheNewestEvents_AndIsDroppedOnceIdle()
    {
        _history.Fill(epoch: 1, count: ReplayReader.MaxEventsPerWindow + 256);
        for (long after = 0; after < ReplayReader.MaxEventsPerWindow + 256; after += 256)
        {
            await _reader.ReadAsync(Stream, after, 256, 1, CancellationToken.None);
        }

        var reads = _history.Reads;
        await _reader.ReadAsync(Stream, 300, 10, 1, CancellationToken.None);
        Assert.Equal(reads, _history.Reads); // still held
        await _reader.ReadAsync(Stream, 100, 10, 1, CancellationToken.None);
        Assert.Equal(reads + 1, _history.Reads); // the oldest 256 left the window
        Assert.True(_reader.CachedBytes > 0);

        // Used a moment ago: a sweep keeps it. Idle past the lifetime: a sweep drops it.
        _reader.Sweep();
        Assert.True(_reader.CachedBytes > 0);
        _time.Advance(ReplayReader.IdleLifetime + TimeSpan.FromSeconds(2));
        _reader.Sweep();
        Assert.Equal(0, _reader.CachedBytes);
        await _reader.ReadAsync(Stream, 300, 10, 1, CancellationToken.None);
        Assert.Equal(reads + 2, _history.Reads);
    }

    /// <summary>A history that serves a scripted stream, counts reads, and can hold them or fail them.</summary>
    private sealed class ScriptedHistory : IStreamHistory
    {
        private readonly SemaphoreSlim _readStarted = new(0);
        private List<StreamEvent> _events = [];
        private StreamTail _tail;
        private TaskCompletionSource? _gate;
        private Exception? _failure;
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public bool IsAvailable => true;

        public void Fill(int epoch, int count, long oldest = 1)
        {
            _events = Enumerable.Range(0, Math.Max(0, count - (int)oldest + 1))
                .Select(i => new StreamEvent(Stream, oldest + i, new EventPayload("e", $"{{\"n\":{oldest + i}}}", 0)))
                .ToList();
            _tail = new StreamTail(epoch, count);
        }

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _gate!.SetResult();

        public void Fail(Exception failure)
        {
            _failure = failure;
            _gate!.SetResult();
        }

        public async Task WaitForReadsAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Assert.True(await _readStarted.WaitAsync(TimeSpan.FromSeconds(10)), "no store read started");
            }
        }

        public async Task<StreamRead> ReadAsync(StreamKey stream, long afterSequence, int maxCount, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _reads);
            _readStarted.Release();
            if (_gate is { } gate)
            {
                await gate.Task;
                _gate = null;
                if (_failure is { } failure)
                {
                    _failure = null;
                    throw failure;
                }
            }

            return new StreamRead(_events.Where(e => e.Sequence > afterSequence).Take(maxCount).ToList(), _tail);
        }

        public Task<AppendResult> AppendAsync(StreamKey stream, IReadOnlyList<PendingEvent> events, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public Task<StreamTail[]> GetTailsAsync(IReadOnlyList<StreamKey> streams, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
