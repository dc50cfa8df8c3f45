using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using SseCluster.Grains.Streams;

namespace SseCluster.Gateway.Observability;

/// <summary>
/// The gateway's telemetry through OpenTelemetry: metrics of this host's <c>SseCluster.Gateway</c> meter, Orleans'
/// <c>Microsoft.Orleans</c> meter, ASP.NET Core and the .NET runtime, scraped at <c>/metrics</c> in the Prometheus
/// format; traces of publish → stream grain → each gateway's enqueue. With the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// set, metrics and traces are also pushed over OTLP (the exporter reads the other <c>OTEL_*</c> variables itself).
/// </summary>
internal static class Telemetry
{
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>Orleans' spans of application grain calls (its runtime's own calls are left out).</summary>
    public const string OrleansApplicationSource = "Microsoft.Orleans.Application";

    /// <summary>
    /// What <c>/metrics</c> and OTLP carry: this gateway's meter, Orleans', ASP.NET Core's (HTTP server, Kestrel,
    /// routing, memory pool) and the .NET runtime's (GC, JIT, thread pool, exceptions; <c>System.Runtime</c>).
    /// </summary>
    public static readonly string[] Meters =
    [
        GatewayMetrics.MeterName,
        OrleansMeter,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.MemoryPool",
        "System.Runtime",
    ];

    public const string ServiceName = "sse-cluster-gateway";

    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IServiceCollection AddSseClusterTelemetry(this IServiceCollection services, IConfiguration configuration, string nodeName)
    {
        var otlp = configuration[OtlpEndpointKey] is { Length: > 0 };
        var telemetry = services.AddOpenTelemetry()
            // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read after these defaults, win over them.
            .ConfigureResource(resource => resource.AddService(ServiceName, serviceInstanceId: nodeName).AddEnvironmentVariableDetector())
            .WithMetrics(metrics =>
            {
                // No preset meters here: the SDK's own listener, which AddMeter would start, sees the meters of every
                // host in the process. The meters come from the rules below instead, through the host's metrics
                // listener, which only sees meters made by this host's IMeterFactory (and global ones such as the
                // runtime's): hosts sharing a process do not count each other's events.
                // No response cache: a scrape right after an event shows it (Prometheus scrapes every few seconds).
                metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        services.AddMetrics(rules =>
        {
            foreach (var meter in Meters)
            {
                rules.EnableMetrics(meter);
            }
        });

        // What a trace holds, whoever exports it: this gateway's spans, Orleans' grain-call spans and the HTTP requests.
        // The tracer provider itself is only built when something exports (OTLP here, or a host app's own WithTracing),
        // so a gateway without a trace backend does not create spans for every request.
        services.ConfigureOpenTelemetryTracerProvider(tracing => tracing
            .AddSource(SseClusterTracing.SourceName, OrleansApplicationSource)
            .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/metrics")));
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing.AddOtlpExporter());
        }

        return services;
    }
}
