namespace SseCluster.Contracts;

/// <summary>
/// The cluster could not store or route an event right now; nothing was accepted. The gateway's HTTP API answers 503
/// with <c>Retry-After</c>; a publisher may retry (with the same publish id, nothing is stored twice).
/// </summary>
[GenerateSerializer]
[Alias("sse.RoutingUnavailableException")]
public sealed class RoutingUnavailableException : Exception
{
    public RoutingUnavailableException()
    {
    }

    public RoutingUnavailableException(string message)
        : base(message)
    {
    }

    public RoutingUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
