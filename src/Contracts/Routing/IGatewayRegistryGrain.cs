using Orleans.Concurrency;

namespace SseCluster.Contracts.Routing;

/// <summary>
/// The list of live gateways (key 0): each gateway registers its endpoint when it joins and again every few seconds,
/// so a registry that re-activated on another silo is whole again within one interval. Only gateways whose silo
/// membership reports alive are listed. It is off the publish path: stats, listings and connection look-ups use it.
/// </summary>
[Alias("sse.IGatewayRegistryGrain")]
public interface IGatewayRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Adds or refreshes a gateway.</summary>
    [Alias("register")]
    Task Register(GatewayRegistration registration);

    /// <summary>Removes a gateway that is shutting down.</summary>
    [Alias("unregister")]
    Task Unregister(SiloAddress gateway);

    /// <summary>The gateways whose silo is not known to be dead, with when each last registered.</summary>
    [Alias("list")]
    [ReadOnly]
    Task<IReadOnlyList<RegisteredGateway>> GetLiveGateways();
}
