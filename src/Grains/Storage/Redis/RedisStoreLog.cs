using Microsoft.Extensions.Logging;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// The Redis store's log messages (event ids 200–219). A lost connection is logged once and its recovery once; failed
/// operations are logged with their exception at most once per interval at Warning, the rest at Debug.
/// </summary>
internal static partial class RedisStoreLog
{
    [LoggerMessage(200, LogLevel.Information, "Redis store: connecting to {Endpoints} as client '{ClientName}' (key prefix '{Prefix}').")]
    public static partial void Connecting(ILogger logger, string endpoints, string clientName, string prefix);

    [LoggerMessage(201, LogLevel.Warning, "Redis store: connection to {Endpoint} lost ({FailureType}); the store reports unavailable until it answers again.")]
    public static partial void ConnectionLost(ILogger logger, string endpoint, string failureType, Exception? exception);

    [LoggerMessage(202, LogLevel.Information, "Redis store: connection to {Endpoint} restored.")]
    public static partial void ConnectionRestored(ILogger logger, string endpoint);

    [LoggerMessage(203, LogLevel.Information, "Redis store: Redis answers commands; the store is available.")]
    public static partial void Ready(ILogger logger);

    [LoggerMessage(204, LogLevel.Warning, "Redis store: {Operation} failed; callers were told the store is unavailable. Further failures within {IntervalSeconds} s are logged at Debug level.")]
    public static partial void OperationFailed(ILogger logger, string operation, double intervalSeconds, Exception exception);

    [LoggerMessage(205, LogLevel.Debug, "Redis store: {Operation} failed; callers were told the store is unavailable.")]
    public static partial void OperationFailedAgain(ILogger logger, string operation, Exception exception);

    [LoggerMessage(206, LogLevel.Debug, "Redis store: closing the connection failed; nothing is left to release.")]
    public static partial void CloseFailed(ILogger logger, Exception exception);

    [LoggerMessage(207, LogLevel.Warning, "Redis store: could not connect to {Endpoint}; retrying in the background, and the store reports unavailable until it answers.")]
    public static partial void NotConnected(ILogger logger, string endpoint);
}
