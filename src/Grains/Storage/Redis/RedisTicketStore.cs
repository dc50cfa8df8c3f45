using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Tickets as Redis strings that expire with the ticket (<c>SET … PX</c>), redeemed with <c>GETDEL</c>: one atomic
/// step, so a ticket is redeemed at most once whichever gateways race for it. Ticket names stay out of messages and
/// logs: they are bearer secrets.
/// </summary>
internal sealed class RedisTicketStore(RedisConnection connection, RedisKeys keys, RedisErrors errors) : ITicketStore
{
    private const string Store = "ticket store";

    /// <inheritdoc/>
    /// <exception cref="SseCluster.Contracts.RoutingUnavailableException">Redis could not be reached; the ticket may or may not be stored.</exception>
    public async Task StoreAsync(string ticket, string grant, TimeSpan lifetime, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(grant);
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.Ticket(ticket);
        if (lifetime <= TimeSpan.Zero)
        {
            // Expired on arrival: like the in-memory store, it replaces a ticket of that name, which is then not redeemable.
            await errors.GuardAsync(Store, "storing a ticket", () => db.KeyDeleteAsync(key), cancellationToken).ConfigureAwait(false);
            return;
        }

        var expiry = TimeSpan.FromMilliseconds(Math.Ceiling(lifetime.TotalMilliseconds));
        await errors.GuardAsync(Store, "storing a ticket", () => db.StringSetAsync(key, grant, expiry), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <exception cref="SseCluster.Contracts.RoutingUnavailableException">Redis could not be reached; the ticket may or may not have been consumed.</exception>
    public async Task<string?> RedeemAsync(string ticket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        var db = await connection.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var key = keys.Ticket(ticket);
        var grant = await errors.GuardAsync(Store, "redeeming a ticket", () => db.StringGetDeleteAsync(key), cancellationToken).ConfigureAwait(false);
        return grant.IsNull ? null : (string?)grant;
    }
}
