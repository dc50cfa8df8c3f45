using System.Collections.Concurrent;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// This node's open connections, indexed by id, user and topic for delivery. Adding a connection attaches its user
/// and topic streams in the routing layer before it returns, so no live event published afterwards can miss it.
/// </summary>
internal sealed class ConnectionRegistry(StreamAttachments attachments)
{
    private readonly ConcurrentDictionary<string, SseConnection> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, SseConnection>> _byUser = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, SseConnection>> _byTopic = new(StringComparer.Ordinal);

    // Guards adding to and retiring the per-user and per-topic sets; delivery reads them without it.
    private readonly Lock _indexLock = new();

    public int Count => _byId.Count;

    public ICollection<SseConnection> All => _byId.Values;

    public int CountForUser(string userId) => _byUser.TryGetValue(userId, out var set) ? set.Count : 0;

    public SseConnection? Find(string connectionId) => _byId.GetValueOrDefault(connectionId);

    /// <summary>The live view of one user's connections (empty if none).</summary>
    public ICollection<SseConnection> ForUser(string userId) =>
        _byUser.TryGetValue(userId, out var set) ? set.Values : [];

    public ICollection<SseConnection> ForTopic(string topic) =>
        _byTopic.TryGetValue(topic, out var set) ? set.Values : [];

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
                if (IsAttachable(connection, attached))
                {
                    await attachments.AcquireAsync(connection.Streams[attached], cancellationToken);
                }
            }
        }
        catch
        {
            Unindex(connection);
            for (var i = 0; i < attached; i++)
            {
                if (IsAttachable(connection, i))
                {
                    await attachments.ReleaseAsync(connection.Streams[i], CancellationToken.None);
                }
            }

            throw;
        }

        return true;
    }

    public async Task RemoveAsync(SseConnection connection, CancellationToken cancellationToken)
    {
        if (!Unindex(connection))
        {
            return;
        }

        for (var i = 0; i < connection.Streams.Length; i++)
        {
            if (IsAttachable(connection, i))
            {
                await attachments.ReleaseAsync(connection.Streams[i], cancellationToken);
            }
        }
    }

    private static bool IsAttachable(SseConnection connection, int index) =>
        index != ResumePosition.BroadcastIndex && (index != ResumePosition.UserIndex || connection.UserId is not null);

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
