using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains;
using SseCluster.Grains.Storage.InMemory;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// The specification against the in-memory stores (one node, the default), on a clock the tests move; plus the sweep
/// that frees idle streams, which only they have.
/// </summary>
public sealed class InMemoryStreamStoreTests(ITestOutputHelper output) : StreamStoreSpecification(output)
{
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));

    protected override bool Clustered => false;

    protected override TimeProvider Clock => _clock;

    protected override void AdvanceClock(TimeSpan duration) => _clock.Advance(duration);

    /// <summary>
    /// In memory a stream is lost by going idle: once its events are older than MaxAge and its publish ids past the
    /// window, the next sweep (run by an append to any stream) forgets it.
    /// </summary>
    protected override async Task LoseStreamAsync(StoreNode node, StreamKey stream)
    {
        var options = node.Services.GetRequiredService<IOptions<HistoryOptions>>().Value;
        _clock.Advance(TimeSpan.FromSeconds(Math.Max(options.MaxAgeSeconds, options.IdempotencyWindowSeconds)) + InMemoryStreamHistory.SweepInterval);
        var history = node.Services.GetRequiredService<InMemoryStreamHistory>();
        var before = history.StreamCount;
        await node.History.AppendAsync(StreamKey.ForTopic("sweep-trigger-" + Guid.NewGuid().ToString("N")), [Event("trigger")]);
        Assert.True(history.StreamCount <= before, $"the sweep did not run: {before} streams before, {history.StreamCount} after");
    }

    [Fact]
    public async Task IdleStreams_20000_AreForgottenBySweeps_WhileStreamsWithEventsOrLivePublishIdsAreKept()
    {
        var node = CreateNode(("SseCluster:History:MaxAgeSeconds", "60"), ("SseCluster:History:IdempotencyWindowSeconds", "300"));
        var history = node.Services.GetRequiredService<InMemoryStreamHistory>();
        Assert.Same(history, node.History);
        var start = _clock.GetUtcNow();
        for (var i = 0; i < 20_000; i++)
        {
            await node.History.AppendAsync(StreamKey.ForTopic($"idle-{i}"), [Event($"{i}")]);
        }

        Assert.Equal(20_000, history.StreamCount);

        // At 250 s their events are past MaxAge but their publish ids are not past the window: a sweep keeps them all.
        _clock.Advance(TimeSpan.FromSeconds(250));
        var keptId = Guid.NewGuid();
        var keptByPublishId = StreamKey.ForTopic("kept-by-publish-id");
        var kept = await node.History.AppendAsync(keptByPublishId, [Event("\"born old\"", publishedAt: NowMs - 7_200_000, publishId: keptId)]);
        Assert.Equal(20_001, history.StreamCount);

        // At 380 s the idle streams hold nothing worth keeping: the sweep the next append runs forgets them.
        _clock.Advance(TimeSpan.FromSeconds(130));
        var keptByEvent = StreamKey.ForTopic("kept-by-event");
        await node.History.AppendAsync(keptByEvent, [Event("\"fresh\"")]);

        Output.WriteLine($"{20_000 + 2 - history.StreamCount} streams forgotten {(_clock.GetUtcNow() - start).TotalSeconds:0} s after they were written");
        Assert.Equal(2, history.StreamCount);
        Assert.Equal(new StreamTail(0, 0), (await node.History.GetTailsAsync([StreamKey.ForTopic("idle-0")])).Single());
        Assert.Empty((await node.History.ReadAsync(keptByPublishId, 0, 10)).Events);
        var retried = await node.History.AppendAsync(keptByPublishId, [Event("\"retried\"", publishId: keptId)]);
        Assert.Equal((kept.Epoch, kept.Sequences.Single()), (retried.Epoch, retried.Sequences.Single()));
        Assert.Equal("\"fresh\"", (await node.History.ReadAsync(keptByEvent, 0, 10)).Events.Single().Payload.Data);

        // Once their publish id and event are past too, the sweep forgets the last ones: nothing is held.
        _clock.Advance(TimeSpan.FromSeconds(300));
        Assert.Equal(2, history.Sweep(_clock.GetUtcNow().ToUnixTimeMilliseconds()));
        Assert.Equal(0, history.StreamCount);
    }

    [Fact]
    public async Task Sweep_RunsDuringAppends_AtMostOncePerSweepInterval()
    {
        var node = CreateNode(("SseCluster:History:MaxAgeSeconds", "1"), ("SseCluster:History:IdempotencyWindowSeconds", "1"));
        var history = node.Services.GetRequiredService<InMemoryStreamHistory>();
        await node.History.AppendAsync(StreamKey.ForUser("first"), [Event("1")]);
        await node.History.AppendAsync(StreamKey.ForUser("second"), [Event("1")]);

        // Both are idle after 2 s, but the last sweep (the first append's) was less than SweepInterval ago.
        _clock.Advance(TimeSpan.FromSeconds(2));
        await node.History.AppendAsync(StreamKey.ForUser("third"), [Event("1")]);
        Assert.Equal(3, history.StreamCount);

        _clock.Advance(InMemoryStreamHistory.SweepInterval);
        await node.History.AppendAsync(StreamKey.ForUser("fourth"), [Event("1")]);

        Assert.Equal(1, history.StreamCount);
        Assert.Equal([0L, 0L, 0L, 1L], (await node.History.GetTailsAsync([StreamKey.ForUser("first"), StreamKey.ForUser("second"), StreamKey.ForUser("third"), StreamKey.ForUser("fourth")])).Select(t => t.LastSequence));
    }
}
