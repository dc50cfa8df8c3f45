using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SseCluster.Contracts;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// Process-level failover: three gateway processes on one redis-server, 200 SSE clients spread across them, a steady
/// stream of publishes through the two nodes that stay up; the third is SIGKILLed mid-stream. Its clients reconnect
/// round-robin to the others with their last event id. Every client must end up with every event published for its
/// user and every broadcast, once each, in order.
/// </summary>
public sealed class GatewayCrashTests(ITestOutputHelper output)
{
    private const int Users = 100;
    private const int ConnectionsPerUser = 2;
    private const int SendLoops = 4;
    private static readonly TimeSpan BeforeKill = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan SendPause = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan BroadcastPause = TimeSpan.FromMilliseconds(400);

    [Fact]
    public async Task KilledGateway_ClientsResumeOnTheOthers_WithoutLossDuplicatesOrReordering()
    {
        var total = Stopwatch.StartNew();
        await using var cluster = await ProcessCluster.StartAsync(3);
        var victim = cluster.Gateways[2];
        var survivors = cluster.Gateways.Take(2).ToList();
        output.WriteLine($"cluster up in {total.Elapsed.TotalSeconds:F1} s: redis :{cluster.Redis.Port}, " +
                         string.Join(", ", cluster.Gateways.Select(g => $"{g.GatewayId} :{g.Port} pid {g.Pid}")));

        using var streamHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        using var publishHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

        // 100 users with two connections each; client i starts on node i % 3, so a user's two connections are on two nodes.
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = Enumerable.Range(0, Users).Select(u => $"u{u:D3}-{run}").ToList();
        var balancer = new LoadBalancer(cluster.Gateways);
        var clients = Enumerable.Range(0, Users * ConnectionsPerUser)
            .Select(i => new ResumingClient(i, users[i / ConnectionsPerUser], Tokens.For(users[i / ConnectionsPerUser]), streamHttp, balancer))
            .ToList();
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

        var onVictim = clients.Where(c => c.Sessions[0].GatewayId == victim.GatewayId).ToList();
        output.WriteLine($"{clients.Count} clients connected: " +
                         string.Join(", ", clients.GroupBy(c => c.Sessions[0].GatewayId).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));

        // Publish: sends round-robin over the users, and a broadcast now and then, only through the survivors.
        var ledger = new PublishLedger(publishHttp);
        using var stopPublishing = new CancellationTokenSource();
        var userTurn = -1;
        var publishers = Enumerable.Range(0, SendLoops).Select(k => Task.Run(async () =>
        {
            var via = survivors[k % survivors.Count];
            var token = Tokens.Publisher($"publisher-{k}");
            while (!stopPublishing.IsCancellationRequested)
            {
                await ledger.SendAsync(via, token, users[(int)((uint)Interlocked.Increment(ref userTurn) % Users)]);
                await Pause(SendPause, stopPublishing.Token);
            }
        })).ToList();
        publishers.Add(Task.Run(async () =>
        {
            var token = Tokens.Publisher("broadcaster");
            for (var k = 0; !stopPublishing.IsCancellationRequested; k++)
            {
                await ledger.BroadcastAsync(survivors[k % survivors.Count], token);
                await Pause(BroadcastPause, stopPublishing.Token);
            }
        }));

        await Task.Delay(BeforeKill);
        var acceptedBeforeKill = ledger.Accepted.Count;
        var killedAt = Stopwatch.GetTimestamp();
        victim.Kill();
        output.WriteLine($"SIGKILL {victim.GatewayId} (pid {victim.Pid}) after {acceptedBeforeKill} accepted publishes; it held {onVictim.Count} clients");

        await Task.Delay(AfterKill);
        await stopPublishing.CancelAsync();
        await Task.WhenAll(publishers);
        var accepted = ledger.Accepted;
        var sends = accepted.Where(p => p.UserId is not null).ToList();
        var broadcasts = accepted.Where(p => p.UserId is null).OrderBy(p => p.Sequence).ToList();

        // Let the last events arrive (a client delivers at most what was published; more would be duplicates).
        var drain = Stopwatch.StartNew();
        while (drain.Elapsed < TimeSpan.FromSeconds(30) && clients.Any(c => c.DeliveryCount < DeliveryAudit.ExpectedFor(c, ledger)))
        {
            await Task.Delay(100);
        }

        await Task.Delay(300); // anything duplicated or stray would show up by now

        // The survivors' stats no longer list the dead node, and count every client once.
        JsonElement stats = default;
        var statsDeadline = Stopwatch.StartNew();
        do
        {
            stats = await ProcessCluster.StatsAsync(publishHttp, survivors[0]);
            if (!ProcessCluster.GatewayIdsIn(stats).Contains(victim.GatewayId) && stats.GetProperty("connections").GetInt32() == clients.Count)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (statsDeadline.Elapsed < TimeSpan.FromSeconds(10));

        await stopClients.CancelAsync();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(15));

        // ---- verify every client -------------------------------------------------------------------------------
        var audit = DeliveryAudit.Run(clients, ledger);
        var moveTimes = new List<double>();
        var moved = clients.Where(c => c.Sessions.Count > 1).ToList();
        foreach (var client in moved)
        {
            var next = client.Sessions[1];
            moveTimes.Add(Stopwatch.GetElapsedTime(killedAt, next.WelcomedAt).TotalMilliseconds);
        }

        moveTimes.Sort();
        output.WriteLine($"published (202): {accepted.Count} = {sends.Count} sends + {broadcasts.Count} broadcasts; not accepted: {ledger.Refused.Count}");
        output.WriteLine(audit.Summary);
        output.WriteLine($"clients moved: {moved.Count} (the killed node held {onVictim.Count}); now on " +
                         string.Join(", ", clients.GroupBy(c => c.Sessions[^1].GatewayId).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")) +
                         $"; refused connects while moving: {clients.Sum(c => c.RefusedAttempts)}");
        if (moveTimes.Count > 0)
        {
            output.WriteLine($"time from SIGKILL to the welcome on the new node: min {moveTimes[0]:F0} ms, median {moveTimes[moveTimes.Count / 2]:F0} ms, " +
                             $"p95 {moveTimes[(int)(moveTimes.Count * 0.95)]:F0} ms, max {moveTimes[^1]:F0} ms");
        }

        output.WriteLine($"stats on {survivors[0].GatewayId}: {stats.GetRawText()}");
        output.WriteLine($"total {total.Elapsed.TotalSeconds:F1} s");

        Assert.True(audit.Problems.Count == 0, $"{audit.Problems.Count} problems:\n" + string.Join('\n', audit.Problems.Take(40)));
        Assert.Empty(ledger.Refused.Values.Take(5));
        Assert.True(sends.Count >= 500 && broadcasts.Count >= 10, $"too few publishes to mean anything: {sends.Count} sends, {broadcasts.Count} broadcasts");
        Assert.Equal(0, audit.Lost);
        Assert.Equal(0, audit.Duplicated);
        Assert.Equal(audit.Expected, audit.Delivered);

        // Exactly the killed node's clients moved, each once, to the survivors; the others were not disturbed.
        Assert.NotEmpty(onVictim);
        Assert.Equal(onVictim.Select(c => c.Index).Order(), moved.Select(c => c.Index).Order());
        Assert.All(moved, c => Assert.Equal(2, c.Sessions.Count));
        Assert.All(moved, c => Assert.Contains(c.Sessions[1].GatewayId, survivors.Select(s => s.GatewayId)));
        Assert.All(survivors, s => Assert.Contains(moved, c => c.Sessions[1].GatewayId == s.GatewayId)); // round-robin used both
        Assert.DoesNotContain(victim.GatewayId, ProcessCluster.GatewayIdsIn(stats));
        Assert.Equal(clients.Count, stats.GetProperty("connections").GetInt32());
    }

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
}
