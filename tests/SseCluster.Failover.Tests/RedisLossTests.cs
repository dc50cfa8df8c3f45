using System.Diagnostics;
using System.Net;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// The cluster's Redis goes away under gateway processes that keep publishing and streaming: with its data (a
/// persistent Redis restarted from its dump) and without it (a Redis without persistence restarted empty). Nothing is
/// ever acknowledged that was not stored, the gateways recover by themselves, and no client silently misses an event:
/// a stream the store lost is announced with <c>reset</c> and the new stream is delivered whole.
/// </summary>
public sealed class RedisLossTests(ITestOutputHelper output)
{
    private const int Users = 8;

    [Fact]
    public async Task RedisStoppedAndRestartedFromItsDump_PublishesAnswer503WhileDown_ThenRecoverByThemselves_EveryAcceptedEventOnceInOrder()
    {
        await using var run = await Run.StartAsync(output);
        await run.PublishForAsync(TimeSpan.FromSeconds(2));

        var down = Stopwatch.GetTimestamp();
        await run.Cluster.Redis.ShutdownSavingAsync();
        await WaitReadyAsync(run, HttpStatusCode.ServiceUnavailable, "every gateway to report not ready while Redis is down");
        await run.PublishForAsync(TimeSpan.FromSeconds(2));
        var refusedWhileDown = run.Ledger.Refused.Count;
        await run.Cluster.Redis.StartAsync(); // from the dump: same streams, same epochs
        var up = Stopwatch.GetTimestamp();
        await WaitReadyAsync(run, HttpStatusCode.OK, "every gateway to report ready again after Redis restarted");
        var firstAccepted = await run.PublishUntilAcceptedAsync(up);
        await run.PublishForAsync(TimeSpan.FromSeconds(2));
        var audit = await run.FinishAsync();

        output.WriteLine($"Redis down for {Stopwatch.GetElapsedTime(down, up).TotalMilliseconds:F0} ms; {refusedWhileDown} publishes refused while down; " +
                         $"first 202 {Stopwatch.GetElapsedTime(up, firstAccepted).TotalMilliseconds:F0} ms after the restart");
        output.WriteLine(audit.Summary);
        Assert.True(refusedWhileDown > 0, "no publish was refused while Redis was down");
        Assert.All(run.Ledger.Refused.Values, r => Assert.StartsWith("503 ", r, StringComparison.Ordinal));
        Assert.True(audit.Problems.Count == 0, $"{audit.Problems.Count} problems:\n" + string.Join('\n', audit.Problems.Take(40)));
        Assert.Equal((0L, 0L), (audit.Lost, audit.Duplicated));
        Assert.All(run.Clients, c => Assert.DoesNotContain(c.Deliveries, d => d.EventType == "reset"));
    }

    [Fact]
    public async Task RedisRestartedEmpty_ConnectedClientsGetResetForEveryStreamItLost_ThenEveryEventAcceptedAfterwards_NoSilentDrop()
    {
        await using var run = await Run.StartAsync(output);
        await run.PublishForAsync(TimeSpan.FromSeconds(2));
        var before = run.Ledger.Accepted.Count;

        await run.Cluster.Redis.StopAsync(); // killed: without persistence it comes back empty
        await run.Cluster.Redis.StartAsync();
        var up = Stopwatch.GetTimestamp();
        var firstAccepted = await run.PublishUntilAcceptedAsync(up);
        // A count, not a duration: how many publishes a few seconds take depends on how busy the machine is, and
        // refusals (503) while the gateways reconnect are allowed, as long as nothing refused was delivered.
        await run.PublishUntilAcceptedSinceAsync(up, count: 60);
        var audit = await run.FinishAsync("reset");

        var after = run.Ledger.Accepted.Count(p => p.SentAt > up);
        output.WriteLine($"accepted {before} before Redis lost its data, {after} after; first 202 {Stopwatch.GetElapsedTime(up, firstAccepted).TotalMilliseconds:F0} ms after the restart");
        output.WriteLine(audit.Summary);
        Assert.True(audit.Problems.Count == 0, $"{audit.Problems.Count} problems:\n" + string.Join('\n', audit.Problems.Take(40)));
        Assert.Equal((0L, 0L), (audit.Lost, audit.Duplicated));
        var restartedStreams = 0;
        foreach (var client in run.Clients)
        {
            // A stream the client had events of before the loss and receives events of after it is announced as
            // restarted, before the first event of its new epoch.
            var resets = client.Deliveries.Where(d => d.EventType == "reset").Select(d => d.Data).ToList();
            foreach (var (stream, type) in new[] { ($"u:{client.UserId}", "step"), ("b", "notice") })
            {
                var mine = run.Ledger.Accepted.Where(p => p.Stream == stream).ToList();
                if (mine.Any(p => p.AnsweredAt < up) && mine.Any(p => p.SentAt > up))
                {
                    restartedStreams++;
                    Assert.Contains(resets, r => r.Contains("stream-restarted", StringComparison.Ordinal) && r.Contains($"\"{stream}\"", StringComparison.Ordinal));
                }
            }
        }

        Assert.True(restartedStreams > Users / 2, $"only {restartedStreams} streams had events on both sides of the loss");
    }

    private static async Task WaitReadyAsync(Run run, HttpStatusCode expected, string what)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var statuses = await Task.WhenAll(run.Cluster.Gateways.Select(async g =>
            {
                try
                {
                    using var response = await http.GetAsync(new Uri(g.BaseAddress, "/readyz"));
                    return response.StatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return (HttpStatusCode)0;
                }
            }));
            if (statuses.All(s => s == expected))
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new TimeoutException($"timed out waiting for {what}: {string.Join(", ", statuses)}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Two gateway processes, a client per user spread over them, and a publisher through the first.</summary>
    private sealed class Run : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;
        private readonly HttpClient _streamHttp = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        private readonly HttpClient _publishHttp = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        private readonly CancellationTokenSource _stopClients = new();
        private readonly List<Task> _running = [];
        private readonly List<string> _users;
        private int _turn = -1;

        private Run(ProcessCluster cluster, ITestOutputHelper output)
        {
            Cluster = cluster;
            _output = output;
            var tag = Guid.NewGuid().ToString("N")[..6];
            _users = Enumerable.Range(0, Users).Select(u => $"r{u}-{tag}").ToList();
            var balancer = new LoadBalancer(cluster.Gateways);
            Clients = _users.Select((user, i) => new ResumingClient(i, user, Tokens.For(user), _streamHttp, balancer)).ToList();
            Ledger = new PublishLedger(_publishHttp);
        }

        public ProcessCluster Cluster { get; }

        public List<ResumingClient> Clients { get; }

        public PublishLedger Ledger { get; }

        public static async Task<Run> StartAsync(ITestOutputHelper output)
        {
            var run = new Run(await ProcessCluster.StartAsync(2), output);
            run._running.AddRange(run.Clients.Select(c => Task.Run(() => c.RunAsync(run.Cluster.Gateways[c.Index % 2], run._stopClients.Token))));
            await Task.WhenAll(run.Clients.Select(c => c.Welcomed)).WaitAsync(TimeSpan.FromSeconds(30));
            return run;
        }

        /// <summary>Sends round-robin to the users and a broadcast every tenth publish, through the first gateway.</summary>
        public async Task PublishForAsync(TimeSpan duration)
        {
            var token = Tokens.Publisher("redis-loss");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                await PublishOneAsync(token);
                await Task.Delay(20);
            }
        }

        /// <summary>Publishes until one sent after <paramref name="since"/> is accepted; returns when it was answered.</summary>
        public async Task<long> PublishUntilAcceptedAsync(long since)
        {
            var token = Tokens.Publisher("redis-loss");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                await PublishOneAsync(token);
                if (Ledger.Accepted.Where(p => p.SentAt > since).MinBy(p => p.SentAt) is { } first)
                {
                    return first.AnsweredAt;
                }

                await Task.Delay(50);
            }

            throw new TimeoutException("no publish was accepted within 20 s of Redis restarting");
        }

        /// <summary>Publishes until <paramref name="count"/> publishes sent after <paramref name="since"/> were accepted.</summary>
        public async Task PublishUntilAcceptedSinceAsync(long since, int count)
        {
            var token = Tokens.Publisher("redis-loss");
            var clock = Stopwatch.StartNew();
            while (Ledger.Accepted.Count(p => p.SentAt > since) < count)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new TimeoutException($"only {Ledger.Accepted.Count(p => p.SentAt > since)} of {count} publishes were accepted within 30 s");
                }

                await PublishOneAsync(token);
                await Task.Delay(20);
            }
        }

        /// <summary>Lets the last events arrive, stops the clients and audits what they received.</summary>
        public async Task<DeliveryAudit> FinishAsync(params string[] allowedEventTypes)
        {
            var drain = Stopwatch.StartNew();
            while (drain.Elapsed < TimeSpan.FromSeconds(20) && Clients.Any(c => c.Deliveries.Count(d => d.EventType is "step" or "notice") < DeliveryAudit.ExpectedFor(c, Ledger)))
            {
                await Task.Delay(100);
            }

            await Task.Delay(300);
            await _stopClients.CancelAsync();
            await Task.WhenAll(_running).WaitAsync(TimeSpan.FromSeconds(15));
            _output.WriteLine($"published: {Ledger.Accepted.Count} accepted, {Ledger.Refused.Count} refused: " + string.Join(" | ", Ledger.Refused.Values.Take(3)));
            return DeliveryAudit.Run(Clients, Ledger, allowedEventTypes);
        }

        public async ValueTask DisposeAsync()
        {
            await _stopClients.CancelAsync();
            await Task.WhenAll(_running).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Cluster.DisposeAsync();
            _streamHttp.Dispose();
            _publishHttp.Dispose();
            _stopClients.Dispose();
        }

        private Task PublishOneAsync(string token)
        {
            var n = Interlocked.Increment(ref _turn);
            return n % 10 == 9
                ? Ledger.BroadcastAsync(Cluster.Gateways[0], token)
                : Ledger.SendAsync(Cluster.Gateways[0], token, _users[n % _users.Count]);
        }
    }
}
