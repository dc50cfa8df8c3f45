using System.Collections.Concurrent;
using System.Diagnostics;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Tests.Support;
using SseCluster.TestSupport;
using Xunit.Abstractions;

namespace SseCluster.Grains.Tests;

/// <summary>
/// Silos killed under load (<see cref="Orleans.TestingHost.InProcessTestCluster.KillSiloAsync"/>; each test has a
/// cluster of its own). A stream grain's silo dying costs publishers a stall, never an event: the publisher retries with
/// the same publish id, the store answers the retry with the first sequence. A gateway's silo dying takes it out of
/// the attachments and the registry once membership declares it dead.
/// </summary>
public sealed class SiloFailureTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KillingTheSiloOfAUsersGrainWhilePublishing_EveryReturnedEventIsStoredOnceWithoutGaps_AndReachesTheSurvivingGateways()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        var user = StreamKey.ForUser(GatewayCluster.Unique("failover"));
        var host = await cluster.HostOfAsync(user);
        var readers = cluster.Gateways.Where(g => !g.Address.Equals(host.SiloAddress)).ToArray();
        await cluster.AttachAsync(user, readers);
        output.WriteLine($"u:{user.Name} is on {host.Name}; read by {string.Join(", ", readers.Select(r => r.Name))}");

        const int Publishers = 4;
        const int BeforeKill = 40;
        const int AfterKill = 40;
        var published = new ConcurrentBag<Published>();
        var failures = new ConcurrentBag<Exception>();
        var enoughBeforeKill = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var enoughAfterKill = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killedAt = long.MaxValue; // ticks of the clock when every survivor saw the kill
        var next = 0;
        var completedAfterKill = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        async Task PublishLoopAsync()
        {
            while (!enoughAfterKill.Task.IsCompleted && !stop.IsCancellationRequested)
            {
                var n = Interlocked.Increment(ref next);
                var started = clock.Elapsed;
                try
                {
                    var receipt = await cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json($"{{\"n\":{n}}}"), stop.Token);
                    var done = clock.Elapsed;
                    published.Add(new Published(n, Assert.Single(receipt.Events).Sequence, started, done));
                    if (published.Count >= BeforeKill)
                    {
                        enoughBeforeKill.TrySetResult();
                    }

                    if (started.Ticks > Volatile.Read(ref killedAt) && Interlocked.Increment(ref completedAfterKill) >= AfterKill)
                    {
                        enoughAfterKill.TrySetResult();
                    }
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                    return;
                }
            }
        }

        var loops = Enumerable.Range(0, Publishers).Select(_ => Task.Run(PublishLoopAsync)).ToArray();
        await enoughBeforeKill.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var killStarted = clock.Elapsed;
        var declaredDeadAfter = await cluster.KillAsync(host);
        Volatile.Write(ref killedAt, clock.Elapsed.Ticks);
        // The loops stop by themselves once enough publishes completed after the kill (or one failed); the token
        // above only bounds a publish that would hang, so every publish started is awaited to its answer.
        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(failures.IsEmpty, $"{failures.Count} publishes failed: {string.Join(" | ", failures.Select(f => $"{f.GetType().Name}: {f.Message}").Distinct())}");
        Assert.True(enoughAfterKill.Task.IsCompleted, $"only {completedAfterKill} publishes completed after the kill");

        // Every publish that returned has a sequence of its own.
        var returned = published.OrderBy(p => p.Sequence).ToList();
        Assert.Equal(returned.Count, returned.Select(p => p.Sequence).Distinct().Count());

        // The history is 1..N without a gap or a repeat, and holds exactly the returned events, each at its sequence.
        var history = await cluster.ReadHistoryAsync(user);
        Assert.Equal(Enumerable.Range(1, history.Count).Select(i => (long)i), history.Select(e => e.Sequence));
        Assert.Equal(returned.Select(p => (p.Sequence, $"{{\"n\":{p.N}}}")), history.Select(e => (e.Sequence, e.Payload.Data)));

        // The gateways that read the user (neither on the killed silo) got the events live, except those the dying
        // activation stored and answered but whose Deliver died with its silo (Orleans promises no delivery; the real
        // gateway puts each stream in order and, seeing a later sequence, reads the hole from the store). So: the last
        // event arrives live; a hole is only an event published while the silo was dying; it is read from the store
        // here exactly as LocalDispatcher would (events after sequence - 1), and then nothing is missing.
        var all = Enumerable.Range(1, history.Count).Select(i => (long)i).ToList();
        var fromStore = new List<string>();
        foreach (var reader in readers)
        {
            await reader.Endpoint.WaitForSequencesAsync(user, [all[^1]]);
            var live = reader.Endpoint.SequencesOf(user).ToHashSet();
            var holes = all.Where(s => !live.Contains(s)).ToList();
            foreach (var hole in holes)
            {
                var publish = returned.Single(p => p.Sequence == hole);
                Assert.True(
                    publish.Started.Ticks < killedAt,
                    $"gateway {reader.Name} missed #{hole}, published at {publish.Started.TotalSeconds:0.00} s, after every survivor saw the kill");
                var filled = Assert.Single((await cluster.History.ReadAsync(user, hole - 1, 1)).Events);
                Assert.Equal((hole, $"{{\"n\":{publish.N}}}"), (filled.Sequence, filled.Payload.Data));
            }

            fromStore.Add($"{reader.Name}: {all.Count - holes.Count} live, {holes.Count} read from the store [{RecordingEndpoint.Ranges(holes)}]");
        }

        // The stall: the longest any one publish took, and the longest stretch in which no publish completed.
        var longest = returned.MaxBy(p => p.Took)!;
        var completions = returned.Select(p => p.Done).Order().ToList();
        var (quietFrom, quiet) = completions.Zip(completions.Skip(1), (a, b) => (a, b - a)).MaxBy(g => g.Item2);
        var repeats = readers.Select(r => r.Endpoint.SequencesOf(user).Count - r.Endpoint.SequencesOf(user).Distinct().Count()).ToList();
        output.WriteLine(
            $"{returned.Count} publishes by {Publishers} publishers; {host.Name} killed at {killStarted.TotalSeconds:0.00} s, seen dead by every survivor {declaredDeadAfter.TotalMilliseconds:0} ms later");
        output.WriteLine(
            $"stall: longest publish {longest.Took.TotalMilliseconds:0} ms (#{longest.Sequence}, started {longest.Started.TotalSeconds:0.00} s); " +
            $"longest time without a completed publish {quiet.TotalMilliseconds:0} ms (from {quietFrom.TotalSeconds:0.00} s)");
        output.WriteLine($"surviving gateways: {string.Join("; ", fromStore)}");
        output.WriteLine($"events delivered twice per surviving gateway (a retry of a publish the dead activation had stored): {string.Join(", ", repeats)}");
    }

    [Fact]
    public async Task GatewaySiloThatDies_IsDroppedFromTheStreamsAttachmentsAndTheRegistry_OnceMembershipDeclaresItDead()
    {
        await using var cluster = await GatewayCluster.StartAsync();
        var topic = StreamKey.ForTopic(GatewayCluster.Unique("room"));
        var registry = cluster.Client.GetGrain<IGatewayRegistryGrain>(SseClusterIdentity.RegistryKey);
        Assert.Equal(
            cluster.Gateways.Select(g => g.Address).Order(),
            (await registry.GetLiveGateways()).Select(g => g.Registration.Address).Order());

        // Kill a gateway that hosts neither the stream's grain nor the registry: what is tested is how they forget it.
        var streamHost = await cluster.HostOfAsync(topic);
        var registryHost = cluster.HostOf(registry);
        var victim = cluster.Gateways.First(g => !g.Address.Equals(streamHost.SiloAddress) && !g.Address.Equals(registryHost.SiloAddress));
        var survivors = cluster.Gateways.Where(g => g != victim).ToArray();
        await cluster.AttachAsync(topic, [.. cluster.Gateways]);
        var grain = cluster.Grain(topic);
        var before = await grain.Publish(GatewayCluster.Payload("{\"n\":1}"), Guid.NewGuid());
        Assert.Contains(victim.Address, before.Gateways);
        Assert.Contains(victim.Address.ToParsableString(), (await cluster.Attachments.GetAsync(topic)).Keys);

        var detected = await cluster.KillAsync(cluster.SiloOf(victim));

        var after = await grain.Publish(GatewayCluster.Payload("{\"n\":2}"), Guid.NewGuid());
        Assert.Equal(survivors.Select(s => s.Address).Order(), after.Gateways.Order());
        await Eventually.TrueAsync(
            async () => !(await cluster.Attachments.GetAsync(topic)).ContainsKey(victim.Address.ToParsableString()),
            () => $"the store's attachments of {topic} to drop the dead gateway {victim}");
        Assert.Equal(
            survivors.Select(s => s.Address.ToParsableString()).Order(),
            (await cluster.Attachments.GetAsync(topic)).Keys.Order());
        Assert.Equal(
            survivors.Select(s => s.Address).Order(),
            (await registry.GetLiveGateways()).Select(g => g.Registration.Address).Order());
        foreach (var survivor in survivors)
        {
            Assert.Equal([1L, 2L], survivor.Endpoint.SequencesOf(topic));
        }

        output.WriteLine($"killed {victim.Name}; every survivor saw it dead {detected.TotalMilliseconds:0} ms after the kill started");
    }

    private sealed record Published(int N, long Sequence, TimeSpan Started, TimeSpan Done)
    {
        public TimeSpan Took => Done - Started;
    }
}
