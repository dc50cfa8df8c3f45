using System.Text.Json;
using SseCluster.Contracts;

namespace SseCluster.Grains.Answers;

/// <summary>The event types of an answer stream and the data of the events the cluster writes itself.</summary>
public static class AnswerEvents
{
    /// <summary>Sequence 1: <c>{"answerId":…,"userId":…}</c>.</summary>
    public const string Answer = "answer";

    /// <summary>The default type of a chunk.</summary>
    public const string Chunk = "chunk";

    /// <summary>The last event of an answer that completed: <c>{"answerId":…}</c>.</summary>
    public const string Done = "done";

    /// <summary>The last event of an answer that failed: <c>{"answerId":…,"reason":…}</c>.</summary>
    public const string Error = "error";

    /// <summary>Types a backend may not give a chunk.</summary>
    public static IReadOnlySet<string> Reserved => Identifiers.ReservedAnswerEventTypes;

    public static string AnswerData(string answerId, string userId) =>
        JsonSerializer.Serialize(new Dictionary<string, string> { ["answerId"] = answerId, ["userId"] = userId });

    public static string DoneData(string answerId) =>
        JsonSerializer.Serialize(new Dictionary<string, string> { ["answerId"] = answerId });

    public static string ErrorData(string answerId, string reason) =>
        JsonSerializer.Serialize(new Dictionary<string, string> { ["answerId"] = answerId, ["reason"] = reason });

    /// <summary>The user of an <c>answer</c> event's data, or null.</summary>
    public static string? UserOf(string data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            return doc.RootElement.TryGetProperty("userId", out var user) && user.ValueKind == JsonValueKind.String ? user.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
