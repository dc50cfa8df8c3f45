using SseCluster.Contracts;

namespace SseCluster.Grains;

/// <summary>The cluster's presence records: which gateway holds which connection.</summary>
public interface IConnectionDirectory
{
    Task AddAsync(ConnectionInfoDto connection, CancellationToken cancellationToken = default);

    Task RemoveAsync(ConnectionInfoDto connection, CancellationToken cancellationToken = default);

    /// <summary>Every live connection of the user on any gateway.</summary>
    Task<IReadOnlyList<ConnectionInfoDto>> GetUserConnectionsAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>The connection with this id on any gateway, or null.</summary>
    Task<ConnectionInfoDto?> FindAsync(string connectionId, CancellationToken cancellationToken = default);

    /// <summary>Counts across live gateways, with the <paramref name="topUsers"/> users holding the most connections.</summary>
    Task<StatsResponse> GetStatsAsync(int topUsers, CancellationToken cancellationToken = default);
}
