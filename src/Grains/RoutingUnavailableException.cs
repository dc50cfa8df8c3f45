namespace SseCluster.Grains;

/// <summary>The routing layer could not store or route an event; nothing was accepted. Gateways answer 503.</summary>
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
