using System.Diagnostics.Metrics;

namespace SseCluster.Gateway.Observability;

/// <summary>The gateway's instruments (meter <c>SseCluster.Gateway</c>), exported at <c>/metrics</c>.</summary>
internal sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "SseCluster.Gateway";

    private readonly Meter _meter;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        Published = _meter.CreateCounter<long>("sse_events_published_total", description: "Events accepted by this node's publish API.");
        Delivered = _meter.CreateCounter<long>("sse_events_delivered_total", description: "Events written to connections (live and replayed).");
        QueueDrops = _meter.CreateCounter<long>("sse_queue_drops_total", description: "Items that did not fit a connection's queue.");
        SlowConsumerDisconnects = _meter.CreateCounter<long>("sse_slow_consumer_disconnects_total", description: "Connections cut because their queue overflowed.");
        Replayed = _meter.CreateCounter<long>("sse_replayed_events_total", description: "Events written from history (resume and gap fill).");
        ReplayStoreReads = _meter.CreateCounter<long>("sse_replay_store_reads_total", description: "History reads made for resumes and gap fills; concurrent ones of the same stream and position count once.");
        ReplayFramesFormatted = _meter.CreateCounter<long>("sse_replay_frames_formatted_total", description: "History events formatted for resumes and gap fills: once per read, however many connections replay them.");
        Refused = _meter.CreateCounter<long>("sse_connections_refused_total", description: "Stream requests refused, by reason.");
        Resets = _meter.CreateCounter<long>("sse_resets_total", description: "Reset notices sent because history did not cover a position or a stream was started again.");
        CatchUps = _meter.CreateCounter<long>("sse_stream_catch_ups_total", description: "Streams filled from the store because a live delivery never came.");
        WriteLatency = _meter.CreateHistogram<double>(
            "sse_write_latency_seconds",
            unit: "s",
            description: "Time from queuing an event to a connection to flushing it to the socket.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        ObserveProcess();
    }

    public Counter<long> Published { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> QueueDrops { get; }

    public Counter<long> SlowConsumerDisconnects { get; }

    public Counter<long> Replayed { get; }

    public Counter<long> ReplayStoreReads { get; }

    public Counter<long> ReplayFramesFormatted { get; }

    public Counter<long> Refused { get; }

    public Counter<long> Resets { get; }

    public Counter<long> CatchUps { get; }

    public Histogram<double> WriteLatency { get; }

    /// <summary>Process memory, so memory per connection can be read off <c>/metrics</c>.</summary>
    private void ObserveProcess()
    {
        _meter.CreateObservableGauge("process_resident_memory_bytes", () => Environment.WorkingSet, unit: "By", description: "Resident memory of the gateway process.");
        _meter.CreateObservableGauge("dotnet_gc_heap_size_bytes", () => GC.GetGCMemoryInfo().HeapSizeBytes, unit: "By", description: "Managed heap size after the last garbage collection.");
    }

    /// <summary>Registers the gauge of open connections.</summary>
    public void ObserveConnections(Func<int> count) =>
        _meter.CreateObservableGauge("sse_connections", count, description: "Open stream connections on this node.");

    public void Dispose() => _meter.Dispose();
}
