namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Where the cluster keeps its stream histories, gateway attachments, reconnect blocks and tickets when it runs on
/// Redis (<c>SseCluster:Redis</c>). Validated when the host starts; every silo of one cluster must use the same values.
/// </summary>
public sealed class RedisStoreOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string Section = "SseCluster:Redis";

    /// <summary>The longest <see cref="Prefix"/> accepted.</summary>
    public const int MaxPrefixLength = 64;

    /// <summary>
    /// A StackExchange.Redis configuration string: one endpoint (<c>127.0.0.1:6379</c>) or several endpoints of one Redis
    /// Cluster (<c>10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379</c>), optionally followed by options
    /// (<c>password=…,ssl=true</c>). Required in Redis mode. <c>abortConnect</c> is always false: a silo starts while
    /// Redis is down and reports the store unavailable until it answers. Unless the string sets them, the connect and
    /// command timeouts are 5,000 ms, the keep-alive 5 s, and no configuration channel is subscribed.
    /// </summary>
    public string? Configuration { get; set; }

    /// <summary>
    /// Put before every key, ahead of the stream's hash tag (<c>sse:{u:alice}:events</c>), so several clusters can share
    /// one Redis. 1–64 characters without braces (they would change the Cluster hash tag), whitespace or control
    /// characters. Default <c>sse</c>.
    /// </summary>
    public string Prefix { get; set; } = "sse";
}
