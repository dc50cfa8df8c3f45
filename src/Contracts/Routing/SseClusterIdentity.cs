namespace SseCluster.Contracts.Routing;

/// <summary>
/// Names gateways and publishers share: where their settings live, and the Orleans cluster and service they join
/// unless configured otherwise — so <c>SseCluster:Redis:Configuration</c> alone puts them in one cluster.
/// </summary>
public static class SseClusterIdentity
{
    public const string DefaultClusterId = "ssecluster";

    public const string DefaultServiceId = "ssecluster";

    /// <summary>The key of the cluster's Redis (set: cluster mode; unset: one node, in memory).</summary>
    public const string RedisConfigurationKey = "SseCluster:Redis:Configuration";

    public const string ClusterIdKey = "SseCluster:Orleans:ClusterId";

    public const string ServiceIdKey = "SseCluster:Orleans:ServiceId";

    /// <summary>The grain key of the gateway registry.</summary>
    public const long RegistryKey = 0;
}
