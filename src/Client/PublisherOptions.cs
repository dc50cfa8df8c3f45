namespace SseCluster.Client;

/// <summary>
/// How publishes are made and retried (<c>SseCluster:Publish</c>, and <c>SseCluster:Limits:ReconnectBlockSeconds</c>).
/// Shared by the gateway's HTTP API and the publisher library.
/// </summary>
public sealed class PublisherOptions
{
    public const string Section = "SseCluster:Publish";

    /// <summary>
    /// How long one attempt to store an event may take, in milliseconds, before it is tried again with the same publish
    /// id. Short, so a stream grain whose silo died (and is not yet declared dead) is left quickly. Default 2,000.
    /// </summary>
    public int AttemptTimeoutMilliseconds { get; set; } = 2000;

    /// <summary>
    /// How long a publish keeps trying, in seconds, before it gives up with <see cref="Contracts.RoutingUnavailableException"/>
    /// (HTTP: 503 with <c>Retry-After</c>). Cover the cluster's failure-detection time. Default 10.
    /// </summary>
    public double RetryForSeconds { get; set; } = 10;

    /// <summary>
    /// The most bytes one publish may store: the data's size times the streams it goes to (a send to 1,000 users
    /// stores the data 1,000 times). Larger publishes are refused; send big payloads to a topic or a filtered broadcast,
    /// which store them once. Default 16 MiB.
    /// </summary>
    public long MaxBytesPerPublish { get; set; } = 16L * 1024 * 1024;

    /// <summary>How long a disconnect with <c>reconnect: false</c> answers the user's reconnects with 204, in seconds. Default 60.</summary>
    public int ReconnectBlockSeconds { get; set; } = 60;

    public TimeSpan AttemptTimeout => TimeSpan.FromMilliseconds(AttemptTimeoutMilliseconds);

    public TimeSpan RetryFor => TimeSpan.FromSeconds(RetryForSeconds);
}
