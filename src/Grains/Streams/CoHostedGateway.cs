using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Streams;

/// <summary>
/// The gateway endpoint that shares this process with the silo, when there is one. A stream grain delivering to the
/// gateway of its own silo calls the endpoint directly instead of through an observer reference: no message, no
/// response, no scheduling through the runtime's messaging — on a single node that is every delivery. Calls still go
/// through the outbox (one in flight per gateway) and under the same deadline.
/// </summary>
internal sealed class CoHostedGateway
{
    private Registration? _registration;

    /// <summary>Set by the gateway once its silo is up.</summary>
    public void Set(SiloAddress silo, IGatewayEndpoint endpoint) =>
        Volatile.Write(ref _registration, new Registration(silo, endpoint));

    /// <summary>The co-hosted endpoint when <paramref name="gateway"/> is this process's silo.</summary>
    public IGatewayEndpoint? For(SiloAddress gateway) =>
        Volatile.Read(ref _registration) is { } r && r.Silo.Equals(gateway) ? r.Endpoint : null;

    private sealed record Registration(SiloAddress Silo, IGatewayEndpoint Endpoint);
}
