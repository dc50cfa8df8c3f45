using Microsoft.Extensions.Logging;
using SseCluster.Contracts;

namespace SseCluster.Client;

/// <summary>
/// Runs one grain call again and again until it answers, for up to <see cref="PublisherOptions.RetryFor"/>, each attempt
/// under its own deadline (<see cref="PublisherOptions.AttemptTimeout"/>). It is what carries a publish across the
/// moments after a silo dies and before membership declares it dead, when calls to grains it hosted fail or hang.
/// The calls it retries must be idempotent (a publish carries its publish id through every attempt).
/// </summary>
internal sealed partial class PublishRetry(PublisherOptions options, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    /// <exception cref="RoutingUnavailableException">No attempt succeeded in time.</exception>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.RetryFor;
        var backoff = FirstBackoff;
        var attempts = 0;
        while (true)
        {
            attempts++;
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(options.AttemptTimeout);
            Exception failure;
            try
            {
                return await call(attempt.Token).WaitAsync(attempt.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                failure = ex;
            }

            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                Log.GaveUp(logger, what, attempts, options.RetryFor.TotalSeconds, failure.GetType().Name, failure.Message);
                throw new RoutingUnavailableException($"{what} failed: the cluster did not answer within {options.RetryFor.TotalSeconds:0.#} s", failure);
            }

            if (attempts == 1)
            {
                Log.Retrying(logger, what, failure.GetType().Name, failure.Message);
            }

            var pause = TimeSpan.FromMilliseconds(Random.Shared.Next((int)(backoff.TotalMilliseconds / 2), (int)backoff.TotalMilliseconds + 1));
            await Task.Delay(pause < left ? pause : left, time, cancellationToken).ConfigureAwait(false);
            backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
        }
    }

    /// <summary>
    /// Failures that say a silo could not answer now (the outcome is unknown, never a success): a silo gone or not
    /// answering, an attempt's deadline. The store reporting itself unavailable is not retried: that is an outage for
    /// the caller to see at once (HTTP 503), not a moment of failover. Argument errors and other bugs are not retried.
    /// </summary>
    internal static bool IsTransient(Exception exception) => exception switch
    {
        RoutingUnavailableException => false,
        TimeoutException or OperationCanceledException => true,
        OrleansException => true,
        System.Net.Sockets.SocketException or IOException => true,
        AggregateException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Information, "{What}: the cluster did not answer ({Error}: {Message}); retrying with the same publish id")]
        public static partial void Retrying(ILogger logger, string what, string error, string message);

        [LoggerMessage(301, LogLevel.Warning, "{What}: gave up after {Attempts} attempts in {Seconds} s ({Error}: {Message})")]
        public static partial void GaveUp(ILogger logger, string what, int attempts, double seconds, string error, string message);
    }
}
