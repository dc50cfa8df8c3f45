using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using SseCluster.Grains.Streams;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>One publish is one trace: the HTTP request, the stream grain's call, and each gateway's enqueue.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task Publish_OnTwoGatewayCluster_YieldsOneTrace_FromHttpRequestThroughGrainToEachGatewaysEnqueue()
    {
        await using var redis = await RedisServer.StartNewAsync();
        var prefix = "t" + Guid.NewGuid().ToString("N")[..10];
        var user = "traced-" + Guid.NewGuid().ToString("N")[..8];
        var spansA = new SpanLog();
        var spansB = new SpanLog();
        await using var a = await StartNodeAsync(redis, prefix, "a", spansA);
        await using var b = await StartNodeAsync(redis, prefix, "b", spansB);

        // The user is on both gateways: whichever silo hosts the stream grain, one gateway is called directly (co-hosted)
        // and the other through its observer reference.
        using var clientA = a.CreateClient(Tokens.For(user));
        using var clientB = b.CreateClient(Tokens.For(user));
        await using var streamA = await SseStream.OpenAsync(clientA, "/sse/connect");
        await using var streamB = await SseStream.OpenAsync(clientB, "/sse/connect");
        await Task.WhenAll(streamA.WaitForAsync("welcome"), streamB.WaitForAsync("welcome"));
        using var publisher = a.CreateClient(Tokens.Publisher());
        await publisher.SendAsync(user, "1", "traced");
        await Task.WhenAll(streamA.WaitForAsync("traced"), streamB.WaitForAsync("traced"));

        // Every host's tracer sees every span of this process: merge both exports, once per span.
        List<Activity> Spans() => spansA.Snapshot().Concat(spansB.Snapshot()).DistinctBy(s => s.SpanId).ToList();

        // Tracers listen process-wide, so other tests' requests are exported too: the trace is the one whose enqueue
        // spans name this test's stream.
        Activity? request = null;
        List<Activity> trace = [];
        await Eventually.TrueAsync(
            () =>
            {
                var spans = Spans();
                var enqueue = spans.FirstOrDefault(s => s.OperationName == SseClusterTracing.EnqueueSpan && s.GetTagItem("sse.stream") as string == $"u:{user}");
                trace = enqueue is null ? [] : spans.Where(s => s.TraceId == enqueue.TraceId).ToList();
                request = trace.FirstOrDefault(s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore"
                    && s.GetTagItem("url.path") as string == "/sse/send");
                return request is not null && trace.Count(s => s.OperationName == SseClusterTracing.EnqueueSpan) >= 2;
            },
            "the publish's request span and the enqueue spans of both gateways in one trace");

        Assert.NotNull(request);
        var grainCall = Assert.Single(trace, s => s.Source.Name == "Microsoft.Orleans.Application" && s.Kind == ActivityKind.Server && s.DisplayName.Contains("Publish", StringComparison.Ordinal));
        var deliveries = trace.Where(s => s.OperationName == SseClusterTracing.DeliverSpan).ToList();
        var enqueues = trace.Where(s => s.OperationName == SseClusterTracing.EnqueueSpan).ToList();

        // One delivery call per gateway, each a child of the grain call; each gateway's enqueue under its delivery (through
        // Orleans' span of the observer call when it went to another silo).
        Assert.Equal(2, deliveries.Count);
        Assert.All(deliveries, d => Assert.Equal(grainCall.SpanId, d.ParentSpanId));
        Assert.Equal(2, deliveries.Select(d => d.GetTagItem("sse.gateway")).Distinct().Count());
        Assert.Equal(
            new[] { $"{prefix}-a", $"{prefix}-b" },
            enqueues.Select(e => (string)e.GetTagItem("sse.gateway")!).Order(StringComparer.Ordinal));
        Assert.All(enqueues, e => Assert.Contains(Ancestors(e, trace), d => d.OperationName == SseClusterTracing.DeliverSpan));
        Assert.Equal(2, enqueues.Select(e => Ancestors(e, trace).First(d => d.OperationName == SseClusterTracing.DeliverSpan).SpanId).Distinct().Count());
        Assert.All(trace.Where(s => s != request), s => Assert.Contains(request, Ancestors(s, trace)));
        Assert.All(enqueues, e => Assert.Equal($"u:{user}", e.GetTagItem("sse.stream")));
    }

    private static IEnumerable<Activity> Ancestors(Activity span, List<Activity> trace)
    {
        for (var parent = trace.Find(s => s.SpanId == span.ParentSpanId); parent is not null; parent = trace.Find(s => s.SpanId == parent.ParentSpanId))
        {
            yield return parent;
        }
    }

    private static async Task<GatewayHost> StartNodeAsync(RedisServer redis, string prefix, string node, SpanLog spans)
    {
        var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["SseCluster:Redis:Configuration"] = redis.ConnectionString,
                ["SseCluster:Redis:Prefix"] = prefix,
                ["SseCluster:Orleans:ClusterId"] = prefix,
                ["SseCluster:GatewayId"] = $"{prefix}-{node}",
            },
            configure: builder => builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddInMemoryExporter(spans)));
        using var anonymous = gateway.CreateClient();
        await Eventually.TrueAsync(async () => (await anonymous.GetAsync("/readyz")).IsSuccessStatusCode, $"gateway {node} to join the cluster", TimeSpan.FromSeconds(30));
        return gateway;
    }

    /// <summary>The in-memory exporter's collection, safe to read while spans of other threads are added.</summary>
    private sealed class SpanLog : System.Collections.ObjectModel.Collection<Activity>
    {
        private readonly Lock _lock = new();

        public Activity[] Snapshot()
        {
            lock (_lock)
            {
                return [.. Items];
            }
        }

        protected override void InsertItem(int index, Activity item)
        {
            lock (_lock)
            {
                base.InsertItem(index, item);
            }
        }
    }
}
