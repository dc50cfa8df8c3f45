using SseCluster.Grains.Redis.Internal;

namespace SseCluster.Grains.Redis;

/// <summary>
/// Tickets as Redis strings with a millisecond expiry (<c>SET … PX</c>), redeemed with <c>GETDEL</c>: one atomic step,
/// so a ticket is redeemed at most once whichever gateways race for it. Requires Redis 6.2 or later.
/// </summary>
internal sealed class RedisTicketStore(RedisConnection redis, RedisKeys keys) : ITicketStore
{
    public async Task StoreAsync(string ticket, string grant, TimeSpan lifetime, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(ticket);
        ArgumentNullException.ThrowIfNull(grant);
        if (lifetime <= TimeSpan.Zero)
        {
            return; // expired on arrival: nothing to redeem
        }

        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        await RedisErrors.Guard(db.StringSetAsync(keys.Ticket(ticket), grant, lifetime), "storing a ticket", cancellationToken).ConfigureAwait(false);
    }

    public async Task<string?> RedeemAsync(string ticket, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(ticket))
        {
            return null;
        }

        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var pending = RedisScriptRunner.Start(db, RedisScripts.RedeemTicket, [keys.Ticket(ticket)], []);
        var result = await RedisErrors.Guard(pending, "redeeming a ticket", cancellationToken).ConfigureAwait(false);
        return result.IsNull ? null : (string?)result;
    }
}
