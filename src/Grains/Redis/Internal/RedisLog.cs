using Microsoft.Extensions.Logging;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>The Redis routing layer's log messages. A persistent failure is logged once, and its recovery once.</summary>
internal static partial class RedisLog
{
    [LoggerMessage(1, LogLevel.Information, "Connecting to Redis at {Endpoints} (key prefix '{Prefix}', gateway instance '{Instance}').")]
    public static partial void Connecting(ILogger logger, string endpoints, string prefix, string instance);

    [LoggerMessage(2, LogLevel.Warning, "Redis connection to {Endpoint} lost ({FailureType}); publishes fail with 503 until it returns.")]
    public static partial void ConnectionLost(ILogger logger, string endpoint, string failureType, Exception? exception);

    [LoggerMessage(3, LogLevel.Information, "Redis connection to {Endpoint} restored.")]
    public static partial void ConnectionRestored(ILogger logger, string endpoint);

    [LoggerMessage(4, LogLevel.Warning, "Refreshing this gateway's leases and presence in Redis failed; retrying every {IntervalMs} ms. Records expire {LeaseMs} ms after the last success.")]
    public static partial void RefreshFailed(ILogger logger, double intervalMs, double leaseMs, Exception exception);

    [LoggerMessage(5, LogLevel.Information, "Refreshing this gateway's leases and presence in Redis works again.")]
    public static partial void RefreshRecovered(ILogger logger);

    [LoggerMessage(6, LogLevel.Warning, "Ignored a message on Redis channel {Channel} that is not in the routing layer's format.")]
    public static partial void InvalidMessage(ILogger logger, string channel);

    [LoggerMessage(7, LogLevel.Error, "The gateway inbox threw while taking a message from Redis channel {Channel}.")]
    public static partial void InboxFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(8, LogLevel.Information, "Gateway inbox open on Redis channels {Inbox}, {Broadcast}, {Control}.")]
    public static partial void InboxOpened(ILogger logger, string inbox, string broadcast, string control);

    [LoggerMessage(9, LogLevel.Information, "Gateway inbox closed; this gateway's leases and presence records were removed.")]
    public static partial void InboxClosed(ILogger logger);

    [LoggerMessage(10, LogLevel.Warning, "Removing this gateway's leases and presence records from Redis failed; they expire by themselves within {LeaseMs} ms.")]
    public static partial void CleanupFailed(ILogger logger, double leaseMs, Exception exception);

    [LoggerMessage(11, LogLevel.Information, "Redis held {Held} presence records of this gateway instead of {Expected}; rewrote them.")]
    public static partial void PresenceRewritten(ILogger logger, long held, int expected);
}
