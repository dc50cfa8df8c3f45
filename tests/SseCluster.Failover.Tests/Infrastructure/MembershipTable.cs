using System.Text.Json;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>One silo's row in the Orleans membership table that the gateways keep in Redis.</summary>
internal sealed record MembershipRow(string SiloName, string Address, int Status)
{
    // Orleans' SiloStatus values.
    public const int Active = 3;
    public const int Dead = 6;
}

/// <summary>Reads the cluster's membership table straight from Redis: the hash <c>{ServiceId}/members/{ClusterId}</c>.</summary>
internal static class MembershipTable
{
    public const string DefaultKey = "ssecluster/members/ssecluster";

    public static async Task<IReadOnlyList<MembershipRow>> ReadAsync(RedisServer redis, string key = DefaultKey)
    {
        var reply = (List<object?>)(await redis.ExecuteAsync("HGETALL", key))!;
        var rows = new List<MembershipRow>();
        for (var i = 0; i + 1 < reply.Count; i += 2)
        {
            if ((string)reply[i]! == "Version")
            {
                continue;
            }

            var entry = JsonDocument.Parse((string)reply[i + 1]!).RootElement;
            rows.Add(new MembershipRow(
                entry.GetProperty("SiloName").GetString()!,
                entry.GetProperty("SiloAddress").GetProperty("SiloAddress").GetString()!,
                entry.GetProperty("Status").GetInt32()));
        }

        return rows;
    }
}
