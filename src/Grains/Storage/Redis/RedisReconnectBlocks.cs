using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Reconnect blocks as Redis strings that expire with the block (<c>SET … PX</c>), so they hold on every gateway and
/// clean themselves up. A later block replaces an earlier one, as in memory: a shorter one shortens it.
/// </summary>
internal sealed class RedisReconnectBlocks(RedisConnection connection, RedisKeys keys, RedisErrors errors) : IReconnectBlocks
{
    private const string Store = "reconnect-block store";

    /// <inheritdoc/>
    /// <exception cref="SseCluster.Contracts.RoutingUnavailableException">Redis could not be reached.</exception>
    public async Task BlockAsync(string userId, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.ReconnectBlock(userId);
        var operation = "blocking reconnects of user " + userId;
        if (duration <= TimeSpan.Zero)
        {
            // Already over: like the in-memory store, it replaces (ends) any block in force. Redis refuses PX 0.
            await errors.GuardAsync(Store, operation, () => db.KeyDeleteAsync(key), cancellationToken).ConfigureAwait(false);
            return;
        }

        var expiry = TimeSpan.FromMilliseconds(Math.Ceiling(duration.TotalMilliseconds));
        await errors.GuardAsync(Store, operation, () => db.StringSetAsync(key, "1", expiry), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <exception cref="SseCluster.Contracts.RoutingUnavailableException">Redis could not be reached.</exception>
    public async Task<bool> IsBlockedAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.ReconnectBlock(userId);
        return await errors.GuardAsync(Store, "checking the reconnect block of user " + userId, () => db.KeyExistsAsync(key), cancellationToken)
            .ConfigureAwait(false);
    }
}
