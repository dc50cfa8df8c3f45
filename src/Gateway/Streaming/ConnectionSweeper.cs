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

    // Two timers: token expiry is checked every second, heartbeats go out on their own interval (scheduling them off
    // the one-second tick would skip a beat whenever a tick fires a little early).
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ExpireLoopAsync(stoppingToken), HeartbeatLoopAsync(stoppingToken));

    private async Task ExpireLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            ExpireTokens(time.GetUtcNow());
        }
    }

    private async Task HeartbeatLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(heartbeat.Value.IntervalSeconds), time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            SendHeartbeats(time.GetUtcNow());
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
        foreach (var connection in registry.Each())
        {
            connection.TryEnqueue(item);
        }
    }
}
