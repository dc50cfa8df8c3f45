namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>
/// What a load balancer does for a reconnecting client: the next node round-robin; a node that refuses the
/// connection (dead) is skipped and the next one tried, as haproxy does with <c>retries</c> and <c>redispatch</c>.
/// </summary>
internal sealed class LoadBalancer(IReadOnlyList<GatewayProcess> nodes)
{
    private int _next = -1;

    public IReadOnlyList<GatewayProcess> Nodes { get; } = nodes;

    public GatewayProcess Next() => Nodes[(int)((uint)Interlocked.Increment(ref _next) % (uint)Nodes.Count)];
}
