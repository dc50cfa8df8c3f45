using System.Diagnostics;
using System.Net;
using System.Text;
using SseCluster.Cluster.Tests.Support;
using SseCluster.Contracts;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Cluster.Tests;

/// <summary>
/// Redis goes away in the middle of a steady publish and comes back on the same port. Nothing is ever acknowledged
/// that was not stored, the open streams stay open, and the client gets every acknowledged event once, in order.
/// </summary>
/// <remarks>
/// Redis is stopped with <c>SHUTDOWN SAVE</c> and restarted from its dump: what production's persistent Redis does.
/// A Redis that comes back empty is a different scenario (every stream starts again under a new epoch).
/// </remarks>
public sealed class RedisOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);
    private RedisServer _redis = null!;
    private GatewayCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartNewAsync(); // this test's own: it stops it
        _cluster = await GatewayCluster.StartAsync(_redis.ConnectionString, 3, new Dictionary<string, string?>
        {
            ["SseCluster:Heartbeat:Mode"] = "event",
            ["SseCluster:Heartbeat:IntervalSeconds"] = "1",
        });
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task RedisStoppedAndRestarted_DuringSteadyPublishing_PublishesAnswer503NeverAcceptedWhileDown_StreamsStayOpen_AndEveryAcceptedEventArrivesOnce_InOrder()
    {
        var a = _cluster[0];
        using var publisher = _cluster[1].CreateClient(Tokens.Publisher("steady-publisher"));
        using var admin = _cluster[2].CreateClient(Tokens.Admin());
        await using var library = await _cluster.CreateLibraryPublisherAsync();
        await using var client = await ResumingStream.StartAsync(a.CreateClient(Tokens.For("steady")), "/sse/connect?clientId=steady");
        var attempts = new List<Attempt>();
        using var stopPublishing = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var publishing = Task.Run(() => PublishLoopAsync(publisher, attempts, clock, stopPublishing.Token));

        try
        {
            // Steady state.
            await Eventually.TrueAsync(() => Task.FromResult(Received(client).Count >= 20), "20 events before the outage", TimeSpan.FromSeconds(15));
            await library.Publisher.SendToUserAsync("steady", OutgoingEvent.FromJson("lib", "{\"phase\":\"before\"}"));
            var streamBefore = client.Current;
            var heartbeatsBefore = Heartbeats(streamBefore);

            // Stop Redis.
            var stopIssued = clock.Elapsed;
            await _redis.ShutdownSavingAsync();
            var down = clock.Elapsed;
            await Eventually.TrueAsync(
                async () => (await Task.WhenAll(_cluster.Nodes.Select(n => ReadyAsync(n)))).All(s => s == HttpStatusCode.ServiceUnavailable),
                "/readyz to answer 503 on A, B and C while Redis is down",
                TimeSpan.FromSeconds(10));
            var notReady = clock.Elapsed;

            // The stream on A stays open: heartbeats keep coming.
            await Eventually.TrueAsync(
                () => Task.FromResult(Heartbeats(streamBefore) >= heartbeatsBefore + 2),
                "two heartbeats on A's open stream while Redis is down",
                TimeSpan.FromSeconds(10));

            // Stats come from the gateways themselves, so they still answer; the publisher library fails fast:
            // nothing is reported done that was not.
            using (var stats = await admin.GetAsync("/sse/stats"))
            {
                Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
            }

            var libraryClock = Stopwatch.StartNew();
            await Assert.ThrowsAsync<RoutingUnavailableException>(() =>
                library.Publisher.SendToUserAsync("steady", OutgoingEvent.FromJson("lib", "{\"phase\":\"down\"}")).WaitAsync(TimeSpan.FromSeconds(10)));
            var libraryFailedAfter = libraryClock.Elapsed;

            var remaining = Outage - (clock.Elapsed - down);
            if (remaining > TimeSpan.Zero)
            {
                await Task.Delay(remaining); // long enough for every silo's membership table writes to fail
            }

            Assert.False(streamBefore.Ended.IsCompleted, "A's stream ended while Redis was down");
            Assert.Same(streamBefore, client.Current);

            // Restart it on the same port.
            var restart = clock.Elapsed;
            await _redis.StartAsync();
            var up = clock.Elapsed;
            await Eventually.TrueAsync(
                () => Task.FromResult(Snapshot(attempts).Any(x => x.Start >= up && x.Status == HttpStatusCode.Accepted)),
                "a publish answered 202 after Redis restarted",
                TimeSpan.FromSeconds(15));
            var firstAccepted = Snapshot(attempts).First(x => x.Start >= up && x.Status == HttpStatusCode.Accepted).End;
            await Eventually.TrueAsync(
                async () => (await Task.WhenAll(_cluster.Nodes.Select(n => ReadyAsync(n)))).All(s => s == HttpStatusCode.OK),
                "/readyz to answer 200 on A, B and C after Redis restarted",
                TimeSpan.FromSeconds(15));
            var ready = clock.Elapsed;
            await Eventually.TrueAsync(
                async () =>
                {
                    try
                    {
                        await library.Publisher.SendToUserAsync("steady", OutgoingEvent.FromJson("lib", "{\"phase\":\"after\"}"));
                        return true;
                    }
                    catch (RoutingUnavailableException)
                    {
                        return false;
                    }
                },
                () => "the publisher library to publish again after Redis restarted",
                TimeSpan.FromSeconds(15),
                TimeSpan.FromMilliseconds(100));
            var libraryBack = clock.Elapsed;

            // Publishing goes on a while after recovery settled.
            var settled = firstAccepted + Settle;
            await Eventually.TrueAsync(
                () => Task.FromResult(Snapshot(attempts).Count(x => x.Start >= settled) >= 50),
                "50 publishes after recovery settled",
                TimeSpan.FromSeconds(20));
            await stopPublishing.CancelAsync();
            await publishing;

            var all = Snapshot(attempts);
            var accepted = all.Where(x => x.Status == HttpStatusCode.Accepted).Select(x => x.N).ToList();
            await Eventually.TrueAsync(
                () => Task.FromResult(accepted.Except(Received(client)).Any() is false),
                () => $"every event answered 202 to reach the client on A; missing: {string.Join(", ", accepted.Except(Received(client)).Take(20))} (of {accepted.Count}, {client.Reconnects} reconnects)",
                TimeSpan.FromSeconds(20));

            var received = Received(client);
            var whileDown = all.Where(x => x.Start >= down && x.End <= restart).ToList();
            var afterSettle = all.Where(x => x.Start >= settled).ToList();
            var unavailable = all.Where(x => x.Status == HttpStatusCode.ServiceUnavailable).ToList();
            output.WriteLine($"publishes: {all.Count}, 202: {accepted.Count}, 503: {unavailable.Count} (between {Ms(unavailable.Min(x => x.Start))} and {Ms(unavailable.Max(x => x.End))} ms; Redis down {Ms(stopIssued)}–{Ms(restart)} ms, restarted at {Ms(up)} ms)");
            output.WriteLine($"503 answered for {Ms(unavailable.Max(x => x.End) - unavailable.Min(x => x.Start))} ms; /readyz 503 everywhere {Ms(notReady - down)} ms after Redis exited");
            output.WriteLine($"first 202 {Ms(firstAccepted - up)} ms after Redis answered PING again; /readyz 200 everywhere after {Ms(ready - up)} ms");
            output.WriteLine($"client on A: {received.Count} events, {client.Reconnects} reconnects, {Heartbeats(streamBefore) - heartbeatsBefore} heartbeats on the original stream since the outage began");
            output.WriteLine($"503-answered events that arrived anyway: {unavailable.Count(x => received.Contains(x.N))}");
            output.WriteLine($"publisher library: threw RoutingUnavailableException after {Ms(libraryFailedAfter)} ms while down, published again {Ms(libraryBack - up)} ms after the restart");
            output.WriteLine($"gap fill on A: sse_replayed_events_total {await MetricAsync(a, "sse_replayed_events_total")}");

            Assert.All(all, x => Assert.True(x.Status is HttpStatusCode.Accepted or HttpStatusCode.ServiceUnavailable, $"publish {x.N} at {Ms(x.Start)} ms answered {(int)x.Status} {x.Error}"));
            Assert.NotEmpty(whileDown);
            Assert.All(whileDown, x => Assert.True(x.Status == HttpStatusCode.ServiceUnavailable, $"publish {x.N} at {Ms(x.Start)}–{Ms(x.End)} ms, while Redis was down, answered {(int)x.Status}"));
            Assert.All(afterSettle, x => Assert.True(x.Status == HttpStatusCode.Accepted, $"publish {x.N} at {Ms(x.Start)} ms, after recovery settled, answered {(int)x.Status}: {x.Error}"));
            Assert.True(firstAccepted - up < TimeSpan.FromSeconds(10), $"publishes were accepted again only {Ms(firstAccepted - up)} ms after Redis restarted");

            // Exactly once, in publish order: strictly increasing, and every accepted one present.
            for (var i = 1; i < received.Count; i++)
            {
                Assert.True(received[i] > received[i - 1], $"event {received[i]} arrived after {received[i - 1]} (position {i})");
            }

            Assert.Empty(accepted.Except(received));
            Assert.DoesNotContain(client.Snapshot(), e => e.EventType == "reset");
            var fromLibrary = client.Snapshot().Where(e => e.EventType == "lib").Select(e => e.Json.GetProperty("phase").GetString()!).ToList();
            Assert.Equal(["before", "after"], fromLibrary.Distinct().ToArray()); // the one that threw was never stored
            Assert.Equal(fromLibrary.Count, fromLibrary.Distinct().Count());
        }
        finally
        {
            await stopPublishing.CancelAsync();
            await publishing.WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!_redis.IsRunning)
            {
                await _redis.StartAsync();
            }
        }
    }

    private sealed record Attempt(int N, TimeSpan Start, TimeSpan End, HttpStatusCode Status, string? Error);

    private static async Task PublishLoopAsync(HttpClient publisher, List<Attempt> attempts, Stopwatch clock, CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var start = clock.Elapsed;
            HttpStatusCode status = 0;
            string? error = null;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                using var response = await publisher.PostAsync("/sse/send", new StringContent($"{{\"userId\":\"steady\",\"eventType\":\"tick\",\"data\":{{\"n\":{n}}}}}", Encoding.UTF8, "application/json"), timeout.Token);
                status = response.StatusCode;
                if (status != HttpStatusCode.Accepted)
                {
                    error = await response.Content.ReadAsStringAsync(CancellationToken.None);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                error = ex.Message;
            }

            lock (attempts)
            {
                attempts.Add(new Attempt(n, start, clock.Elapsed, status, error));
            }

            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task<HttpStatusCode> ReadyAsync(GatewayHost node)
    {
        using var client = node.CreateClient();
        using var response = await client.GetAsync("/readyz");
        return response.StatusCode;
    }

    private static async Task<string> MetricAsync(GatewayHost node, string name)
    {
        using var client = node.CreateClient();
        var text = await client.GetStringAsync("/metrics");
        return text.Split('\n').FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal) && !l.StartsWith('#'))?.Split(' ').Last() ?? "absent";
    }

    private static List<Attempt> Snapshot(List<Attempt> attempts)
    {
        lock (attempts)
        {
            return [.. attempts];
        }
    }

    private static List<int> Received(ResumingStream client) =>
        client.Snapshot().Where(e => e.EventType == "tick").Select(e => e.Json.GetProperty("n").GetInt32()).ToList();

    private static int Heartbeats(SseStream stream)
    {
        lock (stream.Received)
        {
            return stream.Received.Count(e => e.EventType == "heartbeat");
        }
    }

    private static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
