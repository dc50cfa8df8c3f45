using Orleans.Clustering.Redis;
using StackExchange.Redis;

namespace SseCluster.Client;

/// <summary>
/// The publisher's one connection to the cluster's Redis, which its Orleans client reads the gateway list from. It is
/// handed to Orleans' Redis clustering as a shared connection so that this class, not Orleans, closes it: Orleans closes
/// the connections it owns gracefully (a <c>QUIT</c> to every server, waiting up to the async timeout, 5 s by default,
/// for the answers), so a host disposed while its Redis did not answer took 5 s to go. A publisher only ever reads the
/// list, so nothing is left to complete: closing without waiting loses nothing.
/// </summary>
internal sealed class ClusterRedisConnection : IAsyncDisposable, IDisposable
{
    private readonly Lock _lock = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private bool _disposed;

    /// <summary>For <see cref="RedisClusteringOptions.CreateMultiplexer"/>: the one connection, opened on first use.</summary>
    public async Task<(IConnectionMultiplexer Multiplexer, bool IsShared)> ConnectAsync(RedisClusteringOptions options)
    {
        Task<ConnectionMultiplexer> connecting;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connecting is null or { IsFaulted: true } or { IsCanceled: true })
            {
                _connecting = ConnectionMultiplexer.ConnectAsync(options.ConfigurationOptions!);
            }

            connecting = _connecting;
        }

        return (await connecting.ConfigureAwait(false), true);
    }

    public async ValueTask DisposeAsync()
    {
        if (Detach() is { } connecting)
        {
            // A connect still under way is closed when it completes; the host does not wait for it.
            if (!connecting.IsCompleted)
            {
                _ = connecting.ContinueWith(static t => Close(t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                return;
            }

            if (connecting.IsCompletedSuccessfully)
            {
                await connecting.Result.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
                connecting.Result.Dispose();
            }
        }
    }

    public void Dispose()
    {
        if (Detach() is { } connecting)
        {
            if (!connecting.IsCompleted)
            {
                _ = connecting.ContinueWith(static t => Close(t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                return;
            }

            if (connecting.IsCompletedSuccessfully)
            {
                Close(connecting.Result);
            }
        }
    }

    private static void Close(ConnectionMultiplexer multiplexer)
    {
        multiplexer.Close(allowCommandsToComplete: false);
        multiplexer.Dispose();
    }

    private Task<ConnectionMultiplexer>? Detach()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            _disposed = true;
            return _connecting;
        }
    }
}
