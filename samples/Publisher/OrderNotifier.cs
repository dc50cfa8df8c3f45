using SseCluster.Contracts;

namespace SseCluster.Samples.Publisher;

/// <summary>
/// What an order service tells its users' browsers. Each event carries an idempotency key made from the order and
/// what happened to it (<c>order-42-shipped</c>): publishing it again — a retry, a re-run of a batch, a second
/// instance handling the same order — stores nothing new and answers with the sequence the first publish got.
/// </summary>
internal sealed class OrderNotifier(ISseEventPublisher sse)
{
    public const string Created = "order.created";
    public const string Shipped = "order.shipped";

    /// <summary>Sends <c>order.created</c> to every connection of <paramref name="userId"/>.</summary>
    /// <returns>Where the event was stored (its sequence in the user's stream) and how far it reached live.</returns>
    /// <exception cref="RoutingUnavailableException">The cluster could not store it; nothing was sent.</exception>
    public Task<PublishReceipt> CreatedAsync(string userId, long orderId, CancellationToken cancellationToken = default) =>
        sse.SendToUserAsync(userId, Event(Created, orderId, "created"), cancellationToken);

    /// <summary>Sends <c>order.shipped</c> to every connection of <paramref name="userId"/>.</summary>
    /// <returns>Where the event was stored (its sequence in the user's stream) and how far it reached live.</returns>
    /// <exception cref="RoutingUnavailableException">The cluster could not store it; nothing was sent.</exception>
    public Task<PublishReceipt> ShippedAsync(string userId, long orderId, CancellationToken cancellationToken = default) =>
        sse.SendToUserAsync(userId, Event(Shipped, orderId, "shipped"), cancellationToken);

    /// <summary>The idempotency key of one order event: <c>order-42-shipped</c>.</summary>
    public static string IdempotencyKey(long orderId, string status) => $"order-{orderId}-{status}";

    // The data is the same on every run, so a re-run publishes exactly what the first run did.
    private static OutgoingEvent Event(string eventType, long orderId, string status) =>
        OutgoingEvent.FromJson(eventType, $$"""{"orderId":{{orderId}},"status":"{{status}}"}""")
            .WithIdempotencyKey(IdempotencyKey(orderId, status));
}
