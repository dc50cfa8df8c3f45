using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// Cluster-wide listings, stats, look-ups and single-connection disconnects. The gateways themselves are the record
/// of who is connected: each request asks every live gateway in the registry at once (a gateway that does not answer
/// within the call timeout is left out), so a dead gateway's connections vanish as soon as membership declares it
/// dead, and nothing can be left behind by a connection that closed while the cluster was unreachable.
/// </summary>
internal sealed class ClusterDirectory(IGrainFactory grains, IClusterMembershipService membership, RoutingCalls calls, IOptions<GatewayRoutingOptions> options)
{
    // The gateways last listed, by silo. The registry keeps its list in memory only: when it moves to another silo (the
    // one it lived on died) it starts empty and fills up as the gateways register again, within an interval. Meanwhile a
    // gateway listed before and still alive by membership stays listed.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<SiloAddress, RegisteredGateway> _known = new();

    /// <summary>Totals over live gateways, one row per gateway, and the users holding the most connections.</summary>
    public async Task<StatsResponse> GetStatsAsync(int topUsers, CancellationToken cancellationToken)
    {
        var gateways = await LiveGatewaysAsync(cancellationToken);
        var presences = await AskAllAsync(gateways, e => e.GetPresence());
        var perUser = new Dictionary<string, int>(StringComparer.Ordinal);
        var topics = new HashSet<string>(StringComparer.Ordinal);
        var rows = new List<GatewayStatsDto>(gateways.Count);
        var total = 0;
        for (var i = 0; i < gateways.Count; i++)
        {
            if (presences[i] is not { } presence)
            {
                continue;
            }

            total += presence.Connections;
            foreach (var (user, count) in presence.UserConnections)
            {
                perUser[user] = perUser.GetValueOrDefault(user) + count;
            }

            topics.UnionWith(presence.Topics);
            var g = gateways[i];
            rows.Add(new GatewayStatsDto(g.Registration.Name, presence.Connections, presence.UserConnections.Count, g.Registration.StartedAt, g.LastSeen));
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

    /// <summary>Every connection of a user on any gateway, oldest first.</summary>
    public async Task<IReadOnlyList<ConnectionRecord>> GetUserConnectionsAsync(string userId, CancellationToken cancellationToken)
    {
        var found = await FindAsync(new ConnectionQuery(userId, null), cancellationToken);
        return found.OrderBy(c => c.ConnectedAt).ThenBy(c => c.ConnectionId, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Closes the connection with this id, wherever it is, if it belongs to <paramref name="onlyUserId"/> (any user when
    /// null). An unknown id and another user's id answer alike, so ids cannot be probed.
    /// </summary>
    /// <returns>True when a gateway held such a connection and closed it.</returns>
    public async Task<bool> DisconnectConnectionAsync(string connectionId, string? onlyUserId, CancellationToken cancellationToken)
    {
        var gateways = await LiveGatewaysAsync(cancellationToken);
        var holders = await AskAllAsync(gateways, e => e.FindConnections(new ConnectionQuery(onlyUserId, connectionId)));
        var command = new ControlCommand(ControlTarget.Connection, connectionId, "disconnected", true);
        var closed = 0;
        for (var i = 0; i < gateways.Count; i++)
        {
            if (holders[i] is { Count: > 0 })
            {
                var endpoint = gateways[i].Registration.Endpoint;
                closed += await calls.RunAsync(_ => endpoint.Control(command), $"closing connection {connectionId}", cancellationToken);
            }
        }

        return closed > 0;
    }

    private async Task<List<ConnectionRecord>> FindAsync(ConnectionQuery query, CancellationToken cancellationToken)
    {
        var gateways = await LiveGatewaysAsync(cancellationToken);
        var answers = await AskAllAsync(gateways, e => e.FindConnections(query));
        return answers.Where(a => a is not null).SelectMany(a => a!).ToList();
    }

    private async Task<IReadOnlyList<RegisteredGateway>> LiveGatewaysAsync(CancellationToken cancellationToken)
    {
        // Every silo of the cluster co-hosts a gateway. One that membership shows active but the registry does not list
        // yet has just started, or registered with an activation of the registry that is going away (while silos join,
        // the registry can briefly live twice): it registers again on the membership change and every interval, so a
        // listing waits for it that long rather than leave its connections out.
        var giveUpAt = Environment.TickCount64 + (long)(options.Value.RegistrationInterval.TotalMilliseconds * 1.5);
        while (true)
        {
            var live = await ListOnceAsync(cancellationToken);
            if (!MissesActiveSilo(live) || Environment.TickCount64 >= giveUpAt)
            {
                return [.. live.Values];
            }

            await Task.Delay(MissingGatewayPause, cancellationToken);
        }
    }

    private static readonly TimeSpan MissingGatewayPause = TimeSpan.FromMilliseconds(100);

    private bool MissesActiveSilo(Dictionary<SiloAddress, RegisteredGateway> live)
    {
        foreach (var (address, member) in membership.CurrentSnapshot.Members)
        {
            if (member.Status == SiloStatus.Active && !live.ContainsKey(address))
            {
                return true;
            }
        }

        return false;
    }

    private async Task<Dictionary<SiloAddress, RegisteredGateway>> ListOnceAsync(CancellationToken cancellationToken)
    {
        // The registry may sit on a silo that just died: wait that out, as a publish would, instead of failing the request.
        var listed = await calls.RetryAsync(
            ct => grains.GetGrain<IGatewayRegistryGrain>(SseClusterIdentity.RegistryKey).GetLiveGateways(),
            "listing the gateways",
            cancellationToken);
        var snapshot = membership.CurrentSnapshot;
        var live = listed.ToDictionary(g => g.Registration.Address);
        foreach (var (address, gateway) in _known)
        {
            if (snapshot.GetSiloStatus(address) == SiloStatus.Active)
            {
                live.TryAdd(address, gateway);
            }
            else
            {
                _known.TryRemove(address, out _);
            }
        }

        foreach (var gateway in listed)
        {
            _known[gateway.Registration.Address] = gateway;
        }

        return live;
    }

    // Asks every gateway at once; one that fails or does not answer in time is left out (null).
    private async Task<T?[]> AskAllAsync<T>(IReadOnlyList<RegisteredGateway> gateways, Func<IGatewayEndpoint, Task<T>> ask)
        where T : class
    {
        var timeout = options.Value.CallTimeout;
        return await Task.WhenAll(gateways.Select(async g =>
        {
            try
            {
                return await ask(g.Registration.Endpoint).WaitAsync(timeout);
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException or IOException)
            {
                return null;
            }
        }));
    }
}
