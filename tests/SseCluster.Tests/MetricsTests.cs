using System.Globalization;
using System.Text.RegularExpressions;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary><c>/metrics</c> in the Prometheus text format counts what happened on this node.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_CountConnectionsPublishesDeliveriesAndLatency_InPrometheusFormat()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var publisher = gateway.CreateClient(Tokens.Publisher());
        using var client = gateway.CreateClient(Tokens.For("metrics-user"));
        await using var a = await SseStream.OpenAsync(client, "/sse/connect");
        await using var b = await SseStream.OpenAsync(client, "/sse/connect");
        await Task.WhenAll(a.WaitForAsync("welcome"), b.WaitForAsync("welcome"));
        for (var i = 0; i < 3; i++)
        {
            await publisher.SendAsync("metrics-user", $"{i}", "m");
        }

        await a.CollectAsync("m", 3);
        await b.CollectAsync("m", 3);
        using var anonymous = gateway.CreateClient();
        var text = await anonymous.GetStringAsync("/metrics");

        Assert.Equal(2, Value(text, "sse_connections"));
        Assert.Equal(3, Value(text, "sse_events_published_total"));
        Assert.Equal(6, Value(text, "sse_events_delivered_total"));
        Assert.Contains("# TYPE sse_write_latency_seconds histogram", text);
        Assert.True(Value(text, "sse_write_latency_seconds_count") >= 1);
        Assert.Contains("sse_write_latency_seconds_bucket{le=\"+Inf\"}", text);
        Assert.True(Value(text, "process_resident_memory_bytes") > 1_000_000);
        Assert.True(Value(text, "dotnet_gc_heap_size_bytes") > 0);

        // Orleans' own meters, from the co-hosted silo: the publishes above were grain calls on activated grains.
        Assert.Contains("# TYPE orleans_app_requests_latency histogram", text);
        Assert.Contains("# TYPE orleans_catalog_activations gauge", text);
        Assert.True(Value(text, "orleans_catalog_activations{grain_type=\"stream\"}") >= 1);

        // Every sample line is a valid Prometheus sample: name, optional labels, a number.
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
        {
            Assert.Matches("^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\"(,[a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\")*\\})? [-+0-9.eE]+|NaN$", line);
        }
    }

    [Fact]
    public async Task Metrics_WithRequireAdmin_Answer401Anonymous_403WithoutAdminRole_200ForAdminAndApiKey_HealthStaysOpen()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Metrics:RequireAdmin"] = "true" });
        using var anonymous = gateway.CreateClient();
        using var user = gateway.CreateClient(Tokens.For("metrics-user"));
        using var admin = gateway.CreateClient(Tokens.Admin());
        using var service = gateway.CreateClient();
        service.DefaultRequestHeaders.Add("X-Api-Key", GatewayHost.ApiKey);

        using (var response = await anonymous.GetAsync("/metrics"))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        using (var response = await user.GetAsync("/metrics"))
        {
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.Contains("# TYPE sse_connections gauge", await admin.GetStringAsync("/metrics"));
        Assert.Contains("# TYPE sse_connections gauge", await service.GetStringAsync("/metrics"));

        // Probes never need credentials.
        Assert.Equal("ok\n", await anonymous.GetStringAsync("/healthz"));
        await Eventually.TrueAsync(async () => (await anonymous.GetAsync("/readyz")).IsSuccessStatusCode, "/readyz answers 200 without credentials");
    }

    private static double Value(string text, string name)
    {
        var match = Regex.Match(text, $"^{Regex.Escape(name)} (\\S+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"{name} not found in /metrics:\n{text}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
