using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SseCluster.Grains;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Opens this node's inbox in the routing layer and keeps trying until it is open, so a gateway that starts while
/// Redis is down comes up (not ready) and joins the cluster once Redis answers. Closes the inbox at stop.
/// </summary>
internal sealed partial class InboxHost(IStreamRouter router, LocalDispatcher dispatcher, ILogger<InboxHost> logger) : BackgroundService
{
    private IAsyncDisposable? _registration;

    /// <summary>True once live events reach this node; <c>/readyz</c> waits for it.</summary>
    public bool IsOpen => Volatile.Read(ref _registration) is not null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Volatile.Write(ref _registration, await router.OpenInboxAsync(dispatcher, stoppingToken));
                if (failures > 0)
                {
                    Log.InboxOpened(logger, failures);
                }

                return;
            }
            catch (RoutingUnavailableException ex)
            {
                if (failures++ == 0)
                {
                    Log.InboxUnavailable(logger, ex.Message); // once; its recovery is logged once too
                }

                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (Interlocked.Exchange(ref _registration, null) is { } registration)
        {
            await registration.DisposeAsync();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Warning, "Routing is unavailable ({Reason}); this node stays not ready and keeps trying to join")]
        public static partial void InboxUnavailable(ILogger logger, string reason);

        [LoggerMessage(41, LogLevel.Information, "Joined the routing layer after {Attempts} failed attempts")]
        public static partial void InboxOpened(ILogger logger, int attempts);
    }
}
