namespace SseCluster.Grains.Redis;

/// <summary>The Redis routing layer's settings (<c>SseCluster:Redis</c>).</summary>
internal sealed class RedisRoutingOptions
{
    public const string Section = "SseCluster:Redis";

    /// <summary>
    /// StackExchange.Redis configuration: one endpoint (<c>127.0.0.1:6379</c>) or several endpoints of a Redis Cluster,
    /// optionally with options (<c>password=…,ssl=true</c>). Required. <c>abortConnect</c> is always false.
    /// </summary>
    public string? Configuration { get; set; }

    /// <summary>
    /// Put before every key and channel name, ahead of the hash tag (<c>sse:{u:42}:events</c>), so several clusters can
    /// share one Redis. Default <c>sse</c>.
    /// </summary>
    public string Prefix { get; set; } = "sse";

    /// <summary>
    /// How often this gateway refreshes its leases and presence records, in seconds. Default 5. Leases and presence
    /// records live <see cref="LeaseMultiplier"/> intervals, so a gateway that dies disappears within that time.
    /// </summary>
    public double PresenceRefreshSeconds { get; set; } = 5;

    /// <summary>How many refresh intervals a lease or presence record outlives its last refresh.</summary>
    public const int LeaseMultiplier = 3;

    public TimeSpan RefreshInterval => TimeSpan.FromSeconds(PresenceRefreshSeconds);

    public TimeSpan Lease => TimeSpan.FromSeconds(PresenceRefreshSeconds * LeaseMultiplier);
}
