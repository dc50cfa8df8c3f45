namespace SseCluster.Grains.Storage;

/// <summary>Single-use stream tickets, redeemable on any gateway.</summary>
public interface ITicketStore
{
    /// <summary>Stores <paramref name="grant"/> (opaque to the store) under <paramref name="ticket"/> for <paramref name="lifetime"/>.</summary>
    Task StoreAsync(string ticket, string grant, TimeSpan lifetime, CancellationToken cancellationToken = default);

    /// <summary>Returns the grant and deletes it in one step, so a ticket is redeemed at most once; null if unknown or expired.</summary>
    Task<string?> RedeemAsync(string ticket, CancellationToken cancellationToken = default);
}
