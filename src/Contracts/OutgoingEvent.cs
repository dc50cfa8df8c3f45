using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace SseCluster.Contracts;

/// <summary>What a publisher sends: an optional event type and JSON data.</summary>
public sealed class OutgoingEvent
{
    private OutgoingEvent(string? eventType, string data, Guid? publishId = null)
    {
        EventType = eventType;
        Data = data;
        PublishId = publishId;
    }

    /// <summary>Null for the default <c>message</c> type.</summary>
    public string? EventType { get; }

    /// <summary>JSON text, delivered to browsers exactly as given.</summary>
    public string Data { get; }

    /// <summary>
    /// Identifies this publish: publishing the same event again with the same id (a retry after a timeout, say) within
    /// the cluster's idempotency window stores nothing new and answers with the first receipt's sequences. Null: the
    /// publisher gives each call its own id (and reuses it for its own retries).
    /// </summary>
    public Guid? PublishId { get; }

    /// <summary>The same event with a publish id (see <see cref="PublishId"/>).</summary>
    public OutgoingEvent WithPublishId(Guid publishId) => new(EventType, Data, publishId);

    /// <summary>
    /// The same event with a publish id derived from <paramref name="idempotencyKey"/> (any text that names this
    /// publish, such as <c>order-42-shipped</c>): the same key always gives the same id.
    /// </summary>
    public OutgoingEvent WithIdempotencyKey(string idempotencyKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        return WithPublishId(PublishIds.FromKey(idempotencyKey));
    }

    /// <summary>An event whose data is already JSON text. The text is checked to be one JSON value.</summary>
    /// <exception cref="ArgumentException">The event type or the JSON is invalid.</exception>
    public static OutgoingEvent FromJson(string? eventType, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        ValidateEventType(eventType);
        try
        {
            using var document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"data is not valid JSON: {ex.Message}", nameof(json), ex);
        }

        return new OutgoingEvent(eventType, json);
    }

    /// <summary>An event whose data is <paramref name="value"/> serialized with <paramref name="typeInfo"/>.</summary>
    public static OutgoingEvent Create<T>(string? eventType, T value, JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        ValidateEventType(eventType);
        return new OutgoingEvent(eventType, JsonSerializer.Serialize(value, typeInfo));
    }

    /// <summary>Checks an event type a publisher may use: valid syntax and not reserved by the gateway.</summary>
    /// <exception cref="ArgumentException">It is not.</exception>
    public static void ValidateEventType(string? eventType)
    {
        if (eventType is null)
        {
            return;
        }

        if (!Identifiers.IsValidEventType(eventType))
        {
            throw new ArgumentException($"eventType '{eventType}' is invalid: {Identifiers.EventTypeRule}", nameof(eventType));
        }

        if (Identifiers.ReservedEventTypes.Contains(eventType))
        {
            throw new ArgumentException($"eventType '{eventType}' is reserved for the gateway", nameof(eventType));
        }
    }

    /// <summary>For callers that already parsed <paramref name="data"/> as one JSON value and checked the event type.</summary>
    internal static OutgoingEvent Trusted(string? eventType, string data) => new(eventType, data);
}
