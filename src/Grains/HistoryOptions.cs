namespace SseCluster.Grains;

/// <summary>How much history each stream keeps (<c>SseCluster:History</c>). Both bounds apply.</summary>
public sealed class HistoryOptions
{
    /// <summary>Events kept per stream. Default 1,000.</summary>
    public int MaxEventsPerStream { get; set; } = 1000;

    /// <summary>How long an event is kept, in seconds. Default 3,600.</summary>
    public int MaxAgeSeconds { get; set; } = 3600;
}
