using System.Net;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Stats, connection listings and disconnects.</summary>
public sealed class AdminTests : IAsyncLifetime
{
    private GatewayHost _gateway = null!;
    private HttpClient _admin = null!;

    public async Task InitializeAsync()
    {
        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Limits:ReconnectBlockSeconds"] = "30" });
        _admin = _gateway.CreateClient(Tokens.Admin());
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task StatsAndListing_DescribeTheOpenConnections()
    {
        using var carol = _gateway.CreateClient(Tokens.For("carol"));
        carol.DefaultRequestHeaders.UserAgent.ParseAdd("TestAgent/1.0");
        using var dave = _gateway.CreateClient(Tokens.For("dave"));
        await using var c1 = await SseStream.OpenAsync(carol, "/sse/connect?clientId=phone&topics=x1,x2");
        await using var c2 = await SseStream.OpenAsync(carol, "/sse/connect?clientId=laptop");
        await using var d1 = await SseStream.OpenAsync(dave, "/sse/connect");
        await Task.WhenAll(c1.WaitForAsync("welcome"), c2.WaitForAsync("welcome"), d1.WaitForAsync("welcome"));

        var stats = await _admin.GetJsonAsync("/sse/stats?top=1");
        Assert.Equal(3, stats.GetProperty("connections").GetInt32());
        Assert.Equal(2, stats.GetProperty("users").GetInt32());
        Assert.Equal(2, stats.GetProperty("topics").GetInt32());
        var gateway = Assert.Single(stats.GetProperty("gateways").EnumerateArray());
        Assert.Equal(3, gateway.GetProperty("connections").GetInt32());
        var top = Assert.Single(stats.GetProperty("topUsers").EnumerateArray());
        Assert.Equal("carol", top.GetProperty("userId").GetString());
        Assert.Equal(2, top.GetProperty("connections").GetInt32());

        var list = await _admin.GetJsonAsync("/sse/users/carol/connections");
        Assert.Equal(2, list.GetArrayLength());
        var phone = list.EnumerateArray().Single(c => c.GetProperty("clientId").GetString() == "phone");
        Assert.Equal(["x1", "x2"], phone.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!));
        Assert.Equal("127.0.0.1", phone.GetProperty("remoteAddress").GetString());
        Assert.Equal("TestAgent/1.0", phone.GetProperty("userAgent").GetString());
        Assert.Equal(gateway.GetProperty("gatewayId").GetString(), phone.GetProperty("gatewayId").GetString());
        Assert.True(phone.TryGetProperty("connectedAt", out _));

        // Connections leave the listing when they close.
        await c1.DisposeAsync();
        await Eventually.TrueAsync(async () => (await _admin.GetJsonAsync("/sse/users/carol/connections")).GetArrayLength() == 1, "carol's closed connection to leave the listing");
    }

    [Fact]
    public async Task DisconnectUser_WithReconnect_ClosesEveryConnectionWithReason_AndAllowsReconnect()
    {
        using var erin = _gateway.CreateClient(Tokens.For("erin"));
        await using var s1 = await SseStream.OpenAsync(erin, "/sse/connect");
        await using var s2 = await SseStream.OpenAsync(erin, "/sse/connect");
        await Task.WhenAll(s1.WaitForAsync("welcome"), s2.WaitForAsync("welcome"));

        var result = await _admin.PostJsonAsync("/sse/users/erin/disconnect", "{\"reason\":\"maintenance\"}", HttpStatusCode.OK);
        Assert.Equal(2, result.GetProperty("connections").GetInt32());
        foreach (var s in new[] { s1, s2 })
        {
            var close = (await s.WaitForAsync("close")).Json;
            Assert.Equal("maintenance", close.GetProperty("reason").GetString());
            Assert.True(close.GetProperty("reconnect").GetBoolean());
            await s.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        }

        await using var again = await SseStream.OpenAsync(erin, "/sse/connect");
        await again.WaitForAsync("welcome");
    }

    [Fact]
    public async Task DisconnectUser_WithoutReconnect_AnswersReconnects204_OtherUsersUnaffected()
    {
        using var frank = _gateway.CreateClient(Tokens.For("frank"));
        using var grace = _gateway.CreateClient(Tokens.For("grace"));
        await using var s = await SseStream.OpenAsync(frank, "/sse/connect");
        await s.WaitForAsync("welcome");

        await _admin.PostJsonAsync("/sse/users/frank/disconnect", "{\"reason\":\"logged in elsewhere\",\"reconnect\":false}", HttpStatusCode.OK);
        var close = (await s.WaitForAsync("close")).Json;
        Assert.Equal("logged in elsewhere", close.GetProperty("reason").GetString());
        Assert.False(close.GetProperty("reconnect").GetBoolean());

        var (response, stream) = await SseStream.TryOpenAsync(frank, "/sse/connect");
        Assert.Null(stream);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);

        await using var other = await SseStream.OpenAsync(grace, "/sse/connect");
        await other.WaitForAsync("welcome");
    }

    [Fact]
    public async Task DeleteConnection_ClosesThatConnectionOnly()
    {
        using var heidi = _gateway.CreateClient(Tokens.For("heidi"));
        await using var keep = await SseStream.OpenAsync(heidi, "/sse/connect");
        await using var drop = await SseStream.OpenAsync(heidi, "/sse/connect");
        await keep.WaitForAsync("welcome");
        var id = (await drop.WaitForAsync("welcome")).Json.GetProperty("connectionId").GetString();

        using var response = await _admin.DeleteAsync($"/sse/connections/{id}");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await drop.WaitForAsync("close");
        await drop.Ended.WaitAsync(TimeSpan.FromSeconds(5));

        using var publisher = _gateway.CreateClient(Tokens.Publisher());
        await publisher.SendAsync("heidi", "1", "still-here");
        await keep.WaitForAsync("still-here");
    }
}
