using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Client;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// The one place where a failed grain call becomes <see cref="RoutingUnavailableException"/>: each call gets a
/// deadline, and whatever Orleans or the store threw is logged here and replaced by a plain message — callers (and
/// HTTP clients) never see silo addresses or store details.
/// </summary>
internal sealed partial class RoutingCalls(
    SiloStartup silo,
    TimeProvider time,
    IOptions<GatewayRoutingOptions> options,
    IOptions<PublisherOptions> publishing,
    ILogger<RoutingCalls> logger)
{
    private readonly PublishRetry _retry = new(publishing.Value, time, logger);

    /// <summary>
    /// Like <c>RunAsync</c>, but an idempotent call that meets a silo that died (and is not yet declared dead)
    /// is tried again under short deadlines, as publishes are, instead of failing: a connect then waits a moment
    /// rather than being sent away.
    /// </summary>
    public Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken) =>
        RunAsync(ct => _retry.RunAsync(call, what, ct), what, publishing.Value.RetryFor + publishing.Value.AttemptTimeout, cancellationToken);

    public Task RetryAsync(Func<CancellationToken, Task> call, string what, CancellationToken cancellationToken) =>
        RetryAsync(
            async attempt =>
            {
                await call(attempt).ConfigureAwait(false);
                return true;
            },
            what,
            cancellationToken);

    /// <summary>False until the co-hosted silo is up: calls then fail at once instead of waiting for it.</summary>
    public bool IsAvailable => silo.IsRunning;

    public Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken) =>
        RunAsync(call, what, options.Value.CallTimeout, cancellationToken);

    private async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!silo.IsRunning)
        {
            throw new RoutingUnavailableException($"{what} failed: this gateway has not joined the cluster yet");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            return await call(deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or RoutingUnavailableException or OrleansException or IOException)
        {
            Log.CallFailed(logger, what, ex.GetType().Name, ex.Message);
            throw new RoutingUnavailableException($"{what} failed: the cluster is unavailable");
        }
    }

    public Task RunAsync(Func<CancellationToken, Task> call, string what, CancellationToken cancellationToken) =>
        RunAsync(
            async ct =>
            {
                await call(ct).ConfigureAwait(false);
                return true;
            },
            what,
            cancellationToken);

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Warning, "{What} failed ({Error}: {Message})")]
        public static partial void CallFailed(ILogger logger, string what, string error, string message);
    }
}
