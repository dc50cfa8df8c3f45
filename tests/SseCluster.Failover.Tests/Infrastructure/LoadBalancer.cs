namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>
/// What a load balancer does for a reconnecting client: the next node round-robin; a node that refuses the
/// connection (dead) is skipped and the next one tried, as haproxy does with <c>retries</c> and <c>redispatch</c>.
/// Like a balancer's server list it names addresses: a node replaced by a new process on the same address is
/// <see cref="Replace"/>d in place.
/// </summary>
internal sealed class LoadBalancer(IReadOnlyList<GatewayProcess> nodes)
{
    private readonly GatewayProcess[] _nodes = [.. nodes];
    private int _next = -1;

    public IReadOnlyList<GatewayProcess> Nodes => _nodes;

    public GatewayProcess Next() => Volatile.Read(ref _nodes[(int)((uint)Interlocked.Increment(ref _next) % (uint)_nodes.Length)]);

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="old"/> was.</summary>
    public void Replace(GatewayProcess old, GatewayProcess replacement)
    {
        var at = Array.IndexOf(_nodes, old);
        if (at < 0)
        {
            throw new ArgumentException($"gateway {old.GatewayId} (pid {old.Pid}) is not behind this balancer", nameof(old));
        }

        Volatile.Write(ref _nodes[at], replacement);
    }
}
