using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>
/// What this gateway instance has told Redis, and the loop that keeps it true.
/// <para>
/// The instance holds, under leases that expire <see cref="RedisRoutingOptions.LeaseMultiplier"/> refresh intervals
/// after their last renewal: its entry in each attached user/topic grain's directory (so publishes are announced to
/// its inbox), its connection counts in those grains, its user grains' connection index entries, its row in the
/// gateway registry (kept in the broadcast grain) and its presence keys (<c>{gw:instance}</c>: connection records,
/// per-user and per-topic counts). Every value written is absolute — computed from the local state under one lock
/// and sent in order — so the periodic refresh re-asserts it all and heals whatever an outage or a Redis restart
/// lost. A gateway that dies stops refreshing and disappears when its leases run out.
/// </para>
/// </summary>
internal sealed class GatewayPresence : IAsyncDisposable
{
    private readonly RedisConnection _redis;
    private readonly RedisKeys _keys;
    private readonly GatewayIdentity _gateway;
    private readonly RedisRoutingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GatewayPresence> _logger;
    private readonly Lock _lock = new();
    private readonly HashSet<StreamKey> _attached = [];
    private readonly Dictionary<string, ConnectionInfoDto> _connections = new(StringComparer.Ordinal);

    // Each user or topic stream → ids of the local connections reading it.
    private readonly Dictionary<StreamKey, HashSet<string>> _readers = [];
    private readonly RedisValue _leaseMs;
    private readonly RedisValue _gatewayInfo;
    private CancellationTokenSource? _stop;
    private Task _loop = Task.CompletedTask;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _refreshFailing;

    public GatewayPresence(RedisConnection redis, RedisKeys keys, GatewayIdentity gateway, IOptions<RedisRoutingOptions> options, TimeProvider time, ILogger<GatewayPresence> logger)
    {
        _redis = redis;
        _keys = keys;
        _gateway = gateway;
        _options = options.Value;
        _time = time;
        _logger = logger;
        Instance = redis.Instance;
        _leaseMs = (long)Math.Ceiling(_options.Lease.TotalMilliseconds);
        _gatewayInfo = gateway.GatewayId + "\n" + gateway.StartedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        redis.Restored += RequestRefresh;
    }

    /// <summary>This gateway run's id in Redis.</summary>
    public string Instance { get; }

    /// <summary>Registers this instance in the gateway registry now and keeps it (and everything else) refreshed.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        Task task;
        lock (_lock)
        {
            EnsureStarted();
            task = StartRegistry(db, "1");
        }

        await RedisErrors.Guard(task, "registering this gateway", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes (and keeps renewing) this instance's lease in the grain of a user or topic stream.</summary>
    /// <remarks>The local state changes even when Redis is unreachable; the refresh loop writes it when Redis returns.</remarks>
    public async Task AttachAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        if (stream.Kind == StreamKind.Broadcast)
        {
            return; // every gateway receives the broadcast channel; there is nothing to lease
        }

        var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        Task task;
        lock (_lock)
        {
            _attached.Add(stream);
            EnsureStarted();
            task = StartGrain(db, stream, "1");
        }

        await RedisErrors.Guard(task, $"attaching {stream}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Releases this instance's lease in a grain: its publishes are no longer announced here.</summary>
    public async Task DetachAsync(StreamKey stream, CancellationToken cancellationToken)
    {
        if (stream.Kind == StreamKind.Broadcast)
        {
            return;
        }

        var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        Task task;
        lock (_lock)
        {
            _attached.Remove(stream);
            task = StartGrain(db, stream, "-1");
        }

        await RedisErrors.Guard(task, $"detaching {stream}", cancellationToken).ConfigureAwait(false);
    }

    public async Task AddConnectionAsync(ConnectionInfoDto connection, CancellationToken cancellationToken)
    {
        var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var json = JsonSerializer.Serialize(connection, SseJsonContext.Default.ConnectionInfoDto);
        var tasks = new List<Task>();
        lock (_lock)
        {
            var streams = StreamsOf(connection);
            if (_connections.Remove(connection.ConnectionId, out var previous))
            {
                // The same id again: take it out of the grains it no longer reads.
                Untrack(previous);
                foreach (var stream in StreamsOf(previous).Except(streams))
                {
                    tasks.Add(StartGrain(db, stream, "0", removed: stream.Kind == StreamKind.User ? connection.ConnectionId : null));
                }
            }

            _connections[connection.ConnectionId] = connection;
            foreach (var stream in streams)
            {
                if (!_readers.TryGetValue(stream, out var readers))
                {
                    _readers[stream] = readers = new HashSet<string>(StringComparer.Ordinal);
                }

                readers.Add(connection.ConnectionId);
            }

            EnsureStarted();
            tasks.Add(StartPutPresence(db, connection.ConnectionId, json, streams));
            foreach (var stream in streams)
            {
                tasks.Add(StartGrain(db, stream, "0", added: stream.Kind == StreamKind.User ? connection.ConnectionId : null));
            }

            tasks.Add(StartRegistry(db, "1"));
        }

        await RedisErrors.Guard(Task.WhenAll(tasks), $"recording connection {connection.ConnectionId}", cancellationToken).ConfigureAwait(false);
    }

    public async Task RemoveConnectionAsync(ConnectionInfoDto connection, CancellationToken cancellationToken)
    {
        var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var tasks = new List<Task>();
        lock (_lock)
        {
            var known = _connections.Remove(connection.ConnectionId, out var local) ? local : connection;
            Untrack(known);
            var streams = StreamsOf(known);
            tasks.Add(StartPutPresence(db, known.ConnectionId, "", streams));
            foreach (var stream in streams)
            {
                tasks.Add(StartGrain(db, stream, "0", removed: stream.Kind == StreamKind.User ? known.ConnectionId : null));
            }

            if (_stop is not null)
            {
                tasks.Add(StartRegistry(db, "1"));
            }
        }

        await RedisErrors.Guard(Task.WhenAll(tasks), $"removing connection {connection.ConnectionId}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a refresh round soon (after Redis came back), instead of waiting for the next interval.</summary>
    public void RequestRefresh() => Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>
    /// Stops refreshing. With <paramref name="cleanup"/>, also removes every lease, count, index entry and presence
    /// record of this instance (best effort: what cannot be removed expires with its lease). Without it, the instance
    /// simply falls silent — what a killed process does.
    /// </summary>
    public async Task CloseAsync(bool cleanup, CancellationToken cancellationToken = default)
    {
        CancellationTokenSource? stop;
        Task loop;
        lock (_lock)
        {
            stop = _stop;
            loop = _loop;
            _stop = null;
        }

        if (stop is not null)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            stop.Dispose();
        }

        if (!cleanup)
        {
            return;
        }

        try
        {
            var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
            var tasks = new List<Task>();
            lock (_lock)
            {
                var streams = new HashSet<StreamKey>(_attached);
                streams.UnionWith(_readers.Keys);
                _attached.Clear();
                _readers.Clear();
                _connections.Clear();
                foreach (var stream in streams)
                {
                    tasks.Add(StartGrain(db, stream, "-1"));
                }

                tasks.Add(StartRegistry(db, "-1"));
                tasks.Add(db.KeyDeleteAsync(_keys.InstancePresence(Instance)));
            }

            await Task.WhenAll(tasks).WaitAsync(_options.Lease, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex) || ex is RoutingUnavailableException)
        {
            RedisLog.CleanupFailed(_logger, _options.Lease.TotalMilliseconds, ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _redis.Restored -= RequestRefresh;
        bool active;
        lock (_lock)
        {
            active = _stop is not null || _attached.Count > 0 || _connections.Count > 0;
        }

        if (active)
        {
            await CloseAsync(cleanup: true).ConfigureAwait(false);
        }
    }

    /// <summary>One refresh round: renew every lease and rewrite every count and index entry this instance owns.</summary>
    internal async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var db = await _redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        if (!_redis.IsAvailable)
        {
            // One cheap failure instead of one failed script per attached stream; Restored wakes the loop.
            throw new RoutingUnavailableException("Redis is not reachable; the refresh waits for it.");
        }

        var tasks = new List<Task>();
        Task<RedisResult> renew;
        int expected;
        lock (_lock)
        {
            tasks.Add(StartRegistry(db, "1"));
            renew = RedisScriptRunner.Start(db, RedisScripts.RenewPresence, _keys.InstancePresence(Instance), [_leaseMs]);
            expected = _connections.Count;
            var streams = new HashSet<StreamKey>(_attached);
            streams.UnionWith(_readers.Keys);
            foreach (var stream in streams)
            {
                tasks.Add(StartGrain(db, stream, _attached.Contains(stream) ? "1" : "0", replace: true));
            }
        }

        var held = (long)await renew.WaitAsync(_options.Lease, cancellationToken).ConfigureAwait(false);
        if (held != expected)
        {
            Task replace;
            lock (_lock)
            {
                replace = StartReplacePresence(db);
            }

            await replace.WaitAsync(_options.Lease, cancellationToken).ConfigureAwait(false);
            RedisLog.PresenceRewritten(_logger, held, expected);
        }

        await Task.WhenAll(tasks).WaitAsync(_options.Lease, cancellationToken).ConfigureAwait(false);
    }

    private static List<StreamKey> StreamsOf(ConnectionInfoDto connection)
    {
        var streams = new List<StreamKey>(1 + connection.Topics.Count);
        if (connection.UserId is not null && Identifiers.IsValidUserId(connection.UserId))
        {
            streams.Add(StreamKey.ForUser(connection.UserId));
        }

        foreach (var topic in connection.Topics.Distinct(StringComparer.Ordinal))
        {
            if (Identifiers.IsValidTopic(topic))
            {
                streams.Add(StreamKey.ForTopic(topic));
            }
        }

        return streams;
    }

    private void Untrack(ConnectionInfoDto connection)
    {
        foreach (var stream in StreamsOf(connection))
        {
            if (_readers.TryGetValue(stream, out var readers) && readers.Remove(connection.ConnectionId) && readers.Count == 0)
            {
                _readers.Remove(stream);
            }
        }
    }

    private int ReaderCount(StreamKey stream) => _readers.TryGetValue(stream, out var readers) ? readers.Count : 0;

    // Caller holds _lock.
    private Task StartGrain(IDatabase db, StreamKey stream, string lease, bool replace = false, string? added = null, string? removed = null)
    {
        var values = new List<RedisValue>
        {
            Instance,
            _leaseMs,
            lease,
            ReaderCount(stream),
            replace ? "1" : "0",
        };
        if (replace && stream.Kind == StreamKind.User && _readers.TryGetValue(stream, out var readers))
        {
            values.Add(readers.Count);
            foreach (var id in readers)
            {
                values.Add(id);
            }
        }
        else
        {
            values.Add(added is null ? 0 : 1);
            if (added is not null)
            {
                values.Add(added);
            }
        }

        if (removed is not null)
        {
            values.Add(removed);
        }

        if (lease == "-1" && stream.Kind == StreamKind.User)
        {
            // Releasing the grain: drop every index entry of this instance.
            values[4] = "1";
        }

        return RedisScriptRunner.Start(db, RedisScripts.AssertGrain, _keys.GrainDirectory(stream), [.. values]);
    }

    // Caller holds _lock.
    private Task StartRegistry(IDatabase db, string mode) =>
        RedisScriptRunner.Start(db, RedisScripts.Registry, _keys.GrainDirectory(StreamKey.Broadcast), [Instance, _leaseMs, mode, _connections.Count, _gatewayInfo]);

    // Caller holds _lock.
    private Task StartPutPresence(IDatabase db, string connectionId, string json, List<StreamKey> streams)
    {
        var values = new List<RedisValue> { _leaseMs, connectionId, json };
        var user = streams.FirstOrDefault(s => s.Kind == StreamKind.User);
        if (user.Name is { Length: > 0 })
        {
            values.Add(user.Name);
            values.Add(ReaderCount(user));
        }
        else
        {
            values.Add("");
            values.Add(0);
        }

        foreach (var topic in streams.Where(s => s.Kind == StreamKind.Topic))
        {
            values.Add(topic.Name);
            values.Add(ReaderCount(topic));
        }

        return RedisScriptRunner.Start(db, RedisScripts.PutPresence, _keys.InstancePresence(Instance), [.. values]);
    }

    // Caller holds _lock.
    private Task StartReplacePresence(IDatabase db)
    {
        var values = new List<RedisValue>(4 + _connections.Count * 2 + _readers.Count * 2) { _leaseMs, _connections.Count };
        foreach (var (id, connection) in _connections)
        {
            values.Add(id);
            values.Add(JsonSerializer.Serialize(connection, SseJsonContext.Default.ConnectionInfoDto));
        }

        var users = _readers.Where(r => r.Key.Kind == StreamKind.User).ToList();
        values.Add(users.Count);
        foreach (var (stream, readers) in users)
        {
            values.Add(stream.Name);
            values.Add(readers.Count);
        }

        foreach (var (stream, readers) in _readers.Where(r => r.Key.Kind == StreamKind.Topic))
        {
            values.Add(stream.Name);
            values.Add(readers.Count);
        }

        return RedisScriptRunner.Start(db, RedisScripts.ReplacePresence, _keys.InstancePresence(Instance), [.. values]);
    }

    // Caller holds _lock.
    private void EnsureStarted()
    {
        if (_stop is not null)
        {
            return;
        }

        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        _loop = Task.Run(() => RunAsync(token), CancellationToken.None);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var wake = Volatile.Read(ref _wake).Task;
            var ok = false;
            try
            {
                await RefreshAsync(cancellationToken).ConfigureAwait(false);
                ok = true;
                if (_refreshFailing)
                {
                    _refreshFailing = false;
                    RedisLog.RefreshRecovered(_logger);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Background loop: log the first failure of a run of failures, keep going.
                if (!_refreshFailing)
                {
                    _refreshFailing = true;
                    RedisLog.RefreshFailed(_logger, _options.RefreshInterval.TotalMilliseconds, _options.Lease.TotalMilliseconds, ex);
                }
            }

            try
            {
                // After a failure retry within a second: the leases must be back well before they would expire.
                var wait = ok ? _options.RefreshInterval : TimeSpan.FromTicks(Math.Min(_options.RefreshInterval.Ticks, TimeSpan.TicksPerSecond));
                await Task.WhenAny(Task.Delay(wait, _time, cancellationToken), wake).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
