using System.Diagnostics;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Tests.Support;
using Xunit.Abstractions;

namespace SseCluster.Grains.Tests;

/// <summary>
/// A gateway whose endpoint throws or never answers costs a publish at most the delivery timeout
/// (<c>SseCluster:Routing:DeliveryTimeoutMilliseconds</c>, 500 ms here), and the other gateways get their deliveries.
/// </summary>
public sealed class FailingGatewayTests(InMemoryClusterFixture fixture, ITestOutputHelper output) : IClassFixture<InMemoryClusterFixture>
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromMilliseconds(500);

    // What a publish may take on top of the delivery timeout on a loaded 2-core machine.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(1.5);

    private readonly GatewayCluster _cluster = fixture.Cluster;

    [Fact]
    public async Task GatewayWhoseDeliverThrows_DoesNotStallThePublish_NorStopTheOtherGateway()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("throw"));
        var (broken, healthy) = (_cluster.Gateways[0], _cluster.Gateways[1]);
        healthy.Endpoint.SetConnections(user, 2);
        await _cluster.AttachAsync(user, broken, healthy);
        await _cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json("{\"n\":0}")); // the grain is active
        broken.Endpoint.Fail();
        try
        {
            var times = new List<TimeSpan>();
            for (var i = 1; i <= 3; i++)
            {
                var clock = Stopwatch.StartNew();
                var receipt = await _cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json($"{{\"n\":{i}}}"));
                times.Add(clock.Elapsed);
                Assert.Equal((2, 2), (receipt.Gateways, receipt.Connections)); // handed to both; only the healthy one counted
            }

            Assert.All(times, t => Assert.True(t < DeliveryTimeout + Slack, $"a publish took {t.TotalMilliseconds:0} ms"));
            Assert.Equal([1L, 2L, 3L, 4L], healthy.Endpoint.SequencesOf(user));
            Assert.Equal([1L, 2L, 3L, 4L], broken.Endpoint.SequencesOf(user)); // it was called, and threw
            output.WriteLine($"publishes with a throwing gateway: {string.Join(", ", times.Select(t => $"{t.TotalMilliseconds:0} ms"))}");
        }
        finally
        {
            broken.Endpoint.Answer();
        }

        // A live gateway that failed once is kept: the next event reaches it again.
        var after = await _cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json("{\"n\":4}"));
        Assert.Equal((2, 3), (after.Gateways, after.Connections));
        Assert.Equal([1L, 2L, 3L, 4L, 5L], broken.Endpoint.SequencesOf(user));
    }

    [Fact]
    public async Task GatewayWhoseDeliverHangs_DelaysPublishesByAtMostTheDeliveryTimeout_AndTheOtherGatewayGetsEveryEvent()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("hang"));
        var (hung, healthy) = (_cluster.Gateways[2], _cluster.Gateways[0]);
        healthy.Endpoint.SetConnections(user, 4);
        await _cluster.AttachAsync(user, hung, healthy);
        hung.Endpoint.Hang();
        try
        {
            // One at a time, then twenty at once: none waits for the hung gateway longer than the timeout.
            var times = new List<TimeSpan>();
            for (var i = 1; i <= 3; i++)
            {
                var clock = Stopwatch.StartNew();
                var receipt = await _cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json($"{{\"n\":{i}}}"));
                times.Add(clock.Elapsed);
                Assert.Equal((2, 4), (receipt.Gateways, receipt.Connections));
                Assert.Contains(Assert.Single(receipt.Events).Sequence, healthy.Endpoint.SequencesOf(user));
            }

            var burst = Stopwatch.StartNew();
            var receipts = await Task.WhenAll(Enumerable.Range(4, 20).Select(i => _cluster.Publisher.SendToUserAsync(user.Name, GatewayCluster.Json($"{{\"n\":{i}}}"))));
            burst.Stop();

            Assert.All(times, t => Assert.True(t < DeliveryTimeout + Slack, $"a publish took {t.TotalMilliseconds:0} ms"));
            Assert.True(burst.Elapsed < DeliveryTimeout * 2 + Slack, $"20 concurrent publishes took {burst.ElapsedMilliseconds} ms");
            Assert.Equal(Enumerable.Range(1, 23).Select(i => (long)i), healthy.Endpoint.SequencesOf(user).Order());
            Assert.Equal(Enumerable.Range(1, 23).Select(i => (long)i), receipts.Select(r => r.Events[0].Sequence).Concat([1L, 2L, 3L]).Order());
            output.WriteLine($"publishes with a hung gateway: {string.Join(", ", times.Select(t => $"{t.TotalMilliseconds:0} ms"))}; 20 at once: {burst.ElapsedMilliseconds} ms");
        }
        finally
        {
            hung.Endpoint.Answer();
        }
    }

    [Fact]
    public async Task DisconnectWithAHungGateway_AnswersWithinTheTimeout_CountingTheOthers()
    {
        var user = StreamKey.ForUser(GatewayCluster.Unique("dhang"));
        var (hung, healthy) = (_cluster.Gateways[1], _cluster.Gateways[2]);
        hung.Endpoint.SetConnections(user, 7);
        healthy.Endpoint.SetConnections(user, 2);
        await _cluster.AttachAsync(user, hung, healthy);
        hung.Endpoint.Hang();
        try
        {
            var clock = Stopwatch.StartNew();
            var closed = await _cluster.Grain(user).Disconnect(ControlCommandFor(user.Name), TimeSpan.Zero);
            clock.Stop();

            Assert.Equal(2, closed);
            Assert.True(clock.Elapsed < DeliveryTimeout + Slack, $"the disconnect took {clock.ElapsedMilliseconds} ms");
            Assert.Single(hung.Endpoint.Commands, c => c.Id == user.Name);
        }
        finally
        {
            hung.Endpoint.Answer();
        }
    }

    private static ControlCommand ControlCommandFor(string user) => new(ControlTarget.User, user, "test", Reconnect: true);
}
