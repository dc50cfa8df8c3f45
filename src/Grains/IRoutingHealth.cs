namespace SseCluster.Grains;

/// <summary>Whether the routing layer can store and route events right now.</summary>
public interface IRoutingHealth
{
    bool IsAvailable { get; }
}
