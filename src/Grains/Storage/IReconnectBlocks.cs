namespace SseCluster.Grains.Storage;

/// <summary>Users whose reconnects are refused for a while (a disconnect with <c>reconnect: false</c>).</summary>
public interface IReconnectBlocks
{
    Task BlockAsync(string userId, TimeSpan duration, CancellationToken cancellationToken = default);

    Task<bool> IsBlockedAsync(string userId, CancellationToken cancellationToken = default);
}
