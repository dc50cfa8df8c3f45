using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Credentials in stream URLs never reach the logs, whatever the log levels.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task AccessTokenAndTicketInUrl_AreNeverLogged_EvenAtTrace()
    {
        var lines = new ConcurrentQueue<string>();
        await using var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["SseCluster:Auth:AllowAccessTokenQuery"] = "true",
                ["Logging:LogLevel:Default"] = "Trace",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            },
            configure: builder =>
            {
                builder.Logging.AddProvider(new TestLoggerProvider((category, _, message, _) => lines.Enqueue($"{category}: {message}")));
                builder.Logging.SetMinimumLevel(LogLevel.Trace);
                builder.Logging.AddFilter(null, LogLevel.Trace);
            });
        var token = Tokens.For("log-user");
        using var client = gateway.CreateClient();
        await using (var stream = await SseStream.OpenAsync(client, "/sse/connect?access_token=" + token))
        {
            await stream.WaitForAsync("welcome");
        }

        using var bearer = gateway.CreateClient(token);
        var ticket = (await bearer.PostJsonAsync("/sse/tickets", "{}", System.Net.HttpStatusCode.Created)).GetProperty("ticket").GetString()!;
        await using (var stream = await SseStream.OpenAsync(client, "/sse/connect?ticket=" + ticket))
        {
            await stream.WaitForAsync("welcome");
        }

        // The provider saw ASP.NET Core's own request logging at Trace, so a leak would show.
        Assert.Contains(lines, l => l.StartsWith("Microsoft.AspNetCore.Routing", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(token, StringComparison.Ordinal) || l.Contains(token[..40], StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(ticket, StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartupLog_StatesEnvironmentModeAuthDevTokensMetricsAndAddresses()
    {
        var lines = new ConcurrentQueue<string>();
        await using var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, string?> { ["SseCluster:Metrics:RequireAdmin"] = "true" },
            configure: builder =>
            {
                builder.Logging.AddProvider(new TestLoggerProvider((category, _, message, _) => lines.Enqueue($"{category}: {message}")));
                builder.Logging.AddFilter("SseCluster", LogLevel.Information);
            });

        var started = Assert.Single(lines, l => l.StartsWith("SseCluster.Gateway.Hosting.StartupReport", StringComparison.Ordinal));
        Assert.Contains("started in Development", started);
        Assert.Contains("single node, in-memory stores", started);
        Assert.Contains("auth: HS256 key (SseCluster:Auth:SigningKey), 1 API key", started);
        Assert.Contains("dev tokens: on (POST /dev/token, loopback only)", started);
        Assert.Contains("/metrics: admin token or API key", started);
        Assert.Contains("listening on " + gateway.BaseAddress.GetLeftPart(UriPartial.Authority), started);
        Assert.DoesNotContain(GatewayHost.SigningKey, started);
        Assert.DoesNotContain(GatewayHost.ApiKey, started);
    }
}
