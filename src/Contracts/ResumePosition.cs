namespace SseCluster.Contracts;

/// <summary>
/// The codec of SSE event ids. An id encodes a connection's position in every stream it reads —
/// its user stream, the broadcast stream and each topic in sorted order — so <c>Last-Event-ID</c>
/// alone lets any gateway resume the connection exactly:
/// <c>&lt;user&gt;.&lt;broadcast&gt;[.&lt;topic…&gt;~&lt;fingerprint&gt;]</c>, numbers in lowercase base 36.
/// Each position is a sequence, followed by <c>-&lt;epoch&gt;</c> once the stream has one: a stream the store lost
/// and started again has another epoch, so an old position is never taken for a place in the new stream.
/// The fingerprint hashes the sorted topic list, so positions are never applied to another topic set.
/// Ids contain only <c>[0-9a-z.~-]</c>: never CR, LF or NUL.
/// </summary>
public static class ResumePosition
{
    /// <summary>Positions are: user stream, broadcast stream, then topics.</summary>
    public const int UserIndex = 0;
    public const int BroadcastIndex = 1;
    public const int FirstTopicIndex = 2;

    private const string Digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    private const int MaxDigits = 13; // long.MaxValue in base 36
    private const int MaxEpochDigits = 6; // int.MaxValue in base 36

    /// <summary>The longest id <paramref name="streamCount"/> positions can need, in bytes.</summary>
    public static int MaxLength(int streamCount) => streamCount * (MaxDigits + 1 + MaxEpochDigits + 1) + 8;

    /// <summary>Writes the id as ASCII into <paramref name="destination"/> (at least <see cref="MaxLength"/> bytes).</summary>
    /// <param name="positions">The sequence reached in each stream.</param>
    /// <param name="epochs">Each stream's epoch; 0 where the stream has none yet.</param>
    /// <param name="topicFingerprint">See <see cref="Fingerprint"/>.</param>
    /// <param name="destination">At least <see cref="MaxLength"/> bytes.</param>
    /// <returns>The number of bytes written.</returns>
    public static int Write(ReadOnlySpan<long> positions, ReadOnlySpan<int> epochs, uint topicFingerprint, Span<byte> destination)
    {
        var at = 0;
        for (var i = 0; i < positions.Length; i++)
        {
            if (i > 0)
            {
                destination[at++] = (byte)'.';
            }

            at += WriteBase36((ulong)positions[i], destination[at..]);
            if (epochs[i] > 0)
            {
                destination[at++] = (byte)'-';
                at += WriteBase36((ulong)epochs[i], destination[at..]);
            }
        }

        if (positions.Length > FirstTopicIndex)
        {
            destination[at++] = (byte)'~';
            at += WriteBase36(topicFingerprint, destination[at..]);
        }

        return at;
    }

    /// <summary>The id as a string.</summary>
    public static string Format(ReadOnlySpan<long> positions, ReadOnlySpan<int> epochs, uint topicFingerprint)
    {
        Span<byte> buffer = stackalloc byte[MaxLength(positions.Length)];
        var length = Write(positions, epochs, topicFingerprint, buffer);
        return System.Text.Encoding.ASCII.GetString(buffer[..length]);
    }

    /// <summary>
    /// Parses an id into <paramref name="positions"/> and <paramref name="epochs"/> (<paramref name="streamCount"/>
    /// long each; epoch 0 where the id carries none). Topic positions are filled only when the id was made for the same
    /// topic set (<paramref name="expectedFingerprint"/>); otherwise only the user and broadcast positions are, and the
    /// outcome says so.
    /// </summary>
    public static ParseOutcome TryParse(string? text, int streamCount, uint expectedFingerprint, Span<long> positions, Span<int> epochs)
    {
        if (string.IsNullOrEmpty(text) || text.Length > MaxLength(Math.Max(streamCount, 34)))
        {
            return ParseOutcome.Invalid;
        }

        var body = text.AsSpan();
        uint? fingerprint = null;
        var tilde = body.IndexOf('~');
        if (tilde >= 0)
        {
            if (!TryParseBase36(body[(tilde + 1)..], out var fp) || fp > uint.MaxValue)
            {
                return ParseOutcome.Invalid;
            }

            fingerprint = (uint)fp;
            body = body[..tilde];
        }

        Span<long> parsed = stackalloc long[64];
        Span<int> parsedEpochs = stackalloc int[64];
        var count = 0;
        foreach (var range in body.Split('.'))
        {
            var part = body[range];
            var dash = part.IndexOf('-');
            ulong epoch = 0;
            if (dash >= 0 && (!TryParseBase36(part[(dash + 1)..], out epoch) || epoch is 0 or > int.MaxValue))
            {
                return ParseOutcome.Invalid;
            }

            if (count == parsed.Length || !TryParseBase36(dash >= 0 ? part[..dash] : part, out var value) || value > long.MaxValue)
            {
                return ParseOutcome.Invalid;
            }

            parsedEpochs[count] = (int)epoch;
            parsed[count++] = (long)value;
        }

        if (count < FirstTopicIndex || (count > FirstTopicIndex) != fingerprint.HasValue)
        {
            return ParseOutcome.Invalid;
        }

        positions[UserIndex] = parsed[UserIndex];
        positions[BroadcastIndex] = parsed[BroadcastIndex];
        epochs[UserIndex] = parsedEpochs[UserIndex];
        epochs[BroadcastIndex] = parsedEpochs[BroadcastIndex];
        var sameTopics = count == streamCount && (count == FirstTopicIndex || fingerprint == expectedFingerprint);
        if (!sameTopics)
        {
            return ParseOutcome.TopicsChanged;
        }

        parsed[FirstTopicIndex..count].CopyTo(positions[FirstTopicIndex..]);
        parsedEpochs[FirstTopicIndex..count].CopyTo(epochs[FirstTopicIndex..]);
        return ParseOutcome.Complete;
    }

    /// <summary>FNV-1a over the sorted topic names, each followed by a newline.</summary>
    public static uint Fingerprint(IReadOnlyList<string> sortedTopics)
    {
        ArgumentNullException.ThrowIfNull(sortedTopics);
        var hash = 2166136261u;
        foreach (var topic in sortedTopics)
        {
            foreach (var c in topic)
            {
                hash = (hash ^ c) * 16777619u;
            }

            hash = (hash ^ '\n') * 16777619u;
        }

        return hash;
    }

    private static int WriteBase36(ulong value, Span<byte> destination)
    {
        Span<byte> scratch = stackalloc byte[MaxDigits];
        var at = scratch.Length;
        do
        {
            scratch[--at] = (byte)Digits[(int)(value % 36)];
            value /= 36;
        }
        while (value != 0);

        var length = scratch.Length - at;
        scratch[at..].CopyTo(destination);
        return length;
    }

    /// <summary>Parses lowercase base 36 of at most 13 digits (every id position and epoch is written so).</summary>
    internal static bool TryParseBase36(ReadOnlySpan<char> text, out ulong value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > MaxDigits)
        {
            return false;
        }

        foreach (var c in text)
        {
            int digit = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'z' => c - 'a' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            var next = value * 36 + (ulong)digit;
            if (next < value)
            {
                return false;
            }

            value = next;
        }

        return true;
    }

    /// <summary>How much of an id could be applied.</summary>
    public enum ParseOutcome
    {
        /// <summary>Not an id of this gateway's format.</summary>
        Invalid,
        /// <summary>User and broadcast positions are set; the topic positions are for another topic set.</summary>
        TopicsChanged,
        /// <summary>Every position is set.</summary>
        Complete,
    }
}
