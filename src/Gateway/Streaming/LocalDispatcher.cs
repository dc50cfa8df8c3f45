using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Observability;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Takes live events from the grains, puts each stream in order, formats each event once and queues the same bytes to
/// every local connection that reads its stream. Per stream: an event at <c>last + 1</c> is queued; one at or below
/// <c>last</c> was queued already and is dropped; one further ahead first has the events in between read from the
/// stream store (once for the whole gateway, not once per connection). An event under a new epoch restarts the
/// stream's count. It never waits for a client: a full queue cuts that connection alone.
/// </summary>
internal sealed partial class LocalDispatcher(
    ConnectionRegistry registry,
    LiveStreams streams,
    StreamAttachments attachments,
    IStreamHistory history,
    GatewayMetrics metrics,
    Answers.AnswerSignals answers,
    ILogger<LocalDispatcher> logger)
{
    private const int FillBatch = 256;

    /// <returns>For each event of the delivery, how many local connections it was queued to.</returns>
    public async Task<int[]> DeliverAsync(LiveDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var counts = new int[delivery.Events.Count];
        if (delivery.Events.Count == 0)
        {
            return counts;
        }

        if (!streams.TryGet(delivery.Stream, out var live))
        {
            // No local reader any more, yet the grain still sends here: the detach did not reach it. Tell it again.
            _ = DetachUnreadAsync(delivery.Stream);
            return counts;
        }

        await live.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (delivery.Epoch != live.Epoch)
            {
                // First sight of the stream: take this delivery as the start (connections replayed what came before).
                // Otherwise the store started the stream again: count from its beginning.
                live.Last = live.Epoch == 0 ? delivery.Events[0].Sequence - 1 : 0;
                live.Epoch = delivery.Epoch;
            }

            for (var i = 0; i < counts.Length; i++)
            {
                var e = delivery.Events[i];
                if (e.Sequence <= live.Last)
                {
                    continue;
                }

                if (e.Sequence > live.Last + 1)
                {
                    await FillAsync(live, e.Sequence - 1, delivery.Epoch).ConfigureAwait(false);
                    if (e.Sequence <= live.Last || live.Epoch != delivery.Epoch)
                    {
                        continue;
                    }
                }

                counts[i] = Dispatch(live.Key, delivery.Epoch, e.Sequence, e.Payload);
                live.Last = e.Sequence;
            }
        }
        finally
        {
            live.Gate.Release();
        }

        return counts;
    }

    /// <summary>Brings a tracked stream up to <paramref name="tail"/> from the store (a delivery that never came).</summary>
    public async Task CatchUpAsync(LiveStream live, StreamTail tail, CancellationToken cancellationToken)
    {
        await live.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (tail.Epoch != live.Epoch)
            {
                live.Epoch = tail.Epoch;
                live.Last = 0;
            }

            if (tail.LastSequence > live.Last)
            {
                metrics.CatchUps.Add(1);
                await FillAsync(live, tail.LastSequence, tail.Epoch).ConfigureAwait(false);
            }
        }
        finally
        {
            live.Gate.Release();
        }
    }

    private async Task DetachUnreadAsync(StreamKey stream)
    {
        try
        {
            await attachments.DetachUnreadAsync(stream, CancellationToken.None).ConfigureAwait(false);
        }
        catch (RoutingUnavailableException)
        {
            // Logged by the call; the next delivery of the stream tries again.
        }
    }

    public int Control(ControlCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var closed = 0;
        var close = SseFrames.FormatEvent("close", new CloseData(command.Reason, command.Reconnect), SseJsonContext.Default.CloseData);
        IEnumerable<SseConnection> targets = command.Target == ControlTarget.User
            ? registry.ForUser(command.Id)
            : registry.Find(command.Id) is { } one ? [one] : [];
        foreach (var connection in targets)
        {
            if (connection.TryClose(close))
            {
                closed++;
            }
        }

        if (closed > 0)
        {
            Log.ControlApplied(logger, command.Target, command.Id, command.Reason, closed);
        }

        return closed;
    }

    // Caller holds live.Gate. Reads the events after live.Last up to upTo from the store and queues them. When the store
    // cannot say (unreachable, or the history no longer holds them), the stream moves on: each connection then finds
    // the hole itself and fills it or is told reset.
    private async Task FillAsync(LiveStream live, long upTo, int epoch)
    {
        try
        {
            while (live.Last < upTo)
            {
                var read = await history.ReadAsync(live.Key, live.Last, (int)Math.Min(FillBatch, upTo - live.Last)).ConfigureAwait(false);
                if (read.Epoch != live.Epoch)
                {
                    if (read.Epoch == 0 || read.Epoch != epoch)
                    {
                        break; // the store moved on under yet another epoch: the next delivery or tail check restarts
                    }

                    live.Epoch = read.Epoch;
                    live.Last = 0;
                    continue;
                }

                if (read.Events.Count == 0 || read.Events[0].Sequence != live.Last + 1)
                {
                    break;
                }

                foreach (var e in read.Events)
                {
                    Dispatch(live.Key, read.Epoch, e.Sequence, e.Payload);
                    live.Last = e.Sequence;
                }
            }
        }
        catch (RoutingUnavailableException ex)
        {
            Log.FillFailed(logger, live.Key.ToString(), ex.Message);
        }

        if (live.Last < upTo && live.Epoch == epoch)
        {
            live.Last = upTo;
        }
    }

    private int Dispatch(StreamKey stream, int epoch, long sequence, EventPayload payload)
    {
        // Formatted once per event on this gateway; every recipient gets the same bytes (and the same queue timestamp).
        var body = SseFrames.FormatEvent(payload.EventType, payload.Data);
        var now = Stopwatch.GetTimestamp();
        var queued = 0;
        switch (stream.Kind)
        {
            case StreamKind.User:
                foreach (var connection in registry.ForUser(stream.Name))
                {
                    queued += Enqueue(connection, new OutboundItem(OutboundKind.Event, body, ResumePosition.UserIndex, sequence, epoch, now));
                }

                break;
            case StreamKind.Topic:
                foreach (var connection in registry.EachForTopic(stream.Name))
                {
                    var slot = connection.SlotOf(stream);
                    if (slot >= 0)
                    {
                        queued += Enqueue(connection, new OutboundItem(OutboundKind.Event, body, slot, sequence, epoch, now));
                    }
                }

                break;
            case StreamKind.Answer:
                // Answer readers read their answer from the store themselves; they only need to know there is more.
                answers.Notify(stream);
                queued = 1;
                break;
            default:
                queued += DispatchBroadcast(payload.UserFilter, body, sequence, epoch, now);
                break;
        }

        return queued;
    }

    private int DispatchBroadcast(IReadOnlyList<string>? userFilter, byte[] body, long sequence, int epoch, long now)
    {
        var queued = 0;
        if (userFilter is null)
        {
            var item = new OutboundItem(OutboundKind.Event, body, ResumePosition.BroadcastIndex, sequence, epoch, now);
            foreach (var connection in registry.Each())
            {
                queued += Enqueue(connection, item);
            }

            return queued;
        }

        var targets = new HashSet<string>(userFilter, StringComparer.Ordinal);
        var forThemItem = new OutboundItem(OutboundKind.Event, body, ResumePosition.BroadcastIndex, sequence, epoch, now);
        var skipItem = new OutboundItem(OutboundKind.Skip, null, ResumePosition.BroadcastIndex, sequence, epoch, now);
        foreach (var connection in registry.Each())
        {
            // Connections outside the filter still move past the event, so their next broadcast is not a gap.
            var forThem = connection.UserId is { } userId && targets.Contains(userId);
            var ok = Enqueue(connection, forThem ? forThemItem : skipItem);
            queued += forThem ? ok : 0;
        }

        return queued;
    }

    private int Enqueue(SseConnection connection, in OutboundItem item)
    {
        if (connection.TryEnqueue(item))
        {
            return 1;
        }

        metrics.QueueDrops.Add(1);
        return 0;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Control {Target} {Id} ({Reason}) closed {Count} local connections")]
        public static partial void ControlApplied(ILogger logger, ControlTarget target, string id, string reason, int count);

        [LoggerMessage(2, LogLevel.Warning, "Stream {Stream}: could not fill a hole from the store ({Reason}); each connection fills it itself")]
        public static partial void FillFailed(ILogger logger, string stream, string reason);
    }
}
