using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Streams;

/// <summary>
/// What a stream grain still has to hand to one gateway. One <see cref="IGatewayEndpoint.Deliver"/> call is in flight
/// per gateway at a time, carrying everything that queued up meanwhile (up to a batch): under load a gateway gets a
/// few large calls instead of one per event, and never two calls of one stream that could overtake each other.
/// Used on the grain's scheduler only.
/// </summary>
internal sealed class GatewayOutbox(SiloAddress gateway, IGatewayEndpoint endpoint)
{
    private readonly Queue<(StoredEvent Tracker, LiveEvent Event)> _queue = new();
    private bool _sending;

    public SiloAddress Gateway { get; } = gateway;

    public IGatewayEndpoint Endpoint { get; set; } = endpoint;

    /// <summary>Queues events and starts sending unless a call is in flight already.</summary>
    /// <param name="events">Events to queue, in sequence order.</param>
    /// <param name="deliver">Makes one call to the gateway; answers per-event counts, or null when the call failed.</param>
    /// <param name="stream">The stream the events belong to.</param>
    /// <param name="maxBatch">Most events per call.</param>
    public void Enqueue(IEnumerable<(StoredEvent Tracker, LiveEvent Event)> events, Func<GatewayOutbox, LiveDelivery, Task<int[]?>> deliver, StreamKey stream, int maxBatch)
    {
        foreach (var e in events)
        {
            _queue.Enqueue(e);
        }

        if (!_sending)
        {
            _sending = true;
            _ = SendAsync(deliver, stream, maxBatch);
        }
    }

    /// <summary>Gives up on everything queued (the gateway is gone): each event counts it as failed.</summary>
    public void Abandon()
    {
        while (_queue.TryDequeue(out var e))
        {
            e.Tracker.Credit(0);
        }
    }

    private async Task SendAsync(Func<GatewayOutbox, LiveDelivery, Task<int[]?>> deliver, StreamKey stream, int maxBatch)
    {
        try
        {
            while (_queue.Count > 0)
            {
                // One call carries one epoch: a stream the store started again goes out in its own call.
                var epoch = _queue.Peek().Tracker.Epoch;
                var batch = new List<(StoredEvent Tracker, LiveEvent Event)>(Math.Min(_queue.Count, maxBatch));
                while (batch.Count < maxBatch && _queue.TryPeek(out var next) && next.Tracker.Epoch == epoch)
                {
                    batch.Add(_queue.Dequeue());
                }

                int[]? counts;
                using (SseClusterTracing.StartDelivery(stream, Gateway, batch, batch.Count))
                {
                    // The span is current during the call: Orleans carries it to an observer, Task.Run to the co-hosted gateway.
                    counts = await deliver(this, new LiveDelivery(stream, epoch, batch.ConvertAll(e => e.Event)));
                }

                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Tracker.Credit(counts is not null && i < counts.Length ? counts[i] : 0);
                }
            }
        }
        finally
        {
            _sending = false;
        }
    }
}
