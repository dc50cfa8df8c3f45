using SseCluster.Contracts.Routing;

namespace SseCluster.Client;

/// <summary>
/// The publisher library configured in code. The names match the gateways' configuration keys, so a service that
/// shares the gateways' configuration section can use <c>AddSseClusterPublisher(configuration)</c> instead.
/// </summary>
public sealed class SseClusterPublisherOptions
{
    /// <summary>
    /// The Redis the gateways' silos keep their membership in (<c>SseCluster:Redis:Configuration</c>): one endpoint, or
    /// several endpoints of a Redis Cluster. Required.
    /// </summary>
    public string? RedisConfiguration { get; set; }

    /// <summary>The gateways' cluster (<c>SseCluster:Orleans:ClusterId</c>). Default <c>ssecluster</c>.</summary>
    public string ClusterId { get; set; } = SseClusterIdentity.DefaultClusterId;

    /// <summary>The gateways' service (<c>SseCluster:Orleans:ServiceId</c>). Default <c>ssecluster</c>.</summary>
    public string ServiceId { get; set; } = SseClusterIdentity.DefaultServiceId;

    /// <summary>See <see cref="PublisherOptions.AttemptTimeoutMilliseconds"/>. Default 2,000.</summary>
    public int AttemptTimeoutMilliseconds { get; set; } = 2000;

    /// <summary>See <see cref="PublisherOptions.RetryForSeconds"/>. Default 10.</summary>
    public double RetryForSeconds { get; set; } = 10;

    /// <summary>How long a disconnect with <c>reconnect: false</c> keeps the user out, in seconds. Default 60.</summary>
    public int ReconnectBlockSeconds { get; set; } = 60;
}
