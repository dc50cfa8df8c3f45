using System.Buffers;

namespace SseCluster.Contracts;

/// <summary>
/// The rules for user ids, topic names, event types and client ids. They keep every name safe
/// to put in an SSE field, a query string and a Redis Cluster hash tag (no braces).
/// </summary>
public static class Identifiers
{
    public const int MaxUserIdLength = 128;
    public const int MaxTopicLength = 128;
    public const int MaxEventTypeLength = 64;
    public const int MaxClientIdLength = 128;

    public const string UserIdRule = "1-128 characters, no whitespace, control characters, commas or braces";
    public const string TopicRule = "1-128 characters from A-Z a-z 0-9 _ . : -";
    public const string EventTypeRule = "1-64 characters from A-Z a-z 0-9 _ . : -";

    /// <summary>The event type sent without an <c>event:</c> line.</summary>
    public const string DefaultEventType = "message";

    private static readonly SearchValues<char> TopicChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-");

    private static readonly SearchValues<char> EventTypeChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-");

    /// <summary>Event types the gateway itself sends; publishers may not forge them.</summary>
    public static IReadOnlySet<string> ReservedEventTypes { get; } =
        new HashSet<string>(StringComparer.Ordinal) { "welcome", "heartbeat", "reset", "reauth", "close" };

    public static bool IsValidUserId(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxUserIdLength && IsPrintableToken(value, allowSpace: false);

    public static bool IsValidClientId(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxClientIdLength && IsPrintableToken(value, allowSpace: true);

    public static bool IsValidTopic(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxTopicLength && !value.AsSpan().ContainsAnyExcept(TopicChars);

    /// <summary>True for a syntactically valid event type (reserved names included).</summary>
    public static bool IsValidEventType(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxEventTypeLength && !value.AsSpan().ContainsAnyExcept(EventTypeChars);

    private static bool IsPrintableToken(string value, bool allowSpace)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c) || c is ',' or '{' or '}')
            {
                return false;
            }

            if (!allowSpace && char.IsWhiteSpace(c))
            {
                return false;
            }
        }

        // Lone surrogates cannot be encoded as UTF-8.
        return !HasLoneSurrogate(value);
    }

    private static bool HasLoneSurrogate(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return true;
                }

                i++;
            }
            else if (char.IsLowSurrogate(value[i]))
            {
                return true;
            }
        }

        return false;
    }
}
