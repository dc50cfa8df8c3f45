using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Storage;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Routing.Tests;

/// <summary>
/// What every store implementation must do: sequences, bounded history, publish-id deduplication, epochs,
/// attachments, reconnect blocks and tickets. The in-memory stores, standalone Redis and Redis Cluster all inherit
/// these tests, so they cannot drift apart; what only one of them has (the in-memory sweep, several nodes on one
/// Redis, Redis outages) is tested in its subclass.
/// </summary>
public abstract class StreamStoreSpecification(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<StoreNode> _nodes = [];

    protected ITestOutputHelper Output { get; } = output;

    /// <summary>True for the Redis stores (<c>AddSseClusterStores(…, clustered: true, …)</c>).</summary>
    protected abstract bool Clustered { get; }

    /// <summary>The clock every node of the test reads (and payloads are stamped with).</summary>
    protected virtual TimeProvider Clock => TimeProvider.System;

    protected long NowMs => Clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Settings every node of one test shares (the Redis endpoint and a key prefix of its own, for example).</summary>
    protected virtual void AddSettings(Dictionary<string, string?> settings)
    {
    }

    /// <summary>Moves <see cref="Clock"/> when it is a fake one; real clocks move by themselves.</summary>
    protected virtual void AdvanceClock(TimeSpan duration)
    {
    }

    /// <summary>Makes the store lose <paramref name="stream"/> altogether, as it does on its own (expiry, a Redis restarted empty).</summary>
    protected abstract Task LoseStreamAsync(StoreNode node, StreamKey stream);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    protected StoreNode CreateNode(params (string Key, string? Value)[] settings) => CreateNamedNode("node-a", settings);

    protected StoreNode CreateNamedNode(string name, params (string Key, string? Value)[] settings)
    {
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        AddSettings(all);
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        var node = StoreNode.Create(all, Clustered, name, Clock, Output);
        _nodes.Add(node);
        return node;
    }

    protected PendingEvent Event(string data, string? eventType = null, long? publishedAt = null, IReadOnlyList<string>? filter = null, Guid? publishId = null) =>
        new(publishId ?? Guid.NewGuid(), new EventPayload(eventType, data, publishedAt ?? NowMs, filter));

    /// <summary>
    /// Lets <paramref name="duration"/> pass as the store measures it. The signal is a reconnect block of that length set
    /// now, after whatever the test set before: once the store reports it over, everything set earlier with the same
    /// lifetime is over too (Redis expires keys on its own clock, which the test cannot move).
    /// </summary>
    protected async Task LetTimePassAsync(StoreNode node, TimeSpan duration)
    {
        var probe = "clock-probe-" + Guid.NewGuid().ToString("N");
        await node.Blocks.BlockAsync(probe, duration);
        AdvanceClock(duration);
        await Eventually.TrueAsync(
            async () => !await node.Blocks.IsBlockedAsync(probe),
            $"the end of a {duration.TotalMilliseconds:0} ms reconnect block used as the store's clock",
            duration + TimeSpan.FromSeconds(5));
    }

    private static long[] Range(long first, int count) => Enumerable.Range(0, count).Select(i => first + i).ToArray();

    [Fact]
    public async Task Append_NumbersEachStreamFromOneWithoutGaps_IndependentlyOfOtherStreams()
    {
        var node = CreateNode();
        var user = StreamKey.ForUser("alice");
        var topic = StreamKey.ForTopic("news");

        var userSequences = new List<long>();
        var topicSequences = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            userSequences.Add((await node.History.AppendAsync(user, [Event($"{i}")])).Sequences.Single());
            if (i < 3)
            {
                topicSequences.Add((await node.History.AppendAsync(topic, [Event($"{i}")])).Sequences.Single());
            }
        }

        var broadcast = await node.History.AppendAsync(StreamKey.Broadcast, [Event("1")]);

        Assert.Equal([1L, 2, 3, 4, 5], userSequences);
        Assert.Equal([1L, 2, 3], topicSequences);
        Assert.Equal([1L], broadcast.Sequences);
        var tails = await node.History.GetTailsAsync([user, topic, StreamKey.Broadcast, StreamKey.ForUser("nobody")]);
        Assert.Equal([5L, 3L, 1L, 0L], tails.Select(t => t.LastSequence));
    }

    [Fact]
    public async Task Append_200ConcurrentlyToOneStream_GetsExactly1To200_EachForItsOwnEvent()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("busy");

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => node.History.AppendAsync(stream, [Event($"{i}")])));

        var sequenceOf = results.Select((r, i) => (Sequence: r.Sequences.Single(), Data: $"{i}")).ToDictionary(x => x.Sequence, x => x.Data);
        Assert.Equal(Range(1, 200), sequenceOf.Keys.Order());
        Assert.Single(results.Select(r => r.Epoch).Distinct());
        var read = await node.History.ReadAsync(stream, 0, 500);
        Assert.Equal(Range(1, 200), read.Events.Select(e => e.Sequence));
        Assert.All(read.Events, e => Assert.Equal(sequenceOf[e.Sequence], e.Payload.Data));
        Assert.Equal(200, read.LastSequence);
    }

    [Fact]
    public async Task Append_ABatch_ReturnsConsecutiveSequencesInOrder_AndStoresTheEventsInThatOrder()
    {
        var node = CreateNode();
        var stream = StreamKey.ForTopic("batches");
        await node.History.AppendAsync(stream, [Event("first")]);

        var batch = await node.History.AppendAsync(stream, [Event("a"), Event("b"), Event("c"), Event("d")]);
        var next = await node.History.AppendAsync(stream, [Event("e")]);

        Assert.Equal([2L, 3, 4, 5], batch.Sequences);
        Assert.Equal([6L], next.Sequences);
        var read = await node.History.ReadAsync(stream, 1, 10);
        Assert.Equal(["a", "b", "c", "d", "e"], read.Events.Select(e => e.Payload.Data));
        Assert.Equal(Range(2, 5), read.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task Append_AnEmptyBatch_ReturnsNoSequenceAndLeavesTheStreamWithoutEvents()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("empty-batch");

        var result = await node.History.AppendAsync(stream, []);

        Assert.Empty(result.Sequences);
        Assert.Equal(default, (await node.History.GetTailsAsync([stream])).Single());
        var first = await node.History.AppendAsync(stream, [Event("1")]);
        Assert.Equal([1L], first.Sequences);
    }

    [Fact]
    public async Task Read_AfterAPositionWithMaxCount_ReturnsThatManyOldestFirst_WithTheTail()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("reader");
        for (var i = 1; i <= 5; i++)
        {
            await node.History.AppendAsync(stream, [Event($"{i}")]);
        }

        var read = await node.History.ReadAsync(stream, 1, 2);
        var rest = await node.History.ReadAsync(stream, 3, 100);

        Assert.Equal([2L, 3L], read.Events.Select(e => e.Sequence));
        Assert.Equal(["2", "3"], read.Events.Select(e => e.Payload.Data));
        Assert.All(read.Events, e => Assert.Equal(stream, e.Stream));
        Assert.Equal(5, read.LastSequence);
        Assert.Equal([4L, 5L], rest.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task Read_AtTheTail_ReturnsNothingWithTheTail_AndOfAnUnknownStream_NothingWithAZeroTail()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("caught-up");
        var appended = await node.History.AppendAsync(stream, [Event("1"), Event("2")]);

        var atEnd = await node.History.ReadAsync(stream, 2, 10);
        var past = await node.History.ReadAsync(stream, 7, 10);
        var unknown = await node.History.ReadAsync(StreamKey.ForTopic("never"), 0, 10);

        Assert.Empty(atEnd.Events);
        Assert.Equal(new StreamTail(appended.Epoch, 2), atEnd.Tail);
        Assert.Empty(past.Events);
        Assert.Equal(new StreamTail(appended.Epoch, 2), past.Tail);
        Assert.Empty(unknown.Events);
        Assert.Equal(new StreamTail(0, 0), unknown.Tail);
    }

    [Fact]
    public async Task Payload_RoundTrips_DataByteForByte_EventType_PublishedAt_AndUserFilter()
    {
        var node = CreateNode();
        var stream = StreamKey.Broadcast;
        const string pretty = "{\n  \"text\": \"héllo ✓ 😀 – 日本語\",\r\n  \"n\": [1, 2],\n  \"quote\": \"a \\\"b\\\" c\"\n}";
        var publishedAt = NowMs - 1234;

        await node.History.AppendAsync(stream, [
            Event(pretty, "chat.message", publishedAt),
            Event("\"default\"", "message"),
            Event("\"nobody\"", "notice", filter: []),
            Event("\"some\"", null, filter: ["alice", "bob.smith@example.com", "zoë"]),
        ]);
        var read = await node.History.ReadAsync(stream, 0, 10);

        Assert.Equal(4, read.Events.Count);
        var first = read.Events[0].Payload;
        Assert.Equal(pretty, first.Data);
        Assert.Equal("chat.message", first.EventType);
        Assert.Equal(publishedAt, first.PublishedAt);
        Assert.Null(first.UserFilter);
        Assert.Null(read.Events[1].Payload.EventType);
        Assert.Null(read.Events[1].Payload.UserFilter);
        Assert.Equal("notice", read.Events[2].Payload.EventType);
        Assert.NotNull(read.Events[2].Payload.UserFilter);
        Assert.Empty(read.Events[2].Payload.UserFilter!);
        Assert.Equal(["alice", "bob.smith@example.com", "zoë"], read.Events[3].Payload.UserFilter);
        Assert.Null(read.Events[3].Payload.EventType);
    }

    [Fact]
    public async Task History_TrimmedByCount_StartsLater_SoTheCallerSeesTheGap()
    {
        var node = CreateNode(("SseCluster:History:MaxEventsPerStream", "3"));
        var stream = StreamKey.ForUser("trimmed");
        for (var i = 1; i <= 5; i++)
        {
            await node.History.AppendAsync(stream, [Event($"{i}")]);
        }

        var fromStart = await node.History.ReadAsync(stream, 0, 100);
        var recent = await node.History.ReadAsync(stream, 3, 100);

        Assert.Equal([3L, 4L, 5L], fromStart.Events.Select(e => e.Sequence));
        Assert.Equal(5, fromStart.LastSequence);
        Assert.Equal([4L, 5L], recent.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task History_TrimmedByAge_DropsEventsPublishedBeforeMaxAge_SoTheCallerSeesTheGap()
    {
        var node = CreateNode(("SseCluster:History:MaxAgeSeconds", "60"));
        var stream = StreamKey.ForTopic("aged");
        var twoHoursAgo = Clock.GetUtcNow().AddHours(-2).ToUnixTimeMilliseconds();
        await node.History.AppendAsync(stream, [Event("old-1", publishedAt: twoHoursAgo)]);
        await node.History.AppendAsync(stream, Enumerable.Range(2, 249).Select(i => Event($"old-{i}", publishedAt: twoHoursAgo + i)).ToList());
        await node.History.AppendAsync(stream, [Event("new")]);

        var read = await node.History.ReadAsync(stream, 0, 100);
        var fromOne = await node.History.ReadAsync(stream, 1, 100);

        Assert.Equal([251L], read.Events.Select(e => e.Sequence));
        Assert.Equal("new", read.Events[0].Payload.Data);
        Assert.Equal(251, read.LastSequence);
        Assert.Equal([251L], fromOne.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task History_TrimmedByAge_OnlyFromTheOldestEnd_SoAnOldEventBehindAYoungerOneStays()
    {
        var node = CreateNode(("SseCluster:History:MaxAgeSeconds", "60"));
        var stream = StreamKey.ForTopic("late-stamped");
        var twoHoursAgo = Clock.GetUtcNow().AddHours(-2).ToUnixTimeMilliseconds();
        await node.History.AppendAsync(stream, [Event("old", publishedAt: twoHoursAgo), Event("young"), Event("stamped-old", publishedAt: twoHoursAgo), Event("young-2")]);

        var read = await node.History.ReadAsync(stream, 0, 100);

        Assert.Equal(["young", "stamped-old", "young-2"], read.Events.Select(e => e.Payload.Data));
        Assert.Equal([2L, 3L, 4L], read.Events.Select(e => e.Sequence));
    }

    [Fact]
    public async Task PublishId_RepeatedInALaterCall_ReturnsTheFirstSequence_AndStoresNothing()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("retrying");
        var id = Guid.NewGuid();
        var first = await node.History.AppendAsync(stream, [Event("\"once\"", publishId: id)]);
        await node.History.AppendAsync(stream, [Event("\"other\"")]);

        var again = await node.History.AppendAsync(stream, [Event("\"once, retried\"", publishId: id)]);
        var mixed = await node.History.AppendAsync(stream, [Event("\"new\""), Event("\"once, again\"", publishId: id)]);

        Assert.Equal([1L], first.Sequences);
        Assert.Equal([1L], again.Sequences);
        Assert.Equal([3L, 1L], mixed.Sequences);
        Assert.Equal(first.Epoch, again.Epoch);
        var read = await node.History.ReadAsync(stream, 0, 100);
        Assert.Equal(["\"once\"", "\"other\"", "\"new\""], read.Events.Select(e => e.Payload.Data));
        Assert.Equal(3, read.LastSequence);
    }

    [Fact]
    public async Task PublishId_TwiceInOneBatch_IsStoredOnce_AndBothGetItsSequence()
    {
        var node = CreateNode();
        var stream = StreamKey.ForTopic("dup-batch");
        var id = Guid.NewGuid();

        var result = await node.History.AppendAsync(stream, [Event("a", publishId: id), Event("b"), Event("a again", publishId: id), Event("c")]);

        Assert.Equal([1L, 2L, 1L, 3L], result.Sequences);
        var read = await node.History.ReadAsync(stream, 0, 100);
        Assert.Equal(["a", "b", "c"], read.Events.Select(e => e.Payload.Data));
        Assert.Equal(3, read.LastSequence);
    }

    [Fact]
    public async Task PublishIds_ThatDiffer_AreDifferentEvents_EvenWithTheSamePayload()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("twins");
        var payload = new EventPayload("same", "{\"same\":true}", NowMs);

        var one = await node.History.AppendAsync(stream, [new PendingEvent(Guid.NewGuid(), payload)]);
        var two = await node.History.AppendAsync(stream, [new PendingEvent(Guid.NewGuid(), payload), new PendingEvent(Guid.NewGuid(), payload)]);

        Assert.Equal([1L], one.Sequences);
        Assert.Equal([2L, 3L], two.Sequences);
        Assert.Equal(3, (await node.History.ReadAsync(stream, 0, 10)).Events.Count);
    }

    [Fact]
    public async Task PublishId_AfterTheIdempotencyWindow_IsANewEvent()
    {
        var node = CreateNode(("SseCluster:History:IdempotencyWindowSeconds", "1"));
        var stream = StreamKey.ForUser("late-retry");
        var id = Guid.NewGuid();
        var first = await node.History.AppendAsync(stream, [Event("1", publishId: id)]);
        var within = await node.History.AppendAsync(stream, [Event("1", publishId: id)]);

        await LetTimePassAsync(node, TimeSpan.FromSeconds(1));
        var after = await node.History.AppendAsync(stream, [Event("1", publishId: id)]);
        var afterAgain = await node.History.AppendAsync(stream, [Event("1", publishId: id)]);

        Assert.Equal([1L], first.Sequences);
        Assert.Equal([1L], within.Sequences);
        Assert.Equal([2L], after.Sequences);
        Assert.Equal([2L], afterAgain.Sequences);
        Assert.Equal(first.Epoch, after.Epoch);
    }

    [Fact]
    public async Task Epoch_IsZeroBeforeTheFirstEvent_ThenNonZero_AndStableAcrossAppendsReadsAndTails()
    {
        var node = CreateNode();
        var stream = StreamKey.ForTopic("epochs");
        var before = (await node.History.GetTailsAsync([stream])).Single();

        var first = await node.History.AppendAsync(stream, [Event("1")]);
        var second = await node.History.AppendAsync(stream, [Event("2"), Event("3")]);
        var tail = (await node.History.GetTailsAsync([stream])).Single();
        var read = await node.History.ReadAsync(stream, 0, 10);

        Assert.Equal(new StreamTail(0, 0), before);
        Assert.NotEqual(0, first.Epoch);
        Assert.Equal(first.Epoch, second.Epoch);
        Assert.Equal(new StreamTail(first.Epoch, 3), tail);
        Assert.Equal(new StreamTail(first.Epoch, 3), read.Tail);
        Assert.Equal(first.Epoch, read.Epoch);
    }

    [Fact]
    public async Task GetTails_ReturnsEachStreamsEpochAndLastSequence_InTheOrderAsked()
    {
        var node = CreateNode();
        var a = StreamKey.ForUser("tail-a");
        var b = StreamKey.ForTopic("tail-b");
        var ea = (await node.History.AppendAsync(a, [Event("1"), Event("2")])).Epoch;
        var eb = (await node.History.AppendAsync(b, [Event("1")])).Epoch;

        var tails = await node.History.GetTailsAsync([b, StreamKey.ForUser("tail-none"), a, b]);

        Assert.Equal([new StreamTail(eb, 1), new StreamTail(0, 0), new StreamTail(ea, 2), new StreamTail(eb, 1)], tails);
        Assert.Empty(await node.History.GetTailsAsync([]));
    }

    [Fact]
    public async Task LostStream_StartsAgainAtSequenceOne_UnderADifferentEpoch()
    {
        var node = CreateNode();
        var stream = StreamKey.ForUser("forgotten");
        var id = Guid.NewGuid();
        var before = await node.History.AppendAsync(stream, [Event("1", publishId: id), Event("2"), Event("3")]);

        await LoseStreamAsync(node, stream);
        var lostTail = (await node.History.GetTailsAsync([stream])).Single();
        var lostRead = await node.History.ReadAsync(stream, 3, 10);
        var after = await node.History.AppendAsync(stream, [Event("new-1")]);
        var retried = await node.History.AppendAsync(stream, [Event("1", publishId: id)]);

        Assert.Equal(new StreamTail(0, 0), lostTail);
        Assert.Equal(new StreamTail(0, 0), lostRead.Tail);
        Assert.Equal([1L], after.Sequences);
        Assert.NotEqual(0, after.Epoch);
        Assert.NotEqual(before.Epoch, after.Epoch);
        Assert.Equal([2L], retried.Sequences);
        Assert.Equal(after.Epoch, retried.Epoch);
        var read = await node.History.ReadAsync(stream, 0, 10);
        Assert.Equal(new StreamTail(after.Epoch, 2), read.Tail);
        Assert.Equal(["new-1", "1"], read.Events.Select(e => e.Payload.Data));
    }

    [Fact]
    public async Task Attachments_AddOverwriteGetRemove_KeepEachStreamsGatewaysApart()
    {
        var node = CreateNode();
        var alice = StreamKey.ForUser("alice");
        var topic = StreamKey.ForTopic("room-7");

        Assert.Empty(await node.Attachments.GetAsync(alice));
        await node.Attachments.AddAsync(alice, "S127.0.0.1:11111:1", "endpoint-1");
        await node.Attachments.AddAsync(alice, "S127.0.0.1:22222:2", "endpoint-2");
        await node.Attachments.AddAsync(topic, "S127.0.0.1:22222:2", "endpoint-2");
        await node.Attachments.AddAsync(alice, "S127.0.0.1:11111:1", "endpoint-1b");

        Assert.Equal(
            new Dictionary<string, string> { ["S127.0.0.1:11111:1"] = "endpoint-1b", ["S127.0.0.1:22222:2"] = "endpoint-2" },
            await node.Attachments.GetAsync(alice));
        Assert.Equal(new Dictionary<string, string> { ["S127.0.0.1:22222:2"] = "endpoint-2" }, await node.Attachments.GetAsync(topic));

        await node.Attachments.RemoveAsync(alice, "S127.0.0.1:22222:2");
        await node.Attachments.RemoveAsync(alice, "never-attached");
        await node.Attachments.RemoveAsync(StreamKey.ForUser("nobody"), "S127.0.0.1:11111:1");

        Assert.Equal(new Dictionary<string, string> { ["S127.0.0.1:11111:1"] = "endpoint-1b" }, await node.Attachments.GetAsync(alice));
        Assert.Equal(new Dictionary<string, string> { ["S127.0.0.1:22222:2"] = "endpoint-2" }, await node.Attachments.GetAsync(topic));

        await node.Attachments.RemoveAsync(alice, "S127.0.0.1:11111:1");
        Assert.Empty(await node.Attachments.GetAsync(alice));
        await node.Attachments.AddAsync(alice, "S127.0.0.1:33333:3", "endpoint-3");
        Assert.Equal(["S127.0.0.1:33333:3"], (await node.Attachments.GetAsync(alice)).Keys);
    }

    [Fact]
    public async Task ReconnectBlock_BlocksThatUserOnly_UntilReplacedByAZeroBlock()
    {
        var node = CreateNode();

        await node.Blocks.BlockAsync("mallory", TimeSpan.FromHours(1));

        Assert.True(await node.Blocks.IsBlockedAsync("mallory"));
        Assert.False(await node.Blocks.IsBlockedAsync("alice"));
        Assert.False(await node.Blocks.IsBlockedAsync("mallory2"));

        await node.Blocks.BlockAsync("mallory", TimeSpan.Zero);

        Assert.False(await node.Blocks.IsBlockedAsync("mallory"));
    }

    [Fact]
    public async Task ReconnectBlock_EndsWhenItsDurationHasPassed_AndAShorterOneShortensIt()
    {
        var node = CreateNode();
        await node.Blocks.BlockAsync("mallory", TimeSpan.FromHours(1));
        await node.Blocks.BlockAsync("mallory", TimeSpan.FromSeconds(1));
        Assert.True(await node.Blocks.IsBlockedAsync("mallory"));

        AdvanceClock(TimeSpan.FromSeconds(1));

        await Eventually.TrueAsync(async () => !await node.Blocks.IsBlockedAsync("mallory"), "the end of mallory's 1 s reconnect block", TimeSpan.FromSeconds(6));
    }

    [Fact]
    public async Task Ticket_IsRedeemedOnceOnly_AndAnUnknownOneNever()
    {
        var node = CreateNode();
        await node.Tickets.StoreAsync("tk-1", "grant-for-alice", TimeSpan.FromSeconds(30));
        await node.Tickets.StoreAsync("tk-2", "grant-for-bob", TimeSpan.FromSeconds(30));

        Assert.Equal("grant-for-alice", await node.Tickets.RedeemAsync("tk-1"));
        Assert.Null(await node.Tickets.RedeemAsync("tk-1"));
        Assert.Null(await node.Tickets.RedeemAsync("never-issued"));
        Assert.Equal("grant-for-bob", await node.Tickets.RedeemAsync("tk-2"));
    }

    [Fact]
    public async Task Ticket_RacedFor20Ways_IsRedeemedExactlyOnce()
    {
        var node = CreateNode();
        await node.Tickets.StoreAsync("tk-race", "the-grant", TimeSpan.FromSeconds(30));
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var redeemers = Enumerable.Range(0, 20).Select(async _ =>
        {
            await start.Task;
            return await node.Tickets.RedeemAsync("tk-race");
        }).ToArray();
        start.SetResult();
        var grants = await Task.WhenAll(redeemers);

        Assert.Equal("the-grant", Assert.Single(grants, g => g is not null));
    }

    [Fact]
    public async Task Ticket_PastItsLifetime_CannotBeRedeemed_AndOneStoredExpiredNeverCan()
    {
        var node = CreateNode();
        await node.Tickets.StoreAsync("tk-short", "grant", TimeSpan.FromMilliseconds(300));
        await node.Tickets.StoreAsync("tk-dead", "grant", TimeSpan.Zero);

        Assert.Null(await node.Tickets.RedeemAsync("tk-dead"));
        await LetTimePassAsync(node, TimeSpan.FromMilliseconds(300));

        Assert.Null(await node.Tickets.RedeemAsync("tk-short"));
    }

    [Fact]
    public async Task IsAvailable_IsTrue_WhileTheStoreAnswers()
    {
        var node = CreateNode();
        await node.History.GetTailsAsync([StreamKey.Broadcast]);

        await Eventually.TrueAsync(() => node.History.IsAvailable, "IsAvailable", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Node_WithAnInvalidHistorySetting_FailsAtStart_NamingTheKeyAtFault()
    {
        var failure = Assert.Throws<OptionsValidationException>(() => CreateNode(("SseCluster:History:MaxEventsPerStream", "0")));

        Assert.Contains("SseCluster:History:MaxEventsPerStream", failure.Message, StringComparison.Ordinal);
    }
}
