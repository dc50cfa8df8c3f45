using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary><c>/metrics</c> in the Prometheus text format counts what happened on this node.</summary>
public sealed class MetricsTests
{
    private const string PromtoolPath = "/usr/bin/promtool";

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
        Assert.True(Value(text, "sse_write_latency_seconds_bucket", "le=\"+Inf\"") >= 1);
        Assert.True(Value(text, "process_resident_memory_bytes") > 1_000_000);
        Assert.True(Value(text, "dotnet_gc_heap_size_bytes") > 0);

        // Orleans' own meters, from the co-hosted silo: the publishes above were grain calls on activated grains.
        Assert.Contains("# TYPE orleans_app_requests_latency_milliseconds histogram", text);
        Assert.Contains("# TYPE orleans_catalog_activations gauge", text);
        Assert.True(Value(text, "orleans_catalog_activations", "grain_type=\"stream\"") >= 1);

        // ASP.NET Core's and the runtime's meters.
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text);
        Assert.Contains("# TYPE dotnet_gc_collections_total counter", text);
    }

    [Fact]
    public async Task Metrics_ParseWithPromtool_AndHoldSseClusterOrleansAspNetCoreAndRuntimeFamilies()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var publisher = gateway.CreateClient(Tokens.Publisher());
        using var client = gateway.CreateClient(Tokens.For("promtool-user"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");
        await publisher.SendAsync("promtool-user", "1", "m");
        await stream.WaitForAsync("m");
        using var anonymous = gateway.CreateClient();
        var text = await anonymous.GetStringAsync("/metrics");

        var (exitCode, output) = await PromtoolAsync(text);

        // Exit 1 is a parse error; 3 means it parsed but lint rules (help texts, base units) complained. Orleans' and the
        // runtime's instruments come as their libraries name them; ours must pass the lint rules too.
        Assert.True(exitCode is 0 or 3, $"promtool exit {exitCode}:\n{output}");
        Assert.DoesNotContain("error", output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(output.Split('\n'), line => line.StartsWith("sse_", StringComparison.Ordinal));
        foreach (var family in new[] { "sse_connections", "sse_events_published_total", "sse_events_delivered_total", "sse_write_latency_seconds", "orleans_catalog_activations", "orleans_app_requests_latency_milliseconds", "http_server_request_duration_seconds" })
        {
            Assert.Matches($"(?m)^# TYPE {family} ", text);
        }

        Assert.Equal(1, Value(text, "sse_connections"));
        Assert.Equal(1, Value(text, "sse_events_published_total"));
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

    /// <summary>The sum of the samples of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    internal static double Value(string text, string name, params string[] labels)
    {
        var matches = Regex.Matches(text, $"^{Regex.Escape(name)}(?:\\{{(?<labels>[^}}]*)\\}})? (?<value>\\S+)", RegexOptions.Multiline)
            .Where(m => labels.All(label => m.Groups["labels"].Value.Split(',').Contains(label)))
            .ToList();
        Assert.True(matches.Count > 0, $"{name} {string.Join(',', labels)} not found in /metrics:\n{text}");
        return matches.Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>Debian's <c>promtool check metrics</c> (package <c>prometheus</c>) reads an exposition on stdin.</summary>
    private static async Task<(int ExitCode, string Output)> PromtoolAsync(string exposition)
    {
        Assert.True(File.Exists(PromtoolPath), $"{PromtoolPath} is missing: apt-get install -y prometheus");
        using var process = Process.Start(new ProcessStartInfo(PromtoolPath, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(exposition);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
