using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Gateway.Observability;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// The single writer of one connection. It writes the preamble, replays what the client missed, then drains the
/// connection's queue in sequence order per stream: an event at or before the connection's position is a duplicate
/// and is dropped; one past a gap first fills the gap from history, or sends <c>reset</c> when history no longer
/// covers it. An event under another epoch than the connection's means the store lost the stream and started it
/// again: the client gets <c>reset</c>, then every event of the new epoch. So a client sees every event of each
/// stream once, in order, whichever way it arrived — or is told that it cannot.
/// </summary>
internal sealed partial class ConnectionWriter(
    ReplayReader replay,
    GatewayMetrics metrics,
    IOptions<StreamOptions> streamOptions,
    ILogger<ConnectionWriter> logger)
{
    /// <summary>The most history events read at once for one connection.</summary>
    internal const int ReplayBatch = 256;

    private ReplayReader Replay { get; } = replay;

    private GatewayMetrics Metrics { get; } = metrics;

    private ILogger Logger { get; } = logger;

    /// <summary>Runs until the connection is closed, cut or gone. <paramref name="start"/> says where each stream begins.</summary>
    public async Task RunAsync(SseConnection connection, PipeWriter output, StreamStart start, CancellationToken cancellationToken)
    {
        var session = new Session(this, connection, output, cancellationToken);
        output.Write(SseFrames.Retry(streamOptions.Value.RetryMilliseconds));
        session.WriteId();
        output.Write(start.Welcome);
        if (start.ResetReason is { } reason)
        {
            session.WriteReset(reason, start.ResetStreams);
        }

        await session.FlushAsync(0);
        for (var slot = 0; slot < connection.SlotCount; slot++)
        {
            if (start.ReplayUpTo[slot] > connection.Positions[slot])
            {
                await session.FillAsync(slot, start.ReplayUpTo[slot]);
            }
        }

        await session.FlushAsync(0);

        // This frame lives as long as the connection: let go of the welcome frame and replay plan now.
        start = null!;
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
        // Live events written since the last flush; counted into the metric once per flush.
        private int _delivered;

        /// <summary>
        /// Coalesces: every wake-up takes everything queued for the connection (events, skips, heartbeats, the close),
        /// writes it into the response one after the other and flushes once, so many events cost one write to the socket.
        /// Events arrive one at a time only while the writer keeps up; once it falls behind, the queue fills and each
        /// flush carries more of it.
        /// </summary>
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

                    var step = Handle(item);
                    if (step == Step.NeedsFill)
                    {
                        await FillAsync(item.Slot, item.Sequence - 1, item.Epoch);
                        step = WriteInOrder(item);
                    }

                    if (step == Step.End)
                    {
                        await FlushBatchAsync(oldest);
                        return;
                    }
                }

                await FlushBatchAsync(oldest);
            }
        }

        private ValueTask FlushBatchAsync(long oldestEnqueuedAt)
        {
            if (_delivered > 0)
            {
                owner.Metrics.Delivered.Add(_delivered); // once per write, not once per event
                _delivered = 0;
            }

            return FlushAsync(oldestEnqueuedAt);
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

        /// <summary>Writes a slot's events from history until its position reaches <paramref name="upTo"/>.</summary>
        /// <param name="slot">The id slot.</param>
        /// <param name="upTo">The sequence to reach.</param>
        /// <param name="upToEpoch">The epoch <paramref name="upTo"/> belongs to; 0 for the connection's own.</param>
        public async ValueTask FillAsync(int slot, long upTo, int upToEpoch = 0)
        {
            if (connection.StreamAt(slot) is not { } stream)
            {
                return;
            }

            while (connection.Positions[slot] < upTo)
            {
                var position = connection.Positions[slot];
                var read = await owner.Replay.ReadAsync(stream, position, (int)Math.Min(ReplayBatch, upTo - position), connection.Epochs[slot], cancellationToken);
                if (read.Epoch != 0 && read.Epoch != connection.Epochs[slot])
                {
                    if (connection.Epochs[slot] != 0)
                    {
                        // The stream was started again since this position: the client's place in it is gone.
                        Restart(slot, read.Epoch, "stream-restarted");
                        if (upToEpoch != read.Epoch)
                        {
                            upTo = read.LastSequence;
                        }

                        continue;
                    }

                    connection.Epochs[slot] = read.Epoch;
                }

                if (read.Events.Count == 0 || read.Events[0].Sequence != position + 1)
                {
                    // History no longer holds position + 1: say so, and continue from the stream's newest event.
                    connection.Positions[slot] = Math.Max(read.LastSequence, upTo);
                    WriteReset("history-gap", [stream.ToString()]);
                    owner.Metrics.Resets.Add(1);
                    Log.HistoryGap(owner.Logger, connection.Id, stream.ToString(), position, read.Events.Count == 0 ? 0 : read.Events[0].Sequence);
                    return;
                }

                var written = 0;
                foreach (var e in read.Events)
                {
                    connection.Positions[slot] = e.Sequence;
                    if (IsFor(e.UserFilter))
                    {
                        WriteId();
                        output.Write(e.Frame); // formatted once for every connection that replays it
                        written++;
                    }
                }

                // Counted once per batch, not per event: a reconnect storm replays hundreds of thousands.
                owner.Metrics.Replayed.Add(written);
                owner.Metrics.Delivered.Add(written);
                await FlushAsync(0);
            }
        }

        public void WriteId() => SseFrames.WriteId(output, connection.Positions, connection.Epochs, connection.TopicFingerprint);

        public void WriteReset(string reason, IReadOnlyList<string> streams)
        {
            WriteId();
            SseFrames.WriteEvent(output, "reset", System.Text.Json.JsonSerializer.Serialize(new ResetData(reason, streams), SseJsonContext.Default.ResetData));
        }

        /// <summary>The slot's stream now lives under <paramref name="epoch"/>: tell the client, and start over at its beginning.</summary>
        private void Restart(int slot, int epoch, string reason)
        {
            connection.Epochs[slot] = epoch;
            connection.Positions[slot] = 0;
            WriteReset(reason, [connection.StreamAt(slot)!.Value.ToString()]);
            owner.Metrics.Resets.Add(1);
            Log.StreamRestarted(owner.Logger, connection.Id, connection.StreamAt(slot)!.Value.ToString());
        }

        /// <summary>What to do after an item: go on, end the stream, or fill a gap from history before the item.</summary>
        private enum Step
        {
            Next,
            End,
            NeedsFill,
        }

        /// <summary>Handles an item without waiting; only an event past a gap needs the history first.</summary>
        private Step Handle(in OutboundItem item)
        {
            switch (item.Kind)
            {
                case OutboundKind.Event or OutboundKind.Skip:
                    var slot = item.Slot;
                    if (item.Epoch != connection.Epochs[slot])
                    {
                        if (connection.Epochs[slot] == 0)
                        {
                            connection.Epochs[slot] = item.Epoch; // the stream's first epoch this connection sees
                        }
                        else
                        {
                            Restart(slot, item.Epoch, "stream-restarted");
                        }
                    }

                    if (item.Sequence <= connection.Positions[slot])
                    {
                        return Step.Next; // already written (replay overlapped live delivery)
                    }

                    if (item.Sequence > connection.Positions[slot] + 1)
                    {
                        return Step.NeedsFill;
                    }

                    return WriteInOrder(item);
                case OutboundKind.Raw:
                    output.Write(item.Body);
                    return Step.Next;
                default:
                    SseFrames.WriteCheckpoint(output, connection.Positions, connection.Epochs, connection.TopicFingerprint);
                    output.Write(owner.JitteredRetry());
                    WriteId();
                    output.Write(item.Body);
                    return Step.End;
            }
        }

        /// <summary>Writes an event that is next in its stream (after a fill: unless the fill passed it or a restart moved the stream on).</summary>
        private Step WriteInOrder(in OutboundItem item)
        {
            var slot = item.Slot;
            if (item.Sequence <= connection.Positions[slot] || item.Epoch != connection.Epochs[slot])
            {
                return Step.Next;
            }

            connection.Positions[slot] = item.Sequence;
            if (item.Kind == OutboundKind.Event)
            {
                WriteId();
                output.Write(item.Body);
                _delivered++;
            }

            return Step.Next;
        }

        private bool IsFor(IReadOnlyList<string>? userFilter) =>
            userFilter is null || connection.UserId is { } userId && userFilter.Contains(userId, StringComparer.Ordinal);
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "Connection {ConnectionId}: history of {Stream} no longer holds {Expected} (oldest {Oldest}); reset sent")]
        public static partial void HistoryGap(ILogger logger, string connectionId, string stream, long expected, long oldest);

        [LoggerMessage(11, LogLevel.Warning, "Connection {ConnectionId}: stream {Stream} was started again (the store lost it); reset sent, replaying the new stream")]
        public static partial void StreamRestarted(ILogger logger, string connectionId, string stream);
    }
}

/// <summary>Where a connection's streams start: its welcome frame, what to replay (per id slot), and whether to send <c>reset</c> first.</summary>
internal sealed record StreamStart(byte[] Welcome, long[] ReplayUpTo, string? ResetReason, IReadOnlyList<string> ResetStreams);
