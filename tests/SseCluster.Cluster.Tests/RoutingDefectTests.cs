using System.Diagnostics;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SseCluster.Cluster.Tests.Support;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Cluster.Tests;

/// <summary>
/// Defects of the routing layer the grains replaced, each pinned by a scenario on real gateways and a real
/// redis-server: a ticket connect during a Redis outage, a client leaving during one, what a 503 tells the caller,
/// and a publish whose fan-out would store far more than its own size. A test that stops Redis starts its own.
/// </summary>
public sealed partial class RoutingDefectTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TicketConnect_WhileTheStoreIsDown_Answers200RetryClose_TheCookieReconnectIsAuthenticatedWithoutIt_AndStreamsOnceRedisIsBack()
    {
        var clock = Stopwatch.StartNew();
        await using var env = await OwnCluster.StartAsync(2);
        var (a, b) = (env.Cluster[0], env.Cluster[1]);
        const string user = "ticket-user";
        var token = Tokens.For(user);
        var used = await IssueTicketAsync(a, token);
        var spare = await IssueTicketAsync(a, token); // issued, never redeemed: only the store can say it is good
        var url = $"/sse/connect?clientId=tab&ticket={used}";

        // The browser's first stream, on A: it sets the session cookie.
        string cookie;
        string lastId;
        using (var browser = a.CreateClient())
        {
            await using var stream = await SseStream.OpenAsync(browser, url);
            cookie = stream.Response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("sse_session=", StringComparison.Ordinal)).Split(';')[0];
            await stream.WaitForAsync("welcome");
            using var publisher = a.CreateClient(Tokens.Publisher());
            await publisher.SendAsync(user, """{"n":1}""", "item");
            await stream.WaitForAsync("item");
            lastId = stream.LastEventId!;
        }

        await env.StopRedisAsync();
        var down = clock.Elapsed;

        // A ticket nobody can check now: retry later, never an error status EventSource would give up on.
        using (var fresh = b.CreateClient())
        {
            var refusal = await ConnectUntilCloseAsync(fresh, $"/sse/connect?ticket={spare}");
            AssertRetryClose(refusal, "a ticket connect while Redis is down");
            output.WriteLine($"ticket connect while down: 200 + retry + close in {refusal.Took.TotalMilliseconds:F0} ms");
        }

        // The browser's own reconnect to B — same URL (spent ticket), the cookie, Last-Event-ID: the cookie is
        // checked without the store, then the connect meets the outage like any other: 200, retry, close.
        using var reconnecting = b.CreateClient();
        reconnecting.DefaultRequestHeaders.Add("Cookie", cookie);
        var reconnect = await ConnectUntilCloseAsync(reconnecting, url, lastId);
        AssertRetryClose(reconnect, "the cookie reconnect while Redis is down");
        output.WriteLine($"cookie reconnect while down: 200 + retry + close in {reconnect.Took.TotalMilliseconds:F0} ms");

        // Proof the cookie authenticated it: only an authenticated caller gets as far as checking the query, so the
        // same reconnect with a malformed topic is a 400, not a "try later" from authentication.
        var probe = await ConnectUntilCloseAsync(reconnecting, url + "&topics=" + Uri.EscapeDataString("not a topic"), lastId);
        Assert.True(probe.Status == HttpStatusCode.BadRequest, $"the cookie reconnect with a bad topic answered {(int)probe.Status}: {probe.Body}");
        var outage = clock.Elapsed - down;

        // Redis comes back (from its dump, as a persistent Redis does): the same reconnect streams, and resumes.
        await env.StartRedisAsync();
        var up = clock.Elapsed;
        SseStream? resumed = null;
        await Eventually.TrueAsync(
            async () =>
            {
                var (response, stream) = await SseStream.TryOpenAsync(reconnecting, url, lastId);
                if (stream is null)
                {
                    response.Dispose();
                    Assert.Fail($"the cookie reconnect after Redis came back answered {(int)response.StatusCode}");
                }

                var first = await stream.WaitForAsync(e => e.EventType is "welcome" or "close", "welcome or close");
                if (first.EventType == "welcome")
                {
                    resumed = stream;
                    return true;
                }

                await stream.DisposeAsync();
                return false;
            },
            () => "the cookie reconnect to stream again after Redis came back",
            TimeSpan.FromSeconds(20),
            TimeSpan.FromMilliseconds(200));
        await using (resumed)
        {
            Assert.Equal(user, resumed!.Received[0].Json.GetProperty("userId").GetString());
            // A 503 answered by a timeout may still have been stored: the retries carry one Idempotency-Key.
            using var publisher = b.CreateClient(Tokens.Publisher());
            publisher.DefaultRequestHeaders.Add("Idempotency-Key", "after-the-outage");
            await Eventually.TrueAsync(
                async () =>
                {
                    using var response = await publisher.PostAsync("/sse/send", Json($$$"""{"userId":"{{{user}}}","eventType":"item","data":{"n":2}}"""));
                    return response.StatusCode == HttpStatusCode.Accepted;
                },
                () => "a publish to be accepted after Redis came back",
                TimeSpan.FromSeconds(15),
                TimeSpan.FromMilliseconds(200));
            Assert.Equal("""{"n":2}""", (await resumed.WaitForAsync("item")).Data);
            lock (resumed.Received)
            {
                Assert.DoesNotContain(resumed.Received, e => e.EventType == "reset");
                Assert.Single(resumed.Received, e => e.EventType == "item"); // n=1 was seen before the outage
            }
        }

        output.WriteLine($"outage checks took {outage.TotalSeconds:F1} s; streaming again {(clock.Elapsed - up).TotalSeconds:F1} s after Redis restarted; test {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task ClientThatLeavesWhileTheStoreIsDown_IsNoLongerListedOrCounted_OnAnotherNode()
    {
        var clock = Stopwatch.StartNew();
        await using var env = await OwnCluster.StartAsync(2);
        var (a, b) = (env.Cluster[0], env.Cluster[1]);
        const string user = "leaver";
        using var admin = b.CreateClient(Tokens.Admin());
        var connection = await UserConnection.OpenAsync(a, user, clientId: "tab");
        try
        {
            var listed = await admin.GetJsonAsync($"/sse/users/{user}/connections");
            Assert.Equal(connection.ConnectionId, Assert.Single(listed.EnumerateArray()).GetProperty("connectionId").GetString());
            Assert.Equal(1, UserCount(await admin.GetJsonAsync("/sse/stats"), user));

            await env.StopRedisAsync();
        }
        finally
        {
            await connection.DisposeAsync(); // the client leaves
        }

        // B answers from the gateways themselves: A forgot the connection when it closed, whatever Redis is doing.
        await Eventually.TrueAsync(
            async () => (await admin.GetJsonAsync($"/sse/users/{user}/connections")).GetArrayLength() == 0,
            () => "B to stop listing the connection that left while Redis was down",
            TimeSpan.FromSeconds(10));
        var stats = await admin.GetJsonAsync("/sse/stats");
        Assert.Equal(0, stats.GetProperty("connections").GetInt32());
        Assert.Equal(0, UserCount(stats, user));
        var forgotten = clock.Elapsed;

        // Nothing is left behind to reappear once Redis is back.
        await env.StartRedisAsync();
        await WaitReadyAsync(a, b);
        Assert.Equal(0, (await admin.GetJsonAsync($"/sse/users/{user}/connections")).GetArrayLength());
        Assert.Equal(0, UserCount(await admin.GetJsonAsync("/sse/stats"), user));
        output.WriteLine($"forgotten while down at {forgotten.TotalSeconds:F1} s; test {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task With503_BodiesShowNoInternals_NoRedisAddressCommandKeyExceptionTypeOrSilo()
    {
        var clock = Stopwatch.StartNew();
        await using var env = await OwnCluster.StartAsync(2);
        var (a, b) = (env.Cluster[0], env.Cluster[1]);
        using var admin = a.CreateClient(Tokens.Admin());
        using var page = b.CreateClient(Tokens.For("ticket-user"));
        using var adminOfB = b.CreateClient(Tokens.Admin());
        await admin.SendAsync("warm", """{"n":1}""", "item"); // its stream grain is active; "cold"'s is not
        await env.StopRedisAsync();

        var calls = new (string What, HttpClient Client, string Path, string? Body)[]
        {
            ("send to a user whose stream is active", admin, "/sse/send", """{"userId":"warm","data":{"n":2}}"""),
            ("send to a user whose stream is not", admin, "/sse/send", """{"userId":"cold","data":{"n":2}}"""),
            ("send to several users", admin, "/sse/send", """{"userIds":["warm","cold","other"],"data":{"n":2}}"""),
            ("topic publish", admin, "/sse/topics/news/publish", """{"data":{"n":2}}"""),
            ("broadcast", admin, "/sse/broadcast", """{"data":{"n":2}}"""),
            ("ticket issue", page, "/sse/tickets", null),
            ("admin disconnect", adminOfB, "/sse/users/warm/disconnect", """{"reason":"bye","reconnect":false}"""),
        };
        var internals = Internals(env);
        foreach (var (what, client, path, body) in calls)
        {
            var started = clock.Elapsed;
            using var response = await client.PostAsync(path, body is null ? null : Json(body));
            var text = await response.Content.ReadAsStringAsync();
            output.WriteLine($"{what}: {(int)response.StatusCode} in {(clock.Elapsed - started).TotalMilliseconds:F0} ms: {text}");
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{what} answered {(int)response.StatusCode} while Redis was down: {text}");
            Assert.True(response.Headers.RetryAfter is { Delta: { } delay } && delay > TimeSpan.Zero, $"{what}: 503 without Retry-After");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(text);
            Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrWhiteSpace(problem.RootElement.GetProperty("detail").GetString()), $"{what}: no detail");
            foreach (var (leak, pattern) in internals)
            {
                Assert.False(pattern.IsMatch(text), $"{what}: the 503 body shows {leak}: {text}");
            }
        }

        output.WriteLine($"test {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task OneSixtyFourKbPublishTo3500Users_Is413NamingTheByteBudget_BeforeAnythingIsStored_WhileATopicTakesIt_AndTheBoundaryIsExact()
    {
        var clock = Stopwatch.StartNew();
        await using var redis = await RedisServer.StartNewAsync();

        // The request body (3,500 user ids and 64 KB of data) is allowed; what the fan-out would store is not.
        var settings = new Dictionary<string, string?> { ["SseCluster:Limits:MaxPayloadBytes"] = (1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await using var cluster = await GatewayCluster.StartAsync(redis.ConnectionString, 2, settings);
        var (a, b) = (cluster[0], cluster[1]);
        var users = Enumerable.Range(0, 3500).Select(i => $"fan-{i:D4}").ToList();
        await using var first = await UserConnection.OpenAsync(a, users[0]);
        await using var last = await UserConnection.OpenAsync(b, users[^1], topics: "big");
        using var publisher = a.CreateClient(Tokens.Publisher());
        var data = JsonString(64 * 1024);

        var body = $$"""{"userIds":{{JsonSerializer.Serialize(users)}},"eventType":"big","data":{{data}}}""";
        using (var response = await publisher.PostAsync("/sse/send", Json(body)))
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"the 3,500-user send answered {(int)response.StatusCode}: {text}");
            var detail = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString()!;
            Assert.Contains("16777216", detail, StringComparison.Ordinal);
            Assert.Contains("SseCluster:Publish:MaxBytesPerPublish", detail, StringComparison.Ordinal);
            Assert.Contains((64L * 1024 * 3500).ToString(System.Globalization.CultureInfo.InvariantCulture), detail, StringComparison.Ordinal);
        }

        // Nothing was stored: a marker is each stream's first event, at sequence 1.
        foreach (var (user, connection) in new[] { (users[0], first), (users[^1], last) })
        {
            var receipt = await publisher.SendAsync(user, """{"marker":true}""", "marker");
            Assert.Equal(1, receipt.GetProperty("events")[0].GetProperty("sequence").GetInt64());
            await connection.Stream.WaitForAsync("marker");
            lock (connection.Stream.Received)
            {
                Assert.DoesNotContain(connection.Stream.Received, e => e.EventType == "big");
            }
        }

        // The same 64 KB to a topic is stored once, and arrives whole.
        var topic = await publisher.PostJsonAsync("/sse/topics/big/publish", $$"""{"eventType":"big","data":{{data}}}""");
        Assert.Equal(1, topic.GetProperty("events")[0].GetProperty("sequence").GetInt64());
        Assert.Equal(data, (await last.Stream.WaitForAsync("big")).Data);

        // With a budget of 10,000 bytes: 4 users × 2,500 bytes is taken, one byte more per user is not.
        await using var small = await GatewayCluster.StartAsync(redis.ConnectionString, 1, new Dictionary<string, string?> { ["SseCluster:Publish:MaxBytesPerPublish"] = "10000" });
        using var smallPublisher = small[0].CreateClient(Tokens.Publisher());
        string[] four = ["edge-1", "edge-2", "edge-3", "edge-4"];
        using (var over = await smallPublisher.PostAsync("/sse/send", Json($$"""{"userIds":{{JsonSerializer.Serialize(four)}},"data":{{JsonString(2501)}}}""")))
        {
            var text = await over.Content.ReadAsStringAsync();
            Assert.True(over.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"4 × 2,501 bytes answered {(int)over.StatusCode}: {text}");
            Assert.Contains("10004", text, StringComparison.Ordinal);
            Assert.Contains("10000", text, StringComparison.Ordinal);
        }

        var exact = await smallPublisher.PostJsonAsync("/sse/send", $$"""{"userIds":{{JsonSerializer.Serialize(four)}},"data":{{JsonString(2500)}}}""");
        Assert.Equal([1L, 1L, 1L, 1L], exact.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("sequence").GetInt64()).ToArray());
        output.WriteLine($"test {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>What a 503 body must not show, each with a pattern that finds it.</summary>
    private static List<(string Leak, Regex Pattern)> Internals(OwnCluster env) =>
    [
        ("the Redis address", new Regex(Regex.Escape($":{env.Redis.Port}"))),
        ("an IP address", new Regex(@"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")),
        ("a Redis command", new Regex(@"\b(EVAL|EVALSHA|FCALL|XADD|XRANGE|XREVRANGE|XTRIM|XLEN|HGET|HGETALL|HSET|HDEL|HEXPIRE|GET|GETDEL|SET|DEL|EXPIRE|PEXPIRE|PING|PUBLISH|SUBSCRIBE|MULTI|EXEC)\b")),
        ("a key name", new Regex(@"sse:|\{u:|\{t:|\{b\}|" + Regex.Escape(env.Cluster.Prefix))),
        ("an exception type", new Regex(@"\w*Exception\b|StackExchange|System\.")),
        ("Orleans or a silo", new Regex(@"Orleans|\bsilo|S\d+\.\d+\.\d+\.\d+:\d+", RegexOptions.IgnoreCase)),
        ("a stack trace", new Regex(@"\bat \w+\.|\.cs:line")),
    ];

    private static void AssertRetryClose(Refusal refusal, string what)
    {
        Assert.True(refusal.Status == HttpStatusCode.OK, $"{what} answered {(int)refusal.Status}: {refusal.Body}");
        Assert.True(refusal.Retry is { } retry && retry > TimeSpan.Zero, $"{what}: no retry: field in {refusal.Body}");
        var closes = refusal.Events.Where(e => e.EventType == "close").ToList();
        Assert.True(closes.Count == 1, $"{what}: not one event: close in {refusal.Body}");
        var close = closes[0];
        Assert.Equal("unavailable", JsonDocument.Parse(close.Data).RootElement.GetProperty("reason").GetString());
        Assert.DoesNotContain(refusal.Events, e => e.EventType == "welcome");
    }

    private sealed record Refusal(HttpStatusCode Status, string Body, TimeSpan? Retry, List<SseItem<string>> Events, TimeSpan Took);

    /// <summary>
    /// A stream request the server is expected to refuse: read until it ends or sends <c>event: close</c> (what a client
    /// acts on: it drops the connection and reconnects after <c>retry:</c>); fails if neither happens within 25 s.
    /// </summary>
    private async Task<Refusal> ConnectUntilCloseAsync(HttpClient client, string url, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(25));
        var clock = Stopwatch.StartNew();
        var events = new List<SseItem<string>>();
        HttpStatusCode? status = null;
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = response.StatusCode;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new Refusal(response.StatusCode, await response.Content.ReadAsStringAsync(timeout.Token), null, [], clock.Elapsed);
            }

            await using var content = await response.Content.ReadAsStreamAsync(timeout.Token);
            var parser = SseParser.Create(content);
            await foreach (var item in parser.EnumerateAsync(timeout.Token))
            {
                events.Add(item);
                if (item.EventType == "close")
                {
                    break;
                }
            }

            var took = clock.Elapsed;
            var body = string.Join("\n", events.Select(e => $"event: {e.EventType} data: {e.Data}"));
            var retry = parser.ReconnectionInterval == Timeout.InfiniteTimeSpan ? (TimeSpan?)null : parser.ReconnectionInterval;

            // Not part of the contract (a client leaves on close), but worth seeing: does the response end with it?
            using var tail = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var ended = await content.ReadAsync(new byte[1], tail.Token).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result == 0, TaskScheduler.Default);
            output.WriteLine($"GET {url[..Math.Min(url.Length, 40)]}…: {events.Count} events in {took.TotalMilliseconds:F0} ms; the response {(ended ? "ended with them" : "was still open 1 s after the close")}");
            return new Refusal(response.StatusCode, body, retry, events, took);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException(
                $"GET {url} neither ended nor sent event: close within 25 s; status {(status is { } s ? ((int)s).ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")}, events: {string.Join(", ", events.Select(e => e.EventType))}");
        }
    }

    private static async Task<string> IssueTicketAsync(GatewayHost node, string token)
    {
        using var client = node.CreateClient(token);
        var ticket = await client.PostJsonAsync("/sse/tickets", "", HttpStatusCode.Created);
        return ticket.GetProperty("ticket").GetString()!;
    }

    private static int UserCount(JsonElement stats, string user) =>
        stats.GetProperty("topUsers").EnumerateArray().Where(u => u.GetProperty("userId").GetString() == user).Sum(u => u.GetProperty("connections").GetInt32());

    private static async Task WaitReadyAsync(params GatewayHost[] nodes)
    {
        foreach (var node in nodes)
        {
            using var client = node.CreateClient();
            await Eventually.TrueAsync(
                async () => (await client.GetAsync("/readyz")).IsSuccessStatusCode,
                () => $"{node.BaseAddress} to be ready again after Redis came back",
                TimeSpan.FromSeconds(20));
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A JSON string whose text is exactly <paramref name="bytes"/> UTF-8 bytes, quotes included.</summary>
    private static string JsonString(int bytes) => "\"" + new string('x', bytes - 2) + "\"";

    /// <summary>
    /// Gateways on a redis-server of their own, which the test stops (<c>SHUTDOWN SAVE</c>, as a persistent Redis that
    /// goes away) and starts again from its dump. Disposing starts it first if it is down, so the silos leave a
    /// reachable cluster.
    /// </summary>
    private sealed class OwnCluster : IAsyncDisposable
    {
        private OwnCluster(RedisServer redis, GatewayCluster cluster)
        {
            Redis = redis;
            Cluster = cluster;
        }

        public RedisServer Redis { get; }

        public GatewayCluster Cluster { get; }

        public static async Task<OwnCluster> StartAsync(int nodes)
        {
            var redis = await RedisServer.StartNewAsync();
            try
            {
                // Publishes (and connects' attaches) give up after 2 s instead of 10, so the outage checks stay short.
                var cluster = await GatewayCluster.StartAsync(redis.ConnectionString, nodes, new Dictionary<string, string?>
                {
                    ["SseCluster:Publish:RetryForSeconds"] = "2",
                    ["SseCluster:Publish:AttemptTimeoutMilliseconds"] = "1000",
                });
                return new OwnCluster(redis, cluster);
            }
            catch
            {
                await redis.DisposeAsync();
                throw;
            }
        }

        public async Task StopRedisAsync()
        {
            try
            {
                await Redis.ExecuteAsync("SHUTDOWN", "SAVE");
            }
            catch (IOException)
            {
                // SHUTDOWN answers by closing the connection.
            }

            await Eventually.TrueAsync(() => Task.FromResult(!Redis.IsRunning), "redis-server to exit after SHUTDOWN SAVE", TimeSpan.FromSeconds(10));
            await Redis.StopAsync();
        }

        public Task StartRedisAsync() => Redis.StartAsync();

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (!Redis.IsRunning)
                {
                    await Redis.StartAsync();
                }

                await Cluster.DisposeAsync();
            }
            finally
            {
                await Redis.DisposeAsync();
            }
        }
    }
}
