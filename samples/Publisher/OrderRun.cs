using System.Globalization;
using SseCluster.Contracts;

namespace SseCluster.Samples.Publisher;

/// <summary>The sample's work: for each user, its orders — created, then shipped — one publish at a time.</summary>
internal sealed class OrderRun(OrderNotifier notifier, PublisherArguments arguments)
{
    /// <summary>
    /// Publishes every order event, writing one line per receipt to <paramref name="output"/>. Stops at the first event
    /// the cluster could not store: the ones after it are not sent, so a re-run (whose keys make the stored ones count
    /// once) finishes the job in order.
    /// </summary>
    /// <returns><see cref="ExitCodes.Stored"/>, or <see cref="ExitCodes.NotStored"/> after telling <paramref name="errors"/> which event failed.</returns>
    public async Task<int> RunAsync(TextWriter output, TextWriter errors, CancellationToken cancellationToken = default)
    {
        var orderId = arguments.FirstOrder;
        var first = true;
        foreach (var user in arguments.Users)
        {
            for (var n = 0; n < arguments.Orders; n++, orderId++)
            {
                foreach (var (eventType, status) in new[] { (OrderNotifier.Created, "created"), (OrderNotifier.Shipped, "shipped") })
                {
                    if (!first && arguments.Interval > TimeSpan.Zero)
                    {
                        await Task.Delay(arguments.Interval, cancellationToken);
                    }

                    first = false;
                    PublishReceipt receipt;
                    try
                    {
                        receipt = eventType == OrderNotifier.Created
                            ? await notifier.CreatedAsync(user, orderId, cancellationToken)
                            : await notifier.ShippedAsync(user, orderId, cancellationToken);
                    }
                    catch (RoutingUnavailableException ex)
                    {
                        await errors.WriteLineAsync(
                            $"{eventType} of order {orderId} for {user} was not stored: {ex.Message}. Nothing after it was sent; run again to finish (events already stored are not repeated).");
                        return ExitCodes.NotStored;
                    }

                    await output.WriteLineAsync(Line(eventType, orderId, user, status, receipt));
                }
            }
        }

        return ExitCodes.Stored;
    }

    // One receipt as key=value pairs: readable, and easy for scripts (and the tests) to pick apart.
    private static string Line(string eventType, long orderId, string user, string status, PublishReceipt receipt)
    {
        var stored = receipt.Events[0];
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{eventType} order={orderId} user={user} key={OrderNotifier.IdempotencyKey(orderId, status)} stream={stored.Stream} sequence={stored.Sequence} gateways={receipt.Gateways} connections={receipt.Connections}");
    }
}

/// <summary>The sample's exit codes.</summary>
internal static class ExitCodes
{
    /// <summary>Every event was stored.</summary>
    public const int Stored = 0;

    /// <summary>Stopped by Ctrl-C or SIGTERM before the end.</summary>
    public const int Interrupted = 1;

    /// <summary>The command line or the configuration is wrong.</summary>
    public const int BadArguments = 2;

    /// <summary>The cluster could not store an event, or no gateway of it answered in time.</summary>
    public const int NotStored = 3;
}
