using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Gateway.Observability;
using SseCluster.Grains;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// The single writer of one connection. It writes the preamble, replays what the client missed, then drains the
/// connection's queue in sequence order per stream: an event at or before the connection's position is a duplicate
/// and is dropped; one past a gap first fills the gap from history, or sends <c>reset</c> when history no longer
/// covers it. So a client sees every event of each stream once, in order, whichever way it arrived.
/// </summary>
internal sealed partial class ConnectionWriter(
    IStreamRouter router,
    GatewayMetrics metrics,
    IOptions<StreamOptions> streamOptions,
    ILogger<ConnectionWriter> logger)
{
    private const int ReplayBatch = 256;

    private IStreamRouter Router { get; } = router;

    private GatewayMetrics Metrics { get; } = metrics;

    private ILogger Logger { get; } = logger;

    /// <summary>Runs until the connection is closed, cut or gone. <paramref name="start"/> says where each stream begins.</summary>
    public async Task RunAsync(SseConnection connection, PipeWriter output, StreamStart start, CancellationToken cancellationToken)
    {
        var session = new Session(this, connection, output, cancellationToken);
        output.Write(SseFrames.Retry(streamOptions.Value.RetryMilliseconds));
        SseFrames.WriteId(output, connection.Positions, connection.TopicFingerprint);
        output.Write(start.Welcome);
        if (start.ResetReason is { } reason)
        {
            session.WriteReset(reason, start.ResetStreams);
        }

        await session.FlushAsync(0);
        for (var i = 0; i < connection.Streams.Length; i++)
        {
            if (start.ReplayUpTo[i] > connection.Positions[i])
            {
                await session.FillAsync(i, start.ReplayUpTo[i]);
            }
        }

        await session.FlushAsync(0);
        await session.DrainQueueAsync();
    }

    /// <summary>A jittered retry, so clients told to leave together do not come back together.</summary>
    public byte[] JitteredRetry()
    {
        var baseMs = streamOptions.Value.RetryMilliseconds;
        return SseFrames.Retry(baseMs + Random.Shared.Next(0, 2 * baseMs + 1));
    }

    private sealed class Session(ConnectionWriter owner, SseConnection connection, PipeWriter output, CancellationToken cancellationToken)
    {
        public async Task DrainQueueAsync()
        {
            var reader = connection.Reader;
            while (await reader.WaitToReadAsync(cancellationToken))
            {
                long oldest = 0;
                while (reader.TryRead(out var item))
                {
                    if (item.Kind == OutboundKind.Event && oldest == 0)
                    {
                        oldest = item.EnqueuedAt;
                    }

                    if (!await HandleAsync(item))
                    {
                        await FlushAsync(oldest);
                        return;
                    }
                }

                await FlushAsync(oldest);
            }
        }

        public async ValueTask FlushAsync(long oldestEnqueuedAt)
        {
            var result = await output.FlushAsync(cancellationToken);
            if (oldestEnqueuedAt != 0)
            {
                owner.Metrics.WriteLatency.Record(Stopwatch.GetElapsedTime(oldestEnqueuedAt).TotalSeconds);
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                throw new OperationCanceledException("the client is gone");
            }
        }

        /// <summary>Writes stream <paramref name="index"/>'s events from history until its position reaches <paramref name="upTo"/>.</summary>
        public async ValueTask FillAsync(int index, long upTo)
        {
            var stream = connection.Streams[index];
            if (index == ResumePosition.UserIndex && connection.UserId is null)
            {
                return;
            }

            while (connection.Positions[index] < upTo)
            {
                var position = connection.Positions[index];
                var read = await owner.Router.ReadAsync(stream, position, (int)Math.Min(ReplayBatch, upTo - position), cancellationToken);
                if (read.Events.Count == 0 || read.Events[0].Sequence != position + 1)
                {
                    // History no longer holds position + 1: say so, and continue from the stream's newest event.
                    connection.Positions[index] = Math.Max(read.LastSequence, upTo);
                    WriteReset("history-gap", [stream.ToString()]);
                    owner.Metrics.Resets.Add(1);
                    Log.HistoryGap(owner.Logger, connection.Id, stream.ToString(), position, read.Events.Count == 0 ? 0 : read.Events[0].Sequence);
                    return;
                }

                foreach (var e in read.Events)
                {
                    connection.Positions[index] = e.Sequence;
                    if (IsFor(e.Payload))
                    {
                        SseFrames.WriteId(output, connection.Positions, connection.TopicFingerprint);
                        SseFrames.WriteEvent(output, e.Payload.EventType, e.Payload.Data);
                        owner.Metrics.Replayed.Add(1);
                        owner.Metrics.Delivered.Add(1);
                    }
                }

                await FlushAsync(0);
            }
        }

        public void WriteReset(string reason, IReadOnlyList<string> streams)
        {
            SseFrames.WriteId(output, connection.Positions, connection.TopicFingerprint);
            SseFrames.WriteEvent(output, "reset", System.Text.Json.JsonSerializer.Serialize(new ResetData(reason, streams), SseJsonContext.Default.ResetData));
        }

        private async ValueTask<bool> HandleAsync(OutboundItem item)
        {
            switch (item.Kind)
            {
                case OutboundKind.Event or OutboundKind.Skip:
                    var index = item.StreamIndex;
                    if (item.Sequence <= connection.Positions[index])
                    {
                        return true; // already written (replay overlapped live delivery)
                    }

                    if (item.Sequence > connection.Positions[index] + 1)
                    {
                        await FillAsync(index, item.Sequence - 1);
                        if (item.Sequence <= connection.Positions[index])
                        {
                            return true;
                        }
                    }

                    connection.Positions[index] = item.Sequence;
                    if (item.Kind == OutboundKind.Event)
                    {
                        SseFrames.WriteId(output, connection.Positions, connection.TopicFingerprint);
                        output.Write(item.Body);
                        owner.Metrics.Delivered.Add(1);
                    }

                    return true;
                case OutboundKind.Raw:
                    output.Write(item.Body);
                    return true;
                default:
                    SseFrames.WriteCheckpoint(output, connection.Positions, connection.TopicFingerprint);
                    output.Write(owner.JitteredRetry());
                    SseFrames.WriteId(output, connection.Positions, connection.TopicFingerprint);
                    output.Write(item.Body);
                    return false;
            }
        }

        private bool IsFor(EventPayload payload) =>
            payload.UserFilter is null || connection.UserId is { } userId && payload.UserFilter.Contains(userId, StringComparer.Ordinal);
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "Connection {ConnectionId}: history of {Stream} no longer holds {Expected} (oldest {Oldest}); reset sent")]
        public static partial void HistoryGap(ILogger logger, string connectionId, string stream, long expected, long oldest);
    }
}

/// <summary>Where a connection's streams start: its welcome frame, what to replay, and whether to send <c>reset</c> first.</summary>
internal sealed record StreamStart(byte[] Welcome, long[] ReplayUpTo, string? ResetReason, IReadOnlyList<string> ResetStreams);
