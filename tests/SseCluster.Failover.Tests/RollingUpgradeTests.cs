using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// A rolling upgrade on real processes: three gateways on one redis-server, SSE clients spread over them through a
/// round-robin balancer, publishing going on the whole time. Each gateway in turn gets SIGTERM, drains (its clients get
/// <c>event: close</c> with reason <c>shutdown</c> and resume elsewhere with <c>Last-Event-ID</c>), exits 0, and a new
/// process with the same gateway id starts on the same port and reports ready before the next one is replaced — what a
/// supervisor restarting <c>gw-1</c> with a new build does. Every accepted publish must reach every client it was for,
/// once, in order; the only refusal allowed is a retryable 503; no stream request may be answered anything but 200.
/// </summary>
public sealed class RollingUpgradeTests(ITestOutputHelper output)
{
    private const int Users = 48;
    private const int SendLoops = 3;
    private const int DrainSeconds = 2;
    private static readonly TimeSpan Steady = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan BetweenReplacements = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan SendPause = TimeSpan.FromMilliseconds(15);
    private static readonly TimeSpan BroadcastPause = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task EachGatewayDrainedAndReplacedInTurn_WhilePublishing_ClientsResumeWithoutLossDuplicatesOrErrors_OnlyRetryableRefusals()
    {
        var total = Stopwatch.StartNew();
        await using var cluster = await ProcessCluster.StartAsync(3, new Dictionary<string, string>
        {
            ["SseCluster__Shutdown__DrainSeconds"] = DrainSeconds.ToString(CultureInfo.InvariantCulture),
        });
        output.WriteLine($"cluster up in {total.Elapsed.TotalSeconds:F1} s: redis :{cluster.Redis.Port}, " +
                         string.Join(", ", cluster.Gateways.Select(g => $"{g.GatewayId} :{g.Port} pid {g.Pid}")));

        using var streamHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var publishHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };

        // Streams go through a plain round-robin balancer that keeps every address, draining or down: a client that
        // lands on a draining node must be turned away with a 200 and `close`, one that lands on a down node skips it.
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = Enumerable.Range(0, Users).Select(u => $"r{u:D2}-{run}").ToList();
        var balancer = new LoadBalancer(cluster.Gateways);
        var clients = users.Select((user, i) => new ResumingClient(i, user, Tokens.For(user), streamHttp, balancer)).ToList();
        using var stopClients = new CancellationTokenSource();
        var running = clients.Select(c => Task.Run(() => c.RunAsync(cluster.Gateways[c.Index % cluster.Gateways.Count], stopClients.Token))).ToList();
        try
        {
            await Task.WhenAll(clients.Select(c => c.Welcomed)).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"only {clients.Count(c => c.Welcomed.IsCompleted)} of {clients.Count} clients were welcomed in 30 s; errors: " +
                        string.Join(" | ", clients.SelectMany(c => c.Errors).Take(5)));
        }

        // Publishers go through the nodes in service, as through a balancer that checks /readyz: a draining node keeps
        // getting publishes until two checks in a row fail (within its drain), and its successor joins once ready.
        var inService = new PublishRotation(cluster.Gateways);
        var ledger = new PublishLedger(publishHttp);
        using var stopPublishing = new CancellationTokenSource();
        var userTurn = -1;
        var publishers = Enumerable.Range(0, SendLoops).Select(k => Task.Run(async () =>
        {
            var token = Tokens.Publisher($"rolling-{k}");
            while (!stopPublishing.IsCancellationRequested)
            {
                await ledger.SendAsync(inService.Next(), token, users[(int)((uint)Interlocked.Increment(ref userTurn) % Users)]);
                await Pause(SendPause, stopPublishing.Token);
            }
        })).ToList();
        publishers.Add(Task.Run(async () =>
        {
            var token = Tokens.Publisher("rolling-broadcaster");
            while (!stopPublishing.IsCancellationRequested)
            {
                await ledger.BroadcastAsync(inService.Next(), token);
                await Pause(BroadcastPause, stopPublishing.Token);
            }
        }));

        await Task.Delay(Steady);

        // ---- the rolling upgrade: one gateway at a time ------------------------------------------------------------
        var replacements = new List<Replacement>();
        for (var i = 0; i < 3; i++)
        {
            var old = cluster.Gateways[i];
            var held = clients.Count(c => c.Sessions[^1] is { EndedAt: null } s && s.GatewayId == old.GatewayId);
            var terminatedAt = Stopwatch.GetTimestamp();
            old.Terminate();
            var markedDown = MarkDownWhenUnreadyAsync(old, inService, publishHttp);
            var exitCode = await old.WaitForExitAsync(TimeSpan.FromSeconds(DrainSeconds + 30));
            var exitedAt = Stopwatch.GetTimestamp();
            var oldOutput = old.RecentOutput;
            var downAfter = await markedDown;
            var replacement = await cluster.ReplaceAsync(old);
            balancer.Replace(old, replacement);
            inService.Add(replacement);
            var readyAt = Stopwatch.GetTimestamp();
            replacements.Add(new Replacement(old.GatewayId, old.Pid, replacement.Pid, held, exitCode, terminatedAt, exitedAt, readyAt, oldOutput));
            output.WriteLine($"{old.GatewayId}: SIGTERM to pid {old.Pid} holding {held} streams; out of the publishers' rotation after {downAfter.TotalSeconds:F1} s; exited {exitCode} after " +
                             $"{Stopwatch.GetElapsedTime(terminatedAt, exitedAt).TotalSeconds:F1} s; pid {replacement.Pid} on :{replacement.Port} " +
                             $"ready {Stopwatch.GetElapsedTime(exitedAt, readyAt).TotalSeconds:F1} s later " +
                             $"(replacement {Stopwatch.GetElapsedTime(terminatedAt, readyAt).TotalSeconds:F1} s); accepted so far {ledger.Accepted.Count}");
            await Task.Delay(BetweenReplacements);
        }

        await stopPublishing.CancelAsync();
        await Task.WhenAll(publishers);
        var accepted = ledger.Accepted;

        // Let the last events arrive (a client holds at most what was published for it; more would be duplicates).
        var settle = Stopwatch.StartNew();
        while (settle.Elapsed < TimeSpan.FromSeconds(30) && clients.Any(c => Published(c) < DeliveryAudit.ExpectedFor(c, ledger)))
        {
            await Task.Delay(100);
        }

        await Task.Delay(300); // anything duplicated or stray would show up by now
        var stats = await ProcessCluster.StatsAsync(publishHttp, cluster.Gateways[0]);
        var membership = await MembershipTable.ReadAsync(cluster.Redis);
        await stopClients.CancelAsync();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(15));

        // ---- figures ---------------------------------------------------------------------------------------------
        var audit = DeliveryAudit.Run(clients, ledger, "close");
        var responses = clients.SelectMany(c => c.Responses).ToList();
        var turnedAway = clients.SelectMany(c => c.TurnedAway).ToList();
        var sessionCloses = clients.SelectMany(c => c.Sessions).Where(s => s.CloseReason is not null).ToList();
        var resumes = clients.SelectMany(c => c.Sessions.Zip(c.Sessions.Skip(1), (ended, next) => (c, ended, next)))
            .Select(r => (r.c, r.ended, gap: Stopwatch.GetElapsedTime(r.ended.EndedAt ?? r.ended.WelcomedAt, r.next.WelcomedAt).TotalMilliseconds))
            .OrderBy(r => r.gap)
            .ToList();
        var slowestPublish = accepted.Max(p => Stopwatch.GetElapsedTime(p.SentAt, p.AnsweredAt).TotalMilliseconds);
        var viaDraining = accepted.Count(p => replacements.Any(r => p.Via == r.GatewayId && p.SentAt >= r.TerminatedAt && p.SentAt < r.ExitedAt));
        output.WriteLine($"published: {accepted.Count} accepted ({accepted.Count(p => p.UserId is not null)} sends, {accepted.Count(p => p.UserId is null)} broadcasts), " +
                         $"{ledger.Refused.Count} refused{(ledger.Refused.Count > 0 ? ": " + string.Join(" | ", ledger.Refused.Values.Take(5)) : string.Empty)}; slowest accepted publish {slowestPublish:F0} ms; " +
                         $"accepted by a draining node: {viaDraining}");
        output.WriteLine(audit.Summary);
        output.WriteLine($"stream answers: {responses.Count} ({string.Join(", ", responses.GroupBy(r => r.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"))}); " +
                         $"streams closed by a drain: {sessionCloses.Count}; reconnects: {resumes.Count}; turned away with close: {turnedAway.Count} " +
                         $"({string.Join(", ", turnedAway.Select(t => t[(t.IndexOf(':') + 2)..]).GroupBy(r => r).Select(g => $"{g.Key} {g.Count()}"))}); " +
                         $"refused connects (node down): {clients.Sum(c => c.RefusedAttempts)}");
        if (resumes.Count > 0)
        {
            output.WriteLine($"resume (close to next welcome): median {resumes[resumes.Count / 2].gap:F0} ms, p95 {resumes[(int)(resumes.Count * 0.95)].gap:F0} ms, " +
                             $"slowest {resumes[^1].gap:F0} ms (client {resumes[^1].c.Index}, from {resumes[^1].ended.GatewayId})");
        }

        output.WriteLine("replacements: " + string.Join("; ", replacements.Select(r =>
            $"{r.GatewayId} {Stopwatch.GetElapsedTime(r.TerminatedAt, r.ReadyAt).TotalSeconds:F1} s (drain+exit {Stopwatch.GetElapsedTime(r.TerminatedAt, r.ExitedAt).TotalSeconds:F1} s, start {Stopwatch.GetElapsedTime(r.ExitedAt, r.ReadyAt).TotalSeconds:F1} s)")));
        output.WriteLine("membership after: " + string.Join(", ", membership.Select(r => $"{r.SiloName} {r.Address} status {r.Status}")));
        output.WriteLine($"stats on {cluster.Gateways[0].GatewayId}: connections {stats.GetProperty("connections").GetInt32()}, gateways {string.Join(", ", ProcessCluster.GatewayIdsIn(stats))}");
        output.WriteLine($"total {total.Elapsed.TotalSeconds:F1} s");

        // ---- assertions ------------------------------------------------------------------------------------------
        Assert.All(replacements, r => Assert.True(r.ExitCode == 0, $"{r.GatewayId} (pid {r.OldPid}) exited with {r.ExitCode} after SIGTERM:\n{r.Output}"));
        Assert.True(audit.Problems.Count == 0, $"{audit.Problems.Count} problems:\n" + string.Join('\n', audit.Problems.Take(40)));
        Assert.Equal(0, audit.Lost);
        Assert.Equal(0, audit.Duplicated);
        Assert.Equal(0, audit.OutOfOrder);
        Assert.Equal(audit.Expected, audit.Delivered);
        Assert.All(ledger.Refused.Values, r => Assert.StartsWith("503 ", r, StringComparison.Ordinal));
        Assert.True(accepted.Count(p => p.UserId is not null) >= 300 && accepted.Count(p => p.UserId is null) >= 10,
            $"too few publishes to mean anything: {accepted.Count}");

        // A browser's EventSource gives up on any other status: every stream answer was 200.
        Assert.All(responses, r => Assert.True(r.Status == 200, $"{r.GatewayId} answered {r.Status} to a stream request"));
        Assert.All(turnedAway, t => Assert.Matches(": (shutdown|unavailable)$", t));

        // Every client was on a drained node at least once: each stream but the last was ended by the drain's close,
        // the client resumed, and its last stream is on a new process.
        Assert.All(replacements, r => Assert.True(r.Held > 0, $"{r.GatewayId} held no streams when it was stopped"));
        Assert.All(clients, c =>
        {
            var sessions = c.Sessions;
            Assert.True(sessions.Count >= 2, $"client {c.Index} never moved: {sessions.Count} stream(s)");
            Assert.All(sessions.SkipLast(1), s => Assert.True(s.CloseReason == "shutdown",
                $"client {c.Index}: its stream on {s.GatewayId} ended by {s.EndReason} with close '{s.CloseReason}', not by a drain"));
            Assert.Null(sessions[^1].CloseReason);
        });
        Assert.Equal(clients.Count, stats.GetProperty("connections").GetInt32());

        // Each old silo left the membership table gracefully (Dead), and the three new ones are active.
        Assert.Equal(["gw-1", "gw-2", "gw-3"], membership.Where(r => r.Status == MembershipRow.Active).Select(r => r.SiloName).Order());
        Assert.Equal(3, membership.Count(r => r.Status == MembershipRow.Dead));
    }

    /// <summary>A balancer's health check: <c>/readyz</c> every 250 ms, the node leaves the rotation after two failures in a row.</summary>
    private static async Task<TimeSpan> MarkDownWhenUnreadyAsync(GatewayProcess node, PublishRotation rotation, HttpClient http)
    {
        var since = Stopwatch.StartNew();
        var failures = 0;
        while (failures < 2 && since.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250);
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                using var response = await http.GetAsync(new Uri(node.BaseAddress, "/readyz"), timeout.Token);
                failures = response.IsSuccessStatusCode ? 0 : failures + 1;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                failures++;
            }
        }

        rotation.Remove(node);
        return since.Elapsed;
    }

    private static int Published(ResumingClient client) => client.Deliveries.Count(d => d.EventType is "step" or "notice");

    private static async Task Pause(TimeSpan pause, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(pause, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed record Replacement(string GatewayId, int OldPid, int NewPid, int Held, int ExitCode, long TerminatedAt, long ExitedAt, long ReadyAt, string Output);

    /// <summary>The nodes publishers use, round-robin; a node leaves before it is stopped and its successor joins when ready.</summary>
    private sealed class PublishRotation(IEnumerable<GatewayProcess> nodes)
    {
        private readonly Lock _lock = new();
        private readonly List<GatewayProcess> _nodes = [.. nodes];
        private int _next;

        public GatewayProcess Next()
        {
            lock (_lock)
            {
                return _nodes[_next++ % _nodes.Count];
            }
        }

        public void Remove(GatewayProcess node)
        {
            lock (_lock)
            {
                _nodes.Remove(node);
            }
        }

        public void Add(GatewayProcess node)
        {
            lock (_lock)
            {
                _nodes.Add(node);
            }
        }
    }
}
