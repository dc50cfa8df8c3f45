using System.Globalization;
using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>
/// How events and control commands are written to Redis and read back.
/// <para>
/// History entries (Redis Stream, id <c>&lt;sequence&gt;-0</c>) have the fields <c>p</c> (publishedAt, unix ms,
/// always first), <c>e</c> (event type, absent for the default), <c>f</c> (user filter, absent for none) and
/// <c>d</c> (data, as given). A live message is one text, written by the publish script:
/// <c>stream \n sequence \n publishedAt \n eventType \n filter \n data</c> — the data last, so it may hold newlines.
/// A filter is <c>=</c> followed by comma-separated user ids (ids never contain commas); empty text means none.
/// </para>
/// </summary>
internal static class RedisEventCodec
{
    public static string EncodeFilter(IReadOnlyList<string>? filter) =>
        filter is null ? "" : "=" + string.Join(',', filter);

    public static IReadOnlyList<string>? DecodeFilter(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return text.Length == 1 ? [] : text[1..].Split(',');
    }

    /// <summary>The arguments the publish script takes after its fixed ones: publishedAt, eventType, filter, data.</summary>
    public static (RedisValue PublishedAt, RedisValue EventType, RedisValue Filter, RedisValue Data) Encode(EventPayload payload) =>
        (payload.PublishedAt.ToString(CultureInfo.InvariantCulture), payload.EventType ?? "", EncodeFilter(payload.UserFilter), payload.Data);

    /// <summary>Parses a live message; false for text that is not one (logged by the caller, never thrown).</summary>
    public static bool TryDecodeMessage(string message, out StreamSequence position, out EventPayload? payload)
    {
        position = default;
        payload = null;
        Span<int> breaks = stackalloc int[5];
        var from = 0;
        for (var i = 0; i < breaks.Length; i++)
        {
            var at = message.IndexOf('\n', from);
            if (at < 0)
            {
                return false;
            }

            breaks[i] = at;
            from = at + 1;
        }

        var streamText = message[..breaks[0]];
        var span = message.AsSpan();
        if (!StreamKey.TryParse(streamText, out var stream)
            || !long.TryParse(span[(breaks[0] + 1)..breaks[1]], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
            || !long.TryParse(span[(breaks[1] + 1)..breaks[2]], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var publishedAt))
        {
            return false;
        }

        var eventType = message[(breaks[2] + 1)..breaks[3]];
        var filter = message[(breaks[3] + 1)..breaks[4]];
        var data = message[(breaks[4] + 1)..];
        position = new StreamSequence(stream, sequence);
        payload = new EventPayload(eventType.Length == 0 ? null : eventType, data, publishedAt, DecodeFilter(filter));
        return true;
    }

    /// <summary>Reads one XRANGE entry: <c>[id, [field, value, …]]</c>.</summary>
    public static StreamEvent DecodeEntry(StreamKey stream, RedisResult entry)
    {
        var parts = (RedisResult[])entry!;
        var id = (string)parts[0]!;
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        var sequence = long.Parse(dash < 0 ? id : id[..dash], NumberStyles.None, CultureInfo.InvariantCulture);
        var fields = (RedisValue[])parts[1]!;
        string? eventType = null;
        string? filter = null;
        string data = "";
        long publishedAt = 0;
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            switch ((string?)fields[i])
            {
                case "p":
                    publishedAt = (long)fields[i + 1];
                    break;
                case "e":
                    eventType = fields[i + 1];
                    break;
                case "f":
                    filter = fields[i + 1];
                    break;
                case "d":
                    data = fields[i + 1]!;
                    break;
            }
        }

        return new StreamEvent(stream, sequence, new EventPayload(eventType, data, publishedAt, DecodeFilter(filter)));
    }

    /// <summary><c>target \n reconnect \n id \n reason</c>; the reason last, so it may hold anything.</summary>
    public static string EncodeControl(ControlCommand command) =>
        (command.Target == ControlTarget.User ? "u" : "c") + "\n" + (command.Reconnect ? "1" : "0") + "\n" + command.Id + "\n" + command.Reason;

    public static bool TryDecodeControl(string message, out ControlCommand? command)
    {
        command = null;
        var parts = message.Split('\n', 4);
        if (parts.Length != 4 || parts[0] is not ("u" or "c") || parts[1] is not ("0" or "1") || parts[2].Length == 0)
        {
            return false;
        }

        command = new ControlCommand(parts[0] == "u" ? ControlTarget.User : ControlTarget.Connection, parts[2], parts[3], parts[1] == "1");
        return true;
    }
}
