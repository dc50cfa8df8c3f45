using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Routing;

/// <summary>
/// The one place where a failed grain call becomes <see cref="RoutingUnavailableException"/>: each call gets a
/// deadline, and whatever Orleans or the store threw is logged here and replaced by a plain message — callers (and
/// HTTP clients) never see silo addresses or store details.
/// </summary>
internal sealed partial class RoutingCalls(SiloStartup silo, IOptions<GatewayRoutingOptions> options, ILogger<RoutingCalls> logger)
{
    /// <summary>False until the co-hosted silo is up: calls then fail at once instead of waiting for it.</summary>
    public bool IsAvailable => silo.IsRunning;

    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken)
    {
        if (!silo.IsRunning)
        {
            throw new RoutingUnavailableException($"{what} failed: this gateway has not joined the cluster yet");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.Value.CallTimeout);
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
