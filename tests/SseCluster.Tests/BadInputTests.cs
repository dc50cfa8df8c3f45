using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SseCluster.Grains.Storage;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// Bad input to every endpoint answers a clear 4xx problem (naming the field at fault), never a 500, and never harms
/// the node; hostile payloads cannot forge stream fields. The table runs against a Development and a Production node:
/// errors look the same in both, and never carry a stack trace, request headers or credentials.
/// </summary>
public sealed partial class BadInputTests(BadInputTests.Fixture fixture) : IClassFixture<BadInputTests.Fixture>, IDisposable
{
    public const string Development = "Development";
    public const string Production = "Production";

    private const string Json = "application/json";

    private static readonly Dictionary<string, BadRequest> Table = BuildTable();

    private readonly GatewayHost _gateway = fixture.Gateway;
    private readonly HttpClient _admin = fixture.Gateway.CreateClient(Tokens.Admin("bad-input-admin"));

    public static TheoryData<string, string> Cases
    {
        get
        {
            var cases = new TheoryData<string, string>();
            foreach (var environment in new[] { Development, Production })
            {
                foreach (var name in Table.Keys)
                {
                    cases.Add(environment, name);
                }
            }

            return cases;
        }
    }

    public void Dispose() => _admin.Dispose();

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadInput_AnswersProblemWith4xx_NamingTheField(string environment, string name)
    {
        await AssertRefusedAsync(fixture.Node(environment), Table[name], environment);
    }

    [Theory]
    [InlineData(Development)]
    [InlineData(Production)]
    public async Task AfterEveryBadInput_NodeStillConnectsAndDelivers(string environment)
    {
        var gateway = fixture.Node(environment);
        foreach (var bad in Table.Values)
        {
            await AssertRefusedAsync(gateway, bad, environment);
        }

        using var admin = gateway.CreateClient(Tokens.Admin("bad-input-admin"));
        using var health = await admin.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        using var client = gateway.CreateClient(Tokens.For("survivor"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect?clientId=after-table");
        await stream.WaitForAsync("welcome");
        var receipt = await admin.SendAsync("survivor", "{\"still\":\"alive\"}", "check");
        Assert.Equal(1, receipt.GetProperty("connections").GetInt32());
        Assert.Equal("{\"still\":\"alive\"}", (await stream.WaitForAsync("check")).Data);
    }

    [Theory]
    [InlineData(Development, "text/html")]
    [InlineData(Development, "application/json")]
    [InlineData(Production, "text/html")]
    [InlineData(Production, "application/json")]
    public async Task UnexpectedException_Answers500Problem_WithTraceIdOnly_NoStackTraceHeadersOrMessage(string environment, string accept)
    {
        var gateway = fixture.Node(environment);
        var token = Tokens.Admin("exception-caller");
        using var client = gateway.CreateClient(token);
        using var request = new HttpRequestMessage(HttpMethod.Get, Fixture.ThrowPath);
        request.Headers.Accept.ParseAdd(accept);
        request.Headers.Add("X-Private-Header", "private-header-value");
        using var response = await client.SendAsync(request);

        var problem = await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.InternalServerError, what: $"{environment} 500");
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
        var body = problem.GetRawText();
        ProblemAsserts.AssertDiscloseNothing(body, token, "500");
        Assert.DoesNotContain(Fixture.ThrowMessage, body, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", body, StringComparison.Ordinal);
        Assert.DoesNotContain("private-header-value", body, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Private-Header", body, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(Development)]
    [InlineData(Production)]
    public async Task WrongMethod_Answers405Problem_WithAllow_AndUnknownApiPath404Problem_EvenForBrowsers(string environment)
    {
        var gateway = fixture.Node(environment);
        using var client = gateway.CreateClient(Tokens.Admin("routing-caller"));
        using var wrongMethod = new HttpRequestMessage(HttpMethod.Get, "/sse/send");
        wrongMethod.Headers.Accept.ParseAdd("text/html");
        using var refused = await client.SendAsync(wrongMethod);
        await ProblemAsserts.AssertProblemAsync(refused, HttpStatusCode.MethodNotAllowed, what: $"{environment} GET /sse/send");
        Assert.Contains("POST", refused.Content.Headers.Allow);

        using var unknown = new HttpRequestMessage(HttpMethod.Get, "/sse/no/such/thing");
        unknown.Headers.Accept.ParseAdd("text/html");
        using var missing = await client.SendAsync(unknown);
        await ProblemAsserts.AssertProblemAsync(missing, HttpStatusCode.NotFound, what: $"{environment} unknown path");
    }

    [Theory]
    [InlineData(Development)]
    [InlineData(Production)]
    public async Task QueryValueThatCannotBeBound_Answers400Problem(string environment)
    {
        var gateway = fixture.Node(environment);
        var token = Tokens.Admin("binding-caller");
        using var client = gateway.CreateClient(token);
        using var response = await client.GetAsync(Fixture.BindPath + "?n=abc");

        // Development throws the binding failure, which names the parameter; Production answers an empty 400, which
        // gets a problem body. The gateway's own endpoints read their query values themselves and always name them.
        var problem = await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.BadRequest, environment == Development ? "n" : null, $"{environment} binding");
        ProblemAsserts.AssertDiscloseNothing(problem.GetRawText(), token, "binding");
    }

    [Theory]
    [InlineData(Development, "/sse/send", false)]
    [InlineData(Production, "/sse/send", false)]
    [InlineData(Development, "/sse/send", true)]
    [InlineData(Production, "/sse/topics/t/publish", true)]
    public async Task TruncatedOrBrokenBody_Answers400Problem_AndIsNotLoggedAsAnError(string environment, string path, bool chunked)
    {
        var gateway = fixture.Node(environment);
        var errorsBefore = fixture.Errors(environment).Count;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
        var request = $"POST {path} HTTP/1.1\r\nHost: {gateway.BaseAddress.Authority}\r\nAuthorization: Bearer {Tokens.Admin("truncating-admin")}\r\nContent-Type: application/json\r\n"
            + (chunked ? "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}" : "Content-Length: 100\r\n\r\n{\"userId\":\"a\",\"da");
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        if (!chunked)
        {
            // The body ends here, short of what was announced: the client is gone, as one that died mid-send would be.
            socket.Shutdown(SocketShutdown.Send);
        }

        // Read until the server closes the connection: by then the request has been handled (and anything logged).
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset && !chunked)
        {
            // The server closed hard on a client that had closed its side already.
        }

        var answer = Encoding.UTF8.GetString(received.ToArray());
        Assert.True(fixture.Errors(environment).Count == errorsBefore, $"logged at Error: {string.Join(" | ", fixture.Errors(environment).Skip(errorsBefore))}");
        if (answer.Length == 0 && !chunked)
        {
            return; // the server saw the client leave and had nobody to answer
        }

        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/problem+json", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"body\"", answer, StringComparison.Ordinal);
        ProblemAsserts.AssertDiscloseNothing(answer[answer.IndexOf("\r\n\r\n", StringComparison.Ordinal)..], null, "truncated body");
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/json;charset=\"UTF-8\"")]
    [InlineData("Application/JSON")]
    public async Task JsonContentType_WithOrWithoutUtf8Charset_IsAccepted(string contentType)
    {
        using var content = new ByteArrayContent("{\"userId\":\"ct-user\",\"data\":1}"u8.ToArray());
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        using var response = await _admin.PostAsync("/sse/send", content);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Theory]
    [InlineData("auth0|5f1c2e")]
    [InlineData("bob.smith@example.com")]
    [InlineData("user_1~a:b-c")]
    [InlineData("...")]
    public async Task UserIdAtTheEdgeOfTheRule_IsAddressableByEveryEndpoint(string userId)
    {
        using var client = _gateway.CreateClient(Tokens.For(userId));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect?topics=" + Uri.EscapeDataString(userId));
        var welcome = (await stream.WaitForAsync("welcome")).Json;
        Assert.Equal(userId, welcome.GetProperty("userId").GetString());

        await _admin.SendAsync(userId, "1", "to-user");
        await stream.WaitForAsync("to-user");
        await _admin.PublishAsync(Uri.EscapeDataString(userId), "2", "to-topic");
        await stream.WaitForAsync("to-topic");

        var listed = await _admin.GetJsonAsync($"/sse/users/{Uri.EscapeDataString(userId)}/connections");
        Assert.Equal(userId, Assert.Single(listed.EnumerateArray()).GetProperty("userId").GetString());
        var closed = await _admin.PostJsonAsync($"/sse/users/{Uri.EscapeDataString(userId)}/disconnect", "{}", HttpStatusCode.OK);
        Assert.Equal(1, closed.GetProperty("connections").GetInt32());
        await stream.WaitForAsync("close");
    }

    [Fact]
    public async Task EscapedSlashInAdminUrl_IsRefused_AndLeavesBothUsersAlone()
    {
        // 'a%2Fb' arrives as the literal route value 'a%2Fb': it must not disconnect (and block) a user of that name,
        // nor 'a/b'; ids with '%' or '/' are refused everywhere, so neither user can exist.
        using var victim = _gateway.CreateClient(Tokens.For("a"));
        await using var stream = await SseStream.OpenAsync(victim, "/sse/connect");
        await stream.WaitForAsync("welcome");

        using var response = await _admin.PostAsync("/sse/users/a%2Fb/disconnect", new ByteArrayContent([]));
        await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.BadRequest, "userId", "disconnect a%2Fb");

        await _admin.SendAsync("a", "1", "still-here");
        await stream.WaitForAsync("still-here");
    }

    [Fact]
    public async Task TicketForAUserOutsideTheRule_IsRefused401_NotStreamed()
    {
        // A ticket stored before the rule was tightened (or by another version of the gateway) names such a user.
        var store = _gateway.Services.GetRequiredService<ITicketStore>();
        var exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds();
        await store.StoreAsync("old-ticket-with-slash", $"{{\"Sub\":\"a/b\",\"Roles\":[],\"Topics\":[\"*\"],\"Exp\":{exp}}}", TimeSpan.FromMinutes(1));

        using var client = _gateway.CreateClient();
        var (response, stream) = await SseStream.TryOpenAsync(client, "/sse/connect?ticket=old-ticket-with-slash");
        using (response)
        {
            Assert.Null(stream);
            var problem = await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.Unauthorized, what: "ticket for a/b");
            Assert.Contains("sub", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("header", "garbage!!")]
    [InlineData("header", "1.2.3")]
    [InlineData("header", "zzzzzzzz.zzzzzzzz")]
    [InlineData("header", "-1.-1")]
    [InlineData("query", "not an id")]
    [InlineData("query", "\0\r\nevent: close")]
    [InlineData("query", "~~~")]
    public async Task GarbageLastEventId_Answers200WithResetInvalidLastEventId_ThenStreamsLive(string where, string lastEventId)
    {
        var user = "garbage-" + where + "-" + Math.Abs(lastEventId.GetHashCode());
        using var client = _gateway.CreateClient(Tokens.For(user));
        var url = where == "query" ? "/sse/connect?lastEventId=" + Uri.EscapeDataString(lastEventId) : "/sse/connect";
        await using var stream = await SseStream.OpenAsync(client, url, where == "header" ? lastEventId : null);

        Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType!.MediaType);
        await stream.WaitForAsync("welcome");
        var reset = (await stream.WaitForAsync("reset")).Json;
        Assert.Equal("invalid-last-event-id", reset.GetProperty("reason").GetString());
        Assert.Contains("u:" + user, reset.GetProperty("streams").EnumerateArray().Select(s => s.GetString()));

        await _admin.SendAsync(user, "{\"live\":true}", "after-reset");
        Assert.Equal("{\"live\":true}", (await stream.WaitForAsync("after-reset")).Data);
    }

    [Fact]
    public async Task TopicNameWithSlash_IsRefusedOnConnectAndPublish_SoEveryTopicHasAPublishUrl()
    {
        using var client = _gateway.CreateClient(Tokens.For("slash-topic-user"));
        var (response, stream) = await SseStream.TryOpenAsync(client, "/sse/connect?topics=room/7");
        Assert.Null(stream);
        await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.BadRequest, "topics", "a topic with '/'");

        using var publish = await _admin.PostAsync("/sse/topics/room%2F7/publish", new StringContent("{\"data\":1}", System.Text.Encoding.UTF8, "application/json"));
        await ProblemAsserts.AssertProblemAsync(publish, HttpStatusCode.BadRequest, "topic", "a published topic with '/'");
    }

    private static readonly (string Sent, string Received)[] HostilePayloads =
    [
        // JSON text as the publisher sends it; what the browser must get back (EventSource joins lines with LF).
        ("\"\\n\\nevent: close\\ndata: x\\n\\n\"", "\"\\n\\nevent: close\\ndata: x\\n\\n\""),
        ("\"\\r\\nid: 999\"", "\"\\r\\nid: 999\""),
        ("\"\\r\\r\"", "\"\\r\\r\""),
        ("{\"text\":\"\\n\\nevent: close\\ndata: x\\n\\nid: 999\\n\\nretry: 1\\n\\n\"}", "{\"text\":\"\\n\\nevent: close\\ndata: x\\n\\nid: 999\\n\\nretry: 1\\n\\n\"}"),
        ("\"emoji 😀 CJK 服务器推送 \u2028 \u2029 \u0085 end\"", "\"emoji 😀 CJK 服务器推送 \u2028 \u2029 \u0085 end\""),
        // Raw line breaks between JSON tokens (blank lines too) must become data: lines, not an event boundary.
        ("{\"a\":\r\r\"b\",\n\n\"c\":[1,\r\n\r\n2]}", "{\"a\":\n\n\"b\",\n\n\"c\":[1,\n\n2]}"),
    ];

    [Fact]
    public async Task HostilePayloads_ArriveAsExactlyOneEventEach_WithExactData_AndCannotForgeCloseOrId()
    {
        const string user = "hostile-target";
        using var client = _gateway.CreateClient(Tokens.For(user));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
        await stream.WaitForAsync("welcome");

        var payloads = HostilePayloads;
        foreach (var (sent, _) in payloads)
        {
            // eventType omitted: the default type, sent without an event: line.
            await _admin.PostJsonAsync("/sse/send", "{\"userId\":\"" + user + "\",\"data\":" + sent + "}");
        }

        await _admin.SendAsync(user, "{\"end\":true}", "sentinel");
        await stream.WaitForAsync("sentinel");

        List<ReceivedEvent> received;
        lock (stream.Received)
        {
            received = [.. stream.Received];
        }

        var afterWelcome = received.SkipWhile(e => e.EventType != "welcome").Skip(1).ToList();
        Assert.Equal(payloads.Length + 1, afterWelcome.Count);
        Assert.DoesNotContain(received, e => e.EventType is "close" or "reset" or "reauth");
        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.Equal("message", afterWelcome[i].EventType);
            Assert.Equal(payloads[i].Received, afterWelcome[i].Data);
            using var parsed = JsonDocument.Parse(afterWelcome[i].Data); // still one JSON value
        }

        Assert.Equal("sentinel", afterWelcome[^1].EventType);
        Assert.All(received, e => Assert.Matches(IdPattern(), e.Id ?? ""));
        Assert.NotEqual("999", stream.LastEventId);
        Assert.False(stream.Ended.IsCompleted, "the stream ended: a payload closed it");
    }

    private static async Task AssertRefusedAsync(GatewayHost gateway, BadRequest bad, string environment)
    {
        var bearer = bad.Anonymous ? null : bad.Bearer ?? Tokens.Admin("bad-input-admin");
        using var client = gateway.CreateClient(bearer);
        using var request = new HttpRequestMessage(bad.Method, bad.Path);
        if (bad.Body is not null)
        {
            var content = new ByteArrayContent(bad.Body);
            if (bad.ContentType is not null)
            {
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(bad.ContentType);
            }

            request.Content = content;
        }

        // Headers only, then the body within a bound: a request that was wrongly accepted may be an endless stream.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        var what = $"{environment}: {bad.Name}: {bad.Method} {bad.Path}";
        Assert.True((int)response.StatusCode >= 400, $"{what}: answered {(int)response.StatusCode}");
        if (bad.DevOnly && environment != Development)
        {
            // /dev/token is not mapped in Production: a 404 problem like any other unknown API path.
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.NotFound, null, what);
            return;
        }

        var problem = await ProblemAsserts.AssertProblemAsync(response, bad.Status, bad.Field, what);
        if (bad.DetailContains is not null)
        {
            Assert.True(problem.GetProperty("detail").GetString()!.Contains(bad.DetailContains, StringComparison.Ordinal), $"{what}: detail does not mention '{bad.DetailContains}': {problem}");
        }

        ProblemAsserts.AssertDiscloseNothing(problem.GetRawText(), bearer, what);
    }

    private static Dictionary<string, BadRequest> BuildTable()
    {
        var rows = new List<BadRequest>();
        void Add(string name, string method, string path, string? body, HttpStatusCode status, string? field, string? contentType = Json, bool anonymous = false) =>
            rows.Add(new BadRequest(name, new HttpMethod(method), path, contentType, body is null ? null : Encoding.UTF8.GetBytes(body), status, field, anonymous)
            {
                DevOnly = path.StartsWith("/dev/", StringComparison.Ordinal),
            });
        void AddBytes(string name, string path, byte[] body, HttpStatusCode status, string? field) =>
            rows.Add(new BadRequest(name, HttpMethod.Post, path, Json, body, status, field, false));
        void AddToken(string name, string method, string path, string bearer, string? body = null) =>
            rows.Add(new BadRequest(name, new HttpMethod(method), path, body is null ? null : Json, body is null ? null : Encoding.UTF8.GetBytes(body), HttpStatusCode.Unauthorized, null, false)
            {
                Bearer = bearer,
                DetailContains = "sub",
            });

        const HttpStatusCode Bad = HttpStatusCode.BadRequest;
        const string Send = "/sse/send";
        const string Broadcast = "/sse/broadcast";
        const string Topic = "/sse/topics/room-1/publish";
        const string Disconnect = "/sse/users/u-1/disconnect";
        const string DevToken = "/dev/token";

        // POST /sse/send
        Add("send: malformed JSON", "POST", Send, "{\"userId\":\"a\",", Bad, null);
        Add("send: trailing garbage", "POST", Send, "{\"userId\":\"a\",\"data\":1} x", Bad, null);
        Add("send: trailing comma", "POST", Send, "{\"userId\":\"a\",\"data\":1,}", Bad, null);
        Add("send: comment", "POST", Send, "{\"userId\":\"a\",/* hi */\"data\":1}", Bad, null);
        Add("send: empty body", "POST", Send, "", Bad, "body");
        Add("send: null body", "POST", Send, "null", Bad, "body");
        Add("send: array body", "POST", Send, "[1,2]", Bad, "body");
        Add("send: userId is a number", "POST", Send, "{\"userId\":5,\"data\":1}", Bad, "userId");
        Add("send: data missing", "POST", Send, "{\"userId\":\"a\"}", Bad, "data");
        Add("send: userIds is a string", "POST", Send, "{\"userIds\":\"x\",\"data\":1}", Bad, "userIds");
        Add("send: userIds empty", "POST", Send, "{\"userIds\":[],\"data\":1}", Bad, "userIds");
        Add("send: no target", "POST", Send, "{\"data\":1}", Bad, "userId");
        Add("send: empty userId", "POST", Send, "{\"userId\":\"\",\"data\":1}", Bad, "userId");
        Add("send: userId with space", "POST", Send, "{\"userId\":\"a b\",\"data\":1}", Bad, "userId");
        Add("send: userId with brace", "POST", Send, "{\"userId\":\"a{b}\",\"data\":1}", Bad, "userId");
        Add("send: userId with comma", "POST", Send, "{\"userId\":\"a,b\",\"data\":1}", Bad, "userId");
        Add("send: userId with control char", "POST", Send, "{\"userId\":\"a\\u0001b\",\"data\":1}", Bad, "userId");
        Add("send: userId with newline", "POST", Send, "{\"userId\":\"a\\nb\",\"data\":1}", Bad, "userId");
        Add("send: userId with lone surrogate", "POST", Send, "{\"userId\":\"a\\ud800b\",\"data\":1}", Bad, "userId");
        Add("send: userId too long", "POST", Send, "{\"userId\":\"" + new string('u', 129) + "\",\"data\":1}", Bad, "userId");
        Add("send: bad id in userIds", "POST", Send, "{\"userIds\":[\"ok\",\"not ok\"],\"data\":1}", Bad, "userIds[1]");
        Add("send: userId and userIds", "POST", Send, "{\"userId\":\"a\",\"userIds\":[\"b\"],\"data\":1}", Bad, "userIds");
        Add("send: unknown field", "POST", Send, "{\"userId\":\"a\",\"data\":1,\"colour\":\"red\"}", Bad, "colour");
        Add("send: eventType with CRLF", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"x\\r\\nevent: close\",\"data\":1}", Bad, "eventType");
        Add("send: eventType with LF", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"x\\ny\",\"data\":1}", Bad, "eventType");
        Add("send: eventType with space", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"x y\",\"data\":1}", Bad, "eventType");
        Add("send: eventType empty", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"\",\"data\":1}", Bad, "eventType");
        Add("send: eventType too long", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"" + new string('e', 65) + "\",\"data\":1}", Bad, "eventType");
        Add("send: eventType is a number", "POST", Send, "{\"userId\":\"a\",\"eventType\":7,\"data\":1}", Bad, "eventType");
        Add("send: reserved eventType close", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"close\",\"data\":1}", Bad, "eventType");
        Add("send: reserved eventType welcome", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"welcome\",\"data\":1}", Bad, "eventType");
        Add("send: reserved eventType reauth", "POST", Send, "{\"userId\":\"a\",\"eventType\":\"reauth\",\"data\":1}", Bad, "eventType");
        Add("send: 10 MB body", "POST", Send, "{\"userId\":\"a\",\"data\":\"" + new string('x', 10 * 1024 * 1024) + "\"}", HttpStatusCode.RequestEntityTooLarge, null);
        Add("send: text/plain", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, null, "text/plain");
        Add("send: form content", "POST", Send, "userId=a&data=1", HttpStatusCode.UnsupportedMediaType, null, "application/x-www-form-urlencoded");
        AddBytes("send: invalid UTF-8 in userId", Send, [.. "{\"userId\":\"a"u8, 0xFF, .. "b\",\"data\":1}"u8], Bad, null);
        AddBytes("send: invalid UTF-8 in data", Send, [.. "{\"userId\":\"a\",\"data\":\"x"u8, 0xC3, 0x28, .. "\"}"u8], Bad, null);
        AddBytes("send: overlong UTF-8 in data", Send, [.. "{\"userId\":\"a\",\"data\":{\"k\":\""u8, 0xC0, 0xAF, .. "\"}}"u8], Bad, null);
        AddBytes("send: invalid UTF-8 in a field name", Send, [.. "{\"userId\":\"a\",\"data\":1,\""u8, 0xFE, .. "\":1}"u8], Bad, null);

        // POST /sse/broadcast
        Add("broadcast: empty filter", "POST", Broadcast, "{\"data\":1,\"filter\":{}}", Bad, "filter.userIds");
        Add("broadcast: filter with bad user", "POST", Broadcast, "{\"data\":1,\"filter\":{\"userIds\":[\"a}\"]}}", Bad, "filter.userIds[0]");
        Add("broadcast: filter is a string", "POST", Broadcast, "{\"data\":1,\"filter\":\"all\"}", Bad, "filter");
        Add("broadcast: unknown filter field", "POST", Broadcast, "{\"data\":1,\"filter\":{\"userIds\":[\"a\"],\"roles\":[]}}", Bad, "filter.roles");
        Add("broadcast: data missing", "POST", Broadcast, "{\"eventType\":\"x\"}", Bad, "data");
        Add("broadcast: reserved eventType heartbeat", "POST", Broadcast, "{\"eventType\":\"heartbeat\",\"data\":1}", Bad, "eventType");
        Add("broadcast: unknown field", "POST", Broadcast, "{\"data\":1,\"userId\":\"a\"}", Bad, "userId");
        Add("broadcast: text/plain", "POST", Broadcast, "{\"data\":1}", HttpStatusCode.UnsupportedMediaType, null, "text/plain");

        // POST /sse/topics/{topic}/publish
        Add("topic: space in name", "POST", "/sse/topics/bad%20topic/publish", "{\"data\":1}", Bad, "topic");
        Add("topic: braces in name", "POST", "/sse/topics/a%7Bb%7D/publish", "{\"data\":1}", Bad, "topic");
        Add("topic: control char in name", "POST", "/sse/topics/a%01b/publish", "{\"data\":1}", Bad, "topic");
        Add("topic: name too long", "POST", "/sse/topics/" + new string('t', 129) + "/publish", "{\"data\":1}", Bad, "topic");
        Add("topic: malformed JSON", "POST", Topic, "{\"data\":", Bad, null);
        Add("topic: data missing", "POST", Topic, "{}", Bad, "data");
        Add("topic: reserved eventType reset", "POST", Topic, "{\"eventType\":\"reset\",\"data\":1}", Bad, "eventType");
        Add("topic: unknown field", "POST", Topic, "{\"data\":1,\"topic\":\"x\"}", Bad, "topic");
        Add("topic: text/plain", "POST", Topic, "{\"data\":1}", HttpStatusCode.UnsupportedMediaType, null, "text/plain");

        // POST /sse/users/{userId}/disconnect
        Add("disconnect: reconnect is a string", "POST", Disconnect, "{\"reconnect\":\"no\"}", Bad, "reconnect");
        Add("disconnect: reason is a number", "POST", Disconnect, "{\"reason\":5}", Bad, "reason");
        Add("disconnect: reason with control char", "POST", Disconnect, "{\"reason\":\"bye\\u0007\"}", Bad, "reason");
        Add("disconnect: reason too long", "POST", Disconnect, "{\"reason\":\"" + new string('r', 201) + "\"}", Bad, "reason");
        Add("disconnect: unknown field", "POST", Disconnect, "{\"force\":true}", Bad, "force");
        Add("disconnect: malformed JSON", "POST", Disconnect, "{\"reason\"", Bad, null);
        Add("disconnect: text/plain", "POST", Disconnect, "bye", HttpStatusCode.UnsupportedMediaType, null, "text/plain");
        Add("disconnect: bad userId in path", "POST", "/sse/users/a%20b/disconnect", "{}", Bad, "userId");

        // Admin reads
        Add("stats: negative top", "GET", "/sse/stats?top=-1", null, Bad, "top");
        Add("stats: top too large", "GET", "/sse/stats?top=5000", null, Bad, "top");
        Add("stats: top not a number", "GET", "/sse/stats?top=abc", null, Bad, "top");
        Add("stats: top fractional", "GET", "/sse/stats?top=1.5", null, Bad, "top");
        Add("stats: top empty", "GET", "/sse/stats?top=", null, Bad, "top");
        Add("stats: top twice", "GET", "/sse/stats?top=1&top=2", null, Bad, "top");
        Add("stats: top overflows", "GET", "/sse/stats?top=99999999999", null, Bad, "top");
        Add("connections: bad userId in path", "GET", "/sse/users/a%7Bb/connections", null, Bad, "userId");
        Add("delete: connection id too long", "DELETE", "/sse/connections/" + new string('c', 65), null, Bad, "connectionId");

        // POST /dev/token
        Add("dev token: lifetime 0", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":0}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: lifetime negative", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":-5}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: lifetime over a day", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":86401}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: lifetime is a string", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":\"long\"}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: lifetime is fractional", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":1.5}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: lifetime overflows", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":99999999999}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: userId missing", "POST", DevToken, "{}", Bad, "userId", anonymous: true);
        Add("dev token: roles is a string", "POST", DevToken, "{\"userId\":\"a\",\"roles\":\"admin\"}", Bad, "roles", anonymous: true);
        Add("dev token: unknown field", "POST", DevToken, "{\"userId\":\"a\",\"scope\":\"all\"}", Bad, "scope", anonymous: true);
        Add("dev token: text/plain", "POST", DevToken, "{\"userId\":\"a\"}", HttpStatusCode.UnsupportedMediaType, null, "text/plain", anonymous: true);

        // GET /sse/connect: a malformed query is a 400 (EventSource stops for good, which is right)
        Add("connect: invalid topic", "GET", "/sse/connect?topics=news,bad%20topic", null, Bad, "topics");
        Add("connect: topic with braces", "GET", "/sse/connect?topics=%7Bx%7D", null, Bad, "topics");
        Add("connect: too many topics", "GET", "/sse/connect?topics=" + string.Join(",", Enumerable.Range(0, 33).Select(i => "t" + i)), null, Bad, "topics");
        Add("connect: clientId with control chars", "GET", "/sse/connect?clientId=tab%0D%0A1", null, Bad, "clientId");
        Add("connect: clientId with NUL", "GET", "/sse/connect?clientId=a%00b", null, Bad, "clientId");
        Add("connect: clientId too long", "GET", "/sse/connect?clientId=" + new string('c', 129), null, Bad, "clientId");

        // Strict bodies: a key given twice, a name in another case, a number in a string, the wrong media type
        Add("send: duplicate userId", "POST", Send, "{\"userId\":\"a\",\"userId\":\"b\",\"data\":1}", Bad, "userId");
        Add("send: duplicate data", "POST", Send, "{\"userId\":\"a\",\"data\":1,\"data\":2}", Bad, "data");
        Add("send: duplicate key inside data", "POST", Send, "{\"userId\":\"a\",\"data\":{\"x\":1,\"x\":2}}", Bad, "data");
        Add("send: UserId", "POST", Send, "{\"UserId\":\"a\",\"data\":1}", Bad, "UserId");
        Add("send: Data", "POST", Send, "{\"userId\":\"a\",\"Data\":1}", Bad, "Data");
        Add("send: USERIDS", "POST", Send, "{\"USERIDS\":[\"a\"],\"data\":1}", Bad, "USERIDS");
        Add("send: no Content-Type", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", contentType: null);
        Add("send: +json type", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", "application/vnd.api+json");
        Add("send: problem+json type", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", "application/problem+json");
        Add("send: text/json", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", "text/json");
        Add("send: charset utf-16", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", "application/json; charset=utf-16");
        Add("send: other parameter", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", "application/json; profile=x");
        Add("send: application/jsonx", "POST", Send, "{\"userId\":\"a\",\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", "application/jsonx");
        Add("broadcast: duplicate filter", "POST", Broadcast, "{\"data\":1,\"filter\":{\"userIds\":[\"a\"]},\"filter\":null}", Bad, "filter");
        Add("broadcast: duplicate filter.userIds", "POST", Broadcast, "{\"data\":1,\"filter\":{\"userIds\":[\"a\"],\"userIds\":[]}}", Bad, "filter.userIds");
        Add("broadcast: filter.UserIds", "POST", Broadcast, "{\"data\":1,\"filter\":{\"UserIds\":[\"a\"]}}", Bad, "filter.UserIds");
        Add("broadcast: EventType", "POST", Broadcast, "{\"EventType\":\"x\",\"data\":1}", Bad, "EventType");
        Add("broadcast: malformed JSON", "POST", Broadcast, "{\"data\":[1,2}", Bad, null);
        Add("broadcast: no Content-Type", "POST", Broadcast, "{\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", contentType: null);
        Add("topic: duplicate eventType", "POST", Topic, "{\"eventType\":\"a\",\"eventType\":\"b\",\"data\":1}", Bad, "eventType");
        Add("topic: DATA", "POST", Topic, "{\"DATA\":1}", Bad, "DATA");
        Add("topic: no Content-Type", "POST", Topic, "{\"data\":1}", HttpStatusCode.UnsupportedMediaType, "Content-Type", contentType: null);
        Add("disconnect: duplicate reason", "POST", Disconnect, "{\"reason\":\"a\",\"reason\":\"b\"}", Bad, "reason");
        Add("disconnect: Reconnect", "POST", Disconnect, "{\"Reconnect\":false}", Bad, "Reconnect");
        Add("disconnect: no Content-Type", "POST", Disconnect, "{\"reason\":\"x\"}", HttpStatusCode.UnsupportedMediaType, "Content-Type", contentType: null);
        Add("dev token: duplicate userId", "POST", DevToken, "{\"userId\":\"a\",\"userId\":\"admin\"}", Bad, "userId", anonymous: true);
        Add("dev token: userid", "POST", DevToken, "{\"userid\":\"a\"}", Bad, "userid", anonymous: true);
        Add("dev token: lifetime as a string", "POST", DevToken, "{\"userId\":\"a\",\"lifetimeSeconds\":\"60\"}", Bad, "lifetimeSeconds", anonymous: true);
        Add("dev token: malformed JSON", "POST", DevToken, "{\"userId\":", Bad, null, anonymous: true);
        Add("dev token: no Content-Type", "POST", DevToken, "{\"userId\":\"a\"}", HttpStatusCode.UnsupportedMediaType, "Content-Type", contentType: null, anonymous: true);

        // One rule for user ids and topics, at every entry: body, connect query, token sub, admin and publish URLs
        string[] badNames = ["a/b", "a%2Fb", ".", "..", "zo\u00eb", "a\u00a0b", "a+b", "a b", "a,b", "a{b}", new string('n', 129)];
        for (var i = 0; i < badNames.Length; i++)
        {
            var name = badNames[i];
            var label = $"#{i} '{(name.Length > 20 ? name[..20] + "…" : name)}'";
            var json = JsonSerializer.Serialize(name);
            var escaped = Uri.EscapeDataString(name);
            Add($"name {label}: send userId", "POST", Send, $"{{\"userId\":{json},\"data\":1}}", Bad, "userId");
            Add($"name {label}: send userIds", "POST", Send, $"{{\"userIds\":[\"ok\",{json}],\"data\":1}}", Bad, "userIds[1]");
            Add($"name {label}: broadcast filter", "POST", Broadcast, $"{{\"data\":1,\"filter\":{{\"userIds\":[{json}]}}}}", Bad, "filter.userIds[0]");
            Add($"name {label}: dev token userId", "POST", DevToken, $"{{\"userId\":{json}}}", Bad, "userId", anonymous: true);
            if (!name.Contains(',', StringComparison.Ordinal))
            {
                // In the query a comma, escaped or not, separates topics: 'a,b' is two good ones.
                Add($"name {label}: connect topics", "GET", "/sse/connect?topics=news," + escaped, null, Bad, "topics");
            }

            AddToken($"name {label}: token sub on connect", "GET", "/sse/connect", Tokens.For(name));
            AddToken($"name {label}: token sub on tickets", "POST", "/sse/tickets", Tokens.For(name));
            AddToken($"name {label}: token sub on send", "POST", Send, Tokens.Admin(name), "{\"userId\":\"a\",\"data\":1}");
            if (name is not ("." or ".."))
            {
                // In a URL, '.' and '..' are dot segments: clients and the server drop them, so no user or topic is named.
                Add($"name {label}: connections URL", "GET", $"/sse/users/{escaped}/connections", null, Bad, "userId");
                Add($"name {label}: disconnect URL", "POST", $"/sse/users/{escaped}/disconnect", null, Bad, "userId");
                Add($"name {label}: publish URL", "POST", $"/sse/topics/{escaped}/publish", "{\"data\":1}", Bad, "topic");
            }
        }

        // The raw '%2F' (not double-escaped) and dot segments in admin and publish URLs
        Add("url: disconnect a%2Fb", "POST", "/sse/users/a%2Fb/disconnect", "{}", Bad, "userId");
        Add("url: connections a%2Fb", "GET", "/sse/users/a%2Fb/connections", null, Bad, "userId");
        Add("url: publish a%2Fb", "POST", "/sse/topics/a%2Fb/publish", "{\"data\":1}", Bad, "topic");
        Add("url: disconnect ..", "POST", "/sse/users/../disconnect", "{}", HttpStatusCode.NotFound, null);
        Add("url: disconnect %2E%2E", "POST", "/sse/users/%2E%2E/disconnect", "{}", HttpStatusCode.NotFound, null);
        Add("url: connections .", "GET", "/sse/users/./connections", null, HttpStatusCode.NotFound, null);
        Add("url: publish ..", "POST", "/sse/topics/../publish", "{\"data\":1}", HttpStatusCode.NotFound, null);

        // Routing
        Add("routing: unknown API path", "GET", "/sse/nothing-here", null, HttpStatusCode.NotFound, null);
        Add("routing: unknown API path under /dev", "GET", "/dev/nothing-here", null, HttpStatusCode.NotFound, null);
        Add("routing: GET on a POST endpoint", "GET", Send, null, HttpStatusCode.MethodNotAllowed, null);
        Add("routing: PUT on stats", "PUT", "/sse/stats", "{}", HttpStatusCode.MethodNotAllowed, null);
        Add("routing: POST on connect", "POST", "/sse/connect", "{}", HttpStatusCode.MethodNotAllowed, null);

        return rows.ToDictionary(r => r.Name);
    }

    [GeneratedRegex("^[0-9a-z.~-]*$")]
    private static partial Regex IdPattern();

    /// <summary>
    /// Two gateways with default settings, one in Development and one in Production (its signing key set explicitly, as
    /// every test node's is), each with two endpoints of the test's own: one that throws, one with a bound query value.
    /// Each node's log entries at Error and above are kept.
    /// </summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public const string ThrowPath = "/sse/test-only/throw";
        public const string BindPath = "/sse/test-only/bind";
        public const string ThrowMessage = "secret-exception-message Redis 10.1.2.3:6379 Orleans silo S10.1.2.3:11111";

        private readonly Dictionary<string, GatewayHost> _nodes = [];
        private readonly Dictionary<string, ConcurrentQueue<string>> _errors = new() { [Development] = new(), [Production] = new() };

        public GatewayHost Gateway => _nodes[Development];

        public GatewayHost Node(string environment) => _nodes[environment];

        public IReadOnlyCollection<string> Errors(string environment) => _errors[environment];

        public async Task InitializeAsync()
        {
            var started = await Task.WhenAll(StartAsync(Development), StartAsync(Production));
            _nodes[Development] = started[0];
            _nodes[Production] = started[1];
        }

        public async Task DisposeAsync()
        {
            foreach (var node in _nodes.Values)
            {
                await node.DisposeAsync();
            }
        }

        private Task<GatewayHost> StartAsync(string environment) =>
            GatewayHost.StartAsync(
                new Dictionary<string, string?> { ["SseCluster:Auth:SigningKey"] = GatewayHost.SigningKey },
                environment,
                configure: builder => builder.Logging.AddProvider(new TestLoggerProvider(
                    (category, level, message, exception) => _errors[environment].Enqueue($"{level} {category}: {message} {exception?.GetType().Name}"),
                    LogLevel.Error)),
                map: app =>
                {
                    app.MapGet(ThrowPath, string () => throw new InvalidOperationException(ThrowMessage));
                    app.MapGet(BindPath, (int n) => Results.Ok(n));
                });
    }

    private sealed record BadRequest(string Name, HttpMethod Method, string Path, string? ContentType, byte[]? Body, HttpStatusCode Status, string? Field, bool Anonymous)
    {
        /// <summary>The bearer token to send instead of an admin's.</summary>
        public string? Bearer { get; init; }

        /// <summary>Text the problem's detail must contain.</summary>
        public string? DetailContains { get; init; }

        /// <summary>An endpoint mapped only in Development (<c>/dev/token</c>).</summary>
        public bool DevOnly { get; init; }
    }
}

/// <summary>Checks an RFC 7807 answer.</summary>
internal static class ProblemAsserts
{
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? field = null, string? what = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{what}: answered {(int)response.StatusCode}, expected {(int)status}: {body}");
        if (status == HttpStatusCode.Unauthorized)
        {
            // RFC 9110 §15.5.2: every 401 carries a challenge.
            Assert.True(response.Headers.WwwAuthenticate.Any(h => h.Scheme == "Bearer"), $"{what}: 401 without WWW-Authenticate: Bearer");
        }

        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{what}: content type '{response.Content.Headers.ContentType}', body: {body}");
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()), $"{what}: no title: {body}");
        if (field is not null)
        {
            Assert.True(problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object, $"{what}: no errors object: {body}");
            Assert.True(errors.TryGetProperty(field, out var messages), $"{what}: errors does not name '{field}': {body}");
            Assert.Contains(messages.EnumerateArray(), m => !string.IsNullOrWhiteSpace(m.GetString()));
        }

        return problem;
    }

    /// <summary>An error body names no code location, exception, request header or credential.</summary>
    public static void AssertDiscloseNothing(string body, string? token, string? what = null)
    {
        foreach (var leak in new[] { " at SseCluster", " at Microsoft.", " at System.", "StackTrace", "stack trace", "Authorization", "Bearer", "Exception", "Orleans", "Redis", "Host:" })
        {
            Assert.False(body.Contains(leak, StringComparison.OrdinalIgnoreCase), $"{what}: the error body contains '{leak}': {body}");
        }

        if (token is not null)
        {
            Assert.False(body.Contains(token[..Math.Min(24, token.Length)], StringComparison.Ordinal), $"{what}: the error body contains the token: {body}");
        }
    }
}
