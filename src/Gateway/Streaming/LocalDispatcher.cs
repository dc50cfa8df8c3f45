using Microsoft.Extensions.Logging;
using SseCluster.Contracts;
using SseCluster.Gateway.Observability;
using SseCluster.Grains;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// This node's inbox: takes live events from the routing layer, formats each one once, and queues the same bytes to
/// every local connection that reads one of its streams. It never waits: a full queue cuts that connection alone.
/// </summary>
internal sealed partial class LocalDispatcher(ConnectionRegistry registry, GatewayMetrics metrics, ILogger<LocalDispatcher> logger)
    : IGatewayInbox
{
    public int Deliver(LiveDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var body = SseFrames.FormatEvent(delivery.Payload.EventType, delivery.Payload.Data);
        var queued = 0;
        foreach (var (stream, sequence) in delivery.Streams)
        {
            switch (stream.Kind)
            {
                case StreamKind.User:
                    foreach (var connection in registry.ForUser(stream.Name))
                    {
                        queued += Enqueue(connection, new OutboundItem(OutboundKind.Event, body, ResumePosition.UserIndex, sequence));
                    }

                    break;
                case StreamKind.Topic:
                    foreach (var connection in registry.ForTopic(stream.Name))
                    {
                        var index = connection.IndexOf(stream);
                        if (index >= 0)
                        {
                            queued += Enqueue(connection, new OutboundItem(OutboundKind.Event, body, index, sequence));
                        }
                    }

                    break;
                default:
                    queued += DeliverBroadcast(delivery.Payload.UserFilter, body, sequence);
                    break;
            }
        }

        return queued;
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

    private int DeliverBroadcast(IReadOnlyList<string>? userFilter, byte[] body, long sequence)
    {
        var queued = 0;
        if (userFilter is null)
        {
            foreach (var connection in registry.All)
            {
                queued += Enqueue(connection, new OutboundItem(OutboundKind.Event, body, ResumePosition.BroadcastIndex, sequence));
            }

            return queued;
        }

        var targets = new HashSet<string>(userFilter, StringComparer.Ordinal);
        foreach (var connection in registry.All)
        {
            // Connections outside the filter still move past the event, so their next broadcast is not a gap.
            var forThem = connection.UserId is { } userId && targets.Contains(userId);
            var item = new OutboundItem(forThem ? OutboundKind.Event : OutboundKind.Skip, forThem ? body : null, ResumePosition.BroadcastIndex, sequence);
            var ok = Enqueue(connection, item);
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
    }
}
