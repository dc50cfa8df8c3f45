using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Graceful shutdown: on SIGTERM the node reports not ready and refuses new streams, then closes its connections in
/// waves over <c>SseCluster:Shutdown:DrainSeconds</c>. Each gets its position as an id-only checkpoint, a jittered
/// <c>retry:</c> and <c>event: close</c> <c>{"reason":"shutdown"}</c>, so clients move to other nodes without a
/// reconnect storm and without losing anything.
/// </summary>
internal sealed partial class ShutdownDrain(
    ConnectionAdmission admission,
    ConnectionRegistry registry,
    TimeProvider time,
    IOptions<ShutdownOptions> options,
    ILogger<ShutdownDrain> logger) : IHostedLifecycleService
{
    private static readonly byte[] CloseBody = SseFrames.FormatEvent("close", new CloseData("shutdown", true), SseJsonContext.Default.CloseData);

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        admission.BeginDrain();
        var total = registry.Count;
        Log.Draining(logger, total, options.Value.DrainSeconds);
        var waves = Math.Max(1, options.Value.Waves);
        var pause = TimeSpan.FromSeconds(options.Value.DrainSeconds) / waves;
        var perWave = Math.Max(1, (int)Math.Ceiling(total / (double)waves));
        for (var wave = 0; wave < waves && registry.Count > 0; wave++)
        {
            foreach (var connection in registry.All.Where(c => !c.CloseQueued).Take(perWave).ToList())
            {
                if (!connection.TryClose(CloseBody))
                {
                    connection.Cancel();
                }
            }

            if (wave < waves - 1)
            {
                await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            }
        }

        // Whatever connected meanwhile gets its close now. A connection whose close is queued already (the last wave's
        // were queued a moment ago) is left to its writer: cutting it could cancel the writer mid-flush, and its client
        // would see a broken stream instead of the close.
        foreach (var connection in registry.All.Where(c => !c.CloseQueued))
        {
            if (!connection.TryClose(CloseBody))
            {
                connection.Cancel();
            }
        }

        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(5);
        while (registry.Count > 0 && time.GetUtcNow() < deadline && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        // A client too slow to take its close within that grace is cut; it resumes from history.
        foreach (var connection in registry.All)
        {
            connection.Cancel();
        }

        Log.Drained(logger, total, registry.Count);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Information, "Shutting down: closing {Count} connections over {Seconds} s")]
        public static partial void Draining(ILogger logger, int count, int seconds);

        [LoggerMessage(31, LogLevel.Information, "Drained {Count} connections ({Left} left)")]
        public static partial void Drained(ILogger logger, int count, int left);
    }
}
