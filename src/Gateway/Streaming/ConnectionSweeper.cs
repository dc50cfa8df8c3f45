using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// Once a second: ends connections whose token expired (with <c>reauth</c>, their position and <c>close</c>, so the
/// client reconnects with a fresh token and misses nothing), and every heartbeat interval queues one shared heartbeat
/// frame to every connection.
/// </summary>
internal sealed class ConnectionSweeper(ConnectionRegistry registry, TimeProvider time, IOptions<HeartbeatOptions> heartbeat) : BackgroundService
{
    private static readonly byte[] ExpiredBody = SseFrames.FormatEvent("reauth", new ReauthData("token-expired"), SseJsonContext.Default.ReauthData)
        .Concat(SseFrames.FormatEvent("close", new CloseData("token-expired", true), SseJsonContext.Default.CloseData))
        .ToArray();

    private static readonly byte[] CommentHeartbeat = SseFrames.Comment("heartbeat");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        var interval = TimeSpan.FromSeconds(heartbeat.Value.IntervalSeconds);
        var nextHeartbeat = time.GetUtcNow() + interval;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = time.GetUtcNow();
            ExpireTokens(now);
            if (now >= nextHeartbeat)
            {
                nextHeartbeat = now + interval;
                SendHeartbeats(now);
            }
        }
    }

    internal void ExpireTokens(DateTimeOffset now)
    {
        foreach (var connection in registry.All)
        {
            if (connection.TokenExpiresAt <= now)
            {
                connection.TryClose(ExpiredBody);
            }
        }
    }

    internal void SendHeartbeats(DateTimeOffset now)
    {
        var frame = heartbeat.Value.Mode == HeartbeatMode.Event
            ? SseFrames.FormatEvent("heartbeat", JsonSerializer.Serialize(new HeartbeatData(now.ToUnixTimeMilliseconds()), SseJsonContext.Default.HeartbeatData))
            : CommentHeartbeat;
        var item = new OutboundItem(OutboundKind.Raw, frame);
        foreach (var connection in registry.All)
        {
            connection.TryEnqueue(item);
        }
    }
}
