using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>Translates Redis failures into <see cref="RoutingUnavailableException"/>, once, at the routing boundary.</summary>
internal static class RedisErrors
{
    /// <summary>
    /// True for failures that mean "Redis cannot be used right now": no connection, a timeout (the outcome is unknown,
    /// so it is never reported as success), or a server refusal such as CLUSTERDOWN, LOADING or OOM.
    /// A <see cref="RedisCommandException"/> (a command the client refused to send) is a bug and is not translated.
    /// </summary>
    public static bool IsUnavailable(Exception exception) =>
        exception is RedisConnectionException or RedisTimeoutException or RedisServerException or TimeoutException
            || (exception is RedisException && exception is not RedisCommandException);

    public static RoutingUnavailableException Unavailable(string operation, Exception exception) =>
        new($"Redis routing is unavailable: {operation} failed ({exception.Message}). Retry once the routing layer is ready (/readyz).", exception);

    /// <summary>Awaits <paramref name="task"/>, translating Redis failures. Cancellation stops the wait, not the command.</summary>
    public static async Task<T> Guard<T>(Task<T> task, string operation, CancellationToken cancellationToken)
    {
        try
        {
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable(operation, ex);
        }
    }

    public static async Task Guard(Task task, string operation, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable(operation, ex);
        }
    }
}
