using System.Net;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// Caps and limits: a full node and a capped user are told to come back later (200 + <c>close</c>, never an error
/// status on the stream URL); oversize bodies get 413, fast publishers 429, too many topics 400.
/// </summary>
/// <remarks>
/// The class's gateway is shared by its tests, so each test uses its own users and publishers (limits are per user
/// and per caller); the node-cap tests start gateways of their own.
/// </remarks>
public sealed class LimitsTests(LimitsTests.Fixture fixture) : IClassFixture<LimitsTests.Fixture>
{
    private readonly GatewayHost _gateway = fixture.Gateway;

    [Fact]
    public async Task NodeAtConnectionCap_RefusesWith200RetryAndCloseOverloaded_ReadyzFollows_ExistingStreamsKeepWorking()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["SseCluster:Limits:MaxConnections"] = "3" });
        using var publisher = gateway.CreateClient(Tokens.Publisher("cap-publisher"));
        using var probe = gateway.CreateClient();
        var clients = Enumerable.Range(0, 3).Select(i => gateway.CreateClient(Tokens.For("cap-user-" + i))).ToArray();
        var streams = new List<SseStream>();
        try
        {
            foreach (var client in clients)
            {
                var stream = await SseStream.OpenAsync(client, "/sse/connect");
                streams.Add(stream);
                await stream.WaitForAsync("welcome");
            }

            using (var ready = await probe.GetAsync("/readyz"))
            {
                var problem = await ProblemAsserts.AssertProblemAsync(ready, HttpStatusCode.ServiceUnavailable, what: "/readyz at capacity");
                Assert.Contains("capacity", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }

            using var latecomer = gateway.CreateClient(Tokens.For("cap-latecomer"));
            for (var attempt = 4; attempt <= 10; attempt++)
            {
                var close = await ReadRefusalAsync(latecomer);
                Assert.Equal("overloaded", close.GetProperty("reason").GetString());
                Assert.True(close.GetProperty("reconnect").GetBoolean());
            }

            using (var health = await probe.GetAsync("/healthz"))
            {
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            }

            await publisher.SendAsync("cap-user-1", "{\"full\":true}", "while-full");
            Assert.Equal("{\"full\":true}", (await streams[1].WaitForAsync("while-full")).Data);

            await streams[0].DisposeAsync();
            streams.RemoveAt(0);
            await Eventually.TrueAsync(async () =>
            {
                using var ready = await probe.GetAsync("/readyz");
                return ready.StatusCode == HttpStatusCode.OK;
            }, "/readyz to answer 200 after a stream closed");

            var again = await SseStream.OpenAsync(latecomer, "/sse/connect");
            streams.Add(again);
            await again.WaitForAsync("welcome");
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }

            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task ConnectFlood_OfTwoHundredAgainstCapTwenty_AdmitsExactlyTwenty_RefusesTheRestAsOverloaded_AndKeepsServing()
    {
        const int cap = 20;
        const int attempts = 200;
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Limits:MaxConnections"] = cap.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SseCluster:Limits:MaxConnectionsPerUser"] = "1000",
        });
        using var client = gateway.CreateClient(Tokens.For("flooder"));
        using var service = gateway.CreateClient();
        service.DefaultRequestHeaders.Add("X-Api-Key", GatewayHost.ApiKey);

        var opened = new List<SseStream>();
        try
        {
            var outcomes = await Task.WhenAll(Enumerable.Range(0, attempts).Select(async _ =>
            {
                var (response, stream) = await SseStream.TryOpenAsync(client, "/sse/connect", timeout: TimeSpan.FromSeconds(20));
                if (stream is null)
                {
                    var status = response.StatusCode;
                    response.Dispose();
                    return (Status: status, Stream: (SseStream?)null, First: (ReceivedEvent?)null);
                }

                lock (opened)
                {
                    opened.Add(stream);
                }

                var first = await stream.WaitForAsync(e => e.EventType is "welcome" or "close", "welcome or close", TimeSpan.FromSeconds(20));
                return (Status: HttpStatusCode.OK, Stream: stream, First: first);
            }));

            Assert.All(outcomes, o => Assert.Equal(HttpStatusCode.OK, o.Status));
            var admitted = outcomes.Where(o => o.First!.EventType == "welcome").Select(o => o.Stream!).ToList();
            var refused = outcomes.Where(o => o.First!.EventType == "close").ToList();
            Assert.Equal(cap, admitted.Count);
            Assert.Equal(attempts - cap, refused.Count);
            foreach (var (_, stream, close) in refused)
            {
                Assert.Equal("overloaded", close!.Json.GetProperty("reason").GetString());
                Assert.True(close.Json.GetProperty("reconnect").GetBoolean());
                await stream!.Ended.WaitAsync(TimeSpan.FromSeconds(10));
            }

            Assert.Equal(cap, (await service.GetJsonAsync("/sse/stats")).GetProperty("connections").GetInt32());
            using (var health = await service.GetAsync("/healthz"))
            {
                Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            }

            using (var ready = await service.GetAsync("/readyz"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            }

            var receipt = await service.BroadcastAsync("{\"after\":\"flood\"}", "survived");
            Assert.Equal(cap, receipt.GetProperty("connections").GetInt32());
            await Task.WhenAll(admitted.Select(s => s.WaitForAsync("survived")));
        }
        finally
        {
            await Task.WhenAll(opened.Select(s => s.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task UserAtConnectionCap_ThirdConnectGets200CloseUserConnectionLimit_OtherUsersUnaffected()
    {
        using var capped = _gateway.CreateClient(Tokens.For("two-tabs"));
        await using var first = await SseStream.OpenAsync(capped, "/sse/connect");
        await using var second = await SseStream.OpenAsync(capped, "/sse/connect");
        await Task.WhenAll(first.WaitForAsync("welcome"), second.WaitForAsync("welcome"));

        var close = await ReadRefusalAsync(capped);
        Assert.Equal("user-connection-limit", close.GetProperty("reason").GetString());
        Assert.True(close.GetProperty("reconnect").GetBoolean());

        using var other = _gateway.CreateClient(Tokens.For("other-user"));
        await using var fine = await SseStream.OpenAsync(other, "/sse/connect");
        await fine.WaitForAsync("welcome");
        Assert.False(first.Ended.IsCompleted);
        Assert.False(second.Ended.IsCompleted);
    }

    [Fact]
    public async Task ConcurrentConnectsOfOneUser_NeverExceedMaxConnectionsPerUser()
    {
        const int attempts = 60;
        using var client = _gateway.CreateClient(Tokens.For("racing-tabs"));
        var opened = new List<SseStream>();
        try
        {
            var firsts = await Task.WhenAll(Enumerable.Range(0, attempts).Select(async _ =>
            {
                var stream = await SseStream.OpenAsync(client, "/sse/connect", timeout: TimeSpan.FromSeconds(20));
                lock (opened)
                {
                    opened.Add(stream);
                }

                return await stream.WaitForAsync(e => e.EventType is "welcome" or "close", "welcome or close", TimeSpan.FromSeconds(20));
            }));

            var admitted = firsts.Count(e => e.EventType == "welcome");
            Assert.True(admitted <= 2, $"{admitted} connections admitted for one user with MaxConnectionsPerUser=2");
            Assert.Equal(2, admitted);
            Assert.All(firsts.Where(e => e.EventType == "close"), e => Assert.Equal("user-connection-limit", e.Json.GetProperty("reason").GetString()));
        }
        finally
        {
            await Task.WhenAll(opened.Select(s => s.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task PublishBody_OverMaxPayloadBytes_Answers413_UnderItIsAccepted()
    {
        using var publisher = _gateway.CreateClient(Tokens.Publisher("payload-publisher"));
        var fits = "{\"userId\":\"p\",\"data\":\"" + new string('a', 900) + "\"}";
        Assert.True(Encoding.UTF8.GetByteCount(fits) <= 1024);
        await publisher.PostJsonAsync("/sse/send", fits);

        var tooBig = Encoding.UTF8.GetBytes("{\"userId\":\"p\",\"data\":\"" + new string('a', 1001) + "\"}");
        Assert.True(tooBig.Length > 1024);
        using (var response = await publisher.PostAsync("/sse/send", new ByteArrayContent(tooBig) { Headers = { { "Content-Type", "application/json" } } }))
        {
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, what: "with Content-Length");
        }

        // Without a Content-Length (chunked) the limit holds while reading.
        using (var response = await publisher.PostAsync("/sse/send", new UnknownLengthContent(tooBig)))
        {
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, what: "chunked");
        }
    }

    [Fact]
    public async Task PublishBurst_OverPublishPerSecond_Answers429WithRetryAfter_OtherCallersUnaffected()
    {
        using var noisy = _gateway.CreateClient(Tokens.Publisher("rate-noisy"));
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++)
        {
            using var response = await noisy.PostAsync("/sse/send", new StringContent($"{{\"userId\":\"nobody\",\"data\":{i}}}", Encoding.UTF8, "application/json"));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                var retryAfter = response.Headers.RetryAfter;
                Assert.NotNull(retryAfter);
                Assert.True(retryAfter!.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {retryAfter}");
                await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.TooManyRequests);
            }
            else
            {
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            }
        }

        Assert.Contains(HttpStatusCode.Accepted, statuses);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        // Burst is twice PublishPerSecond: the first four go through.
        Assert.All(statuses.Take(4), s => Assert.Equal(HttpStatusCode.Accepted, s));

        using var quiet = _gateway.CreateClient(Tokens.Publisher("rate-quiet"));
        await quiet.SendAsync("nobody", "{\"quiet\":true}");
    }

    [Fact]
    public async Task Connect_WithMoreTopicsThanMaxTopicsPerConnection_Answers400_AtTheCapIsAccepted()
    {
        using var client = _gateway.CreateClient(Tokens.For("topic-collector"));
        var (response, none) = await SseStream.TryOpenAsync(client, "/sse/connect?topics=a,b,c");
        using (response)
        {
            Assert.Null(none);
            await ProblemAsserts.AssertProblemAsync(response, HttpStatusCode.BadRequest, "topics");
        }

        await using var stream = await SseStream.OpenAsync(client, "/sse/connect?topics=a,b");
        Assert.Equal(2, (await stream.WaitForAsync("welcome")).Json.GetProperty("topics").GetArrayLength());
    }

    /// <summary>A refused connect: 200 event stream with <c>retry:</c> and one <c>close</c>, then the response ends.</summary>
    private static async Task<JsonElement> ReadRefusalAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/sse/connect");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        // Reading to the end completes only because the server ends the response.
        var body = await response.Content.ReadAsByteArrayAsync(cts.Token);
        var text = Encoding.UTF8.GetString(body);
        Assert.Matches(new System.Text.RegularExpressions.Regex("(?m)^retry: \\d+$"), text);

        var parser = SseParser.Create(new MemoryStream(body));
        var events = new List<SseItem<string>>();
        await foreach (var item in parser.EnumerateAsync(cts.Token))
        {
            events.Add(item);
        }

        Assert.True(parser.ReconnectionInterval > TimeSpan.Zero, text);
        var close = Assert.Single(events);
        Assert.Equal("close", close.EventType);
        return JsonDocument.Parse(close.Data).RootElement.Clone();
    }

    /// <summary>Per-user, payload, rate and topic limits set low.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public GatewayHost Gateway { get; private set; } = null!;

        public async Task InitializeAsync() => Gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Limits:MaxConnectionsPerUser"] = "2",
            ["SseCluster:Limits:MaxPayloadBytes"] = "1024",
            ["SseCluster:Limits:PublishPerSecond"] = "2",
            ["SseCluster:Limits:MaxTopicsPerConnection"] = "2",
        });

        public async Task DisposeAsync() => await Gateway.DisposeAsync();
    }

    /// <summary>A body sent without Content-Length (chunked).</summary>
    private sealed class UnknownLengthContent : HttpContent
    {
        private readonly byte[] _bytes;

        public UnknownLengthContent(byte[] bytes)
        {
            _bytes = bytes;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
