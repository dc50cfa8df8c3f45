using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using SseCluster.Gateway.Api;
using SseCluster.Gateway.Routing;
using SseCluster.Gateway.Streaming;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Observability;

/// <summary>
/// <c>/healthz</c> (the process serves), <c>/readyz</c> (send traffic here) and <c>/metrics</c>. The first two are always
/// open (load balancers and orchestrators probe them without credentials); <c>/metrics</c> needs an admin token or an API
/// key when <c>SseCluster:Metrics:RequireAdmin</c> is on.
/// </summary>
internal static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", () => Results.Text("ok\n"));
        endpoints.MapGet("/readyz", (ConnectionAdmission admission, IStreamHistory history, LocalGateway gateway) =>
        {
            var reason = admission.IsDraining ? "draining"
                : admission.IsFull ? "at connection capacity"
                : !gateway.IsJoined ? "not yet joined the cluster"
                : !history.IsAvailable ? "the stream store is unavailable"
                : null;
            return reason is null
                ? Results.Text("ready\n")
                : Problems.Status(StatusCodes.Status503ServiceUnavailable, $"not ready: {reason}", "Not ready");
        });
        // OpenTelemetry's Prometheus exporter (see Telemetry); it answers the text format, or OpenMetrics when asked for.
        var metrics = endpoints.MapPrometheusScrapingEndpoint("/metrics");
        if (endpoints.ServiceProvider.GetRequiredService<IOptions<MetricsOptions>>().Value.RequireAdmin)
        {
            metrics.RequireAdminCaller();
        }

        return endpoints;
    }
}
