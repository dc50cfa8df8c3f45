using System.Net;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>A gateway whose Redis is not up yet starts anyway, reports not ready, and joins once Redis answers.</summary>
public sealed class RedisStartupTests
{
    [Fact]
    public async Task GatewayStartedBeforeRedis_IsNotReady_ThenJoinsAndDelivers()
    {
        var redis = new RedisServer(); // a free port, not started yet
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Redis:Configuration"] = redis.ConnectionString,
            ["SseCluster:Redis:PresenceRefreshSeconds"] = "1",
        }, waitReady: false);
        using var anonymous = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await anonymous.GetAsync("/readyz")).StatusCode);
        using var publisher = gateway.CreateClient(Tokens.Publisher());
        using (var refused = await publisher.PostAsync("/sse/send", new StringContent("{\"userId\":\"u\",\"data\":1}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode); // not stored, so never 202
        }

        try
        {
            await redis.StartAsync();
            await Eventually.TrueAsync(async () => (await anonymous.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "the gateway to become ready after Redis started", TimeSpan.FromSeconds(20));

            using var client = gateway.CreateClient(Tokens.For("late-redis-user"));
            await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
            await stream.WaitForAsync("welcome");
            await publisher.SendAsync("late-redis-user", "{\"ok\":true}", "joined");
            Assert.Equal("{\"ok\":true}", (await stream.WaitForAsync("joined")).Data);
        }
        finally
        {
            await redis.DisposeAsync();
        }
    }
}
