namespace SseCluster.Contracts;

/// <summary>The kind of a routing grain's stream.</summary>
[GenerateSerializer]
[Alias("sse.StreamKind")]
public enum StreamKind : byte
{
    /// <summary>Events sent to one user.</summary>
    User,
    /// <summary>Events published to one topic.</summary>
    Topic,
    /// <summary>Events broadcast to everyone (optionally filtered by user).</summary>
    Broadcast,
    /// <summary>The chunks of one streamed answer, read by the user who asked.</summary>
    Answer,
}

/// <summary>
/// Names one stream: a user's (<c>u:42</c>), a topic's (<c>t:room-7</c>) or the broadcast stream (<c>b</c>).
/// Each stream numbers its events 1, 2, 3, … without gaps and keeps a bounded history.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.StreamKey")]
public readonly record struct StreamKey
{
    /// <summary>The broadcast stream.</summary>
    public static readonly StreamKey Broadcast = new(StreamKind.Broadcast, "");

    private StreamKey(StreamKind kind, string name)
    {
        Kind = kind;
        Name = name;
    }

    [Id(0)]
    public StreamKind Kind { get; }

    /// <summary>The user id or topic name; empty for the broadcast stream.</summary>
    [Id(1)]
    public string Name { get; }

    /// <summary>The grain key of this stream's <see cref="Routing.IStreamGrain"/>: the same as <see cref="ToString"/>.</summary>
    public string GrainKey => ToString();

    /// <summary>The stream of one user. Throws if <paramref name="userId"/> is not a valid user id.</summary>
    public static StreamKey ForUser(string userId)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            throw new ArgumentException($"'{userId}' is not a valid user id: {Identifiers.UserIdRule}", nameof(userId));
        }

        return new StreamKey(StreamKind.User, userId);
    }

    /// <summary>The stream of one topic. Throws if <paramref name="topic"/> is not a valid topic name.</summary>
    public static StreamKey ForTopic(string topic)
    {
        if (!Identifiers.IsValidTopic(topic))
        {
            throw new ArgumentException($"'{topic}' is not a valid topic: {Identifiers.TopicRule}", nameof(topic));
        }

        return new StreamKey(StreamKind.Topic, topic);
    }

    /// <summary>The stream of one answer. Throws if <paramref name="answerId"/> is not a valid answer id.</summary>
    public static StreamKey ForAnswer(string answerId)
    {
        if (!Identifiers.IsValidAnswerId(answerId))
        {
            throw new ArgumentException($"'{answerId}' is not a valid answer id: {Identifiers.AnswerIdRule}", nameof(answerId));
        }

        return new StreamKey(StreamKind.Answer, answerId);
    }

    /// <summary>Parses the text form produced by <see cref="ToString"/>.</summary>
    public static bool TryParse(string? text, out StreamKey key)
    {
        key = default;
        if (text is null)
        {
            return false;
        }

        if (text == "b")
        {
            key = Broadcast;
            return true;
        }

        if (text.StartsWith("u:", StringComparison.Ordinal) && Identifiers.IsValidUserId(text[2..]))
        {
            key = new StreamKey(StreamKind.User, text[2..]);
            return true;
        }

        if (text.StartsWith("t:", StringComparison.Ordinal) && Identifiers.IsValidTopic(text[2..]))
        {
            key = new StreamKey(StreamKind.Topic, text[2..]);
            return true;
        }

        if (text.StartsWith("a:", StringComparison.Ordinal) && Identifiers.IsValidAnswerId(text[2..]))
        {
            key = new StreamKey(StreamKind.Answer, text[2..]);
            return true;
        }

        return false;
    }

    /// <summary><c>u:&lt;userId&gt;</c>, <c>t:&lt;topic&gt;</c>, <c>a:&lt;answerId&gt;</c> or <c>b</c>.</summary>
    public override string ToString() => Kind switch
    {
        StreamKind.User => "u:" + Name,
        StreamKind.Topic => "t:" + Name,
        StreamKind.Answer => "a:" + Name,
        _ => "b",
    };
}
