using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SseCluster.Gateway.Hosting;

namespace SseCluster.TestSupport;

/// <summary>A real gateway: Kestrel on a free loopback port, wired exactly as Program.cs wires it.</summary>
public sealed class GatewayHost : IAsyncDisposable
{
    public const string SigningKey = "test-signing-key-0123456789-0123456789-abcdef";
    public const string ApiKey = "test-api-key-0123456789";

    private GatewayHost(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>
    /// Starts a gateway; <paramref name="settings"/> override the test defaults (<c>SseCluster:…</c> keys). The signing
    /// key is set explicitly, so a Production-configured node starts too; <paramref name="map"/> adds endpoints of the
    /// test's own after the gateway's. Unless <paramref name="waitReady"/> is false it returns once <c>/readyz</c> answers 200.
    /// </summary>
    public static async Task<GatewayHost> StartAsync(
        IDictionary<string, string?>? settings = null,
        string environment = "Development",
        Action<WebApplicationBuilder>? configure = null,
        Action<WebApplication>? map = null,
        bool waitReady = true)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = environment, Args = [] });
        var defaults = new Dictionary<string, string?>
        {
            ["SseCluster:Auth:SigningKey"] = SigningKey,
            ["SseCluster:Auth:ApiKeys:0"] = ApiKey,
            ["SseCluster:Auth:ClockSkewSeconds"] = "0",
            ["SseCluster:Shutdown:DrainSeconds"] = "1",
            ["SseCluster:Stream:RetryMilliseconds"] = "500",

            // Each host's silo on a port of its own, on loopback; no port for external Orleans clients.
            ["SseCluster:Orleans:SiloPort"] = FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SseCluster:Orleans:GatewayPort"] = "0",
            ["SseCluster:Orleans:AdvertisedAddress"] = "127.0.0.1",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            defaults[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(defaults);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        configure?.Invoke(builder);
        builder.Services.AddSseClusterGateway(builder.Configuration);
        var app = builder.Build();
        app.UseCors();
        app.MapSseClusterGateway();
        map?.Invoke(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var host = new GatewayHost(app, new Uri(address));
        if (waitReady)
        {
            // Publishes and admin calls answer 503 until the silo has joined; tests are about what comes after that.
            await Readiness.WaitAsync(host.BaseAddress, TimeSpan.FromSeconds(60), "the gateway");
        }

        return host;
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = BaseAddress,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await App.StopAsync(stop.Token);
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}
