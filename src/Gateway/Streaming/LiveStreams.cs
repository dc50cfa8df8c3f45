using System.Collections.Concurrent;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Where this gateway stands in each stream its connections read: the epoch and the newest sequence it handed to its
/// connections. Orleans does not promise to deliver grain calls in order or at all, so the dispatcher checks every
/// live event against this before it queues it (see <see cref="LocalDispatcher"/>). A stream is tracked from its first
/// local reader's attach until its last reader left.
/// </summary>
internal sealed class LiveStreams
{
    private readonly ConcurrentDictionary<StreamKey, LiveStream> _streams = new();

    public int Count => _streams.Count;

    public ICollection<StreamKey> Keys => _streams.Keys;

    public LiveStream Track(StreamKey stream) => _streams.GetOrAdd(stream, static key => new LiveStream(key));

    public void Untrack(StreamKey stream) => _streams.TryRemove(stream, out _);

    public bool TryGet(StreamKey stream, out LiveStream live) => _streams.TryGetValue(stream, out live!);
}

/// <summary>One tracked stream. <see cref="Gate"/> orders everything that moves it: deliveries, fills, tail checks.</summary>
internal sealed class LiveStream(StreamKey key)
{
    public StreamKey Key { get; } = key;

    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The stream's epoch as last seen; 0 before anything was seen.</summary>
    public int Epoch { get; set; }

    /// <summary>The newest sequence handed to the connections.</summary>
    public long Last { get; set; }

    /// <summary>The store's tail at the previous tail check, to tell a delivery in flight from one that never came.</summary>
    public StreamTail? SeenTail { get; set; }

    /// <summary>Takes <paramref name="tail"/> as the starting point when nothing was seen yet (a connection just read it).</summary>
    public void StartAt(StreamTail tail)
    {
        if (tail.Epoch == 0 || !Gate.Wait(0))
        {
            return;
        }

        try
        {
            if (Epoch == 0)
            {
                Epoch = tail.Epoch;
                Last = tail.LastSequence;
            }
        }
        finally
        {
            Gate.Release();
        }
    }
}
