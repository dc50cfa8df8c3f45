namespace SseCluster.Grains;

/// <summary>Cluster-wide disconnects, whichever gateway holds the connections.</summary>
public interface IControlBus
{
    /// <summary>
    /// Delivers <paramref name="command"/> to every gateway. A user command with <c>Reconnect = false</c> also blocks the
    /// user's reconnects for <paramref name="reconnectBlock"/>.
    /// </summary>
    /// <returns>How many connections the command closed across the cluster.</returns>
    Task<int> SendAsync(ControlCommand command, TimeSpan reconnectBlock, CancellationToken cancellationToken = default);

    /// <summary>True while a disconnect with <c>reconnect: false</c> keeps the user out.</summary>
    Task<bool> IsReconnectBlockedAsync(string userId, CancellationToken cancellationToken = default);
}
