using System.Net;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>Browser apps on other origins: only listed origins, with credentials, and never a wildcard.</summary>
public sealed class CorsTests(CorsTests.Fixture fixture) : IClassFixture<CorsTests.Fixture>
{
    private const string AllowedOrigin = "https://app.example";
    private const string OtherOrigin = "https://evil.example";

    private readonly GatewayHost _configured = fixture.Configured;
    private readonly GatewayHost _unconfigured = fixture.Unconfigured;

    public static TheoryData<string, string, string> Preflights => new()
    {
        { "/sse/connect", "GET", "authorization,last-event-id" },
        { "/sse/send", "POST", "authorization,content-type" },
        { "/sse/tickets", "POST", "authorization" },
        { "/sse/connections/abc", "DELETE", "authorization" },
    };

    [Theory]
    [MemberData(nameof(Preflights))]
    public async Task Preflight_FromListedOrigin_AllowsThatOriginWithCredentials(string path, string method, string headers)
    {
        using var client = _configured.CreateClient();
        using var response = await client.SendAsync(Preflight(path, AllowedOrigin, method, headers));
        Assert.True(response.IsSuccessStatusCode, $"preflight answered {(int)response.StatusCode}");
        Assert.Equal(AllowedOrigin, Single(response, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Single(response, "Access-Control-Allow-Credentials"));
        Assert.Contains(method, Single(response, "Access-Control-Allow-Methods")!, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [MemberData(nameof(Preflights))]
    public async Task Preflight_FromUnlistedOrigin_GetsNoAllowOrigin(string path, string method, string headers)
    {
        using var client = _configured.CreateClient();
        using var response = await client.SendAsync(Preflight(path, OtherOrigin, method, headers));
        AssertNoAllowOrigin(response);
    }

    [Fact]
    public async Task StreamFromListedOrigin_CarriesAllowOriginAndCredentials()
    {
        using var client = _configured.CreateClient(Tokens.For("cors-user"));
        client.DefaultRequestHeaders.Add("Origin", AllowedOrigin);
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");
        Assert.Equal(AllowedOrigin, Single(stream.Response, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Single(stream.Response, "Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task ApiCallFromListedOrigin_CarriesAllowOrigin_EvenOnAnError()
    {
        using var client = _configured.CreateClient();
        client.DefaultRequestHeaders.Add("Origin", AllowedOrigin);
        using var unauthorized = await client.PostAsync("/sse/tickets", null);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Equal(AllowedOrigin, Single(unauthorized, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Single(unauthorized, "Access-Control-Allow-Credentials"));
        Assert.Contains("WWW-Authenticate", Single(unauthorized, "Access-Control-Expose-Headers"), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(OtherOrigin)]
    [InlineData("https://app.example.evil.example")]
    [InlineData("http://app.example")]
    [InlineData("null")]
    public async Task StreamFromUnlistedOrigin_GetsNoAllowOrigin(string origin)
    {
        using var client = _configured.CreateClient(Tokens.For("cors-other"));
        client.DefaultRequestHeaders.Add("Origin", origin);
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");
        AssertNoAllowOrigin(stream.Response);
    }

    [Fact]
    public async Task NoConfiguredOrigins_NoAllowOriginForAnyone_NeverAWildcard()
    {
        using var client = _unconfigured.CreateClient(Tokens.For("cors-none"));
        foreach (var origin in new[] { AllowedOrigin, OtherOrigin, "null" })
        {
            using var preflight = await client.SendAsync(Preflight("/sse/connect", origin, "GET", "authorization"));
            AssertNoAllowOrigin(preflight);
            using var publishPreflight = await client.SendAsync(Preflight("/sse/send", origin, "POST", "content-type"));
            AssertNoAllowOrigin(publishPreflight);

            using var request = new HttpRequestMessage(HttpMethod.Get, "/sse/connect");
            request.Headers.Add("Origin", origin);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            AssertNoAllowOrigin(response);
        }
    }

    private static HttpRequestMessage Preflight(string path, string origin, string method, string headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return request;
    }

    private static string? Single(HttpResponseMessage response, string header) =>
        response.Headers.TryGetValues(header, out var values) ? Assert.Single(values) : null;

    private static void AssertNoAllowOrigin(HttpResponseMessage response)
    {
        var allowOrigin = Single(response, "Access-Control-Allow-Origin");
        Assert.True(allowOrigin is null, $"Access-Control-Allow-Origin: {allowOrigin}");
        Assert.False(response.Headers.Contains("Access-Control-Allow-Credentials"), "Access-Control-Allow-Credentials sent without an allowed origin");
    }

    /// <summary>Two gateways: one listing <see cref="AllowedOrigin"/>, one with no origins configured.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public GatewayHost Configured { get; private set; } = null!;

        public GatewayHost Unconfigured { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Configured = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Cors:AllowedOrigins:0"] = AllowedOrigin });
            Unconfigured = await GatewayHost.StartAsync();
        }

        public async Task DisposeAsync()
        {
            await Configured.DisposeAsync();
            await Unconfigured.DisposeAsync();
        }
    }
}
