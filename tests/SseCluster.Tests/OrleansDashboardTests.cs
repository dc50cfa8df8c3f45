using System.Net;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>The Orleans Dashboard at <c>/orleans</c> answers admins only, with the API's admin check.</summary>
public sealed class OrleansDashboardTests
{
    [Fact]
    public async Task OrleansDashboard_Answers401Anonymous_403WithoutAdminRole_200ForAdminAndApiKey()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var anonymous = gateway.CreateClient();
        using var user = gateway.CreateClient(Tokens.For("dashboard-user"));
        using var admin = gateway.CreateClient(Tokens.Admin());
        using var service = gateway.CreateClient();
        service.DefaultRequestHeaders.Add("X-Api-Key", GatewayHost.ApiKey);

        // The dashboard's data comes from grains: the silo must have joined.
        await Eventually.TrueAsync(async () => (await anonymous.GetAsync("/readyz")).IsSuccessStatusCode, "/readyz answers 200");

        // The page and the data it loads are gated alike.
        foreach (var path in new[] { "/orleans/", "/orleans/DashboardCounters" })
        {
            using (var response = await anonymous.GetAsync(path))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }

            using (var response = await user.GetAsync(path))
            {
                Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }
        }

        Assert.Contains("<title>Orleans Dashboard</title>", await admin.GetStringAsync("/orleans/"));
        Assert.Contains("<title>Orleans Dashboard</title>", await service.GetStringAsync("/orleans/"));
        using (var counters = await admin.GetAsync("/orleans/DashboardCounters"))
        {
            Assert.Equal(HttpStatusCode.OK, counters.StatusCode);
            Assert.Equal("application/json", counters.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task OrleansDashboard_TurnedOff_IsNotServed()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Metrics:OrleansDashboard"] = "false" });
        using var admin = gateway.CreateClient(Tokens.Admin());

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/orleans/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task DashboardSession_GivesAnAdminsBrowserACookieForOrleansOnly_NonAdminsNone_AndAForgedOneAdmitsNothing()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var anonymous = gateway.CreateClient();
        using var user = gateway.CreateClient(Tokens.For("dashboard-user"));
        using var admin = gateway.CreateClient(Tokens.Admin());

        using (var refused = await user.PostAsync("/sse/orleans-session", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.False(refused.Headers.Contains("Set-Cookie"));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/sse/orleans-session", null)).StatusCode);

        using var granted = await admin.PostAsync("/sse/orleans-session", null);
        Assert.Equal(HttpStatusCode.OK, granted.StatusCode);
        using var body = System.Text.Json.JsonDocument.Parse(await granted.Content.ReadAsStringAsync());
        Assert.Equal("/orleans/", body.RootElement.GetProperty("url").GetString());
        var setCookie = Assert.Single(granted.Headers.GetValues("Set-Cookie"));
        Assert.Contains("path=/orleans", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = setCookie[..setCookie.IndexOf(';', StringComparison.Ordinal)];

        // A browser tab sends only the cookie: the dashboard's page and data answer; nothing else is admitted by it.
        foreach (var path in new[] { "/orleans/", "/orleans/DashboardCounters" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("Cookie", cookie);
            using var response = await anonymous.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        foreach (var path in new[] { "/sse/stats", "/sse/users/dashboard-user/connections" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("Cookie", cookie);
            using var response = await anonymous.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        // The cookie is signed: a value changed by one character admits nothing.
        var forged = cookie[..^2] + (cookie[^2] == 'A' ? 'B' : 'A') + cookie[^1];
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/orleans/"))
        {
            request.Headers.Add("Cookie", forged);
            using var response = await anonymous.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
    }
}
