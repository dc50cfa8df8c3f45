using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Routing;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Every <see cref="GatewayRoutingOptions.TailCheckInterval"/>, compares each stream this gateway's connections read
/// with the store. A stream still behind the tail the previous check saw missed a delivery for good — a gateway that
/// was frozen, a grain that re-activated without it, a call Orleans dropped — so it is filled from the store and
/// attached again, without waiting for the stream's next event.
/// </summary>
internal sealed partial class StreamTailCheck(
    LiveStreams live,
    LocalDispatcher dispatcher,
    StreamAttachments attachments,
    IStreamHistory history,
    IOptions<GatewayRoutingOptions> options,
    ILogger<StreamTailCheck> logger) : BackgroundService
{
    private const int Chunk = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.TailCheckInterval);
        var failing = false;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(stoppingToken);
                failing = false;
            }
            catch (RoutingUnavailableException ex)
            {
                if (!failing)
                {
                    Log.CheckFailed(logger, ex.Message); // once per outage
                    failing = true;
                }
            }
        }
    }

    /// <summary>One round over every tracked stream.</summary>
    internal async Task CheckAsync(CancellationToken cancellationToken)
    {
        var keys = live.Keys.ToArray();
        for (var from = 0; from < keys.Length; from += Chunk)
        {
            var chunk = keys.AsMemory(from, Math.Min(Chunk, keys.Length - from)).ToArray();
            var tails = await history.GetTailsAsync(chunk, cancellationToken);
            for (var i = 0; i < chunk.Length; i++)
            {
                if (live.TryGet(chunk[i], out var stream))
                {
                    await CheckAsync(stream, tails[i], cancellationToken);
                }
            }
        }
    }

    private async Task CheckAsync(LiveStream stream, StreamTail tail, CancellationToken cancellationToken)
    {
        var seen = stream.SeenTail;
        stream.SeenTail = tail;
        if (seen is not { Epoch: not 0 } before || tail.Epoch == 0)
        {
            return;
        }

        // Still short of what the store held a whole interval ago: that delivery is not in flight, it is lost.
        var missed = stream.Epoch != before.Epoch ? tail.Epoch == before.Epoch : stream.Last < before.LastSequence;
        if (!missed)
        {
            return;
        }

        Log.Behind(logger, stream.Key.ToString(), stream.Last, tail.LastSequence);
        await dispatcher.CatchUpAsync(stream, tail, cancellationToken);
        try
        {
            await attachments.ReattachAsync(stream.Key, cancellationToken);
        }
        catch (RoutingUnavailableException)
        {
            // The next check finds it behind again and tries again.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(70, LogLevel.Warning, "Stream {Stream} was behind the store ({Last} of {Tail}) for a whole check interval; filled from the store and attached again")]
        public static partial void Behind(ILogger logger, string stream, long last, long tail);

        [LoggerMessage(71, LogLevel.Warning, "Tail check could not read the store ({Reason}); it tries again every interval")]
        public static partial void CheckFailed(ILogger logger, string reason);
    }
}
