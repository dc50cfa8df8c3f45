using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>Starts scripts without awaiting them, so callers can issue several in a fixed order under a lock.</summary>
internal static class RedisScriptRunner
{
    /// <summary>
    /// Sends <paramref name="script"/> now and returns its pending result. A failure to send becomes a faulted task,
    /// never a synchronous throw. Scripts issued one after another on one server run in that order.
    /// </summary>
    public static Task<RedisResult> Start(IDatabase database, string script, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            return database.ScriptEvaluateAsync(script, keys, values);
        }
        catch (Exception ex)
        {
            return Task.FromException<RedisResult>(ex);
        }
    }
}
