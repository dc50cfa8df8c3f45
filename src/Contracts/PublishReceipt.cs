namespace SseCluster.Contracts;

/// <summary>What a publish did: where the event was stored and how far it reached live.</summary>
/// <param name="Events">One entry per target stream; the event is in each one's history.</param>
/// <param name="Gateways">Gateways the event was announced to live.</param>
/// <param name="Connections">Connections the event was queued to live (resumed clients get it from history).</param>
[GenerateSerializer]
[Alias("sse.PublishReceipt")]
public sealed record PublishReceipt([property: Id(0)] IReadOnlyList<StreamSequence> Events, [property: Id(1)] int Gateways, [property: Id(2)] int Connections);
