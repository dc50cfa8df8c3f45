using System.Net;
using System.Text;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Who may stream, publish and administer: tokens, roles, API keys, topic grants and token expiry.</summary>
public sealed class AuthTests(AuthTests.Fixture fixture) : IClassFixture<AuthTests.Fixture>, IDisposable
{
    private const string OtherKey = "another-signing-key-0123456789-0123456789-xyz";

    private readonly GatewayHost _gateway = fixture.Gateway;
    private readonly HttpClient _publisher = fixture.Gateway.CreateClient(Tokens.Publisher("auth-publisher"));

    public void Dispose() => _publisher.Dispose();

    public static TheoryData<string> BadTokens => new()
    {
        "none",
        "garbage",
        "bad-signature",
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "alg-none",
        "no-sub",
    };

    private static string? MakeToken(string kind) => kind switch
    {
        "none" => null,
        "garbage" => "not.a.jwt",
        "bad-signature" => Tokens.For("mallory", roles: ["admin", "publisher"], key: OtherKey),
        "expired" => Tokens.For("late", roles: ["admin", "publisher"], lifetime: TimeSpan.FromMinutes(-5)),
        "wrong-audience" => Tokens.For("aud", roles: ["admin", "publisher"], audience: "someone-else"),
        "wrong-issuer" => Tokens.For("iss", roles: ["admin", "publisher"], issuer: "evil-issuer"),
        "alg-none" => Tokens.Unsigned("root"),
        "no-sub" => Tokens.For("", roles: ["admin", "publisher"]),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Connect_WithMissingOrInvalidToken_Answers401Problem(string kind)
    {
        using var client = _gateway.CreateClient(MakeToken(kind));
        var (response, stream) = await SseStream.TryOpenAsync(client, "/sse/connect");
        using (response)
        {
            Assert.Null(stream);
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized, what: $"connect with {kind} token");

            // RFC 6750 §3.1: error="invalid_token" only when a token was presented.
            var challenge = Assert.Single(response.Headers.WwwAuthenticate);
            Assert.Equal("Bearer", challenge.Scheme);
            if (kind == "none")
            {
                Assert.Null(challenge.Parameter);
            }
            else
            {
                Assert.StartsWith("error=\"invalid_token\", error_description=\"", challenge.Parameter, StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task PublishAndStats_WithMissingOrInvalidToken_Answer401Problem(string kind)
    {
        using var client = _gateway.CreateClient(MakeToken(kind));
        using var response = await client.PostAsync("/sse/send", Json("{\"userId\":\"victim\",\"data\":1}"));
        await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized, what: $"send with {kind} token");

        using var stats = await client.GetAsync("/sse/stats");
        await ProblemAsserts.AssertProblemAsync(stats, HttpStatusCode.Unauthorized, what: $"stats with {kind} token");
    }

    [Fact]
    public async Task ExpiredToken_ProblemSaysExpired()
    {
        using var client = _gateway.CreateClient(MakeToken("expired"));
        var (response, _) = await SseStream.TryOpenAsync(client, "/sse/connect");
        using (response)
        {
            var problem = await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
            Assert.Contains("expired", problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Publish_WithoutPublisherRole_Answers403()
    {
        using var client = _gateway.CreateClient(Tokens.For("plain-user"));
        foreach (var (path, body) in new[]
        {
            ("/sse/send", "{\"userId\":\"x\",\"data\":1}"),
            ("/sse/broadcast", "{\"data\":1}"),
            ("/sse/topics/news/publish", "{\"data\":1}"),
        })
        {
            using var response = await client.PostAsync(path, Json(body));
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Forbidden, what: path);
        }
    }

    [Fact]
    public async Task AdminCalls_WithoutAdminRole_Answer403()
    {
        using var client = _gateway.CreateClient(Tokens.Publisher("publisher-only"));
        using var stats = await client.GetAsync("/sse/stats");
        await ProblemAsserts.AssertProblemAsync(stats, HttpStatusCode.Forbidden, what: "stats");
        using var list = await client.GetAsync("/sse/users/someone/connections");
        await ProblemAsserts.AssertProblemAsync(list, HttpStatusCode.Forbidden, what: "connections");
        using var disconnect = await client.PostAsync("/sse/users/someone/disconnect", null);
        await ProblemAsserts.AssertProblemAsync(disconnect, HttpStatusCode.Forbidden, what: "disconnect");
    }

    [Fact]
    public async Task ApiKey_MayPublishAndReadStats()
    {
        using var listener = _gateway.CreateClient(Tokens.For("api-key-target"));
        await using var stream = await SseStream.OpenAsync(listener, "/sse/connect");
        await stream.WaitForAsync("welcome");

        using var service = _gateway.CreateClient();
        service.DefaultRequestHeaders.Add("X-Api-Key", GatewayHost.ApiKey);
        var receipt = await service.SendAsync("api-key-target", "{\"via\":\"key\"}", "keyed");
        Assert.Equal(1, receipt.GetProperty("connections").GetInt32());
        Assert.Equal("{\"via\":\"key\"}", (await stream.WaitForAsync("keyed")).Data);

        var stats = await service.GetJsonAsync("/sse/stats");
        Assert.True(stats.GetProperty("connections").GetInt32() >= 1);
    }

    [Fact]
    public async Task WrongApiKey_Answers401_EvenWithAValidBearer()
    {
        using var service = _gateway.CreateClient(Tokens.Admin("bearer-admin"));
        service.DefaultRequestHeaders.Add("X-Api-Key", "wrong-api-key-0123456789");
        using var send = await service.PostAsync("/sse/send", Json("{\"userId\":\"x\",\"data\":1}"));
        await ProblemAsserts.AssertProblemAsync(send, HttpStatusCode.Unauthorized, what: "send");
        using var stats = await service.GetAsync("/sse/stats");
        await ProblemAsserts.AssertProblemAsync(stats, HttpStatusCode.Unauthorized, what: "stats");
    }

    [Fact]
    public async Task Connect_ToTopicOutsideTokensTopicsClaim_Answers403_AllowedTopicSucceeds()
    {
        using var client = _gateway.CreateClient(Tokens.For("scoped", topics: ["news", "sport"]));
        var (refused, none) = await SseStream.TryOpenAsync(client, "/sse/connect?topics=news,secret");
        using (refused)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(refused, HttpStatusCode.Forbidden);
        }

        await using var allowed = await SseStream.OpenAsync(client, "/sse/connect?topics=sport,news");
        var welcome = (await allowed.WaitForAsync("welcome")).Json;
        Assert.Equal(["news", "sport"], welcome.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!).ToArray());
    }

    [Fact]
    public async Task DeleteConnection_ByOwner204AndStreamEndsWithClose_AnotherUsersAndUnknownIdsAnswerAlike404()
    {
        using var owner = _gateway.CreateClient(Tokens.For("conn-owner"));
        using var stranger = _gateway.CreateClient(Tokens.For("conn-stranger"));
        await using var stream = await SseStream.OpenAsync(owner, "/sse/connect");
        var connectionId = (await stream.WaitForAsync("welcome")).Json.GetProperty("connectionId").GetString()!;
        var path = "/sse/connections/" + Uri.EscapeDataString(connectionId);

        // Another user's id answers exactly like an unknown one, so connection ids cannot be probed.
        string strangerAnswer;
        using (var notYours = await stranger.DeleteAsync(path))
        {
            strangerAnswer = Comparable(await ProblemAsserts.AssertProblemAsync(notYours, HttpStatusCode.NotFound), notYours);
        }

        using (var nobody = _gateway.CreateClient())
        using (var anonymous = await nobody.DeleteAsync(path))
        {
            await ProblemAsserts.AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized);
        }

        // The refused attempts left the stream alone.
        await _publisher.SendAsync("conn-owner", "{\"still\":1}", "alive");
        await stream.WaitForAsync("alive");

        using (var deleted = await owner.DeleteAsync(path))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        var close = (await stream.WaitForAsync("close")).Json;
        Assert.Equal("disconnected", close.GetProperty("reason").GetString());
        Assert.True(close.GetProperty("reconnect").GetBoolean());
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(5));

        // Status, headers and body alike (but for the id itself and the trace id): for the id that no longer exists, and
        // for one that never did.
        using var unknown = await stranger.DeleteAsync("/sse/connections/" + Uri.EscapeDataString(connectionId));
        Assert.Equal(strangerAnswer, Comparable(await ProblemAsserts.AssertProblemAsync(unknown, HttpStatusCode.NotFound), unknown));
        const string NeverId = "AAAAAAAAAAAAAAAA";
        using var never = await stranger.DeleteAsync("/sse/connections/" + NeverId);
        Assert.Equal(strangerAnswer, Comparable(await ProblemAsserts.AssertProblemAsync(never, HttpStatusCode.NotFound), never).Replace(NeverId, connectionId, StringComparison.Ordinal));

        static string Comparable(JsonElement problem, HttpResponseMessage response)
        {
            var fields = problem.EnumerateObject().Where(p => p.Name != "traceId").Select(p => $"{p.Name}={p.Value.GetRawText()}");
            var headers = response.Headers.Concat(response.Content.Headers)
                .Where(h => h.Key is not ("Date" or "Content-Length"))
                .Select(h => $"{h.Key}: {string.Join(",", h.Value)}")
                .Order(StringComparer.Ordinal);
            return $"{(int)response.StatusCode} {string.Join(" | ", headers)} {string.Join(" | ", fields)}";
        }
    }

    [Fact]
    public async Task AnonymousConnect_RefusedByDefault_AllowedWhenConfigured()
    {
        using (var client = _gateway.CreateClient())
        {
            var (response, _) = await SseStream.TryOpenAsync(client, "/sse/connect");
            using (response)
            {
                await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
            }
        }

        await using var open = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Auth:AllowAnonymous"] = "true" });
        using var anonymous = open.CreateClient();
        await using var stream = await SseStream.OpenAsync(anonymous, "/sse/connect?clientId=guest");
        var welcome = (await stream.WaitForAsync("welcome")).Json;
        Assert.Equal(System.Text.Json.JsonValueKind.Null, welcome.GetProperty("userId").ValueKind);
        Assert.Equal("guest", welcome.GetProperty("clientId").GetString());

        // Anonymous is for streams only: publishing still needs credentials.
        using var publish = await anonymous.PostAsync("/sse/broadcast", Json("{\"data\":1}"));
        await ProblemAsserts.AssertProblemAsync(publish, HttpStatusCode.Unauthorized);

        // An anonymous stream still gets broadcasts.
        using var service = open.CreateClient();
        service.DefaultRequestHeaders.Add("X-Api-Key", GatewayHost.ApiKey);
        await service.BroadcastAsync("{\"to\":\"all\"}", "news");
        Assert.Equal("{\"to\":\"all\"}", (await stream.WaitForAsync("news")).Data);
    }

    [Fact]
    public async Task AccessTokenQuery_IgnoredByDefault_AcceptedWhenConfigured()
    {
        var token = Tokens.For("query-user");
        using (var client = _gateway.CreateClient())
        {
            var (response, _) = await SseStream.TryOpenAsync(client, "/sse/connect?access_token=" + token);
            using (response)
            {
                await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
            }
        }

        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Auth:AllowAccessTokenQuery"] = "true" });
        using var browser = gateway.CreateClient();
        await using var stream = await SseStream.OpenAsync(browser, "/sse/connect?access_token=" + token);
        Assert.Equal("query-user", (await stream.WaitForAsync("welcome")).Json.GetProperty("userId").GetString());

        // Enabled, it still validates the token.
        var (bad, _) = await SseStream.TryOpenAsync(browser, "/sse/connect?access_token=" + Tokens.Unsigned("query-user"));
        using (bad)
        {
            await ProblemAsserts.AssertProblemAsync(bad, HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task TokenExpiringMidStream_SendsReauthThenClose_AndTheLastIdResumesExactlyTheMissedEvents()
    {
        const string user = "expiring-user";
        using var shortLived = _gateway.CreateClient(Tokens.For(user, lifetime: TimeSpan.FromSeconds(2)));
        await using var stream = await SseStream.OpenAsync(shortLived, "/sse/connect");
        await stream.WaitForAsync("welcome");
        await _publisher.SendAsync(user, "{\"n\":0}", "tick");
        await stream.WaitForAsync("tick");

        var reauth = await stream.WaitForAsync(e => e.EventType is "reauth" or "close", "reauth", TimeSpan.FromSeconds(6));
        Assert.Equal("reauth", reauth.EventType);
        Assert.Equal("token-expired", reauth.Json.GetProperty("reason").GetString());
        var close = (await stream.WaitForAsync("close")).Json;
        Assert.Equal("token-expired", close.GetProperty("reason").GetString());
        Assert.True(close.GetProperty("reconnect").GetBoolean());
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        var lastId = stream.LastEventId;
        Assert.False(string.IsNullOrEmpty(lastId));

        for (var i = 1; i <= 3; i++)
        {
            await _publisher.SendAsync(user, $"{{\"n\":{i}}}", "tick");
        }

        using var fresh = _gateway.CreateClient(Tokens.For(user));
        await using var resumed = await SseStream.OpenAsync(fresh, "/sse/connect", lastEventId: lastId);
        await resumed.WaitForAsync("welcome");
        var missed = await resumed.CollectAsync("tick", 3);
        Assert.Equal(["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"], missed.Select(e => e.Data).ToArray());

        await _publisher.SendAsync(user, "{\"n\":4}", "tick");
        Assert.Equal("{\"n\":4}", (await resumed.WaitForAsync("tick")).Data);
        lock (resumed.Received)
        {
            Assert.Equal(4, resumed.Received.Count(e => e.EventType == "tick"));
            Assert.DoesNotContain(resumed.Received, e => e.EventType == "reset");
        }
    }

    /// <summary>One gateway for the class, default settings (no anonymous streams, no access_token query).</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public GatewayHost Gateway { get; private set; } = null!;

        public async Task InitializeAsync() => Gateway = await GatewayHost.StartAsync();

        public async Task DisposeAsync() => await Gateway.DisposeAsync();
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
