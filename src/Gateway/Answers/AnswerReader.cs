using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Streaming;
using SseCluster.Grains.Answers;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Answers;

/// <summary>
/// Writes one answer's stream to one response, from a position to its <c>done</c> or <c>error</c>, then returns.
/// Events come from the store, in order and each once: the reader attaches to the answer's grain only to be woken
/// when there is more, and reads again every <see cref="Poll"/> anyway, so a lost delivery delays it, never stalls it.
/// Each event's id is <c>&lt;sequence&gt;-&lt;epoch&gt;</c> (<see cref="AnswerPosition"/>).
/// </summary>
internal sealed partial class AnswerReader(
    IStreamHistory history,
    StreamAttachments attachments,
    AnswerSignals signals,
    IGrainFactory grains,
    IOptions<HeartbeatOptions> heartbeat,
    ILogger<AnswerReader> logger)
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Nudge = TimeSpan.FromSeconds(5);
    private const int ReadBatch = 256;

    /// <summary>Writes the events after <paramref name="after"/>; returns once the final one was written or the client left.</summary>
    public async Task RunAsync(HttpResponse response, StreamKey stream, long after, CancellationToken cancellationToken)
    {
        using var wakes = signals.Subscribe(stream);
        var attached = false;
        try
        {
            try
            {
                await attachments.AcquireAsync(stream, cancellationToken);
                attached = true;
            }
            catch (RoutingUnavailableException ex)
            {
                Log.NotAttached(logger, stream.ToString(), ex.Message); // reads on its poll alone
            }

            var sinceWrite = Stopwatch.StartNew();
            var sinceNudge = Stopwatch.StartNew();
            var beat = TimeSpan.FromSeconds(heartbeat.Value.IntervalSeconds);
            while (true)
            {
                var read = await history.ReadAsync(stream, after, ReadBatch, cancellationToken);
                // A first event past the one expected, or nothing to read while the tail is elsewhere (or empty: a started
                // answer always holds its first event): the store no longer holds what comes next — it trimmed the answer,
                // forgot it after History:MaxAgeSeconds, or lost it. Waiting would never end.
                if (read.Events.Count > 0 ? read.Events[0].Sequence != after + 1 : read.LastSequence != after || read.LastSequence == 0)
                {
                    await WriteAsync(response, AnswerEvents.Error, AnswerEvents.ErrorData(stream.Name, "history-lost"), null, 0, cancellationToken);
                    return;
                }

                foreach (var e in read.Events)
                {
                    await WriteAsync(response, e.Payload.EventType, e.Payload.Data, e.Sequence, read.Epoch, cancellationToken);
                    after = e.Sequence;
                    if (e.Payload.EventType is AnswerEvents.Done or AnswerEvents.Error)
                    {
                        return;
                    }
                }

                if (read.Events.Count > 0)
                {
                    sinceWrite.Restart();
                    continue;
                }

                if (sinceWrite.Elapsed >= beat)
                {
                    await response.BodyWriter.WriteAsync(SseFrames.Comment("heartbeat"), cancellationToken);
                    sinceWrite.Restart();
                }

                if (sinceNudge.Elapsed >= Nudge)
                {
                    await NudgeAsync(stream, cancellationToken);
                    sinceNudge.Restart();
                }

                await wakes.WaitAsync(Poll, cancellationToken);
            }
        }
        finally
        {
            if (attached)
            {
                try
                {
                    // Not the request's token: the client may be gone, the grain must still be told.
                    await attachments.ReleaseAsync(stream, CancellationToken.None);
                }
                catch (RoutingUnavailableException ex)
                {
                    Log.NotAttached(logger, stream.ToString(), ex.Message);
                }
            }
        }
    }

    // While nothing comes, the answer's grain is called now and then: if the silo that held it died, this activates it
    // again, which re-arms its timeout, so an answer whose backend also died still ends (with error timeout).
    private async Task NudgeAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        try
        {
            await grains.GetGrain<IAnswerGrain>(stream.Name).Describe(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.NudgeFailed(logger, stream.ToString(), ex.Message);
        }
    }

    private static async Task WriteAsync(HttpResponse response, string? eventType, string data, long? sequence, int epoch, CancellationToken cancellationToken)
    {
        var writer = response.BodyWriter;
        if (sequence is { } s)
        {
            SseFrames.WriteId(writer, [s], [epoch], 0);
        }

        SseFrames.WriteEvent(writer, eventType, data);
        await writer.FlushAsync(cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(310, LogLevel.Warning, "Answer stream {Stream}: live wake-ups unavailable ({Reason}); the reader polls the store")]
        public static partial void NotAttached(ILogger logger, string stream, string reason);

        [LoggerMessage(311, LogLevel.Debug, "Answer stream {Stream}: its grain could not be reached ({Reason}); trying again later")]
        public static partial void NudgeFailed(ILogger logger, string stream, string reason);
    }
}

/// <summary>The event ids of answer streams: <c>&lt;sequence&gt;[-&lt;epoch&gt;]</c>, both in lowercase base 36.</summary>
internal static class AnswerPosition
{
    /// <summary>Parses an id; the epoch is 0 when the id carries none.</summary>
    public static bool TryParse(string text, out long sequence, out int epoch)
    {
        sequence = 0;
        epoch = 0;
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (!ResumePosition.TryParseBase36(dash >= 0 ? text.AsSpan(0, dash) : text, out var s) || s > long.MaxValue)
        {
            return false;
        }

        var e = 0UL;
        if (dash >= 0 && (!ResumePosition.TryParseBase36(text.AsSpan(dash + 1), out e) || e is 0 or > int.MaxValue))
        {
            return false;
        }

        epoch = (int)e;

        sequence = (long)s;
        return true;
    }
}
