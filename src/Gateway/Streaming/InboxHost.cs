using Microsoft.Extensions.Hosting;
using SseCluster.Grains;

namespace SseCluster.Gateway.Streaming;

/// <summary>Opens this node's inbox in the routing layer at start and closes it at stop.</summary>
internal sealed class InboxHost(IStreamRouter router, LocalDispatcher dispatcher) : IHostedService
{
    private IAsyncDisposable? _registration;

    public async Task StartAsync(CancellationToken cancellationToken) =>
        _registration = await router.OpenInboxAsync(dispatcher, cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_registration is not null)
        {
            await _registration.DisposeAsync();
        }
    }
}
