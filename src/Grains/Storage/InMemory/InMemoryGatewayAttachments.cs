using System.Collections.Concurrent;
using SseCluster.Contracts;

namespace SseCluster.Grains.Storage.InMemory;

/// <summary>Attachments in process memory: one silo, so they live as long as the gateways that made them.</summary>
internal sealed class InMemoryGatewayAttachments : IGatewayAttachments
{
    private readonly ConcurrentDictionary<StreamKey, ConcurrentDictionary<string, string>> _streams = new();

    public Task<IReadOnlyDictionary<string, string>> GetAsync(StreamKey stream, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(
            _streams.TryGetValue(stream, out var gateways) ? new Dictionary<string, string>(gateways, StringComparer.Ordinal) : new Dictionary<string, string>());

    public Task AddAsync(StreamKey stream, string gateway, string endpoint, CancellationToken cancellationToken = default)
    {
        _streams.GetOrAdd(stream, static _ => new(StringComparer.Ordinal))[gateway] = endpoint;
        return Task.CompletedTask;
    }

    public Task RemoveAsync(StreamKey stream, string gateway, CancellationToken cancellationToken = default)
    {
        if (_streams.TryGetValue(stream, out var gateways) && gateways.TryRemove(gateway, out _) && gateways.IsEmpty)
        {
            _streams.TryRemove(new KeyValuePair<StreamKey, ConcurrentDictionary<string, string>>(stream, gateways));
        }

        return Task.CompletedTask;
    }
}
