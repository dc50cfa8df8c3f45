namespace SseCluster.Gateway.Routing;

/// <summary>This gateway's name in stats and listings (<c>SseCluster:GatewayId</c>), and when it started.</summary>
internal sealed class GatewayIdentity(string name, DateTimeOffset startedAt)
{
    public string Name { get; } = name;

    public DateTimeOffset StartedAt { get; } = startedAt;

    public static string DefaultName() => $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..6]}";
}
