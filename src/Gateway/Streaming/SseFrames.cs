using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Writes the WHATWG <c>text/event-stream</c> format. An event's <c>event:</c>/<c>data:</c> lines are formatted once
/// into a body shared by every recipient; the <c>id:</c> line, which encodes each connection's own position, is written
/// per connection in front of it. (SseFormatter cannot write comments or a separate id line, hence this.)
/// </summary>
internal static class SseFrames
{
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] IdPrefix = "id: "u8.ToArray();

    /// <summary>
    /// <c>event: &lt;type&gt;</c> (omitted for the default type) and one <c>data:</c> line per line of
    /// <paramref name="data"/> (split on CRLF, CR and LF, as a parser splits them), then the blank line.
    /// The type must already be valid: it can hold no line break.
    /// </summary>
    public static byte[] FormatEvent(string? eventType, string data)
    {
        var buffer = new ArrayBufferWriter<byte>(data.Length + 32);
        WriteEvent(buffer, eventType, data);
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] FormatEvent<T>(string eventType, T value, JsonTypeInfo<T> typeInfo) =>
        FormatEvent(eventType, JsonSerializer.Serialize(value, typeInfo));

    public static void WriteEvent(IBufferWriter<byte> writer, string? eventType, string data)
    {
        if (eventType is not null && eventType != Identifiers.DefaultEventType)
        {
            writer.Write(EventPrefix);
            WriteUtf8(writer, eventType);
            writer.Write("\n"u8);
        }

        var remaining = data.AsSpan();
        while (true)
        {
            var lineEnd = remaining.IndexOfAny('\r', '\n');
            writer.Write(DataPrefix);
            if (lineEnd < 0)
            {
                WriteUtf8(writer, remaining);
                writer.Write("\n"u8);
                break;
            }

            WriteUtf8(writer, remaining[..lineEnd]);
            writer.Write("\n"u8);
            var skip = remaining[lineEnd] == '\r' && lineEnd + 1 < remaining.Length && remaining[lineEnd + 1] == '\n' ? 2 : 1;
            remaining = remaining[(lineEnd + skip)..];
        }

        writer.Write("\n"u8);
    }

    /// <summary>Writes <c>id: &lt;positions&gt;</c> and its line end; the id holds only <c>[0-9a-z.~-]</c>.</summary>
    public static void WriteId(IBufferWriter<byte> writer, ReadOnlySpan<long> positions, ReadOnlySpan<int> epochs, uint topicFingerprint)
    {
        writer.Write(IdPrefix);
        var span = writer.GetSpan(ResumePosition.MaxLength(positions.Length) + 1);
        var length = ResumePosition.Write(positions, epochs, topicFingerprint, span);
        span[length] = (byte)'\n';
        writer.Advance(length + 1);
    }

    /// <summary>An <c>id:</c>-only block: moves the client's last event id without dispatching an event.</summary>
    public static void WriteCheckpoint(IBufferWriter<byte> writer, ReadOnlySpan<long> positions, ReadOnlySpan<int> epochs, uint topicFingerprint)
    {
        WriteId(writer, positions, epochs, topicFingerprint);
        writer.Write("\n"u8);
    }

    public static byte[] Retry(int milliseconds) => Encoding.ASCII.GetBytes($"retry: {milliseconds}\n\n");

    /// <summary>A comment line; the text must hold no line break.</summary>
    public static byte[] Comment(string text) => Encoding.UTF8.GetBytes($": {text}\n\n");

    private static void WriteUtf8(IBufferWriter<byte> writer, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        // Lone surrogates become U+FFFD: the stream stays valid UTF-8 whatever the string holds.
        var span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        var written = Encoding.UTF8.GetBytes(text, span);
        writer.Advance(written);
    }
}
