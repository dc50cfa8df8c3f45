using System.Net;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// Single-use tickets for <c>EventSource</c> URLs, and the session cookie that lets a browser's automatic reconnect
/// (same URL, spent ticket, <c>Last-Event-ID</c>) back in.
/// </summary>
public sealed class TicketTests(TicketTests.Fixture fixture) : IClassFixture<TicketTests.Fixture>, IDisposable
{
    private readonly GatewayHost _gateway = fixture.Gateway;
    private readonly HttpClient _publisher = fixture.Gateway.CreateClient(Tokens.Publisher("ticket-publisher"));

    public void Dispose() => _publisher.Dispose();

    [Fact]
    public async Task IssueTicket_WithBearer_Answers201WithTicketAndExpiry()
    {
        var before = DateTimeOffset.UtcNow;
        using var client = _gateway.CreateClient(Tokens.For("ticket-holder"));
        using var response = await client.PostAsync("/sse/tickets", null);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"answered {(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement;
        var ticket = json.GetProperty("ticket").GetString();
        Assert.False(string.IsNullOrEmpty(ticket));
        Assert.Equal(ticket, Uri.EscapeDataString(ticket!)); // URL-safe as is
        var expiresAt = json.GetProperty("expiresAt").GetDateTimeOffset();
        Assert.InRange(expiresAt, before.AddSeconds(25), DateTimeOffset.UtcNow.AddSeconds(35));
    }

    [Fact]
    public async Task Ticket_ConnectsOnce_SecondUseAnswers401()
    {
        var ticket = await IssueTicketAsync(_gateway, Tokens.For("one-shot", topics: ["news"]));
        using var browser = _gateway.CreateClient(); // no bearer: an EventSource
        await using (var stream = await SseStream.OpenAsync(browser, "/sse/connect?topics=news&ticket=" + ticket))
        {
            var welcome = (await stream.WaitForAsync("welcome")).Json;
            Assert.Equal("one-shot", welcome.GetProperty("userId").GetString());
            Assert.Equal(["news"], welcome.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!).ToArray());
        }

        var (again, none) = await SseStream.TryOpenAsync(browser, "/sse/connect?topics=news&ticket=" + ticket);
        using (again)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(again, HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task Ticket_CarriesTheTokensTopicGrant()
    {
        var ticket = await IssueTicketAsync(_gateway, Tokens.For("narrow", topics: ["news"]));
        using var browser = _gateway.CreateClient();
        var (response, none) = await SseStream.TryOpenAsync(browser, "/sse/connect?topics=secret&ticket=" + ticket);
        using (response)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        }
    }

    [Fact]
    public async Task ExpiredTicket_Answers401()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Auth:TicketSeconds"] = "1" });
        var ticket = await IssueTicketAsync(gateway, Tokens.For("too-slow"));
        await Task.Delay(TimeSpan.FromMilliseconds(1500)); // the ticket's lifetime is wall-clock time
        using var browser = gateway.CreateClient();
        var (response, none) = await SseStream.TryOpenAsync(browser, "/sse/connect?ticket=" + ticket);
        using (response)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task Ticket_OfATokenThatHasSinceExpired_Answers401()
    {
        var ticket = await IssueTicketAsync(_gateway, Tokens.For("lapsed", lifetime: TimeSpan.FromSeconds(2)));
        await Task.Delay(TimeSpan.FromMilliseconds(2100)); // the token (not the 30 s ticket) is now expired
        using var browser = _gateway.CreateClient();
        var (response, stream) = await SseStream.TryOpenAsync(browser, "/sse/connect?ticket=" + ticket);
        using (response)
        {
            await using (stream)
            {
                Assert.True(stream is null, "a ticket carrying expired credentials opened a stream");
            }

            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task UnknownTicket_Answers401()
    {
        using var browser = _gateway.CreateClient();
        var (response, _) = await SseStream.TryOpenAsync(browser, "/sse/connect?ticket=made-up-ticket");
        using (response)
        {
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not.a.jwt")]
    [InlineData("alg-none")]
    [InlineData("expired")]
    public async Task IssueTicket_WithoutValidBearer_Answers401(string? bearer)
    {
        var token = bearer switch
        {
            "alg-none" => Tokens.Unsigned("sneaky"),
            "expired" => Tokens.For("late", lifetime: TimeSpan.FromMinutes(-1)),
            _ => bearer,
        };
        using var client = _gateway.CreateClient(token);
        using var response = await client.PostAsync("/sse/tickets", null);
        await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task IssueTicket_WithApiKeyOnly_Answers401()
    {
        using var service = _gateway.CreateClient();
        service.DefaultRequestHeaders.Add("X-Api-Key", GatewayHost.ApiKey);
        using var response = await service.PostAsync("/sse/tickets", null);
        await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task SessionCookie_LetsTheBrowsersReconnectWithASpentTicketResume_ExactlyTheMissedEvents()
    {
        const string user = "cookie-user";
        var ticket = await IssueTicketAsync(_gateway, Tokens.For(user));
        var url = "/sse/connect?clientId=tab&ticket=" + ticket;

        string cookie;
        string lastId;
        using (var browser = _gateway.CreateClient())
        {
            await using var stream = await SseStream.OpenAsync(browser, url);
            Assert.True(stream.Response.Headers.TryGetValues("Set-Cookie", out var setCookies), "no Set-Cookie on the stream response");
            var session = Assert.Single(setCookies!, c => c.StartsWith("sse_session=", StringComparison.Ordinal));
            var attributes = session.Split(';', StringSplitOptions.TrimEntries);
            Assert.Contains(attributes, a => a.Equals("httponly", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(attributes, a => a.Equals("path=/sse/connect", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(attributes, a => a.Equals("samesite=strict", StringComparison.OrdinalIgnoreCase));
            Assert.Contains(attributes, a => a.StartsWith("expires=", StringComparison.OrdinalIgnoreCase));
            cookie = attributes[0];
            Assert.True(cookie.Length > "sse_session=".Length);

            await stream.WaitForAsync("welcome");
            await _publisher.SendAsync(user, "{\"n\":1}", "item");
            Assert.Equal("{\"n\":1}", (await stream.WaitForAsync("item")).Data);
            lastId = stream.LastEventId!;
        }

        await _publisher.SendAsync(user, "{\"n\":2}", "item");
        await _publisher.SendAsync(user, "{\"n\":3}", "item");

        // What EventSource does by itself: the same URL (spent ticket), the cookie, Last-Event-ID.
        using var reconnecting = _gateway.CreateClient();
        reconnecting.DefaultRequestHeaders.Add("Cookie", cookie);
        await using var resumed = await SseStream.OpenAsync(reconnecting, url, lastEventId: lastId);
        var welcome = (await resumed.WaitForAsync("welcome")).Json;
        Assert.Equal(user, welcome.GetProperty("userId").GetString());
        var missed = await resumed.CollectAsync("item", 2);
        Assert.Equal(["{\"n\":2}", "{\"n\":3}"], missed.Select(e => e.Data).ToArray());

        await _publisher.SendAsync(user, "{\"n\":4}", "item");
        Assert.Equal("{\"n\":4}", (await resumed.WaitForAsync("item")).Data);
        lock (resumed.Received)
        {
            Assert.Equal(3, resumed.Received.Count(e => e.EventType == "item"));
            Assert.DoesNotContain(resumed.Received, e => e.EventType == "reset");
        }
    }

    [Fact]
    public async Task SpentTicket_WithATamperedCookie_Answers401()
    {
        var ticket = await IssueTicketAsync(_gateway, Tokens.For("tamper-user"));
        var url = "/sse/connect?ticket=" + ticket;
        string cookie;
        using (var browser = _gateway.CreateClient())
        {
            await using var stream = await SseStream.OpenAsync(browser, url);
            cookie = stream.Response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("sse_session=", StringComparison.Ordinal)).Split(';')[0];
        }

        // Flip one character of the signed grant.
        var at = "sse_session=".Length + 3;
        var tampered = cookie[..at] + (cookie[at] == 'A' ? 'B' : 'A') + cookie[(at + 1)..];
        using var reconnecting = _gateway.CreateClient();
        reconnecting.DefaultRequestHeaders.Add("Cookie", tampered);
        var (response, none) = await SseStream.TryOpenAsync(reconnecting, url);
        using (response)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        }
    }

    /// <summary>One gateway for the class, default settings (30 s tickets).</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public GatewayHost Gateway { get; private set; } = null!;

        public async Task InitializeAsync() => Gateway = await GatewayHost.StartAsync();

        public async Task DisposeAsync() => await Gateway.DisposeAsync();
    }

    private static async Task<string> IssueTicketAsync(GatewayHost gateway, string bearer)
    {
        using var client = gateway.CreateClient(bearer);
        var json = await client.PostJsonAsync("/sse/tickets", "", HttpStatusCode.Created);
        return json.GetProperty("ticket").GetString()!;
    }
}
