using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// Every Redis key of the store, built in this one place.
/// <para>
/// A stream's keys share one hash tag — the stream's name in braces, after the prefix (<c>sse:{u:alice}:meta</c>,
/// <c>sse:{t:room-7}:events</c>, <c>sse:{b}:gateways</c>) — so Redis Cluster keeps them on one shard and a script may
/// touch all of them in one atomic step. User ids and topics cannot contain braces (<see cref="Identifiers"/>), and
/// the prefix is validated to contain none, so the tag is always the stream name.
/// </para>
/// </summary>
internal sealed class RedisKeys
{
    private readonly string _prefix;

    public RedisKeys(string prefix)
    {
        if (!IsSafeName(prefix, RedisStoreOptions.MaxPrefixLength))
        {
            throw new ArgumentException(
                $"The Redis key prefix '{prefix}' must be 1-{RedisStoreOptions.MaxPrefixLength} characters without braces, whitespace or control characters.",
                nameof(prefix));
        }

        _prefix = prefix;
    }

    public string Prefix => _prefix;

    /// <summary>A hash: <c>epoch</c> (random, 1 … 2^30-1, chosen when the stream is created) and <c>seq</c> (newest sequence).</summary>
    public RedisKey Meta(StreamKey stream) => InStream(stream, "meta");

    /// <summary>
    /// A Redis Stream, the stream's bounded history: entry ids <c>&lt;sequence&gt;-0</c>; fields <c>p</c> (publishedAt,
    /// unix ms, always first), <c>e</c> (event type, absent for the default), <c>f</c> (user filter, absent for none)
    /// and <c>d</c> (data).
    /// </summary>
    public RedisKey Events(StreamKey stream) => InStream(stream, "events");

    /// <summary>
    /// A string <c>&lt;epoch&gt;:&lt;sequence&gt;</c>: the sequence a publish id got in the stream, and the stream's epoch
    /// then (so a key that outlives its stream is not taken for one of the stream's next incarnation); expires after
    /// the idempotency window.
    /// </summary>
    public RedisKey PublishId(StreamKey stream, Guid publishId) => InStream(stream, "pid:" + publishId.ToString("N"));

    /// <summary>A hash: gateway (its silo address) → its endpoint's grain id.</summary>
    public RedisKey Gateways(StreamKey stream) => InStream(stream, "gateways");

    /// <summary>
    /// A string that exists while the user's reconnects are refused (<c>SET … PX</c>). Built from the id as given rather
    /// than through <see cref="StreamKey.ForUser"/>, so an id the stream rules reject still gets a key of its own (a
    /// single key needs no particular hash slot); for a valid id it shares the user stream's hash tag.
    /// </summary>
    public RedisKey ReconnectBlock(string userId) => $"{_prefix}:{{u:{userId}}}:block";

    /// <summary>A single-use ticket: a string with an expiry, on whichever shard its name hashes to.</summary>
    public RedisKey Ticket(string ticket) => $"{_prefix}:ticket:{ticket}";

    /// <summary>True for a name that can go into a key ahead of a hash tag: no braces, whitespace or control characters.</summary>
    public static bool IsSafeName(string? value, int maxLength)
    {
        if (string.IsNullOrEmpty(value) || value.Length > maxLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c is '{' or '}' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    private RedisKey InStream(StreamKey stream, string part) => $"{_prefix}:{{{stream}}}:{part}";
}
