using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Streams;

/// <summary>
/// The publishes waiting for one stored event to reach the gateways (several when a retry repeated a publish id). It
/// answers them once every gateway it went to took it, or when it is told to stop waiting. It holds no payload, so a
/// publisher's wait keeps no event data alive. Used on the grain's scheduler only, so it needs no locks.
/// </summary>
internal sealed class StoredEvent(long sequence, int epoch, System.Diagnostics.ActivityContext trace = default)
{
    private readonly List<TaskCompletionSource<PublishAck>> _publishers = [];
    private IReadOnlyList<SiloAddress> _gateways = [];
    private int _remaining;
    private int _connections;

    public long Sequence { get; } = sequence;

    public int Epoch { get; } = epoch;

    /// <summary>The trace of the (first) publish that stored it; default when none was traced.</summary>
    public System.Diagnostics.ActivityContext Trace { get; } = trace;

    public void AddPublisher(TaskCompletionSource<PublishAck> publisher) => _publishers.Add(publisher);

    /// <summary>Sets the gateways it goes to; with none, the publishers are answered now.</summary>
    public void SendTo(IReadOnlyList<SiloAddress> gateways)
    {
        _gateways = gateways;
        _remaining = gateways.Count;
        if (_remaining == 0)
        {
            Answer();
        }
    }

    /// <summary>One gateway took it (and queued it to <paramref name="connections"/>), or failed to (0).</summary>
    public void Credit(int connections)
    {
        _connections += connections;
        if (--_remaining == 0)
        {
            Answer();
        }
    }

    /// <summary>Answers the publishers with what is known now (gateways that did not answer yet count no connections).</summary>
    public void Answer()
    {
        var ack = new PublishAck(Sequence, Epoch, _gateways, _connections);
        foreach (var publisher in _publishers)
        {
            publisher.TrySetResult(ack);
        }
    }
}
