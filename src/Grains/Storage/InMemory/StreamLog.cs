using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Storage.InMemory;

/// <summary>
/// One stream in memory: its epoch, its newest sequence, a ring of its newest events trimmed by count and age, and the
/// publish ids it saw within the idempotency window. Not thread-safe: the owner locks it.
/// </summary>
internal sealed class StreamLog(StreamKey stream, int epoch)
{
    private readonly Queue<StreamEvent> _events = new();
    private readonly Dictionary<Guid, long> _publishIds = [];
    private readonly Queue<(Guid Id, long ExpiresAt)> _publishIdOrder = new();

    public StreamKey Stream { get; } = stream;

    public int Epoch { get; } = epoch;

    public long LastSequence { get; private set; }

    /// <summary>Unix ms of the newest append.</summary>
    public long LastAppendAt { get; private set; }

    /// <summary>Set, under the lock, when the stream was forgotten; an appender holding it must take the new one.</summary>
    public bool Removed { get; set; }

    public StreamTail Tail => new(LastSequence == 0 ? 0 : Epoch, LastSequence);

    public long Append(PendingEvent pending, HistoryOptions options, long now)
    {
        ForgetPublishIds(now);
        if (_publishIds.TryGetValue(pending.PublishId, out var first))
        {
            return first;
        }

        var sequence = ++LastSequence;
        LastAppendAt = now;
        _events.Enqueue(new StreamEvent(Stream, sequence, pending.Payload));
        _publishIds[pending.PublishId] = sequence;
        _publishIdOrder.Enqueue((pending.PublishId, now + options.IdempotencyWindowSeconds * 1000L));
        Trim(options, now);
        return sequence;
    }

    public StreamRead Read(long afterSequence, int maxCount, HistoryOptions options, long now)
    {
        Trim(options, now);
        if (afterSequence >= LastSequence || _events.Count == 0)
        {
            return new StreamRead([], Tail);
        }

        var result = new List<StreamEvent>(Math.Min(maxCount, (int)Math.Min(LastSequence - afterSequence, _events.Count)));
        foreach (var e in _events)
        {
            if (e.Sequence <= afterSequence)
            {
                continue;
            }

            result.Add(e);
            if (result.Count == maxCount)
            {
                break;
            }
        }

        return new StreamRead(result, Tail);
    }

    /// <summary>True when nothing of the stream is worth keeping: no event younger than the history's age, no live publish id.</summary>
    public bool IsIdle(HistoryOptions options, long now)
    {
        Trim(options, now);
        ForgetPublishIds(now);
        return _events.Count == 0 && _publishIds.Count == 0 && now - LastAppendAt >= options.MaxAgeSeconds * 1000L;
    }

    private void Trim(HistoryOptions options, long now)
    {
        var minPublishedAt = now - options.MaxAgeSeconds * 1000L;
        while (_events.Count > options.MaxEventsPerStream || _events.Count > 0 && _events.Peek().Payload.PublishedAt < minPublishedAt)
        {
            _events.Dequeue();
        }
    }

    private void ForgetPublishIds(long now)
    {
        while (_publishIdOrder.Count > 0 && _publishIdOrder.Peek().ExpiresAt <= now)
        {
            _publishIds.Remove(_publishIdOrder.Dequeue().Id);
        }
    }
}
