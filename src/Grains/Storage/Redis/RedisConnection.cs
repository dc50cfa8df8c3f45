using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// The one <see cref="ConnectionMultiplexer"/> a process shares for every store operation, and the store's health.
/// It connects lazily on first use with <c>abortConnect=false</c>, so a silo starts while Redis is down and
/// StackExchange.Redis keeps reconnecting by itself. While a connection is down, commands wait (at most the command
/// timeout) for it to return and then fail; callers translate the failure into
/// <see cref="SseCluster.Contracts.RoutingUnavailableException"/> through <see cref="RedisErrors"/>.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ProbeDelay = TimeSpan.FromMilliseconds(250);

    private readonly ConfigurationOptions _configuration;
    private readonly Lazy<Task<ConnectionMultiplexer>> _multiplexer;
    private readonly ConcurrentDictionary<string, bool> _lost = new(StringComparer.Ordinal);
    private readonly RedisErrors _errors;
    private readonly ILogger<RedisConnection> _logger;
    private readonly CancellationTokenSource _disposed = new();
    private volatile bool _ready;
    private bool _readyLogged;
    private int _probing;
    private int _probeRequested;

    /// <param name="options">The connection settings; <see cref="RedisStoreOptions.Configuration"/> is required.</param>
    /// <param name="keys">The key names (only their prefix is logged here).</param>
    /// <param name="errors">Translates a failure to connect.</param>
    /// <param name="logger">Logs connection losses and recoveries, once each.</param>
    /// <param name="clientName">
    /// The name this process shows in <c>CLIENT LIST</c> (characters Redis refuses in a name become <c>-</c>), unless
    /// the configuration string sets <c>name=</c> itself.
    /// </param>
    public RedisConnection(IOptions<RedisStoreOptions> options, RedisKeys keys, RedisErrors errors, ILogger<RedisConnection> logger, string clientName)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentException.ThrowIfNullOrWhiteSpace(clientName);
        _errors = errors;
        _logger = logger;
        var text = options.Value.Configuration
            ?? throw new InvalidOperationException($"{RedisStoreOptions.Section}:Configuration is required for the Redis store.");
        _configuration = ConfigurationOptions.Parse(text);
        _configuration.AbortOnConnectFail = false;
        if (!Sets(text, "connectTimeout"))
        {
            _configuration.ConnectTimeout = 5000;
        }

        if (!Sets(text, "syncTimeout"))
        {
            _configuration.SyncTimeout = 5000;
        }

        if (!Sets(text, "keepAlive"))
        {
            // Finds a half-open connection (a Redis host that vanished) within seconds rather than a minute.
            _configuration.KeepAlive = 5;
        }

        if (!Sets(text, "configChannel"))
        {
            // StackExchange.Redis would otherwise subscribe to its "master changed" channel; the store never uses it.
            _configuration.ConfigurationChannel = "";
        }

        if (string.IsNullOrEmpty(_configuration.ClientName))
        {
            _configuration.ClientName = SafeClientName(clientName);
        }

        RedisStoreLog.Connecting(logger, string.Join(",", _configuration.EndPoints), _configuration.ClientName, keys.Prefix);
        _multiplexer = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>
    /// False until the first connection is made and a command has gone through it; while any master Redis server this
    /// process knows of (every master of a Redis Cluster) is disconnected; and after a connection was lost, until a
    /// command has gone through again. Asking starts connecting.
    /// </summary>
    public bool IsAvailable
    {
        get
        {
            if (_disposed.IsCancellationRequested)
            {
                return false;
            }

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
                if (!server.IsReplica && !server.IsConnected)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>
    /// The shared database. The first call connects (for at most the connect timeout, even while Redis is down);
    /// it never throws for an unreachable Redis — the commands sent through the result do.
    /// </summary>
    public async Task<IDatabase> GetDatabaseAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        var multiplexer = await _errors.GuardAsync("Redis store", "connecting", () => _multiplexer.Value, cancellationToken).ConfigureAwait(false);
        return multiplexer.GetDatabase();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        if (!_multiplexer.IsValueCreated)
        {
            return;
        }

        try
        {
            var multiplexer = await _multiplexer.Value.ConfigureAwait(false);
            await multiplexer.CloseAsync(allowCommandsToComplete: true).ConfigureAwait(false);
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisErrors.IsUnavailable(ex) || ex is ObjectDisposedException)
        {
            RedisStoreLog.CloseFailed(_logger, ex);
        }
    }

    // A container disposed synchronously refuses services that are only IAsyncDisposable; close without waiting then.
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        _disposed.Cancel();
        if (_multiplexer.IsValueCreated && _multiplexer.Value.IsCompletedSuccessfully)
        {
            _multiplexer.Value.Result.Dispose();
        }
    }

    // Whether the configuration string gives the option itself (the parsed options cannot tell a default from a value).
    private static bool Sets(string configuration, string option)
    {
        foreach (var part in configuration.Split(','))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && part.AsSpan(0, equals).Trim().Equals(option, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    // Redis refuses CLIENT SETNAME with spaces, newlines and other non-printable characters.
    private static string SafeClientName(string name) =>
        string.Create(name.Length, name, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = source[i] is > ' ' and <= '~' ? source[i] : '-';
            }
        });

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
        multiplexer.ConnectionFailed += OnConnectionFailed;
        multiplexer.ConnectionRestored += OnConnectionRestored;
        if (_disposed.IsCancellationRequested)
        {
            // Disposed while connecting: DisposeAsync may have looked before this connection existed.
            await multiplexer.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(RedisConnection));
        }

        // Failures during the first connect were raised before the handlers above existed: report them once here, so
        // that their recovery is reported too.
        foreach (var endpoint in multiplexer.GetEndPoints())
        {
            var name = endpoint.ToString() ?? "?";
            if (!multiplexer.GetServer(endpoint).IsConnected && _lost.TryAdd(name, true))
            {
                RedisStoreLog.NotConnected(_logger, name);
            }
        }

        // Connected is not yet usable (a Cluster may still be assigning slots): a command must go through first.
        RequestProbe(multiplexer);
        return multiplexer;
    }

    // Asks for a probe; a request made while one runs makes it ping once more, so none is lost.
    private void RequestProbe(ConnectionMultiplexer multiplexer)
    {
        Volatile.Write(ref _probeRequested, 1);
        if (!_disposed.IsCancellationRequested && Interlocked.CompareExchange(ref _probing, 1, 0) == 0)
        {
            _ = ProbeAsync(multiplexer);
        }
    }

    // Pings through server selection, as every store command goes, until Redis answers; then reports it ready.
    private async Task ProbeAsync(ConnectionMultiplexer multiplexer)
    {
        try
        {
            var db = multiplexer.GetDatabase();
            while (Interlocked.Exchange(ref _probeRequested, 0) == 1 && !_disposed.IsCancellationRequested)
            {
                while (!_disposed.IsCancellationRequested)
                {
                    try
                    {
                        await db.PingAsync(CommandFlags.DemandMaster).WaitAsync(ProbeTimeout, _disposed.Token).ConfigureAwait(false);
                        _ready = true;
                        if (!_readyLogged)
                        {
                            _readyLogged = true;
                            RedisStoreLog.Ready(_logger);
                        }

                        break;
                    }
                    catch (Exception ex) when (RedisErrors.IsUnavailable(ex) || ex is OperationCanceledException)
                    {
                        await Task.Delay(ProbeDelay, _disposed.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    }
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The multiplexer was closed under the probe: nothing left to report.
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }

        // A request that arrived between the last check and the release above.
        if (Volatile.Read(ref _probeRequested) == 1)
        {
            RequestProbe(multiplexer);
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
            RedisStoreLog.ConnectionLost(_logger, endpoint, e.FailureType.ToString(), e.Exception);
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
            RedisStoreLog.ConnectionRestored(_logger, endpoint);
        }

        if (sender is ConnectionMultiplexer multiplexer)
        {
            RequestProbe(multiplexer);
        }
    }
}
