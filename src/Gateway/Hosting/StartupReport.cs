using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Gateway.Routing;

namespace SseCluster.Gateway.Hosting;

/// <summary>
/// Once the server listens, one log line says how this gateway runs: environment, single node or cluster (and where),
/// how tokens are verified, whether dev tokens are served, whether <c>/metrics</c> is open, and the addresses it
/// listens on — so a start in the wrong mode is visible at a glance.
/// </summary>
internal sealed partial class StartupReport(
    IHostApplicationLifetime lifetime,
    IServer server,
    IHostEnvironment environment,
    GatewayIdentity identity,
    IOptions<AuthOptions> auth,
    IOptions<MetricsOptions> metrics,
    DevTokenPolicy devTokens,
    ILogger<StartupReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(Report);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>How tokens are verified, never the keys themselves.</summary>
    public static string DescribeAuth(AuthOptions auth, bool development)
    {
        var parts = new List<string>();
        if (auth.SigningKey is { Length: > 0 } key)
        {
            parts.Add(development && key == DevelopmentSigningKey.ReadExisting()
                ? $"HS256 with this machine's development key ({DevelopmentSigningKey.FilePath})"
                : "HS256 key (SseCluster:Auth:SigningKey)");
        }

        if (auth.PublicKeyPem is { Length: > 0 })
        {
            parts.Add("RS256/ES256 public key (SseCluster:Auth:PublicKeyPem)");
        }

        if (Auth.GatewayBearer.HasMetadata(auth))
        {
            parts.Add($"identity provider {(auth.MetadataAddress is { Length: > 0 } metadata ? metadata : auth.Authority)}");
        }

        var apiKeys = auth.ApiKeys.Count(k => k.Length > 0);
        parts.Add(apiKeys == 0 ? "no API keys" : $"{apiKeys} API key{(apiKeys == 1 ? "" : "s")}");
        if (auth.AllowAnonymous)
        {
            parts.Add("anonymous streams allowed");
        }

        return string.Join(", ", parts);
    }

    private void Report()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses is { Count: > 0 } listening
            ? string.Join(", ", listening)
            : "(unknown)";
        Log.Started(
            logger,
            identity.Name,
            environment.EnvironmentName,
            identity.Mode,
            DescribeAuth(auth.Value, environment.IsDevelopment()),
            devTokens.IsOn ? "on (POST /dev/token, loopback only)" : "off",
            metrics.Value.RequireAdmin ? "admin token or API key" : "open",
            addresses);
    }

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Information, "Gateway {Name} started in {Environment}: {Mode}; auth: {Auth}; dev tokens: {DevTokens}; /metrics: {Metrics}; listening on {Addresses}")]
        public static partial void Started(ILogger logger, string name, string environment, string mode, string auth, string devTokens, string metrics, string addresses);
    }
}
