namespace SseCluster.Grains;

/// <summary>The identity of this gateway node within the cluster.</summary>
public sealed class GatewayIdentity(string gatewayId, DateTimeOffset startedAt)
{
    public string GatewayId { get; } = gatewayId;

    public DateTimeOffset StartedAt { get; } = startedAt;
}
