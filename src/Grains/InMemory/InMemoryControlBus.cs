using System.Collections.Concurrent;

namespace SseCluster.Grains.InMemory;

/// <summary>Control commands for the one local gateway, and the reconnect block list.</summary>
internal sealed class InMemoryControlBus(InMemoryStreamRouter router, TimeProvider time) : IControlBus
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _blockedUntil = new(StringComparer.Ordinal);

    public Task<int> SendAsync(ControlCommand command, TimeSpan reconnectBlock, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command is { Target: ControlTarget.User, Reconnect: false } && reconnectBlock > TimeSpan.Zero)
        {
            _blockedUntil[command.Id] = time.GetUtcNow() + reconnectBlock;
        }

        return Task.FromResult(router.Inbox?.Control(command) ?? 0);
    }

    public Task<bool> IsReconnectBlockedAsync(string userId, CancellationToken cancellationToken = default)
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
