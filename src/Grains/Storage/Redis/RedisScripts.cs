namespace SseCluster.Grains.Storage.Redis;

/// <summary>
/// The stream history's Lua scripts. Redis runs each atomically on the shard that owns the stream's hash tag; each
/// touches only the keys it is given, all of one stream, so each is valid on Redis Cluster. Event ages use the
/// publisher's <c>publishedAt</c> against a cut-off computed by the caller, like the in-memory history.
/// </summary>
internal static class RedisScripts
{
    private const string TrimAge = """
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
    /// Appends a batch of events to one stream. KEYS: 1 meta, 2 events, then one publish-id key per event.
    /// ARGV: 1 candidate epoch (used only if the stream does not exist), 2 max events, 3 min publishedAt,
    /// 4 TTL ms of meta and events, 5 idempotency window ms, then per event: publishedAt, event type ('' for the
    /// default), filter ('' for none), data. Returns <c>[epoch, sequence per event]</c>; an event whose publish id is
    /// known in the stream's current epoch gets the sequence recorded for it and is not appended again.
    /// </summary>
    public const string Append = TrimAge + """
        local meta, events = KEYS[1], KEYS[2]
        local created = redis.call('HSETNX', meta, 'epoch', ARGV[1]) == 1
        if created then
          -- A new incarnation: nothing an older one left (entries with higher ids would refuse XADD) may survive.
          redis.call('HSET', meta, 'seq', 0)
          redis.call('DEL', events)
        end
        local epoch_text = redis.call('HGET', meta, 'epoch')
        local epoch = tonumber(epoch_text)
        local last = tonumber(redis.call('HGET', meta, 'seq') or '0')
        local window = tonumber(ARGV[5])
        local mine = {}
        local result = {epoch}
        for i = 1, #KEYS - 2 do
          local pid = KEYS[2 + i]
          local a = 5 + (i - 1) * 4
          -- A publish-id key holds '<epoch>:<sequence>'. One written for an earlier incarnation of the stream (it
          -- outlived a lost one, e.g. evicted, even if this incarnation has since numbered past its sequence), or
          -- pointing past the stream's end, is not ours.
          local seen_epoch, seen_text = string.match(redis.call('GET', pid) or '', '^(%d+):(%d+)$')
          local seen = tonumber(seen_text or '0')
          if seen > 0 and seen_epoch == epoch_text and seen <= last and (mine[pid] or not created) then
            result[#result + 1] = seen
          else
            last = redis.call('HINCRBY', meta, 'seq', 1)
            local args = {'XADD', events, 'MAXLEN', ARGV[2], string.format('%d-0', last), 'p', ARGV[a + 1]}
            if ARGV[a + 2] ~= '' then args[#args + 1] = 'e'; args[#args + 1] = ARGV[a + 2] end
            if ARGV[a + 3] ~= '' then args[#args + 1] = 'f'; args[#args + 1] = ARGV[a + 3] end
            args[#args + 1] = 'd'; args[#args + 1] = ARGV[a + 4]
            redis.call(unpack(args))
            if window > 0 then
              redis.call('SET', pid, string.format('%s:%d', epoch_text, last), 'PX', window)
              mine[pid] = true
            end
            result[#result + 1] = last
          end
        end
        trim_age(events, tonumber(ARGV[3]))
        redis.call('PEXPIRE', meta, ARGV[4])
        redis.call('PEXPIRE', events, ARGV[4])
        return result
        """;

    /// <summary>
    /// Reads a stream after a position, trimming it by age first. KEYS: 1 meta, 2 events. ARGV: 1 after (≥ 0),
    /// 2 max count, 3 min publishedAt. Returns <c>[epoch, last sequence]</c> (both 0 for a stream with no event), plus
    /// the XRANGE entries after the position when there are any to read.
    /// </summary>
    public const string Read = TrimAge + """
        trim_age(KEYS[2], tonumber(ARGV[3]))
        local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
        local last = tonumber(meta[2] or '0')
        if last == 0 then return {0, 0} end
        local epoch = tonumber(meta[1] or '0')
        local after = tonumber(ARGV[1])
        if after >= last then return {epoch, last} end
        return {epoch, last, redis.call('XRANGE', KEYS[2], string.format('%d-0', after + 1), '+', 'COUNT', ARGV[2])}
        """;
}
