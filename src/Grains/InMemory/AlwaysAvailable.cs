namespace SseCluster.Grains.InMemory;

/// <summary>In-process routing cannot be unreachable.</summary>
internal sealed class AlwaysAvailable : IRoutingHealth
{
    public bool IsAvailable => true;
}
