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
}
