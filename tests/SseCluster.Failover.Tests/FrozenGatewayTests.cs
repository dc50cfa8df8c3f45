using System.Diagnostics;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// A gateway process is frozen (SIGSTOP) while publishing goes on through another node, then thawed (SIGCONT). Its
/// clients must have every accepted event within seconds of the thaw, without waiting for their streams' next event:
/// either the gateway was not declared dead and fills what it missed from the store itself (its tail check), or it
/// was declared dead, learns so when it wakes, exits, and its clients resume on the others.
/// </summary>
public sealed class FrozenGatewayTests(ITestOutputHelper output)
{
    private const int Users = 30;
    private static readonly TimeSpan CatchUpBound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task FrozenForLessThanFailureDetection_CatchesItsClientsUpAfterTheThaw()
    {
        // Orleans' default failure detection (~10 s or more): a 3 s freeze is not a death.
        var summary = await FreezeAsync(TimeSpan.FromSeconds(3), new Dictionary<string, string>
        {
            ["SseCluster__Orleans__Membership__ProbeTimeoutSeconds"] = "5",
            ["SseCluster__Orleans__Membership__MissedProbesLimit"] = "3",
        });
        Assert.False(summary.VictimExited, "the gateway frozen for 3 s exited, as if declared dead");
    }

    [Fact]
    public async Task FrozenPastFailureDetection_IsDeclaredDead_AndItsClientsHaveEverythingSoonAfterTheThaw()
    {
        // The fast detection every process gets by default (~1-3 s): 25 s is long dead.
        var summary = await FreezeAsync(TimeSpan.FromSeconds(25), null);
        Assert.True(summary.VictimDeclaredDead, "the gateway frozen for 25 s was never declared dead");
        Assert.True(summary.VictimExited, "the gateway declared dead kept running after it woke up");
    }

    private async Task<FreezeSummary> FreezeAsync(TimeSpan freeze, IDictionary<string, string>? settings)
    {
        await using var cluster = await ProcessCluster.StartAsync(3, settings);
        var publishNode = cluster.Gateways[0];
        var victim = cluster.Gateways[2];
        using var streamHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        using var publishHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseCookies = false }) { Timeout = Timeout.InfiniteTimeSpan };
        var tag = Guid.NewGuid().ToString("N")[..6];
        var users = Enumerable.Range(0, Users).Select(u => $"f{u:D2}-{tag}").ToList();
        var balancer = new LoadBalancer(cluster.Gateways.Take(2).ToList()); // reconnects go to the nodes that stay awake
        var clients = users.Select((user, i) => new ResumingClient(i, user, Tokens.For(user), streamHttp, balancer)).ToList();
        using var stopClients = new CancellationTokenSource();
        var running = clients.Select(c => Task.Run(() => c.RunAsync(cluster.Gateways[c.Index % 3], stopClients.Token))).ToList();
        await Task.WhenAll(clients.Select(c => c.Welcomed)).WaitAsync(TimeSpan.FromSeconds(30));

        var ledger = new PublishLedger(publishHttp);
        using var stopPublishing = new CancellationTokenSource();
        var publishing = Task.Run(async () =>
        {
            var token = Tokens.Publisher("freeze");
            for (var n = 0; !stopPublishing.IsCancellationRequested; n++)
            {
                await (n % 10 == 9 ? ledger.BroadcastAsync(publishNode, token) : ledger.SendAsync(publishNode, token, users[n % Users]));
                await Task.Delay(20);
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.True(Posix.Signal(victim.Pid, Posix.SigStop), "SIGSTOP was not delivered");
        await Task.Delay(freeze);
        var declaredDead = (await MembershipTable.ReadAsync(cluster.Redis)).Any(r => r.SiloName == victim.GatewayId && r.Status == MembershipRow.Dead);
        Assert.True(Posix.Signal(victim.Pid, Posix.SigCont), "SIGCONT was not delivered");
        var thawed = Stopwatch.GetTimestamp();

        // Publishing stops at the thaw: from here on every stream gets no new event, so nothing but the gateways' own
        // recovery can bring the clients what they missed.
        await stopPublishing.CancelAsync();
        await publishing;
        var complete = Stopwatch.StartNew();
        while (complete.Elapsed < CatchUpBound && clients.Any(c => c.Deliveries.Count(d => d.EventType is "step" or "notice") < DeliveryAudit.ExpectedFor(c, ledger)))
        {
            await Task.Delay(50);
        }

        var caughtUpAfter = Stopwatch.GetElapsedTime(thawed);
        await Task.Delay(300);

        // A gateway the cluster declared dead must not linger: it exits once it wakes and learns so.
        var exit = Stopwatch.StartNew();
        while (declaredDead && !victim.HasExited && exit.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(100);
        }

        var victimExited = victim.HasExited;
        var exitedAfter = Stopwatch.GetElapsedTime(thawed);
        await stopClients.CancelAsync();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(15));

        var audit = DeliveryAudit.Run(clients, ledger);
        output.WriteLine($"froze {victim.GatewayId} for {freeze.TotalSeconds:F0} s; declared dead: {declaredDead}; exited after the thaw: {victimExited}" +
                         (victimExited ? $" ({exitedAfter.TotalMilliseconds:F0} ms after it)" : ""));
        output.WriteLine($"published {ledger.Accepted.Count} accepted, {ledger.Refused.Count} refused; every client complete {caughtUpAfter.TotalMilliseconds:F0} ms after the thaw");
        output.WriteLine(audit.Summary);
        Assert.True(audit.Problems.Count == 0, $"{audit.Problems.Count} problems:\n" + string.Join('\n', audit.Problems.Take(40)));
        Assert.Equal((0L, 0L), (audit.Lost, audit.Duplicated));
        Assert.All(ledger.Refused.Values, r => Assert.StartsWith("503 ", r, StringComparison.Ordinal));
        return new FreezeSummary(declaredDead, victimExited);
    }

    private sealed record FreezeSummary(bool VictimDeclaredDead, bool VictimExited);
}
