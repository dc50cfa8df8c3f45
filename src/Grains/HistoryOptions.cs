namespace SseCluster.Grains;

/// <summary>How much history each stream keeps (<c>SseCluster:History</c>). Both bounds apply.</summary>
public sealed class HistoryOptions
{
    public const string Section = "SseCluster:History";

    /// <summary>Events kept per stream. Default 1,000.</summary>
    public int MaxEventsPerStream { get; set; } = 1000;

    /// <summary>
    /// How long an event is kept, in seconds. Default 3,600. A stream with no event for this long is forgotten
    /// altogether (its sequence too): a client that resumes it later gets <c>reset</c>.
    /// </summary>
    public int MaxAgeSeconds { get; set; } = 3600;

    /// <summary>
    /// How long a publish id is remembered, in seconds: a publish repeated with the same id (an HTTP
    /// <c>Idempotency-Key</c>, or a publisher's retry) within it is answered with the first receipt. Default 300.
    /// </summary>
    public int IdempotencyWindowSeconds { get; set; } = 300;

    public TimeSpan MaxAge => TimeSpan.FromSeconds(MaxAgeSeconds);

    public TimeSpan IdempotencyWindow => TimeSpan.FromSeconds(IdempotencyWindowSeconds);
}
