namespace SseCluster.Grains;

/// <summary>Publisher behaviour shared by the gateway and the client library.</summary>
public sealed class PublisherOptions
{
    /// <summary>How long a disconnect with <c>reconnect: false</c> answers the user's reconnects with 204. Default 60 s.</summary>
    public int ReconnectBlockSeconds { get; set; } = 60;
}
