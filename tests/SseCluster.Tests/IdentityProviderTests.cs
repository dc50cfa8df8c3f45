using System.Net;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// Tokens from an OpenID Connect identity provider (a real one on loopback, <see cref="OidcTestServer"/>): keys from
/// discovery and JWKS, RS256 and ES256, key rotation while the gateway runs, the refusals (each 401 with
/// <c>WWW-Authenticate</c>), default topics, configurable claim names, and tickets minted from provider tokens.
/// </summary>
public sealed class IdentityProviderTests(IdentityProviderTests.Fixture fixture) : IClassFixture<IdentityProviderTests.Fixture>
{
    private readonly OidcTestServer _provider = fixture.Provider;
    private readonly GatewayHost _gateway = fixture.Gateway;

    public static TheoryData<string> RefusedTokens => new()
    {
        "unknown-kid",
        "wrong-issuer",
        "wrong-audience",
        "expired",
        "alg-none",
        "unknown-crit",
        "hs256-without-a-key",
    };

    [Theory]
    [InlineData("rsa-1")]
    [InlineData("ec-1")]
    public async Task ProviderToken_ConnectsAndPublishes(string kid)
    {
        var user = "idp-user-" + kid;
        using var listener = _gateway.CreateClient(_provider.Token(kid, Claims(user, topics: ["news"])));
        await using var stream = await SseStream.OpenAsync(listener, "/sse/connect?topics=news");
        var welcome = (await stream.WaitForAsync("welcome")).Json;
        Assert.Equal(user, welcome.GetProperty("userId").GetString());

        using var publisher = _gateway.CreateClient(_provider.Token(kid, Claims("idp-publisher-" + kid, roles: ["publisher"])));
        await publisher.PublishAsync("news", "{\"signedWith\":\"" + kid + "\"}", "headline");
        await publisher.SendAsync(user, "{\"direct\":true}", "note");
        Assert.Equal("{\"signedWith\":\"" + kid + "\"}", (await stream.WaitForAsync("headline")).Data);
        Assert.Equal("{\"direct\":true}", (await stream.WaitForAsync("note")).Data);
    }

    [Theory]
    [MemberData(nameof(RefusedTokens))]
    public async Task RefusedToken_Answers401_WithInvalidTokenChallenge(string kind)
    {
        var token = kind switch
        {
            "unknown-kid" => _provider.Token("never-published", Claims("intruder", roles: ["admin"])),
            "wrong-issuer" => _provider.Token("rsa-1", Claims("intruder", roles: ["admin"]), issuer: "https://evil.example/realms/test"),
            "wrong-audience" => _provider.Token("rsa-1", Claims("intruder", roles: ["admin"]), audience: "another-api"),
            "expired" => _provider.Token("ec-1", Claims("late", roles: ["admin"]), lifetime: TimeSpan.FromMinutes(-5)),
            "alg-none" => _provider.Unsigned(Claims("root", roles: ["admin"])),
            "unknown-crit" => _provider.Token("rsa-1", Claims("critic", roles: ["admin"]), header: new Dictionary<string, object>
            {
                ["crit"] = new[] { "urn:example:must-understand" },
                ["urn:example:must-understand"] = true,
            }),
            // This gateway has no SigningKey: an HS256 token, even one signed with the test key, has nothing to verify it.
            "hs256-without-a-key" => Tokens.For("intruder", roles: ["admin"], issuer: _provider.Issuer),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };

        using var client = _gateway.CreateClient(token);
        var (response, stream) = await SseStream.TryOpenAsync(client, "/sse/connect");
        using (response)
        {
            Assert.Null(stream);
            var problem = await AssertInvalidTokenAsync(response, $"connect with {kind}");
            var expected = kind switch
            {
                "unknown-kid" => "kid",
                "wrong-issuer" => "issuer",
                "wrong-audience" => "audience",
                "expired" => "expired",
                "alg-none" => "alg none",
                "unknown-crit" => "crit",
                _ => "token",
            };
            Assert.Contains(expected, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Contains(expected, response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        }

        using var publish = await client.PostAsync("/sse/broadcast", Json("{\"data\":1}"));
        await AssertInvalidTokenAsync(publish, $"broadcast with {kind}");
        using var ticket = await client.PostAsync("/sse/tickets", null);
        await AssertInvalidTokenAsync(ticket, $"ticket with {kind}");
    }

    [Fact]
    public async Task CritHeader_IsRefusedEvenWhenTheSignatureIsGood_AndTheProblemSaysWhy()
    {
        var token = _provider.Token("rsa-1", Claims("critic", topics: ["*"]), header: new Dictionary<string, object> { ["crit"] = new[] { "b64" }, ["b64"] = true });
        using var client = _gateway.CreateClient(token);
        using var response = await client.GetAsync("/sse/stats");
        var problem = await AssertInvalidTokenAsync(response, "stats with crit");
        Assert.Contains("crit", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoCredentials_Answers401_WithBareBearerChallenge()
    {
        using var client = _gateway.CreateClient();
        var (response, _) = await SseStream.TryOpenAsync(client, "/sse/connect");
        using (response)
        {
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
            Assert.Equal("Bearer", string.Join(",", response.Headers.WwwAuthenticate.Select(h => h.ToString())));
        }
    }

    [Fact]
    public async Task UnknownKids_ReadTheJwksAtMostOncePerRefreshInterval()
    {
        // The fixture's MetadataRefreshSeconds is an hour: however many unknown kids arrive, one refresh at most.
        var before = _provider.JwksRequests;
        for (var i = 0; i < 5; i++)
        {
            using var client = _gateway.CreateClient(_provider.Token("never-published", Claims("flood-" + i)));
            using var response = await client.PostAsync("/sse/broadcast", Json("{\"data\":1}"));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.InRange(_provider.JwksRequests - before, 0, 1);
    }

    [Fact]
    public async Task ProviderTokenWithoutTopicsClaim_GetsTheDefaultTopics()
    {
        using var client = _gateway.CreateClient(_provider.Token("rsa-1", Claims("no-topics-user")));
        await using (var stream = await SseStream.OpenAsync(client, "/sse/connect?topics=public"))
        {
            await stream.WaitForAsync("welcome");
        }

        var (refused, none) = await SseStream.TryOpenAsync(client, "/sse/connect?topics=secret");
        using (refused)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(refused, HttpStatusCode.Forbidden);
        }

        // A topics claim that is present, even empty, is what the provider granted: the default does not apply.
        using var granted = _gateway.CreateClient(_provider.Token("rsa-1", Claims("empty-topics-user", topics: [])));
        var (empty, noStream) = await SseStream.TryOpenAsync(granted, "/sse/connect?topics=public");
        using (empty)
        {
            Assert.Null(noStream);
            await ProblemAsserts.AssertProblemAsync(empty, HttpStatusCode.Forbidden);
        }
    }

    [Fact]
    public async Task TicketFromProviderToken_Connects_AndTheSessionCookieReconnects()
    {
        using var holder = _gateway.CreateClient(_provider.Token("ec-1", Claims("ticket-idp-user", topics: ["news"])));
        var ticket = (await holder.PostJsonAsync("/sse/tickets", "", HttpStatusCode.Created)).GetProperty("ticket").GetString();
        var url = "/sse/connect?topics=news&ticket=" + ticket;
        string cookie;
        using (var browser = _gateway.CreateClient())
        {
            await using var stream = await SseStream.OpenAsync(browser, url);
            Assert.Equal("ticket-idp-user", (await stream.WaitForAsync("welcome")).Json.GetProperty("userId").GetString());
            cookie = stream.Response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("sse_session=", StringComparison.Ordinal)).Split(';')[0];
        }

        // The browser's own reconnect: same URL (spent ticket) with the cookie.
        using var reconnecting = _gateway.CreateClient();
        reconnecting.DefaultRequestHeaders.Add("Cookie", cookie);
        await using var again = await SseStream.OpenAsync(reconnecting, url);
        Assert.Equal("ticket-idp-user", (await again.WaitForAsync("welcome")).Json.GetProperty("userId").GetString());
    }

    [Fact]
    public async Task KeyRotation_NewKidIsAcceptedAtOnce_WithdrawnKeyIsRefused_WithoutRestart()
    {
        await using var provider = await OidcTestServer.StartAsync();
        provider.AddRsaKey("2026-old");
        await using var gateway = await StartGatewayAsync(provider, new() { ["SseCluster:Auth:MetadataRefreshSeconds"] = "1" });

        using (var before = gateway.CreateClient(provider.Token("2026-old", Claims("rotating", topics: ["*"]))))
        await using (var stream = await SseStream.OpenAsync(before, "/sse/connect"))
        {
            await stream.WaitForAsync("welcome");
        }

        provider.AddEcKey("2026-new");
        provider.Unpublish("2026-old");

        // The first token signed with the new key is accepted: the gateway reads the keys again and waits for them.
        using (var after = gateway.CreateClient(provider.Token("2026-new", Claims("rotating", topics: ["*"]))))
        await using (var stream = await SseStream.OpenAsync(after, "/sse/connect"))
        {
            await stream.WaitForAsync("welcome");
        }

        // A token the gateway has not seen, signed with the withdrawn key, is refused now.
        using var stale = gateway.CreateClient(provider.Token("2026-old", Claims("rotating-late", topics: ["*"])));
        var (response, none) = await SseStream.TryOpenAsync(stale, "/sse/connect");
        using (response)
        {
            Assert.Null(none);
            await AssertInvalidTokenAsync(response, "withdrawn key");
        }
    }

    [Fact]
    public async Task ClaimNames_AreConfigurable_UserFromPreferredUsername_RolesFromNestedRealmAccess()
    {
        await using var gateway = await StartGatewayAsync(_provider, new()
        {
            ["SseCluster:Auth:UserIdClaim"] = "preferred_username",
            ["SseCluster:Auth:RoleClaims:0"] = "realm_access.roles",
            ["SseCluster:Auth:TopicsClaim"] = "sse_topics",
        });
        var claims = new Dictionary<string, object>
        {
            ["sub"] = "f3a1c0de-0000-4000-8000-000000000001",
            ["preferred_username"] = "alice@example.com",
            ["realm_access"] = new Dictionary<string, object> { ["roles"] = new[] { "offline_access", "publisher" } },
            ["sse_topics"] = "news alerts",
        };
        using var alice = gateway.CreateClient(_provider.Token("rsa-1", claims));
        await using var stream = await SseStream.OpenAsync(alice, "/sse/connect?topics=alerts,news");
        Assert.Equal("alice@example.com", (await stream.WaitForAsync("welcome")).Json.GetProperty("userId").GetString());

        // The publisher role came from realm_access.roles; a plain 'role' claim counts no more.
        await alice.PublishAsync("alerts", "{\"from\":\"alice\"}", "alert");
        Assert.Equal("{\"from\":\"alice\"}", (await stream.WaitForAsync("alert")).Data);
        using var plain = gateway.CreateClient(_provider.Token("rsa-1", new Dictionary<string, object> { ["preferred_username"] = "bob", ["role"] = "publisher" }));
        using var refused = await plain.PostAsync("/sse/topics/alerts/publish", Json("{\"data\":1}"));
        await ProblemAsserts.AssertProblemAsync(refused, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task UserIdFromOid_EntraStyle()
    {
        await using var gateway = await StartGatewayAsync(_provider, new() { ["SseCluster:Auth:UserIdClaim"] = "oid", ["SseCluster:Auth:DefaultTopics:0"] = "*" });
        var oid = "00000000-0000-0000-0000-0000000000aa";
        using var client = gateway.CreateClient(_provider.Token("ec-1", new Dictionary<string, object> { ["oid"] = oid, ["sub"] = "pairwise-subject", ["roles"] = new[] { "publisher" } }));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect?topics=anything");
        Assert.Equal(oid, (await stream.WaitForAsync("welcome")).Json.GetProperty("userId").GetString());

        using var noOid = gateway.CreateClient(_provider.Token("ec-1", Claims("only-sub")));
        var (response, none) = await SseStream.TryOpenAsync(noOid, "/sse/connect");
        using (response)
        {
            Assert.Null(none);
            var problem = await AssertInvalidTokenAsync(response, "no oid");
            Assert.Contains("'oid'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ProviderUnreachable_StreamsAreToldToRetry_ApiAnswers503()
    {
        // Nothing listens on the authority: its keys cannot be read. That is the provider's outage, not the token's fault.
        var authority = $"http://127.0.0.1:{FreePorts.Next()}/realms/down";
        await using var gateway = await StartGatewayAsync(_provider, new() { ["SseCluster:Auth:Authority"] = authority });
        var token = _provider.Token("rsa-1", Claims("waiting", roles: ["publisher"], topics: ["*"]), issuer: authority);
        using var client = gateway.CreateClient(token);

        using var publish = await client.PostAsync("/sse/broadcast", Json("{\"data\":1}"));
        await ProblemAsserts.AssertProblemAsync(publish, HttpStatusCode.ServiceUnavailable);
        Assert.NotNull(publish.Headers.RetryAfter);

        // A 401 would end a browser's EventSource for good: the stream is told to come back later instead.
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        var close = (await stream.WaitForAsync("close")).Json;
        Assert.Equal("unavailable", close.GetProperty("reason").GetString());
        lock (stream.Received)
        {
            Assert.DoesNotContain(stream.Received, e => e.EventType == "welcome");
        }
    }

    private static Dictionary<string, object> Claims(string sub, string[]? roles = null, string[]? topics = null)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub };
        if (roles is not null)
        {
            claims["roles"] = roles;
        }

        if (topics is not null)
        {
            claims["topics"] = topics;
        }

        return claims;
    }

    private static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static async Task<JsonElement> AssertInvalidTokenAsync(HttpResponseMessage response, string what)
    {
        var problem = await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized, what: what);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Contains("error=\"invalid_token\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.Contains("error_description=\"", challenge.Parameter, StringComparison.Ordinal);
        return problem;
    }

    private static Task<GatewayHost> StartGatewayAsync(OidcTestServer provider, Dictionary<string, string?> settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["SseCluster:Auth:SigningKey"] = "",
            ["SseCluster:Auth:Authority"] = provider.Issuer,
            ["SseCluster:Auth:RequireHttpsMetadata"] = "false",
            ["SseCluster:Auth:Issuer"] = "",
            ["SseCluster:Auth:Audience"] = "sse-cluster",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return GatewayHost.StartAsync(all);
    }

    /// <summary>One provider (keys rsa-1 and ec-1 published) and one gateway trusting it, with default topic <c>public</c>.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public OidcTestServer Provider { get; private set; } = null!;

        public GatewayHost Gateway { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Provider = await OidcTestServer.StartAsync();
            Provider.AddRsaKey("rsa-1");
            Provider.AddEcKey("ec-1");
            Provider.AddRsaKey("never-published", publish: false);
            Gateway = await StartGatewayAsync(Provider, new()
            {
                ["SseCluster:Auth:MetadataRefreshSeconds"] = "3600",
                ["SseCluster:Auth:DefaultTopics:0"] = "public",
            });
        }

        public async Task DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Provider.DisposeAsync();
        }
    }
}
