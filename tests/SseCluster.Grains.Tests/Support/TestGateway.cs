using SseCluster.Contracts.Routing;
using SseCluster.Grains.Storage;

namespace SseCluster.Grains.Tests.Support;

/// <summary>
/// Plays, inside one silo, the part the real gateway's <c>GatewayRegistrar</c> plays: once the silo is active it
/// creates its endpoint's observer reference in the silo's process (held here, so it lives as long as the silo),
/// registers it with the gateway registry, and registers again whenever membership changes (the registry may have
/// re-activated empty on another silo). Like the real gateway's <c>SiloStartup</c>, it lets the silo start only once
/// the stream store answers (a Redis store connects lazily and reports itself unavailable until then).
/// One per silo; tests reach it through the silo's services.
/// </summary>
public sealed class TestGateway(IGrainFactory grains, ILocalSiloDetails silo, IClusterMembershipService membership, IStreamHistory history)
    : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan RegisterTimeout = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stopping = new();
    private IGatewayEndpoint? _reference;
    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _watching = Task.CompletedTask;

    public SiloAddress Address => silo.SiloAddress;

    public string Name => silo.Name;

    public RecordingEndpoint Endpoint { get; } = new(silo.Name);

    /// <summary>The observer reference grains call; exists once the silo started.</summary>
    public IGatewayEndpoint Reference => _reference ?? throw new InvalidOperationException($"gateway {silo.Name} has not started");

    /// <summary>Completes once the registry has this gateway (the first time).</summary>
    public Task Registered => _registered.Task;

    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(TestGateway), ServiceLifecycleStage.First, WaitForStoreAsync);
        lifecycle.Subscribe(nameof(TestGateway), ServiceLifecycleStage.Active, StartAsync, StopAsync);
    }

    public override string ToString() => $"{Name} ({Address})";

    private async Task WaitForStoreAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!history.IsAvailable) // asking starts connecting
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"silo {silo.Name}: the stream store did not become available within 15 s");
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    private Task StartAsync(CancellationToken cancellationToken)
    {
        // Registering is a call to a grain on whichever silo: it must not hold up this silo's start (the silos of the
        // test cluster start together), so it runs in the background as the real registrar does.
        _reference = grains.CreateObjectReference<IGatewayEndpoint>(Endpoint);
        _watching = RunAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                await RegisterAsync(cancellationToken);
                _registered.TrySetResult();
                break;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                if (DateTime.UtcNow > deadline)
                {
                    _registered.TrySetException(new InvalidOperationException($"gateway {silo.Name} could not register within 20 s", ex));
                    return;
                }

                await Task.Delay(50, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        await WatchMembershipAsync(cancellationToken);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _watching.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_reference is not null)
        {
            grains.DeleteObjectReference<IGatewayEndpoint>(_reference);
        }
    }

    private Task RegisterAsync(CancellationToken cancellationToken) =>
        grains.GetGrain<IGatewayRegistryGrain>(SseClusterIdentity.RegistryKey)
            .Register(new GatewayRegistration(silo.SiloAddress, silo.Name, DateTimeOffset.UtcNow, Reference))
            .WaitAsync(RegisterTimeout, cancellationToken);

    private async Task WatchMembershipAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var _ in membership.MembershipUpdates.WithCancellation(cancellationToken))
            {
                try
                {
                    await RegisterAsync(cancellationToken);
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // The next membership change registers again, as the real registrar's interval would.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
