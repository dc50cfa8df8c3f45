using System.Diagnostics;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// A gateway's silo dies while publishing goes on through another node. Some users' grains lived on it: their
/// publishes hang on the dead silo until membership declares it dead, and the publisher retries each one with the same
/// publish id meanwhile. Every publish answered 2xx must reach its user exactly once, in order; the only refusal
/// allowed is 503 (and it must mean "not stored" or be retried safely); the membership table in Redis records the
/// death; and the time until every user's publishes are accepted again is measured.
/// </summary>
public sealed class SiloFailoverTests(ITestOutputHelper output)
{
    private const int Users = 60;
    private const int SendLoops = 4;
    private static readonly TimeSpan BeforeKill = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task SendsThroughOneNode_WhileAnotherIsKilled_ArriveOnceInOrder_OnlyRetryableRefusals_AndMembershipRecordsTheDeath()
    {
        await using var cluster = await ProcessCluster.StartAsync(3);
        var publishNode = cluster.Gateways[0];
        var victim = cluster.Gateways[1];
        var rows = await MembershipTable.ReadAsync(cluster.Redis);
        output.WriteLine("membership before: " + string.Join(", ", rows.Select(r => $"{r.SiloName} {r.Address} status {r.Status}")));
        Assert.Equal(["gw-1", "gw-2", "gw-3"], rows.Where(r => r.Status == MembershipRow.Active).Select(r => r.SiloName).Order());

        using var streamHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var publishHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = Enumerable.Range(0, Users).Select(u => $"s{u:D2}-{run}").ToList();
        var balancer = new LoadBalancer(cluster.Gateways);
        var clients = users.Select((user, i) => new ResumingClient(i, user, Tokens.For(user), streamHttp, balancer)).ToList();
        using var stopClients = new CancellationTokenSource();
        var running = clients.Select(c => Task.Run(() => c.RunAsync(cluster.Gateways[c.Index % cluster.Gateways.Count], stopClients.Token))).ToList();
        await Task.WhenAll(clients.Select(c => c.Welcomed)).WaitAsync(TimeSpan.FromSeconds(30));

        var ledger = new PublishLedger(publishHttp);
        using var stopPublishing = new CancellationTokenSource();
        var turn = -1;
        var publishers = Enumerable.Range(0, SendLoops).Select(k => Task.Run(async () =>
        {
            var token = Tokens.Publisher($"steady-{k}");
            while (!stopPublishing.IsCancellationRequested)
            {
                await ledger.SendAsync(publishNode, token, users[(int)((uint)Interlocked.Increment(ref turn) % Users)]);
            }
        })).ToList();

        await Task.Delay(BeforeKill);
        var killedAt = Stopwatch.GetTimestamp();
        victim.Kill();
        var declaredDead = await WaitForDeathAsync(cluster, victim.GatewayId, TimeSpan.FromSeconds(30));
        output.WriteLine($"SIGKILL {victim.GatewayId}; membership table marks it Dead after {declaredDead.TotalMilliseconds:F0} ms");
        await Task.Delay(AfterKill - declaredDead > TimeSpan.Zero ? AfterKill - declaredDead : TimeSpan.Zero);
        await stopPublishing.CancelAsync();
        await Task.WhenAll(publishers);

        var drain = Stopwatch.StartNew();
        while (drain.Elapsed < TimeSpan.FromSeconds(30) && clients.Any(c => c.DeliveryCount < DeliveryAudit.ExpectedFor(c, ledger)))
        {
            await Task.Delay(100);
        }

        await Task.Delay(300); // anything duplicated would show up by now
        await stopClients.CancelAsync();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(15));

        // Recovery: for each user, the first publish sent after the kill that was accepted, and when it was answered.
        var accepted = ledger.Accepted;
        var afterKill = accepted.Where(p => p.SentAt > killedAt).ToList();
        var perUser = users.Select(u => afterKill.Where(p => p.UserId == u).MinBy(p => p.SentAt)).ToList();
        var recovered = perUser.Where(p => p is not null).Select(p => Stopwatch.GetElapsedTime(killedAt, p!.AnsweredAt).TotalMilliseconds).Order().ToList();
        var slowest = accepted.Max(p => Stopwatch.GetElapsedTime(p.SentAt, p.AnsweredAt).TotalMilliseconds);
        var audit = DeliveryAudit.Run(clients, ledger);
        output.WriteLine($"published: {accepted.Count} accepted through {publishNode.GatewayId}, {ledger.Refused.Count} refused; slowest publish {slowest:F0} ms");
        output.WriteLine($"time from SIGKILL until every user's publishes were accepted again: {recovered[^1]:F0} ms (median user {recovered[recovered.Count / 2]:F0} ms)");
        output.WriteLine(audit.Summary);
        output.WriteLine("refusals: " + string.Join(" | ", ledger.Refused.Values.Take(5)));
        var after = await MembershipTable.ReadAsync(cluster.Redis);
        output.WriteLine("membership after: " + string.Join(", ", after.Select(r => $"{r.SiloName} status {r.Status}")));

        Assert.True(audit.Problems.Count == 0, $"{audit.Problems.Count} problems:\n" + string.Join('\n', audit.Problems.Take(40)));
        Assert.Equal(0, audit.Lost);
        Assert.Equal(0, audit.Duplicated);
        Assert.All(ledger.Refused.Values, r => Assert.StartsWith("503 ", r, StringComparison.Ordinal));
        Assert.Equal(Users, recovered.Count); // every user's publishes were accepted again after the kill
        Assert.True(accepted.Count >= 300, $"too few publishes to mean anything: {accepted.Count}");
        Assert.Equal(MembershipRow.Dead, after.Single(r => r.SiloName == victim.GatewayId).Status);
        Assert.Equal(["gw-1", "gw-3"], after.Where(r => r.Status == MembershipRow.Active).Select(r => r.SiloName).Order());
    }

    private static Task<TimeSpan> WaitForDeathAsync(ProcessCluster cluster, string gatewayId, TimeSpan limit) =>
        Eventually.TrueAsync(
            async () => (await MembershipTable.ReadAsync(cluster.Redis)).Any(r => r.SiloName == gatewayId && r.Status == MembershipRow.Dead),
            $"{gatewayId} to be marked Dead in the membership table",
            limit);
}
