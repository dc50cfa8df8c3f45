namespace SseCluster.Contracts;

/// <summary>An event at its place in one stream.</summary>
public sealed record StreamEvent(StreamKey Stream, long Sequence, EventPayload Payload);

/// <summary>Where a published event was stored: a stream and the sequence number it got there.</summary>
public readonly record struct StreamSequence(StreamKey Stream, long Sequence);
