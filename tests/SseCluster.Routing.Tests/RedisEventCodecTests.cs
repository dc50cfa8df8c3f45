using SseCluster.Contracts;
using SseCluster.Grains;
using SseCluster.Grains.Redis.Internal;

namespace SseCluster.Routing.Tests;

/// <summary>The text formats of live messages, control commands and key names.</summary>
public sealed class RedisEventCodecTests
{
    [Theory]
    [InlineData(null, "{\n  \"a\": \"line\\nbreak ✓\"\n}", null)]
    [InlineData("order.updated", "42", "")]
    [InlineData("x", "\"\"", "=")]
    [InlineData(null, "[1,2]", "=alice,bob")]
    public void LiveMessage_AsThePublishScriptWritesIt_ParsesBackExactly(string? eventType, string data, string? filter)
    {
        var message = $"t:room-7\n17\n1700000000123\n{eventType}\n{filter}\n{data}";

        Assert.True(RedisEventCodec.TryDecodeMessage(message, out var position, out var payload));

        Assert.Equal(new StreamSequence(StreamKey.ForTopic("room-7"), 17), position);
        Assert.Equal(data, payload!.Data);
        Assert.Equal(eventType, payload.EventType);
        Assert.Equal(1_700_000_000_123, payload.PublishedAt);
        Assert.Equal(RedisEventCodec.DecodeFilter(filter), payload.UserFilter);
    }

    [Fact]
    public void UserFilter_DistinguishesNoneFromEmptyFromSome()
    {
        Assert.Null(RedisEventCodec.DecodeFilter(RedisEventCodec.EncodeFilter(null)));
        Assert.Empty(RedisEventCodec.DecodeFilter(RedisEventCodec.EncodeFilter([]))!);
        Assert.Equal(["a", "b"], RedisEventCodec.DecodeFilter(RedisEventCodec.EncodeFilter(["a", "b"])));
    }

    [Theory]
    [InlineData("no newlines at all")]
    [InlineData("x:unknown\n1\n2\n\n\ndata")]
    [InlineData("u:alice\nnot-a-number\n2\n\n\ndata")]
    public void LiveMessage_NotInTheFormat_IsRejected(string message) =>
        Assert.False(RedisEventCodec.TryDecodeMessage(message, out _, out _));

    [Fact]
    public void ControlCommand_RoundTrips_WithAReasonOfSeveralLines()
    {
        var command = new ControlCommand(ControlTarget.Connection, "conn-1", "line one\nline two", false);

        Assert.True(RedisEventCodec.TryDecodeControl(RedisEventCodec.EncodeControl(command), out var decoded));
        Assert.Equal(command, decoded);
    }

    [Fact]
    public void Keys_PutEachGrainUnderItsOwnHashTag_AfterThePrefix()
    {
        var keys = new RedisKeys("sse");

        Assert.Equal("sse:{u:42}:events", (string?)keys.Events(StreamKey.ForUser("42")));
        Assert.Equal("sse:{t:room-7}:seq", (string?)keys.Sequence(StreamKey.ForTopic("room-7")));
        Assert.Equal("sse:{b}:gateways", (string?)keys.Gateways(StreamKey.Broadcast));
        Assert.Equal("sse:{u:42}:block", (string?)keys.ReconnectBlock("42"));
        Assert.Equal("sse:{gw:a@1}:connections", (string?)keys.InstanceConnections("a@1"));
        Assert.All(keys.GrainDirectory(StreamKey.ForUser("42")), k => Assert.Contains("{u:42}", (string?)k, StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new RedisKeys("a{b}"));
    }
}
