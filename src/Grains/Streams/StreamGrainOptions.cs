namespace SseCluster.Grains.Streams;

/// <summary>How stream grains hand events to gateways (<c>SseCluster:Routing</c>).</summary>
public sealed class StreamGrainOptions
{
    public const string Section = "SseCluster:Routing";

    /// <summary>
    /// How long a publish waits for the gateways to take its event before it answers anyway, in milliseconds. The event
    /// is stored before this starts; a gateway that does not answer in time counts no connections in the receipt and
    /// catches up from the stream store. Default 1,000.
    /// </summary>
    public int DeliveryTimeoutMilliseconds { get; set; } = 1000;

    /// <summary>Most publishes a stream grain stores in one append (group commit). Default 256.</summary>
    public int MaxBatch { get; set; } = 256;

    public TimeSpan DeliveryTimeout => TimeSpan.FromMilliseconds(DeliveryTimeoutMilliseconds);
}
