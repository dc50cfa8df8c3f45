using System.Collections.Concurrent;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// This node's open connections, indexed by id, user and topic for delivery, and the one place a connection is
/// announced to the cluster: adding it attaches its streams (user, broadcast, topics) before it returns, so no live
/// event published afterwards can miss it; removing it detaches them. Listings, stats and look-ups ask the gateways
/// themselves, so there is nothing else to record — and nothing left behind when a gateway dies.
/// </summary>
internal sealed class ConnectionRegistry(StreamAttachments attachments)
{
    private readonly ConcurrentDictionary<string, SseConnection> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, SseConnection>> _byUser = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, SseConnection>> _byTopic = new(StringComparer.Ordinal);

    // Guards adding to and retiring the per-user and per-topic sets; delivery reads them without it.
    private readonly Lock _indexLock = new();

    public int Count => _byId.Count;

    /// <summary>A snapshot of every connection (a copy: for sweeps and listings, not for per-event delivery).</summary>
    public ICollection<SseConnection> All => _byId.Values;

    /// <summary>
    /// Every connection, without a snapshot: <c>Values</c> would take every lock of the dictionary and copy ten thousand
    /// references (a large-object-heap array) per broadcast. A connection added during the walk may or may not be
    /// seen; it was attached before it read its streams' tails, so whatever it misses here it replays.
    /// </summary>
    public IEnumerable<SseConnection> Each()
    {
        foreach (var (_, connection) in _byId)
        {
            yield return connection;
        }
    }

    /// <summary>A topic's connections, without a snapshot (see <see cref="Each"/>).</summary>
    public IEnumerable<SseConnection> EachForTopic(string topic)
    {
        if (_byTopic.TryGetValue(topic, out var set))
        {
            foreach (var (_, connection) in set)
            {
                yield return connection;
            }
        }
    }

    public int CountForUser(string userId) => _byUser.TryGetValue(userId, out var set) ? set.Count : 0;

    public SseConnection? Find(string connectionId) => _byId.GetValueOrDefault(connectionId);

    /// <summary>The live view of one user's connections (empty if none).</summary>
    public ICollection<SseConnection> ForUser(string userId) =>
        _byUser.TryGetValue(userId, out var set) ? set.Values : [];

    /// <summary>Connections per user and the topics read here, for cluster-wide stats.</summary>
    public GatewayPresence Presence()
    {
        var users = new Dictionary<string, int>(_byUser.Count, StringComparer.Ordinal);
        foreach (var (userId, set) in _byUser)
        {
            if (!set.IsEmpty)
            {
                users[userId] = set.Count;
            }
        }

        return new GatewayPresence(_byId.Count, users, [.. _byTopic.Keys]);
    }

    /// <summary>
    /// Indexes the connection and attaches its streams. Returns false, registering nothing, when the user already holds
    /// <paramref name="maxPerUser"/> connections here; the check and the add are one step, so concurrent connects of one
    /// user cannot overshoot. On failure nothing stays registered.
    /// </summary>
    public async Task<bool> TryAddAsync(SseConnection connection, int maxPerUser, CancellationToken cancellationToken)
    {
        lock (_indexLock)
        {
            if (connection.UserId is { } user && CountForUser(user) >= maxPerUser)
            {
                return false;
            }

            _byId[connection.Id] = connection;
            if (connection.UserId is { } userId)
            {
                _byUser.GetOrAdd(userId, static _ => new(StringComparer.Ordinal))[connection.Id] = connection;
            }

            foreach (var topic in connection.Topics)
            {
                _byTopic.GetOrAdd(topic, static _ => new(StringComparer.Ordinal))[connection.Id] = connection;
            }
        }

        var attached = 0;
        try
        {
            for (; attached < connection.Streams.Length; attached++)
            {
                await attachments.AcquireAsync(connection.Streams[attached], cancellationToken);
            }
        }
        catch
        {
            Unindex(connection);
            await ReleaseAsync(connection, attached);
            throw;
        }

        return true;
    }

    /// <summary>
    /// Unindexes the connection and detaches its streams. The connection leaves this node's listings and counts first,
    /// whatever the cluster answers; a detach that fails only leaves the grain sending here for a while.
    /// </summary>
    public async Task RemoveAsync(SseConnection connection)
    {
        if (Unindex(connection))
        {
            await ReleaseAsync(connection, connection.Streams.Length);
        }
    }

    private async Task ReleaseAsync(SseConnection connection, int count)
    {
        for (var i = 0; i < count; i++)
        {
            try
            {
                await attachments.ReleaseAsync(connection.Streams[i], CancellationToken.None);
            }
            catch (RoutingUnavailableException)
            {
                // Logged by the call; the stream is released locally all the same.
            }
        }
    }

    private bool Unindex(SseConnection connection)
    {
        lock (_indexLock)
        {
            if (!_byId.TryRemove(connection.Id, out _))
            {
                return false;
            }

            if (connection.UserId is { } userId)
            {
                RemoveFrom(_byUser, userId, connection.Id);
            }

            foreach (var topic in connection.Topics)
            {
                RemoveFrom(_byTopic, topic, connection.Id);
            }

            return true;
        }
    }

    private static void RemoveFrom(ConcurrentDictionary<string, ConcurrentDictionary<string, SseConnection>> index, string key, string connectionId)
    {
        if (index.TryGetValue(key, out var set))
        {
            set.TryRemove(connectionId, out _);
            if (set.IsEmpty)
            {
                index.TryRemove(key, out _);
            }
        }
    }
}
