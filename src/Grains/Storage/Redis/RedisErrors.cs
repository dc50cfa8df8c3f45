using Microsoft.Extensions.Logging;
using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Translates Redis failures into <see cref="RoutingUnavailableException"/>, once, at the store's boundary. The
/// exception callers see says only which store and which operation failed — never a Redis address, command or key,
/// since it travels to gateways and may reach HTTP clients; the original exception is logged here instead.
/// </summary>
internal sealed class RedisErrors(ILogger<RedisErrors> logger, TimeProvider time)
{
    /// <summary>At most one failure per interval is logged at Warning (with its exception); the others at Debug.</summary>
    public static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(10);

    private long _nextWarningAt = long.MinValue;

    /// <summary>
    /// True for failures that mean "Redis cannot be used right now": no connection, a timeout (the outcome is then
    /// unknown; it is never reported as success), or a server refusal such as CLUSTERDOWN, LOADING, OOM or READONLY.
    /// A <see cref="RedisCommandException"/> (a command the client refused to send: a bug here) is not one.
    /// </summary>
    public static bool IsUnavailable(Exception exception) =>
        exception is TimeoutException || (exception is RedisException && exception is not RedisCommandException);

    /// <summary>
    /// Starts <paramref name="command"/> and awaits it, translating Redis failures. Cancellation stops the wait, not the
    /// command, which may still take effect. A command that cannot even be sent fails the same way as one that failed.
    /// </summary>
    /// <param name="store">What callers call the store, e.g. <c>stream store</c>.</param>
    /// <param name="operation">What was being done, without key names, e.g. <c>appending to u:alice</c>.</param>
    /// <param name="command">Sends the command and returns its pending reply.</param>
    /// <param name="cancellationToken">Stops waiting for the reply.</param>
    public async Task<T> GuardAsync<T>(string store, string operation, Func<Task<T>> command, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task<T> pending;
        try
        {
            pending = command();
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Translate(store, operation, ex);
        }

        try
        {
            return await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Translate(store, operation, ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !pending.IsCompleted)
        {
            // Nobody awaits the command any more: observe its outcome so a late failure is not reported as unobserved.
            _ = pending.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    /// <summary>Logs <paramref name="exception"/> and returns the plain exception callers get.</summary>
    public RoutingUnavailableException Translate(string store, string operation, Exception exception)
    {
        var now = time.GetTimestamp();
        var next = Interlocked.Read(ref _nextWarningAt);
        if (now >= next && Interlocked.CompareExchange(ref _nextWarningAt, now + (long)(WarningInterval.TotalSeconds * time.TimestampFrequency), next) == next)
        {
            RedisStoreLog.OperationFailed(logger, $"{operation} ({store})", WarningInterval.TotalSeconds, exception);
        }
        else
        {
            RedisStoreLog.OperationFailedAgain(logger, $"{operation} ({store})", exception);
        }

        // No inner exception: its message names Redis endpoints and commands, and this one is serialized to callers.
        return new RoutingUnavailableException($"The {store} is unavailable: {operation} failed. Retry shortly.");
    }
}
