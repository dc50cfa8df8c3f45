using SseCluster.Contracts;

namespace SseCluster.Grains.Storage;

/// <summary>
/// Which gateways read each stream: written by the stream's grain when a gateway attaches or detaches (not per
/// connection), read when the grain activates, so a grain that moves to another silo keeps delivering. An entry of a
/// gateway that died is removed by the grain once membership declares it dead.
/// </summary>
public interface IGatewayAttachments
{
    /// <summary>The attached gateways of a stream: gateway (its silo address) → its endpoint's grain id.</summary>
    Task<IReadOnlyDictionary<string, string>> GetAsync(StreamKey stream, CancellationToken cancellationToken = default);

    Task AddAsync(StreamKey stream, string gateway, string endpoint, CancellationToken cancellationToken = default);

    Task RemoveAsync(StreamKey stream, string gateway, CancellationToken cancellationToken = default);
}
