namespace SseCluster.Client;

/// <summary>
/// Settings of the publisher library. They must match the gateways' (<c>SseCluster:Redis:Prefix</c>,
/// <c>SseCluster:History</c>): the publisher appends to the same streams with the same bounds.
/// </summary>
public sealed class SseClusterPublisherOptions
{
    /// <summary>The Redis the gateways route through: <c>127.0.0.1:6379</c>, or several endpoints of a Redis Cluster. Required.</summary>
    public string? RedisConfiguration { get; set; }

    /// <summary>The key prefix the gateways use (<c>SseCluster:Redis:Prefix</c>). Default <c>sse</c>.</summary>
    public string Prefix { get; set; } = "sse";

    /// <summary>Events kept per stream (<c>SseCluster:History:MaxEventsPerStream</c>). Default 1,000.</summary>
    public int MaxEventsPerStream { get; set; } = 1000;

    /// <summary>How long events are kept, in seconds (<c>SseCluster:History:MaxAgeSeconds</c>). Default 3,600.</summary>
    public int MaxAgeSeconds { get; set; } = 3600;

    /// <summary>How long a disconnect with <c>reconnect: false</c> keeps the user out (<c>SseCluster:Limits:ReconnectBlockSeconds</c>). Default 60.</summary>
    public int ReconnectBlockSeconds { get; set; } = 60;
}
