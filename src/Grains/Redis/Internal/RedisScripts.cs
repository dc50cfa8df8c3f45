namespace SseCluster.Grains.Redis.Internal;

/// <summary>
/// The grains' methods: Lua scripts that Redis runs atomically on the shard owning the grain's hash tag. Each script
/// touches the keys of ONE grain (or one gateway instance) only, so every script is valid on Redis Cluster.
/// Time comes from the Redis server (<c>TIME</c>), so leases do not depend on the gateways' clocks; event ages use
/// the publisher's <c>publishedAt</c>, like the in-memory implementation.
/// </summary>
internal static class RedisScripts
{
    // Shared helpers. A grain script's KEYS start with the grain directory: 1 gateways (zset instance → lease expiry),
    // 2 counts (hash instance → connections), 3 connection index (hash connection → instance, user grains),
    // 4 info (hash instance → gateway info, broadcast grain).
    private const string Prelude = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        -- Drops the instances whose lease expired, with what the grain keeps for them.
        local function sweep(now)
          local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
          if #dead == 0 then return end
          redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
          local gone = {}
          for i = 1, #dead do
            gone[dead[i]] = true
            redis.call('HDEL', KEYS[2], dead[i])
            redis.call('HDEL', KEYS[4], dead[i])
          end
          local entries = redis.call('HGETALL', KEYS[3])
          for i = 1, #entries, 2 do
            if gone[entries[i + 1]] then redis.call('HDEL', KEYS[3], entries[i]) end
          end
        end

        -- The instances holding a live lease, and the connections they hold of this grain.
        local function live()
          local instances = redis.call('ZRANGE', KEYS[1], 0, -1)
          local connections = 0
          for i = 1, #instances do
            connections = connections + (tonumber(redis.call('HGET', KEYS[2], instances[i])) or 0)
          end
          return instances, connections
        end

        -- Removes the oldest entries published before min_published (the field 'p' is always first), stopping at the
        -- first younger one: the same head-only trimming as the in-memory history.
        local function trim_age(events, min_published)
          local batch = 1
          while true do
            local entries = redis.call('XRANGE', events, '-', '+', 'COUNT', batch)
            if #entries == 0 then return end
            for i = 1, #entries do
              if tonumber(entries[i][2][2]) >= min_published then
                if i > 1 then redis.call('XTRIM', events, 'MINID', entries[i][1]) end
                return
              end
            end
            local last = tonumber(string.match(entries[#entries][1], '^(%d+)'))
            redis.call('XTRIM', events, 'MINID', string.format('%d-0', last + 1))
            batch = 100
          end
        end

        """;

    /// <summary>
    /// Appends one event to a grain's stream and announces it. KEYS: the grain directory (4), then 5 sequence, 6 events.
    /// ARGV: 1 max events, 2 min publishedAt, 3 history TTL ms, 4 mode (<c>b</c> broadcast channel, <c>d</c> the
    /// directory's inboxes), 5 channel or inbox channel prefix, 6 stream name, 7 publishedAt, 8 event type, 9 filter,
    /// 10 data. Returns <c>[sequence, connections, instance…]</c>: the instances it was announced to.
    /// </summary>
    public const string Publish = Prelude + """
        local now = now_ms()
        sweep(now)
        local seq = redis.call('INCR', KEYS[5])
        local seqtext = string.format('%d', seq)
        local args = {'XADD', KEYS[6], 'MAXLEN', ARGV[1], seqtext .. '-0', 'p', ARGV[7]}
        if ARGV[8] ~= '' then args[#args + 1] = 'e'; args[#args + 1] = ARGV[8] end
        if ARGV[9] ~= '' then args[#args + 1] = 'f'; args[#args + 1] = ARGV[9] end
        args[#args + 1] = 'd'; args[#args + 1] = ARGV[10]
        redis.call(unpack(args))
        trim_age(KEYS[6], tonumber(ARGV[2]))
        redis.call('PEXPIRE', KEYS[6], ARGV[3])
        local message = ARGV[6] .. '\n' .. seqtext .. '\n' .. ARGV[7] .. '\n' .. ARGV[8] .. '\n' .. ARGV[9] .. '\n' .. ARGV[10]
        local instances, connections = live()
        if ARGV[4] == 'b' then
          redis.call('PUBLISH', ARGV[5], message)
        else
          for i = 1, #instances do redis.call('PUBLISH', ARGV[5] .. instances[i], message) end
        end
        local result = {seq, connections}
        for i = 1, #instances do result[#result + 1] = instances[i] end
        return result
        """;

    /// <summary>
    /// Reads a stream after a position. KEYS: 1 sequence, 2 events. ARGV: 1 after, 2 max count, 3 min publishedAt.
    /// Returns <c>[last sequence, entries]</c> (entries absent when there is nothing after the position).
    /// </summary>
    public const string Read = Prelude + """
        trim_age(KEYS[2], tonumber(ARGV[3]))
        local last = tonumber(redis.call('GET', KEYS[1]) or '0')
        local after = tonumber(ARGV[1])
        if after >= last then return {last} end
        return {last, redis.call('XRANGE', KEYS[2], string.format('%d-0', after + 1), '+', 'COUNT', ARGV[2])}
        """;

    /// <summary>
    /// Sets what one gateway instance holds in a user or topic grain. KEYS: the grain directory (4).
    /// ARGV: 1 instance, 2 lease ms, 3 lease (<c>1</c> take or renew, <c>0</c> leave, <c>-1</c> release),
    /// 4 connections (absolute), 5 replace (<c>1</c>: the ids given are ALL of the instance's connections),
    /// 6 number of ids to add, then the ids to add, then the ids to remove. Every write is absolute, so repeating it
    /// (the refresh loop does) converges instead of drifting.
    /// </summary>
    public const string AssertGrain = Prelude + """
        local now = now_ms()
        sweep(now)
        local instance = ARGV[1]
        if ARGV[3] == '1' then
          redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), instance)
        elseif ARGV[3] == '-1' then
          redis.call('ZREM', KEYS[1], instance)
        end
        if tonumber(ARGV[4]) > 0 then redis.call('HSET', KEYS[2], instance, ARGV[4]) else redis.call('HDEL', KEYS[2], instance) end
        local adds = tonumber(ARGV[6])
        if ARGV[5] == '1' then
          local keep = {}
          for i = 7, 6 + adds do keep[ARGV[i]] = true end
          local entries = redis.call('HGETALL', KEYS[3])
          for i = 1, #entries, 2 do
            if entries[i + 1] == instance and not keep[entries[i]] then redis.call('HDEL', KEYS[3], entries[i]) end
          end
        end
        for i = 7, 6 + adds do redis.call('HSET', KEYS[3], ARGV[i], instance) end
        for i = 7 + adds, #ARGV do
          if redis.call('HGET', KEYS[3], ARGV[i]) == instance then redis.call('HDEL', KEYS[3], ARGV[i]) end
        end
        for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
        return 1
        """;

    /// <summary>Connections of a grain on instances with a live lease. KEYS: the grain directory (4).</summary>
    public const string CountConnections = Prelude + """
        sweep(now_ms())
        local instances, connections = live()
        return connections
        """;

    /// <summary>
    /// The gateway registry, kept in the broadcast grain. KEYS: the broadcast grain directory (4).
    /// ARGV: 1 instance, 2 lease ms, 3 mode (<c>1</c> renew, <c>-1</c> remove, <c>0</c> only list), 4 connections of
    /// the instance, 5 <c>gatewayId\nstartedAtMs</c>. Mode 0 returns the live instances: <c>[instance, info, …]</c>
    /// with info <c>gatewayId\nstartedAtMs\nlastSeenMs</c>; the others return 1 (they run on every connect).
    /// </summary>
    public const string Registry = Prelude + """
        local now = now_ms()
        sweep(now)
        if ARGV[3] == '1' then
          redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
          redis.call('HSET', KEYS[4], ARGV[1], ARGV[5] .. '\n' .. now)
        elseif ARGV[3] == '-1' then
          redis.call('ZREM', KEYS[1], ARGV[1])
          redis.call('HDEL', KEYS[2], ARGV[1])
          redis.call('HDEL', KEYS[4], ARGV[1])
        end
        if ARGV[3] ~= '0' then return 1 end
        local instances = redis.call('ZRANGE', KEYS[1], 0, -1)
        local result = {}
        for i = 1, #instances do
          result[#result + 1] = instances[i]
          result[#result + 1] = redis.call('HGET', KEYS[4], instances[i]) or ''
        end
        return result
        """;

    /// <summary>
    /// Writes one connection's presence in its gateway instance's keys. KEYS: 1 connections, 2 users, 3 topics.
    /// ARGV: 1 TTL ms, 2 connection id, 3 record JSON (empty removes it), 4 user id (empty for none), 5 the user's
    /// connections on the instance, then topic / connections pairs. Counts are absolute; 0 removes the field.
    /// </summary>
    public const string PutPresence = """
        if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[2]) else redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
        local function put(key, field, count)
          if tonumber(count) > 0 then redis.call('HSET', key, field, count) else redis.call('HDEL', key, field) end
        end
        if ARGV[4] ~= '' then put(KEYS[2], ARGV[4], ARGV[5]) end
        for i = 6, #ARGV, 2 do put(KEYS[3], ARGV[i], ARGV[i + 1]) end
        for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
        return 1
        """;

    /// <summary>
    /// Renews an instance's presence keys. KEYS: 1 connections, 2 users, 3 topics. ARGV: 1 TTL ms.
    /// Returns how many connection records Redis holds for the instance, so the caller can rewrite them when that
    /// differs from what it holds (after a Redis restart, or a removal that failed during an outage).
    /// </summary>
    public const string RenewPresence = """
        for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
        return redis.call('HLEN', KEYS[1])
        """;

    /// <summary>
    /// Replaces an instance's presence keys wholesale. KEYS: 1 connections, 2 users, 3 topics. ARGV: 1 TTL ms,
    /// 2 number of connections n, then n id / JSON pairs, 3+2n number of users m, then m user / count pairs, then
    /// topic / count pairs.
    /// </summary>
    public const string ReplacePresence = """
        redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
        local at = 2
        local n = tonumber(ARGV[at])
        for i = 1, n do redis.call('HSET', KEYS[1], ARGV[at + 2 * i - 1], ARGV[at + 2 * i]) end
        at = at + 2 * n + 1
        local m = tonumber(ARGV[at])
        for i = 1, m do redis.call('HSET', KEYS[2], ARGV[at + 2 * i - 1], ARGV[at + 2 * i]) end
        at = at + 2 * m + 1
        for i = at, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
        for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
        return 1
        """;

    /// <summary>Returns a ticket's grant and deletes it in one step. KEYS: 1 ticket.</summary>
    public const string RedeemTicket = "return redis.call('GETDEL', KEYS[1])";
}
