namespace SseCluster.Grains.Streams;
/// <summary>The ActivitySource of publish → stream grain → gateway enqueue.</summary>
public static class SseClusterTracing
{
    public const string SourceName = "SseCluster";

    public static readonly System.Diagnostics.ActivitySource Source = new(SourceName);
}
