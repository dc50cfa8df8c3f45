using System.Collections.Concurrent;

namespace SseCluster.Grains.Storage.InMemory;

/// <summary>Tickets in process memory; expired ones are swept whenever a new one is stored.</summary>
internal sealed class InMemoryTicketStore(TimeProvider time) : ITicketStore
{
    private readonly ConcurrentDictionary<string, (string Grant, DateTimeOffset ExpiresAt)> _tickets = new(StringComparer.Ordinal);

    public Task StoreAsync(string ticket, string grant, TimeSpan lifetime, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        foreach (var (key, value) in _tickets)
        {
            if (value.ExpiresAt <= now)
            {
                _tickets.TryRemove(key, out _);
            }
        }

        _tickets[ticket] = (grant, now + lifetime);
        return Task.CompletedTask;
    }

    public Task<string?> RedeemAsync(string ticket, CancellationToken cancellationToken = default)
    {
        if (_tickets.TryRemove(ticket, out var entry) && entry.ExpiresAt > time.GetUtcNow())
        {
            return Task.FromResult<string?>(entry.Grant);
        }

        return Task.FromResult<string?>(null);
    }
}
