namespace SseCluster.Contracts;

/// <summary>An event at its place in one stream.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.StreamEvent")]
public sealed record StreamEvent([property: Id(0)] StreamKey Stream, [property: Id(1)] long Sequence, [property: Id(2)] EventPayload Payload);

/// <summary>Where a published event was stored: a stream and the sequence number it got there.</summary>
[GenerateSerializer]
[Alias("sse.StreamSequence")]
public readonly record struct StreamSequence([property: Id(0)] StreamKey Stream, [property: Id(1)] long Sequence);
