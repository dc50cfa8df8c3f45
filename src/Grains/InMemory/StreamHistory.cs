using SseCluster.Contracts;

namespace SseCluster.Grains.InMemory;

/// <summary>One stream's bounded history: a ring of its newest events, trimmed by count and age. Not thread-safe.</summary>
internal sealed class StreamHistory(StreamKey stream)
{
    private readonly Queue<StreamEvent> _events = new();

    public StreamKey Stream { get; } = stream;

    public long LastSequence { get; private set; }

    public long Append(EventPayload payload, int maxEvents, long minPublishedAt)
    {
        var sequence = ++LastSequence;
        _events.Enqueue(new StreamEvent(Stream, sequence, payload));
        Trim(maxEvents, minPublishedAt);
        return sequence;
    }

    public StreamRead Read(long afterSequence, int maxCount, int maxEvents, long minPublishedAt)
    {
        Trim(maxEvents, minPublishedAt);
        if (afterSequence >= LastSequence || _events.Count == 0)
        {
            return new StreamRead([], LastSequence);
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

        return new StreamRead(result, LastSequence);
    }

    private void Trim(int maxEvents, long minPublishedAt)
    {
        while (_events.Count > maxEvents || _events.Count > 0 && _events.Peek().Payload.PublishedAt < minPublishedAt)
        {
            _events.Dequeue();
        }
    }
}
