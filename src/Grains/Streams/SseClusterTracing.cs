using System.Diagnostics;
using Orleans.Runtime;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Grains.Streams;

/// <summary>
/// The spans of a publish's way to the connections (source <c>SseCluster</c>): the stream grain's call to each gateway
/// (<c>sse.deliver</c>) and that gateway queuing the events to its connections (<c>sse.enqueue</c>). With Orleans'
/// activity propagation on, the HTTP request, the grain call and these share one trace. Spans are only made when a
/// tracer listens.
/// </summary>
public static class SseClusterTracing
{
    public const string SourceName = "SseCluster";

    public const string DeliverSpan = "sse.deliver";

    public const string EnqueueSpan = "sse.enqueue";

    // The keys Orleans' activity propagation writes into the RequestContext of an outgoing call.
    private const string TraceParentKey = "traceparent";
    private const string TraceStateKey = "tracestate";

    public static ActivitySource Source { get; } = new(SourceName);

    /// <summary>
    /// Starts the span of one delivery call: child of the first publish in the batch that had a trace, linked to the
    /// others (a call carries whatever queued up, possibly from several publishes).
    /// </summary>
    /// Nothing is formatted or allocated while nobody listens: this runs for every delivery call.
    internal static Activity? StartDelivery(StreamKey stream, SiloAddress gateway, List<(StoredEvent Tracker, LiveEvent Event)> batch, int events)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var traced = batch.Select(e => e.Tracker.Trace).Where(c => c != default).Distinct().ToList();
        var parent = traced.Count > 0 ? traced[0] : default;
        var links = traced.Skip(1).Select(c => new ActivityLink(c));

        // No traced publish: a root span, not a child of whatever happened to be current when the send loop began.
        Activity.Current = null;
        var activity = Source.StartActivity(DeliverSpan, ActivityKind.Client, parent, links: links);
        activity?.SetTag("sse.stream", stream.ToString());
        activity?.SetTag("sse.gateway", gateway.ToString());
        activity?.SetTag("sse.events", events);
        return activity;
    }

    /// <summary>
    /// Starts a gateway's span of queuing a delivery: under the current span when there is one (the co-hosted gateway,
    /// called directly, or an observer call Orleans opened a span for), else under the trace context the grain's call
    /// carried in its <see cref="RequestContext"/>.
    /// </summary>
    public static Activity? StartEnqueue(string gateway, string stream, int events)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var parent = Activity.Current?.Context ?? default;
        if (Activity.Current is null && RequestContext.Get(TraceParentKey) is string traceParent
            && ActivityContext.TryParse(traceParent, RequestContext.Get(TraceStateKey) as string, isRemote: true, out var carried))
        {
            parent = carried;
        }

        var activity = Source.StartActivity(EnqueueSpan, ActivityKind.Server, parent);
        activity?.SetTag("sse.gateway", gateway);
        activity?.SetTag("sse.stream", stream);
        activity?.SetTag("sse.events", events);
        return activity;
    }
}
