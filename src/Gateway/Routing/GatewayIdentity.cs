namespace SseCluster.Gateway.Routing;

/// <summary>This gateway's name in stats and listings (<c>SseCluster:GatewayId</c>), when it started, and what it runs.</summary>
internal sealed class GatewayIdentity(string name, DateTimeOffset startedAt, string mode)
{
    public string Name { get; } = name;

    public DateTimeOffset StartedAt { get; } = startedAt;

    /// <summary>One node in memory, or a cluster member and where (for the startup log).</summary>
    public string Mode { get; } = mode;

    public static string DefaultName() => $"{Environment.MachineName.ToLowerInvariant()}-{Guid.NewGuid().ToString("N")[..6]}";
}
