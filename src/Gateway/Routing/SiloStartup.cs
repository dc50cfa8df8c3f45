using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// Starts the co-hosted silo in the background instead of in the host's start, so the gateway serves <c>/healthz</c>
/// and an honest "not ready" <c>/readyz</c> from its first second. In cluster mode it first waits for the cluster's
/// Redis to answer (a gateway started before Redis comes up not ready and joins by itself). A silo that fails to start
/// cannot start again, so that failure stops the process, to be restarted by its supervisor.
/// </summary>
internal sealed partial class SiloStartup(
    Silo silo,
    IEnumerable<IConfigurationValidator> validators,
    IStreamHistory history,
    IOptions<EndpointOptions> endpoints,
    IHostApplicationLifetime lifetime,
    ILogger<SiloStartup> logger) : BackgroundService
{
    private static readonly TimeSpan StorePoll = TimeSpan.FromMilliseconds(250);

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _running;

    /// <summary>Completes once the silo is up (cancelled if it never comes up).</summary>
    public Task Started => _started.Task;

    public bool IsRunning => _running;

    /// <summary>Replaces Orleans' own hosted service (which starts the silo inside the host's start) with this one.</summary>
    public static void Replace(IServiceCollection services)
    {
        var orleans = services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.FullName == "Orleans.Hosting.SiloHostedService").ToList();
        if (orleans.Count != 1)
        {
            throw new InvalidOperationException("The Orleans silo's hosted service was not found; this Orleans version is not supported.");
        }

        var at = services.IndexOf(orleans[0]);
        services.RemoveAt(at);
        services.Insert(at, ServiceDescriptor.Singleton<IHostedService, SiloStartup>(sp => sp.GetRequiredService<SiloStartup>()));
        services.AddSingleton<SiloStartup>();
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var validator in validators)
        {
            validator.ValidateConfiguration();
        }

        // Before the host starts anything else: the gateway does not come up at all rather than join a cluster badly.
        if (SiloPortGuard.FindPortInUse(endpoints.Value) is { } taken)
        {
            throw new SiloPortInUseException(taken);
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            var waited = false;
            while (!history.IsAvailable)
            {
                if (!waited)
                {
                    Log.WaitingForStore(logger);
                    waited = true;
                }

                await Task.Delay(StorePoll, stoppingToken);
            }

            await silo.StartAsync(stoppingToken);
            _running = true;
            _started.TrySetResult();

            // A silo the cluster declared dead (frozen past failure detection, cut off from the others) stops itself
            // when it learns so. A gateway without its silo can only refuse clients, so it stops too: its clients
            // resume on the other gateways, and its supervisor starts a fresh one that joins anew.
            await silo.SiloTerminated.WaitAsync(stoppingToken);
            if (_running)
            {
                _running = false;
                Log.SiloTerminated(logger);
                Environment.ExitCode = 1;
                lifetime.StopApplication();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            _started.TrySetCanceled(stoppingToken);
        }
        catch (Exception ex)
        {
            Log.StartFailed(logger, ex);
            _started.TrySetException(ex);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_running)
        {
            _running = false;
            try
            {
                // The silo says goodbye to the membership table; when that table cannot be reached (Redis down or lost)
                // Orleans keeps trying past the host's shutdown timeout. Stop waiting then: the process exits, and the
                // other silos declare this one dead as they would after a crash.
                await silo.StopAsync(cancellationToken).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Log.StopAbandoned(logger);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(80, LogLevel.Warning, "The cluster's store does not answer yet; the silo starts when it does (not ready until then)")]
        public static partial void WaitingForStore(ILogger logger);

        [LoggerMessage(81, LogLevel.Critical, "The silo could not start; stopping")]
        public static partial void StartFailed(ILogger logger, Exception exception);

        [LoggerMessage(83, LogLevel.Critical, "The silo stopped on its own (the cluster declared it dead?); stopping the gateway so its clients move to the others")]
        public static partial void SiloTerminated(ILogger logger);

        [LoggerMessage(82, LogLevel.Warning, "The silo did not stop within the shutdown timeout (the cluster's store is unreachable?); exiting without its goodbye")]
        public static partial void StopAbandoned(ILogger logger);
    }
}
