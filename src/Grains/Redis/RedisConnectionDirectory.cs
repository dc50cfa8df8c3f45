using System.Globalization;
using System.Text.Json;
using SseCluster.Contracts;
using SseCluster.Grains.Redis.Internal;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis;

/// <summary>
/// Presence across the cluster. Each gateway instance keeps its own connection records under its own hash tag
/// (<c>{gw:instance}</c>), with a TTL its refresh loop renews; the gateway registry (in the broadcast grain) lists the
/// instances whose lease is alive. A gateway that dies stops renewing, and its records disappear within
/// <see cref="RedisRoutingOptions.LeaseMultiplier"/> refresh intervals.
/// <para>
/// Memory in Redis is O(connections): one record per connection, one index entry per user connection, counters per
/// (instance, user) and (instance, topic). Lookups never use KEYS or SCAN: a user's connections come from the user
/// grain's index, a connection id is looked up in each live instance's records, stats read each live instance's
/// counters.
/// </para>
/// </summary>
internal sealed class RedisConnectionDirectory(RedisConnection redis, RedisKeys keys, GatewayPresence presence) : IConnectionDirectory
{
    /// <inheritdoc/>
    /// <remarks>
    /// Visible cluster-wide when this completes. If Redis is unreachable it throws
    /// <see cref="RoutingUnavailableException"/>, but the record is kept by this gateway and written by its refresh
    /// loop once Redis returns.
    /// </remarks>
    public Task AddAsync(ConnectionInfoDto connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return presence.AddConnectionAsync(connection, cancellationToken);
    }

    public Task RemoveAsync(ConnectionInfoDto connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return presence.RemoveConnectionAsync(connection, cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>Oldest first. Connections of a gateway whose records expired are not listed.</remarks>
    public async Task<IReadOnlyList<ConnectionInfoDto>> GetUserConnectionsAsync(string userId, CancellationToken cancellationToken = default)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            return [];
        }

        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var index = await RedisErrors.Guard(
            db.HashGetAllAsync(keys.ConnectionIndex(StreamKey.ForUser(userId))),
            $"listing the connections of user {userId}",
            cancellationToken).ConfigureAwait(false);
        var lookups = index
            .GroupBy(e => (string)e.Value!, StringComparer.Ordinal)
            .Select(g => db.HashGetAsync(keys.InstanceConnections(g.Key), g.Select(e => e.Name).ToArray()))
            .ToArray();
        var records = await RedisErrors.Guard(Task.WhenAll(lookups), $"listing the connections of user {userId}", cancellationToken).ConfigureAwait(false);
        return records
            .SelectMany(r => r)
            .Where(v => v.HasValue)
            .Select(v => JsonSerializer.Deserialize((string)v!, SseJsonContext.Default.ConnectionInfoDto)!)
            .Where(c => c.UserId == userId)
            .OrderBy(c => c.ConnectedAt)
            .ThenBy(c => c.ConnectionId, StringComparer.Ordinal)
            .ToList();
    }

    public async Task<ConnectionInfoDto?> FindAsync(string connectionId, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(connectionId))
        {
            return null;
        }

        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var gateways = await LiveGatewaysAsync(db, cancellationToken).ConfigureAwait(false);
        var lookups = gateways.Select(g => db.HashGetAsync(keys.InstanceConnections(g.Instance), connectionId)).ToArray();
        var found = await RedisErrors.Guard(Task.WhenAll(lookups), $"finding connection {connectionId}", cancellationToken).ConfigureAwait(false);
        var record = found.FirstOrDefault(v => v.HasValue);
        return record.HasValue ? JsonSerializer.Deserialize((string)record!, SseJsonContext.Default.ConnectionInfoDto) : null;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Totals over live gateways only. <c>users</c> and <c>topics</c> count distinct names across gateways; a user with
    /// connections on two gateways counts once in the total and once in each gateway's row.
    /// </remarks>
    public async Task<StatsResponse> GetStatsAsync(int topUsers, CancellationToken cancellationToken = default)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var gateways = await LiveGatewaysAsync(db, cancellationToken).ConfigureAwait(false);
        var connectionCounts = gateways.Select(g => db.HashLengthAsync(keys.InstanceConnections(g.Instance))).ToArray();
        var userCounts = gateways.Select(g => db.HashGetAllAsync(keys.InstanceUsers(g.Instance))).ToArray();
        var topicNames = gateways.Select(g => db.HashKeysAsync(keys.InstanceTopics(g.Instance))).ToArray();
        await RedisErrors.Guard(
            Task.WhenAll(connectionCounts.Cast<Task>().Concat(userCounts).Concat(topicNames)),
            "reading the cluster's stats",
            cancellationToken).ConfigureAwait(false);

        var perUser = new Dictionary<string, int>(StringComparer.Ordinal);
        var topics = new HashSet<string>(StringComparer.Ordinal);
        var rows = new List<GatewayStatsDto>(gateways.Count);
        var total = 0;
        for (var i = 0; i < gateways.Count; i++)
        {
            var connections = (int)connectionCounts[i].Result;
            var users = userCounts[i].Result;
            total += connections;
            foreach (var entry in users)
            {
                var name = (string)entry.Name!;
                perUser[name] = perUser.GetValueOrDefault(name) + (int)entry.Value;
            }

            foreach (var topic in topicNames[i].Result)
            {
                topics.Add(topic!);
            }

            var g = gateways[i];
            rows.Add(new GatewayStatsDto(g.GatewayId, connections, users.Length, g.StartedAt, g.LastSeen));
        }

        var top = perUser
            .OrderByDescending(u => u.Value)
            .ThenBy(u => u.Key, StringComparer.Ordinal)
            .Take(Math.Max(topUsers, 0))
            .Select(u => new UserConnectionCountDto(u.Key, u.Value))
            .ToList();
        rows.Sort((a, b) => string.CompareOrdinal(a.GatewayId, b.GatewayId) is var c && c != 0 ? c : a.StartedAt.CompareTo(b.StartedAt));
        return new StatsResponse(total, perUser.Count, topics.Count, rows, top);
    }

    private async Task<List<LiveGateway>> LiveGatewaysAsync(IDatabase db, CancellationToken cancellationToken)
    {
        var pending = RedisScriptRunner.Start(db, RedisScripts.Registry, keys.GrainDirectory(StreamKey.Broadcast), ["", 0, "0", 0, ""]);
        var result = (RedisResult[])(await RedisErrors.Guard(pending, "listing live gateways", cancellationToken).ConfigureAwait(false))!;
        var gateways = new List<LiveGateway>(result.Length / 2);
        for (var i = 0; i + 1 < result.Length; i += 2)
        {
            var instance = (string)result[i]!;
            var info = ((string?)result[i + 1] ?? "").Split('\n');
            var gatewayId = info.Length > 0 && info[0].Length > 0 ? info[0] : instance;
            gateways.Add(new LiveGateway(instance, gatewayId, Time(info, 1), Time(info, 2)));
        }

        return gateways;
    }

    private static DateTimeOffset Time(string[] info, int index) =>
        info.Length > index && long.TryParse(info[index], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : DateTimeOffset.UnixEpoch;

    private sealed record LiveGateway(string Instance, string GatewayId, DateTimeOffset StartedAt, DateTimeOffset LastSeen);
}
