using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>
/// The one <see cref="ConnectionMultiplexer"/> a process shares for every routing operation, and the routing layer's
/// health. It connects lazily on first use with <c>abortConnect=false</c>, so a gateway starts while Redis is down and
/// StackExchange.Redis keeps reconnecting (and restores subscriptions) by itself; while it is disconnected commands
/// fail fast with <see cref="RedisConnectionException"/>, which callers translate into
/// <see cref="RoutingUnavailableException"/>.
/// </summary>
internal sealed class RedisConnection : IRoutingHealth, IAsyncDisposable
{
    private readonly ConfigurationOptions _configuration;
    private readonly Lazy<Task<ConnectionMultiplexer>> _multiplexer;
    private readonly ConcurrentDictionary<string, bool> _lost = new(StringComparer.Ordinal);
    private readonly ILogger<RedisConnection> _logger;
    private readonly CancellationTokenSource _disposed = new();
    private volatile bool _ready;
    private int _probing;

    public RedisConnection(IOptions<RedisRoutingOptions> options, RedisKeys keys, GatewayIdentity gateway, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        var text = options.Value.Configuration ?? throw new InvalidOperationException($"{RedisRoutingOptions.Section}:Configuration is required for Redis routing.");
        _configuration = ConfigurationOptions.Parse(text);
        _configuration.AbortOnConnectFail = false;
        if (!text.Contains("connectTimeout=", StringComparison.OrdinalIgnoreCase))
        {
            _configuration.ConnectTimeout = 5000;
        }

        if (!text.Contains("syncTimeout=", StringComparison.OrdinalIgnoreCase))
        {
            _configuration.SyncTimeout = 5000;
        }

        if (!text.Contains("keepAlive=", StringComparison.OrdinalIgnoreCase))
        {
            // Finds a half-open connection (a Redis host that vanished) within seconds rather than minutes.
            _configuration.KeepAlive = 5;
        }

        if (!text.Contains("configChannel=", StringComparison.OrdinalIgnoreCase))
        {
            // StackExchange.Redis would subscribe every gateway to its own "master changed" channel; routing never uses
            // it, and without it a gateway holds exactly its three routing subscriptions.
            _configuration.ConfigurationChannel = "";
        }

        if (string.IsNullOrEmpty(_configuration.ClientName))
        {
            _configuration.ClientName = "sse-" + gateway.GatewayId;
        }

        Instance = RedisKeys.InstanceId(gateway);
        RedisLog.Connecting(logger, string.Join(",", _configuration.EndPoints), keys.Prefix, Instance);
        _multiplexer = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>
    /// Raised (on a thread-pool thread) when Redis serves commands again after a connection to it was lost or never
    /// made — not when the socket reconnects: StackExchange.Redis reports that a moment before it routes commands again.
    /// </summary>
    public event Action? Restored;

    /// <summary>This gateway run's id in Redis (see <see cref="RedisKeys.InstanceId"/>).</summary>
    public string Instance { get; }

    /// <summary>
    /// False until the first connection, while any master Redis server this process knows is disconnected, and after a
    /// reconnect until a command has gone through again. Asking starts connecting.
    /// </summary>
    public bool IsAvailable
    {
        get
        {
            var task = _multiplexer.Value;
            if (!task.IsCompletedSuccessfully || !_ready)
            {
                return false;
            }

            var multiplexer = task.Result;
            if (!multiplexer.IsConnected)
            {
                return false;
            }

            foreach (var endpoint in multiplexer.GetEndPoints())
            {
                var server = multiplexer.GetServer(endpoint);
                if (!server.IsSlave && !server.IsConnected)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>The shared multiplexer; the first call connects (at most the connect timeout, even if Redis is down).</summary>
    public Task<ConnectionMultiplexer> GetMultiplexerAsync(CancellationToken cancellationToken = default) =>
        RedisErrors.Guard(_multiplexer.Value, "connecting to Redis", cancellationToken);

    public async Task<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken = default) =>
        (await GetMultiplexerAsync(cancellationToken).ConfigureAwait(false)).GetDatabase();

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (!_multiplexer.IsValueCreated)
        {
            return;
        }

        try
        {
            var multiplexer = await _multiplexer.Value.ConfigureAwait(false);
            await multiplexer.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
            multiplexer.Dispose();
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex))
        {
            // Closing a connection to a Redis that is gone has nothing left to do.
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        if (multiplexer.IsConnected)
        {
            _ready = true;
        }
        else
        {
            _ = ProbeAsync(multiplexer);
        }

        return multiplexer;
    }

    // Pings through server selection (as every routing command goes) until Redis answers, then reports it ready.
    private async Task ProbeAsync(ConnectionMultiplexer multiplexer)
    {
        if (Interlocked.Exchange(ref _probing, 1) != 0)
        {
            return;
        }

        try
        {
            var db = multiplexer.GetDatabase();
            while (!_disposed.IsCancellationRequested)
            {
                try
                {
                    await db.PingAsync(CommandFlags.DemandMaster).WaitAsync(TimeSpan.FromSeconds(5), _disposed.Token).ConfigureAwait(false);
                    _ready = true;
                    Restored?.Invoke();
                    return;
                }
                catch (Exception ex) when (RedisErrors.IsUnavailable(ex) || ex is OperationCanceledException)
                {
                    await Task.Delay(50, _disposed.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive)
        {
            return;
        }

        _ready = false;
        var endpoint = e.EndPoint?.ToString() ?? "?";
        if (_lost.TryAdd(endpoint, true))
        {
            RedisLog.ConnectionLost(_logger, endpoint, e.FailureType.ToString(), e.Exception);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive)
        {
            return;
        }

        var endpoint = e.EndPoint?.ToString() ?? "?";
        if (_lost.TryRemove(endpoint, out _))
        {
            RedisLog.ConnectionRestored(_logger, endpoint);
        }

        if (sender is ConnectionMultiplexer multiplexer)
        {
            _ = ProbeAsync(multiplexer);
        }
    }
}
