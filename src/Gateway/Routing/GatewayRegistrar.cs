using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// Joins this gateway to the cluster once its silo is up: creates its endpoint (an observer reference, held here so it
/// lives as long as the gateway), registers it with the gateway registry, and registers again every interval and
/// whenever membership changes (the registry may have moved with a silo that died). Leaves the registry at stop.
/// </summary>
internal sealed partial class GatewayRegistrar(
    IGrainFactory grains,
    SiloStartup startup,
    ILocalSiloDetails silo,
    IClusterMembershipService membership,
    GatewayEndpoint endpoint,
    Grains.Streams.CoHostedGateway coHosted,
    LocalGateway gateway,
    GatewayIdentity identity,
    IOptions<GatewayRoutingOptions> options,
    ILogger<GatewayRegistrar> logger) : BackgroundService
{
    private IGatewayEndpoint? _reference;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await startup.Started.WaitAsync(stoppingToken);
        }
        catch (Exception) when (!startup.IsRunning)
        {
            return; // the silo never came up: the host is stopping
        }

        _reference = grains.CreateObjectReference<IGatewayEndpoint>(endpoint);
        gateway.SetEndpoint(silo.SiloAddress, _reference);
        coHosted.Set(silo.SiloAddress, endpoint);
        var changes = WatchMembershipAsync(stoppingToken);
        var failures = 0;
        do
        {
            try
            {
                await RegisterAsync(stoppingToken);
                if (!gateway.IsJoined)
                {
                    gateway.MarkJoined();
                    Log.Joined(logger, identity.Name, silo.SiloAddress.ToString(), identity.Mode);
                }
                else if (failures > 0)
                {
                    Log.RegisteredAgain(logger, failures);
                }

                failures = 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                if (failures++ == 0)
                {
                    Log.RegistrationFailed(logger, ex.GetType().Name, ex.Message);
                }
            }
        }
        while (await WaitAsync(stoppingToken));

        await changes.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_reference is null)
        {
            return;
        }

        try
        {
            await grains.GetGrain<IGatewayRegistryGrain>(SseClusterIdentity.RegistryKey).Unregister(silo.SiloAddress).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException or OrleansException)
        {
            // The registry drops a gateway whose silo left membership anyway.
        }

        grains.DeleteObjectReference<IGatewayEndpoint>(_reference);
    }

    private Task RegisterAsync(CancellationToken cancellationToken) =>
        grains.GetGrain<IGatewayRegistryGrain>(SseClusterIdentity.RegistryKey)
            .Register(new GatewayRegistration(silo.SiloAddress, identity.Name, identity.StartedAt, _reference!))
            .WaitAsync(options.Value.CallTimeout, cancellationToken);

    // Waits for the next tick, or for a membership change, whichever comes first.
    private TaskCompletionSource _membershipChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task<bool> WaitAsync(CancellationToken stoppingToken)
    {
        var changed = Volatile.Read(ref _membershipChanged).Task;
        try
        {
            await changed.WaitAsync(options.Value.RegistrationInterval, stoppingToken);
        }
        catch (TimeoutException)
        {
            // The interval passed: register again.
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        if (changed.IsCompleted)
        {
            Interlocked.Exchange(ref _membershipChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }

        return !stoppingToken.IsCancellationRequested;
    }

    private async Task WatchMembershipAsync(CancellationToken stoppingToken)
    {
        await foreach (var _ in membership.MembershipUpdates.WithCancellation(stoppingToken))
        {
            Volatile.Read(ref _membershipChanged).TrySetResult();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(60, LogLevel.Information, "Gateway {Name} joined the cluster as silo {Silo}: {Mode}")]
        public static partial void Joined(ILogger logger, string name, string silo, string mode);

        [LoggerMessage(61, LogLevel.Warning, "Could not register with the gateway registry ({Error}: {Message}); retrying")]
        public static partial void RegistrationFailed(ILogger logger, string error, string message);

        [LoggerMessage(62, LogLevel.Information, "Registered with the gateway registry again after {Failures} failed attempts")]
        public static partial void RegisteredAgain(ILogger logger, int failures);
    }
}
