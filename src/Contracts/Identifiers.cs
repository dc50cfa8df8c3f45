using System.Buffers;

namespace SseCluster.Contracts;

/// <summary>
/// The rules for user ids, topic names, event types and client ids. They keep every name safe
/// to put in an SSE field, a query string and a Redis Cluster hash tag (no braces).
/// </summary>
/// <remarks>
/// User ids and topic names follow one rule, so that whatever one entry accepts (a token's <c>sub</c>, a publish body,
/// a connect's <c>topics</c>) every other entry can address, URLs included: no <c>/</c> (it would split a path
/// segment), no <c>%</c> (a route value arrives percent-decoded except for <c>%2F</c>, so <c>a%2Fb</c> would name
/// another id than the one meant), not <c>.</c> or <c>..</c> (URLs drop such segments), no <c>,</c> (it separates
/// topics) and no <c>+</c> (a query string reads it as a space).
/// </remarks>
public static class Identifiers
{
    public const int MaxUserIdLength = 128;
    public const int MaxTopicLength = 128;
    public const int MaxEventTypeLength = 64;
    public const int MaxClientIdLength = 128;

    /// <summary>The rule of user ids and topic names, as error messages state it.</summary>
    public const string NameRule = "1-128 characters from A-Z a-z 0-9 . _ ~ : @ | -, and not '.' or '..'";
    public const string UserIdRule = NameRule;
    public const string TopicRule = NameRule;
    public const string EventTypeRule = "1-64 characters from A-Z a-z 0-9 _ . : -";

    public const int MaxAnswerIdLength = 64;

    /// <summary>The rule of answer ids (the gateway makes them: 22 characters of URL-safe base64).</summary>
    public const string AnswerIdRule = "1-64 characters from A-Z a-z 0-9 _ -";

    /// <summary>The event type sent without an <c>event:</c> line.</summary>
    public const string DefaultEventType = "message";

    private static readonly SearchValues<char> NameChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:@|-");

    private static readonly SearchValues<char> AnswerIdChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

    private static readonly SearchValues<char> EventTypeChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-");

    /// <summary>Event types the gateway itself sends; publishers may not forge them.</summary>
    public static IReadOnlySet<string> ReservedEventTypes { get; } =
        new HashSet<string>(StringComparer.Ordinal) { "welcome", "heartbeat", "reset", "reauth", "close" };

    /// <summary>True for a user id every endpoint can address: <see cref="NameRule"/>.</summary>
    public static bool IsValidUserId(string? value) => IsValidName(value, MaxUserIdLength);

    public static bool IsValidClientId(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxClientIdLength && IsPrintableToken(value);

    /// <summary>True for a topic name every endpoint can address: <see cref="NameRule"/>.</summary>
    public static bool IsValidTopic(string? value) => IsValidName(value, MaxTopicLength);

    /// <summary>True for a valid answer id: <see cref="AnswerIdRule"/>.</summary>
    public static bool IsValidAnswerId(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxAnswerIdLength && !value.AsSpan().ContainsAnyExcept(AnswerIdChars);

    /// <summary>The event types of an answer stream that the cluster writes itself (its first event and its two ends).</summary>
    public static IReadOnlySet<string> ReservedAnswerEventTypes { get; } =
        new HashSet<string>(StringComparer.Ordinal) { "answer", "done", "error" };

    /// <summary>The rule of the reason an answer fails with, as error messages state it.</summary>
    public const string AnswerFailReasonRule = "1-200 characters without control characters";

    /// <summary>
    /// Null when <paramref name="value"/> may type an answer's chunk; otherwise what is wrong with it: not
    /// <see cref="EventTypeRule"/>, or reserved (<see cref="ReservedEventTypes"/>, <see cref="ReservedAnswerEventTypes"/>).
    /// </summary>
    public static string? AnswerChunkTypeProblem(string value) =>
        !IsValidEventType(value) ? EventTypeRule
        : ReservedEventTypes.Contains(value) || ReservedAnswerEventTypes.Contains(value) ? $"'{value}' is reserved for the gateway"
        : null;

    /// <summary>True for a reason an answer may fail with: <see cref="AnswerFailReasonRule"/>.</summary>
    public static bool IsValidAnswerFailReason(string? value) =>
        value is { Length: > 0 and <= 200 } && !value.Any(char.IsControl);

    /// <summary>True for a syntactically valid event type (reserved names included).</summary>
    public static bool IsValidEventType(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= MaxEventTypeLength && !value.AsSpan().ContainsAnyExcept(EventTypeChars);

    private static bool IsValidName(string? value, int maxLength) =>
        !string.IsNullOrEmpty(value) && value.Length <= maxLength && value is not ("." or "..") && !value.AsSpan().ContainsAnyExcept(NameChars);

    private static bool IsPrintableToken(string value)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c) || c is ',' or '{' or '}')
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
