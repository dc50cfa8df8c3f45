using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// Bad input to every endpoint answers a clear 4xx problem (naming the field at fault), never a 500, and never harms
/// the node; hostile payloads cannot forge stream fields.
/// </summary>
public sealed partial class BadInputTests(BadInputTests.Fixture fixture) : IClassFixture<BadInputTests.Fixture>, IDisposable
{
    private const string Json = "application/json";

    private static readonly Dictionary<string, BadRequest> Table = BuildTable();

    private readonly GatewayHost _gateway = fixture.Gateway;
    private readonly HttpClient _admin = fixture.Gateway.CreateClient(Tokens.Admin("bad-input-admin"));

    public static TheoryData<string> Cases => new(Table.Keys);

    public void Dispose() => _admin.Dispose();

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task BadInput_AnswersProblemWith4xx_NamingTheField(string name)
    {
        await AssertRefusedAsync(Table[name]);
    }

    [Fact]
    public async Task AfterEveryBadInput_NodeStillConnectsAndDelivers()
    {
        foreach (var bad in Table.Values)
        {
            await AssertRefusedAsync(bad);
        }

        using var health = await _admin.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        using var client = _gateway.CreateClient(Tokens.For("survivor"));
        await using var stream = await SseStream.OpenAsync(client, "/sse/connect?clientId=after-table");
        await stream.WaitForAsync("welcome");
        var receipt = await _admin.SendAsync("survivor", "{\"still\":\"alive\"}", "check");
        Assert.Equal(1, receipt.GetProperty("connections").GetInt32());
        Assert.Equal("{\"still\":\"alive\"}", (await stream.WaitForAsync("check")).Data);
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

    private async Task AssertRefusedAsync(BadRequest bad)
    {
        using var client = bad.Anonymous ? _gateway.CreateClient() : _gateway.CreateClient(Tokens.Admin("bad-input-admin"));
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

        using var response = await client.SendAsync(request);
        await ProblemAsserts.AssertProblemAsync(response, bad.Status, bad.Field, $"{bad.Name}: {bad.Method} {bad.Path}");
    }

    private static Dictionary<string, BadRequest> BuildTable()
    {
        var rows = new List<BadRequest>();
        void Add(string name, string method, string path, string? body, HttpStatusCode status, string? field, string? contentType = Json, bool anonymous = false) =>
            rows.Add(new BadRequest(name, new HttpMethod(method), path, contentType, body is null ? null : Encoding.UTF8.GetBytes(body), status, field, anonymous));
        void AddBytes(string name, string path, byte[] body, HttpStatusCode status, string? field) =>
            rows.Add(new BadRequest(name, HttpMethod.Post, path, Json, body, status, field, false));

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
        Add("stats: top not a number", "GET", "/sse/stats?top=abc", null, Bad, null);
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

        return rows.ToDictionary(r => r.Name);
    }

    [GeneratedRegex("^[0-9a-z.~-]*$")]
    private static partial Regex IdPattern();

    /// <summary>One gateway for the class, default settings.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public GatewayHost Gateway { get; private set; } = null!;

        public async Task InitializeAsync() => Gateway = await GatewayHost.StartAsync();

        public async Task DisposeAsync() => await Gateway.DisposeAsync();
    }

    private sealed record BadRequest(string Name, HttpMethod Method, string Path, string? ContentType, byte[]? Body, HttpStatusCode Status, string? Field, bool Anonymous);
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
}
