using Orleans.Concurrency;
using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Gateways;

/// <summary>
/// The live gateways, as they registered. Held in memory only: every gateway registers again every few seconds, so an
/// activation that starts empty (after its silo died) is whole again within one interval. Listing asks membership,
/// so a gateway whose silo was declared dead is gone at once.
/// </summary>
[Reentrant]
internal sealed class GatewayRegistryGrain(IClusterMembershipService membership, TimeProvider time) : Grain, IGatewayRegistryGrain
{
    private readonly Dictionary<SiloAddress, RegisteredGateway> _gateways = [];

    public Task Register(GatewayRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        _gateways[registration.Address] = new RegisteredGateway(registration, time.GetUtcNow());

        // Registrations are few and come every few seconds: the right moment to drop gateways that died.
        var snapshot = membership.CurrentSnapshot;
        foreach (var address in _gateways.Keys.Where(a => snapshot.GetSiloStatus(a) == SiloStatus.Dead).ToList())
        {
            _gateways.Remove(address);
        }

        return Task.CompletedTask;
    }

    public Task Unregister(SiloAddress gateway)
    {
        _gateways.Remove(gateway);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<RegisteredGateway>> GetLiveGateways()
    {
        var snapshot = membership.CurrentSnapshot;
        var live = new List<RegisteredGateway>(_gateways.Count);
        foreach (var (address, gateway) in _gateways)
        {
            if (snapshot.GetSiloStatus(address) is SiloStatus.Dead)
            {
                continue;
            }

            live.Add(gateway);
        }

        return Task.FromResult<IReadOnlyList<RegisteredGateway>>(live);
    }
}
