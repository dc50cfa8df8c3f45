using System.Threading.Channels;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// One open stream: who it is for, which streams it reads and where it is in each, and its bounded outbound queue.
/// Routers and timers only enqueue; <see cref="ConnectionWriter"/> is the queue's single reader.
/// <para>
/// Positions are kept per slot of the event id (<see cref="ResumePosition"/>): the user slot, the broadcast slot, then
/// one per topic. An anonymous connection has no user stream: its user slot stays at 0 and names no stream.
/// </para>
/// </summary>
internal sealed class SseConnection
{
    private readonly Channel<OutboundItem> _queue;
    private readonly StreamKey?[] _slots;
    private readonly CancellationTokenSource _closing = new();
    private int _overflowed;
    private volatile bool _closeInQueue;

    public SseConnection(
        string id,
        string gatewayId,
        string? userId,
        string? clientId,
        IReadOnlyList<string> sortedTopics,
        DateTimeOffset connectedAt,
        DateTimeOffset? tokenExpiresAt,
        string? remoteAddress,
        string? userAgent,
        int queueCapacity)
    {
        Id = id;
        UserId = userId;
        ClientId = clientId;
        Topics = sortedTopics;
        ConnectedAt = connectedAt;
        TokenExpiresAt = tokenExpiresAt;
        var slots = new StreamKey?[ResumePosition.FirstTopicIndex + sortedTopics.Count];
        slots[ResumePosition.UserIndex] = userId is null ? null : StreamKey.ForUser(userId);
        slots[ResumePosition.BroadcastIndex] = StreamKey.Broadcast;
        for (var i = 0; i < sortedTopics.Count; i++)
        {
            slots[ResumePosition.FirstTopicIndex + i] = StreamKey.ForTopic(sortedTopics[i]);
        }

        _slots = slots;
        Streams = slots.Where(s => s is not null).Select(s => s!.Value).ToArray();
        Positions = new long[slots.Length];
        Epochs = new int[slots.Length];
        TopicFingerprint = ResumePosition.Fingerprint(sortedTopics);
        Record = new ConnectionRecord(id, gatewayId, userId, clientId, sortedTopics, connectedAt, remoteAddress, userAgent);
        _queue = Channel.CreateBounded<OutboundItem>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // never used: TryWrite fails instead, and the connection is cut
        });
    }

    public string Id { get; }

    public string? UserId { get; }

    public string? ClientId { get; }

    /// <summary>Sorted, distinct.</summary>
    public IReadOnlyList<string> Topics { get; }

    public DateTimeOffset ConnectedAt { get; }

    /// <summary>When the credentials the connection was opened with expire; null for anonymous connections.</summary>
    public DateTimeOffset? TokenExpiresAt { get; }

    /// <summary>The streams the connection reads: its user's (unless anonymous), the broadcast, then its topics in sorted order.</summary>
    public StreamKey[] Streams { get; }

    /// <summary>Slots of the event id: user, broadcast, then topics.</summary>
    public int SlotCount => _slots.Length;

    /// <summary>The last sequence delivered (or skipped) per slot; only the writer touches it once streaming.</summary>
    public long[] Positions { get; }

    /// <summary>The epoch of each slot's stream as far as this connection knows it; 0 before it saw one.</summary>
    public int[] Epochs { get; }

    public uint TopicFingerprint { get; }

    /// <summary>How this connection is listed to admins.</summary>
    public ConnectionRecord Record { get; }

    /// <summary>The stream in a slot; null for the user slot of an anonymous connection.</summary>
    public StreamKey? StreamAt(int slot) => _slots[slot];

    public ChannelReader<OutboundItem> Reader => _queue.Reader;

    /// <summary>Cancelled when the connection must end: closed by the server, cut as a slow consumer, or gone.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>True once the queue overflowed and the connection was cut.</summary>
    public bool Overflowed => Volatile.Read(ref _overflowed) == 1;

    /// <summary>Set when a close was queued; later closes are ignored.</summary>
    public bool CloseQueued { get; private set; }

    /// <summary>The slot of <paramref name="stream"/>, or -1 when the connection does not read it.</summary>
    public int SlotOf(StreamKey stream) => stream.Kind switch
    {
        StreamKind.Broadcast => ResumePosition.BroadcastIndex,
        StreamKind.User => UserId == stream.Name ? ResumePosition.UserIndex : -1,
        _ => IndexOfTopic(stream.Name),
    };

    /// <summary>
    /// Queues an item without waiting. When the queue is full the connection is a slow consumer: it is cut (its client
    /// reconnects and resumes from history) and false is returned. Once its close is queued nothing more is (false):
    /// the close's checkpoint holds only what was written, so the client gets the rest from history where it resumes.
    /// </summary>
    public bool TryEnqueue(in OutboundItem item)
    {
        if (_queue.Writer.TryWrite(item))
        {
            return true;
        }

        if (_closeInQueue)
        {
            // The queue was completed behind the close, not overrun: cutting now would lose the close, and the client
            // would see a broken stream (and count as a slow consumer) instead of being told to resume elsewhere.
            return false;
        }

        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _queue.Writer.TryComplete();
            Cancel();
        }

        return false;
    }

    /// <summary>Queues the final frames (checkpoint, retry, <paramref name="body"/>) once; the writer then ends the stream.</summary>
    public bool TryClose(byte[] body)
    {
        lock (_queue)
        {
            if (CloseQueued)
            {
                return false;
            }

            CloseQueued = true;
        }

        if (!TryEnqueue(new OutboundItem(OutboundKind.Close, body)))
        {
            return false;
        }

        _closeInQueue = true;
        _queue.Writer.TryComplete();
        return true;
    }

    /// <summary>Ends the connection now, without final frames.</summary>
    public void Cancel()
    {
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private int IndexOfTopic(string topic)
    {
        // Topics are few (bounded by MaxTopicsPerConnection) and sorted.
        var lo = 0;
        var hi = Topics.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var cmp = string.CompareOrdinal(Topics[mid], topic);
            if (cmp == 0)
            {
                return ResumePosition.FirstTopicIndex + mid;
            }

            if (cmp < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return -1;
    }
}
