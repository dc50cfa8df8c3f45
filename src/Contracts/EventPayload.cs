namespace SseCluster.Contracts;

/// <summary>
/// One published event as stored in a stream's history: what the publisher sent, plus when.
/// Immutable and shared by every stream and recipient it goes to.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.EventPayload")]
public sealed class EventPayload
{
    /// <param name="eventType">The SSE event type; null or <c>message</c> for the default type.</param>
    /// <param name="data">The data as the publisher gave it: JSON text, delivered byte for byte.</param>
    /// <param name="publishedAt">Unix time in milliseconds.</param>
    /// <param name="userFilter">Broadcast only: the users the event is for; null for everyone.</param>
    public EventPayload(string? eventType, string data, long publishedAt, IReadOnlyList<string>? userFilter = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        EventType = eventType is null or Identifiers.DefaultEventType ? null : eventType;
        Data = data;
        PublishedAt = publishedAt;
        UserFilter = userFilter;
    }

    /// <summary>Null for the default <c>message</c> type.</summary>
    [Id(0)]
    public string? EventType { get; }

    [Id(1)]
    public string Data { get; }

    /// <summary>Unix time in milliseconds.</summary>
    [Id(2)]
    public long PublishedAt { get; }

    /// <summary>Broadcast only: the users the event is for; null for everyone.</summary>
    [Id(3)]
    public IReadOnlyList<string>? UserFilter { get; }

    /// <summary>The UTF-8 size of <see cref="Data"/>, what the store keeps of it.</summary>
    public int DataBytes => System.Text.Encoding.UTF8.GetByteCount(Data);
}
