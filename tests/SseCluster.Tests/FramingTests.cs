using System.Buffers;
using System.Net.ServerSentEvents;
using System.Text;
using SseCluster.Contracts;
using SseCluster.Gateway.Streaming;

namespace SseCluster.Tests;

/// <summary>The wire format, read back with System.Net.ServerSentEvents' parser (an implementation no one here wrote).</summary>
public sealed class FramingTests
{
    public static TheoryData<string> Payloads => new()
    {
        "{\"a\":1}",
        "line1\nline2",
        "line1\r\nline2",
        "line1\rline2",
        "trailing\n",
        "\nleading",
        "a\n\nb",
        "\r\n\r\n",
        "data: not a field\nevent: close\nid: 999\n\nretry: 1",
        "id: forged\r\n\r\nevent: close\r\ndata: {}\r\n\r\n",
        ": comment-looking\n:another",
        "emoji 😀 CJK 服务器推送 Ü \u2028 \u2029 \u0085",
        "  leading spaces kept",
        "",
    };

    [Theory]
    [MemberData(nameof(Payloads))]
    public void Event_ParsesBackToOneEventWithTheSameData(string data)
    {
        var body = SseFrames.FormatEvent("order.updated", data);
        var events = Parse(body);

        var e = Assert.Single(events);
        Assert.Equal("order.updated", e.EventType);
        // A parser joins data lines with LF, so CRLF and CR come back as LF; nothing else changes.
        Assert.Equal(data.Replace("\r\n", "\n").Replace('\r', '\n'), e.Data);
    }

    [Fact]
    public void DefaultType_WritesNoEventLine()
    {
        var text = Encoding.UTF8.GetString(SseFrames.FormatEvent("message", "{}"));
        Assert.Equal("data: {}\n\n", text);
        Assert.Equal("data: {}\n\n", Encoding.UTF8.GetString(SseFrames.FormatEvent(null, "{}")));
    }

    [Fact]
    public void MultiLineData_BecomesOneDataLinePerLine()
    {
        var text = Encoding.UTF8.GetString(SseFrames.FormatEvent("x", "a\r\nb\rc\nd"));
        Assert.Equal("event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n", text);
    }

    [Fact]
    public void Utf8_IsWrittenAsUtf8_AndLoneSurrogatesCannotBreakTheStream()
    {
        var body = SseFrames.FormatEvent("t", "é😀");
        Assert.Equal("event: t\ndata: é😀\n\n", new UTF8Encoding(false, true).GetString(body));

        var broken = SseFrames.FormatEvent("t", "a\uD800b");
        var decoded = new UTF8Encoding(false, true).GetString(broken); // throws if the bytes are not valid UTF-8
        Assert.Contains("a\uFFFDb", decoded);
    }

    [Fact]
    public void IdLine_CarriesPositions_AndTheParserReportsThemAsLastEventId()
    {
        var buffer = new ArrayBufferWriter<byte>();
        long[] positions = [42, 7, 1_000_000, 0];
        int[] epochs = [99, 1, 123456, 0];
        var fingerprint = ResumePosition.Fingerprint(["a", "b"]);
        SseFrames.WriteId(buffer, positions, epochs, fingerprint);
        buffer.Write(SseFrames.FormatEvent("x", "{}"));

        var parser = SseParser.Create(new MemoryStream(buffer.WrittenSpan.ToArray()));
        var items = parser.Enumerate().ToList();
        Assert.Single(items);
        Assert.Equal(ResumePosition.Format(positions, epochs, fingerprint), parser.LastEventId);
        Assert.DoesNotContain('\n', parser.LastEventId);
    }

    [Fact]
    public void Checkpoint_MovesLastEventIdWithoutDispatchingAnEvent()
    {
        var buffer = new ArrayBufferWriter<byte>();
        SseFrames.WriteCheckpoint(buffer, [5, 6], [0, 0], 0);
        buffer.Write(SseFrames.Comment("heartbeat"));

        var parser = SseParser.Create(new MemoryStream(buffer.WrittenSpan.ToArray()));
        Assert.Empty(parser.Enumerate());
        Assert.Equal("5.6", parser.LastEventId);
    }

    [Fact]
    public void RetryAndComment_AreNotEvents()
    {
        var bytes = SseFrames.Retry(2500).Concat(SseFrames.Comment("heartbeat")).ToArray();
        var parser = SseParser.Create(new MemoryStream(bytes));
        Assert.Empty(parser.Enumerate());
        Assert.Equal(TimeSpan.FromMilliseconds(2500), parser.ReconnectionInterval);
    }

    [Theory]
    [InlineData("order.updated", true)]
    [InlineData("a:b-c_d.e", true)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("line\nbreak", false)]
    [InlineData("cr\rhere", false)]
    [InlineData("nul\0", false)]
    [InlineData("ünicode", false)]
    public void EventTypes_FollowTheDocumentedPattern(string eventType, bool valid)
    {
        Assert.Equal(valid, Identifiers.IsValidEventType(eventType));
    }

    [Fact]
    public void EventTypes_LongerThan64_AreInvalid_AndReservedOnesAreRefusedToPublishers()
    {
        Assert.True(Identifiers.IsValidEventType(new string('a', 64)));
        Assert.False(Identifiers.IsValidEventType(new string('a', 65)));
        foreach (var reserved in new[] { "welcome", "heartbeat", "reset", "reauth", "close" })
        {
            Assert.Throws<ArgumentException>(() => OutgoingEvent.ValidateEventType(reserved));
        }
    }

    private static List<SseItem<string>> Parse(byte[] body) => SseParser.Create(new MemoryStream(body)).Enumerate().ToList();
}
