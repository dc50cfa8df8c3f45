using System.Net.Http.Headers;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>A real redis-server and <c>n</c> gateway processes on it (<c>gw-1</c> … <c>gw-n</c>); disposing stops them all.</summary>
internal sealed class ProcessCluster : IAsyncDisposable
{
    private readonly List<GatewayProcess> _gateways;
    private readonly IDictionary<string, string>? _settings;

    private ProcessCluster(RedisServer redis, List<GatewayProcess> gateways, IDictionary<string, string>? settings)
    {
        Redis = redis;
        _gateways = gateways;
        _settings = settings;
    }

    public RedisServer Redis { get; }

    /// <summary>The gateways, in start order; a replaced one's successor takes its place.</summary>
    public IReadOnlyList<GatewayProcess> Gateways => _gateways;

    /// <summary>
    /// Starts a new process for <paramref name="old"/>'s gateway id on its port, with the cluster's settings, and
    /// waits until its <c>/readyz</c> answers 200; it then takes <paramref name="old"/>'s place (which is disposed).
    /// </summary>
    public async Task<GatewayProcess> ReplaceAsync(GatewayProcess old)
    {
        var at = _gateways.IndexOf(old);
        if (at < 0)
        {
            throw new ArgumentException($"gateway {old.GatewayId} (pid {old.Pid}) is not in this cluster", nameof(old));
        }

        var replacement = await GatewayProcess.StartAsync(old.GatewayId, Redis.ConnectionString, _settings, old.Port);
        _gateways[at] = replacement;
        await old.DisposeAsync();
        return replacement;
    }

    public static async Task<ProcessCluster> StartAsync(int gateways, IDictionary<string, string>? settings = null)
    {
        var redis = await RedisServer.StartNewAsync();
        var started = new List<GatewayProcess>();
        try
        {
            var starting = Enumerable.Range(1, gateways)
                .Select(i => GatewayProcess.StartAsync($"gw-{i}", redis.ConnectionString, settings))
                .ToList();
            try
            {
                await Task.WhenAll(starting);
            }
            finally
            {
                started.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }

            return new ProcessCluster(redis, started, settings);
        }
        catch
        {
            foreach (var gateway in started)
            {
                await gateway.DisposeAsync();
            }

            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary><c>GET /sse/stats</c> on one node, as an admin.</summary>
    public static async Task<JsonElement> StatsAsync(HttpClient http, GatewayProcess node)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(node.BaseAddress, "/sse/stats?top=0"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Admin());
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET /sse/stats on {node.GatewayId} answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The gateway ids a stats answer lists.</summary>
    public static IReadOnlyList<string> GatewayIdsIn(JsonElement stats) =>
        stats.GetProperty("gateways").EnumerateArray().Select(g => g.GetProperty("gatewayId").GetString()!).ToList();

    public async ValueTask DisposeAsync()
    {
        foreach (var gateway in Gateways)
        {
            await gateway.DisposeAsync();
        }

        await Redis.DisposeAsync();
    }
}
