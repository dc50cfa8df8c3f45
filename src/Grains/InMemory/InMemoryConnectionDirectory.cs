using System.Collections.Concurrent;
using SseCluster.Contracts;

namespace SseCluster.Grains.InMemory;

/// <summary>Presence records of the one local gateway.</summary>
internal sealed class InMemoryConnectionDirectory(GatewayIdentity gateway, TimeProvider time) : IConnectionDirectory
{
    private readonly ConcurrentDictionary<string, ConnectionInfoDto> _connections = new(StringComparer.Ordinal);

    public Task AddAsync(ConnectionInfoDto connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connections[connection.ConnectionId] = connection;
        return Task.CompletedTask;
    }

    public Task RemoveAsync(ConnectionInfoDto connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connections.TryRemove(connection.ConnectionId, out _);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<ConnectionInfoDto>> GetUserConnectionsAsync(string userId, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<ConnectionInfoDto> result = _connections.Values
            .Where(c => c.UserId == userId)
            .OrderBy(c => c.ConnectedAt)
            .ToList();
        return Task.FromResult(result);
    }

    public Task<ConnectionInfoDto?> FindAsync(string connectionId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_connections.GetValueOrDefault(connectionId));

    public Task<StatsResponse> GetStatsAsync(int topUsers, CancellationToken cancellationToken = default)
    {
        var all = _connections.Values.ToList();
        var perUser = all.Where(c => c.UserId is not null).GroupBy(c => c.UserId!, StringComparer.Ordinal)
            .Select(g => new UserConnectionCountDto(g.Key, g.Count()))
            .ToList();
        var topics = all.SelectMany(c => c.Topics).Distinct(StringComparer.Ordinal).Count();
        var top = perUser.OrderByDescending(u => u.Connections).ThenBy(u => u.UserId, StringComparer.Ordinal).Take(topUsers).ToList();
        var self = new GatewayStatsDto(gateway.GatewayId, all.Count, perUser.Count, gateway.StartedAt, time.GetUtcNow());
        return Task.FromResult(new StatsResponse(all.Count, perUser.Count, topics, [self], top));
    }
}
