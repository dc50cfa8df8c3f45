using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// This gateway as the grains know it: its silo's address and its endpoint (an observer reference), set once the silo
/// is up; and whether it has joined the cluster (registered with the gateway registry).
/// </summary>
internal sealed class LocalGateway
{
    private readonly TaskCompletionSource _endpointReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _joined;

    public SiloAddress? Address { get; private set; }

    public IGatewayEndpoint? Endpoint { get; private set; }

    /// <summary>True once the gateway registered with the cluster; <c>/readyz</c> waits for it.</summary>
    public bool IsJoined => _joined;

    public void SetEndpoint(SiloAddress address, IGatewayEndpoint endpoint)
    {
        Address = address;
        Endpoint = endpoint;
        _endpointReady.TrySetResult();
    }

    public void MarkJoined() => _joined = true;

    /// <summary>The address and endpoint, waiting (up to <paramref name="timeout"/>) while the silo is still starting.</summary>
    /// <exception cref="RoutingUnavailableException">The silo did not come up in time.</exception>
    public async Task<(SiloAddress Address, IGatewayEndpoint Endpoint)> GetAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_endpointReady.Task.IsCompleted)
        {
            try
            {
                await _endpointReady.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new RoutingUnavailableException("this gateway has not joined the cluster yet");
            }
        }

        return (Address!, Endpoint!);
    }
}
