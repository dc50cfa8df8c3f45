using System.Threading.Channels;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// One open stream: who it is for, which streams it reads and where it is in each, and its bounded outbound queue.
/// Routers and timers only enqueue; <see cref="ConnectionWriter"/> is the queue's single reader.
/// </summary>
internal sealed class SseConnection
{
    private readonly Channel<OutboundItem> _queue;
    private readonly CancellationTokenSource _closing = new();
    private int _overflowed;

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
        var streams = new StreamKey[ResumePosition.FirstTopicIndex + sortedTopics.Count];
        streams[ResumePosition.UserIndex] = userId is null ? default : StreamKey.ForUser(userId);
        streams[ResumePosition.BroadcastIndex] = StreamKey.Broadcast;
        for (var i = 0; i < sortedTopics.Count; i++)
        {
            streams[ResumePosition.FirstTopicIndex + i] = StreamKey.ForTopic(sortedTopics[i]);
        }

        Streams = streams;
        Positions = new long[streams.Length];
        TopicFingerprint = ResumePosition.Fingerprint(sortedTopics);
        Info = new ConnectionInfoDto(id, gatewayId, userId, clientId, sortedTopics, connectedAt, remoteAddress, userAgent);
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

    /// <summary>User stream (default for anonymous connections), broadcast stream, then topics in sorted order.</summary>
    public StreamKey[] Streams { get; }

    /// <summary>The last sequence delivered (or skipped) per stream; only the writer touches it once streaming.</summary>
    public long[] Positions { get; }

    public uint TopicFingerprint { get; }

    public ConnectionInfoDto Info { get; }

    public ChannelReader<OutboundItem> Reader => _queue.Reader;

    /// <summary>Cancelled when the connection must end: closed by the server, cut as a slow consumer, or gone.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>True once the queue overflowed and the connection was cut.</summary>
    public bool Overflowed => Volatile.Read(ref _overflowed) == 1;

    /// <summary>Set when a close was queued; later closes are ignored.</summary>
    public bool CloseQueued { get; private set; }

    /// <summary>Index of <paramref name="stream"/> in <see cref="Streams"/>, or -1.</summary>
    public int IndexOf(StreamKey stream) => stream.Kind switch
    {
        StreamKind.Broadcast => ResumePosition.BroadcastIndex,
        StreamKind.User => UserId == stream.Name ? ResumePosition.UserIndex : -1,
        _ => IndexOfTopic(stream.Name),
    };

    /// <summary>
    /// Queues an item without waiting. When the queue is full the connection is a slow consumer: it is cut (its client
    /// reconnects and resumes from history) and false is returned.
    /// </summary>
    public bool TryEnqueue(in OutboundItem item)
    {
        if (_queue.Writer.TryWrite(item))
        {
            return true;
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
