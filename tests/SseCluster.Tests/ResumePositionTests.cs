using SseCluster.Contracts;

namespace SseCluster.Tests;

public sealed class ResumePositionTests
{
    [Fact]
    public void FormatThenParse_RoundTripsEveryPosition()
    {
        string[] topics = ["alerts", "news"];
        var fingerprint = ResumePosition.Fingerprint(topics);
        long[] positions = [123456789, 0, 35, long.MaxValue];
        int[] epochs = [7, 0, int.MaxValue, 1];
        var id = ResumePosition.Format(positions, epochs, fingerprint);

        var parsed = new long[4];
        var parsedEpochs = new int[4];
        Assert.Equal(ResumePosition.ParseOutcome.Complete, ResumePosition.TryParse(id, 4, fingerprint, parsed, parsedEpochs));
        Assert.Equal(positions, parsed);
        Assert.Equal(epochs, parsedEpochs);
        Assert.Matches("^[0-9a-z.~-]+$", id);
        Assert.True(id.Length <= ResumePosition.MaxLength(4));
    }

    [Fact]
    public void WithoutTopics_HasNoFingerprint()
    {
        var id = ResumePosition.Format([10, 36], [0, 0], 0);
        Assert.Equal("a.10", id);
        var parsed = new long[2];
        Assert.Equal(ResumePosition.ParseOutcome.Complete, ResumePosition.TryParse(id, 2, ResumePosition.Fingerprint([]), parsed, new int[2]));
        Assert.Equal([10L, 36L], parsed);
    }

    [Fact]
    public void Epochs_FollowTheirPositions_AndAreLeftOutWhereThereIsNone()
    {
        var id = ResumePosition.Format([5, 0], [37, 0], 0);
        Assert.Equal("5-11.0", id);
        var epochs = new int[2];
        Assert.Equal(ResumePosition.ParseOutcome.Complete, ResumePosition.TryParse(id, 2, 0, new long[2], epochs));
        Assert.Equal([37, 0], epochs);
    }

    [Fact]
    public void AnotherTopicSet_KeepsUserAndBroadcastOnly()
    {
        var id = ResumePosition.Format([5, 6, 7], [1, 2, 3], ResumePosition.Fingerprint(["a"]));
        var parsed = new long[3];
        var epochs = new int[3];
        var outcome = ResumePosition.TryParse(id, 3, ResumePosition.Fingerprint(["b"]), parsed, epochs);
        Assert.Equal(ResumePosition.ParseOutcome.TopicsChanged, outcome);
        Assert.Equal(5, parsed[0]);
        Assert.Equal(6, parsed[1]);
        Assert.Equal(0, parsed[2]);
        Assert.Equal([1, 2, 0], epochs);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("1")]
    [InlineData("1..2")]
    [InlineData("1.2.3")]
    [InlineData("1.2~zz")]
    [InlineData("-1.2")]
    [InlineData("1.2.3~")]
    [InlineData("A.B")]
    [InlineData("1.2\n")]
    [InlineData("zzzzzzzzzzzzzz.1")]
    [InlineData("1-.2")]
    [InlineData("1-0.2")]
    [InlineData("1-zzzzzzz.2")]
    [InlineData("1-a-b.2")]
    [InlineData("-a.2")]
    public void Garbage_IsInvalid(string id)
    {
        var parsed = new long[3];
        Assert.Equal(ResumePosition.ParseOutcome.Invalid, ResumePosition.TryParse(id, 3, ResumePosition.Fingerprint(["a"]), parsed, new int[3]));
    }

    [Fact]
    public void Fingerprint_DependsOnTheTopicSet()
    {
        Assert.NotEqual(ResumePosition.Fingerprint(["a", "b"]), ResumePosition.Fingerprint(["ab"]));
        Assert.Equal(ResumePosition.Fingerprint(["a", "b"]), ResumePosition.Fingerprint(["a", "b"]));
    }
}
