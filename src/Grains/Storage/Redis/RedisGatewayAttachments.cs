using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Attachments as one Redis hash per stream (gateway → endpoint), under the stream's hash tag. Each call is one
/// command, so concurrent adds and removes of different gateways never overwrite each other. The hash does not
/// expire: an entry stays until the stream's grain removes it (it does for gateways declared dead).
/// </summary>
internal sealed class RedisGatewayAttachments(RedisConnection connection, RedisKeys keys, RedisErrors errors) : IGatewayAttachments
{
    private const string Store = "attachment store";

    /// <inheritdoc/>
    /// <exception cref="RoutingUnavailableException">Redis could not be reached.</exception>
    public async Task<IReadOnlyDictionary<string, string>> GetAsync(StreamKey stream, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.Gateways(stream);
        var entries = await errors.GuardAsync(Store, "reading the gateways of " + stream, () => db.HashGetAllAsync(key), cancellationToken)
            .ConfigureAwait(false);
        var result = new Dictionary<string, string>(entries.Length, StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            result[entry.Name!] = entry.Value!;
        }

        return result;
    }

    /// <inheritdoc/>
    /// <exception cref="RoutingUnavailableException">Redis could not be reached; the attachment may or may not be stored.</exception>
    public async Task AddAsync(StreamKey stream, string gateway, string endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        ArgumentNullException.ThrowIfNull(endpoint);
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.Gateways(stream);
        await errors.GuardAsync(Store, "attaching a gateway to " + stream, () => db.HashSetAsync(key, gateway, endpoint), cancellationToken)
            .ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <exception cref="RoutingUnavailableException">Redis could not be reached; the attachment may or may not be removed.</exception>
    public async Task RemoveAsync(StreamKey stream, string gateway, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.Gateways(stream);
        await errors.GuardAsync(Store, "detaching a gateway from " + stream, () => db.HashDeleteAsync(key, gateway), cancellationToken)
            .ConfigureAwait(false);
    }
}
