using System.Globalization;
using SseCluster.Contracts;
using StackExchange.Redis;

namespace SseCluster.Grains.Redis.Internal;

/// <summary>
/// Every Redis key and channel name of the routing layer, built in this one place.
/// <para>
/// A grain's keys share one hash tag — its stream name in braces (<c>{u:42}</c>, <c>{t:room-7}</c>, <c>{b}</c>) — so
/// Redis Cluster keeps each grain on one shard and its Lua scripts touch one slot only. User ids and topics cannot
/// contain braces (<see cref="Identifiers"/>), and the prefix, placed before the tag, is validated to contain none.
/// A gateway instance's presence keys share the tag <c>{gw:&lt;instance&gt;}</c>.
/// </para>
/// </summary>
internal sealed class RedisKeys
{
    private readonly string _prefix;

    public RedisKeys(string prefix)
    {
        if (!IsSafeName(prefix, 64))
        {
            throw new ArgumentException($"Redis prefix '{prefix}' must be 1-64 characters without braces, whitespace or control characters.", nameof(prefix));
        }

        _prefix = prefix;
        BroadcastChannelName = prefix + ":broadcast";
        BroadcastChannel = new RedisChannel(BroadcastChannelName, RedisChannel.PatternMode.Literal);
        ControlChannel = new RedisChannel(prefix + ":control", RedisChannel.PatternMode.Literal);
        InboxChannelPrefix = prefix + ":inbox:";
    }

    public string Prefix => _prefix;

    /// <summary>Every gateway subscribes to it; broadcast events are published here once.</summary>
    public RedisChannel BroadcastChannel { get; }

    public string BroadcastChannelName { get; }

    /// <summary>Every gateway subscribes to it; disconnect commands are published here.</summary>
    public RedisChannel ControlChannel { get; }

    /// <summary>The inbox channel of an instance is this plus the instance id.</summary>
    public string InboxChannelPrefix { get; }

    /// <summary>The one channel a gateway instance receives its user and topic events on.</summary>
    public RedisChannel InboxChannel(string instance) => new(InboxChannelPrefix + instance, RedisChannel.PatternMode.Literal);

    /// <summary>The stream's sequence counter (a string INCRed per event).</summary>
    public RedisKey Sequence(StreamKey stream) => Grain(stream, "seq");

    /// <summary>The stream's bounded history: a Redis Stream with entry ids <c>&lt;sequence&gt;-0</c>.</summary>
    public RedisKey Events(StreamKey stream) => Grain(stream, "events");

    /// <summary>The grain's directory: a sorted set of gateway instances scored by lease expiry (Redis time, ms).</summary>
    public RedisKey Gateways(StreamKey stream) => Grain(stream, "gateways");

    /// <summary>A hash of gateway instance → connections reading the stream there.</summary>
    public RedisKey Counts(StreamKey stream) => Grain(stream, "counts");

    /// <summary>User grains: a hash of connection id → gateway instance, to list a user's connections.</summary>
    public RedisKey ConnectionIndex(StreamKey stream) => Grain(stream, "connections");

    /// <summary>Broadcast grain: a hash of gateway instance → <c>gatewayId\nstartedAtMs\nlastSeenMs</c>.</summary>
    public RedisKey GatewayInfo(StreamKey stream) => Grain(stream, "info");

    /// <summary>Set while a user's reconnects are refused (a disconnect with reconnect false).</summary>
    public RedisKey ReconnectBlock(string userId) => Grain(StreamKey.ForUser(userId), "block");

    /// <summary>The four keys every grain script gets, in this order: gateways, counts, connection index, info.</summary>
    public RedisKey[] GrainDirectory(StreamKey stream) =>
        [Gateways(stream), Counts(stream), ConnectionIndex(stream), GatewayInfo(stream)];

    /// <summary>An instance's connection records: a hash of connection id → <see cref="ConnectionInfoDto"/> JSON.</summary>
    public RedisKey InstanceConnections(string instance) => Instance(instance, "connections");

    /// <summary>An instance's users: a hash of user id → connections of that user on the instance.</summary>
    public RedisKey InstanceUsers(string instance) => Instance(instance, "users");

    /// <summary>An instance's topics: a hash of topic → connections reading it on the instance.</summary>
    public RedisKey InstanceTopics(string instance) => Instance(instance, "topics");

    public RedisKey[] InstancePresence(string instance) =>
        [InstanceConnections(instance), InstanceUsers(instance), InstanceTopics(instance)];

    /// <summary>A single-use ticket (not in any grain: one key, any shard).</summary>
    public RedisKey Ticket(string ticket) => $"{_prefix}:ticket:{ticket}";

    /// <summary>
    /// The id of one run of a gateway: its configured id plus its start time, so a gateway restarted under the same id
    /// never inherits the leases, counts or presence records its previous run left behind.
    /// </summary>
    public static string InstanceId(GatewayIdentity gateway) =>
        gateway.GatewayId + "@" + gateway.StartedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

    /// <summary>True for a name that can go into a key or channel: no braces, whitespace or control characters.</summary>
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

    private RedisKey Grain(StreamKey stream, string part) => $"{_prefix}:{{{stream}}}:{part}";

    private RedisKey Instance(string instance, string part) => $"{_prefix}:{{gw:{instance}}}:{part}";
}
