using System.Collections.Concurrent;

namespace SseCluster.Grains.Storage.InMemory;

/// <summary>Reconnect blocks in process memory; an expired one is dropped when it is next asked about.</summary>
internal sealed class InMemoryReconnectBlocks(TimeProvider time) : IReconnectBlocks
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _blockedUntil = new(StringComparer.Ordinal);

    public Task BlockAsync(string userId, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        _blockedUntil[userId] = time.GetUtcNow() + duration;
        return Task.CompletedTask;
    }

    public Task<bool> IsBlockedAsync(string userId, CancellationToken cancellationToken = default)
    {
        if (!_blockedUntil.TryGetValue(userId, out var until))
        {
            return Task.FromResult(false);
        }

        if (until > time.GetUtcNow())
        {
            return Task.FromResult(true);
        }

        _blockedUntil.TryRemove(new KeyValuePair<string, DateTimeOffset>(userId, until));
        return Task.FromResult(false);
    }
}
