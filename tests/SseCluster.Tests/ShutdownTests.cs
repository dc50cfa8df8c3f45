using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>On SIGTERM a node stops taking streams and closes its connections in waves, each with its position.</summary>
public sealed partial class ShutdownTests
{
    [Fact]
    public async Task Stop_ClosesEveryConnectionWithCheckpointAndShutdownReason_InWaves()
    {
        var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Shutdown:DrainSeconds"] = "2",
            ["SseCluster:Shutdown:Waves"] = "4",
        });
        using var publisher = gateway.CreateClient(Tokens.Publisher());
        var streams = new List<(HttpClient Client, SseStream Stream)>();
        for (var i = 0; i < 8; i++)
        {
            var client = gateway.CreateClient(Tokens.For($"drain-{i}"));
            var stream = await SseStream.OpenAsync(client, "/sse/connect");
            await stream.WaitForAsync("welcome");
            streams.Add((client, stream));
        }

        await publisher.SendAsync("drain-0", "1", "before");
        await streams[0].Stream.WaitForAsync("before");
        var idBefore = streams[0].Stream.LastEventId;

        var stopping = gateway.App.StopAsync();
        var closedAt = new List<DateTime>();
        using var probe = gateway.CreateClient();
        probe.Timeout = TimeSpan.FromSeconds(2);

        // /readyz is probed all through the drain, not once per close: on a busy machine a single probe can fall
        // between the last wave and the listener closing.
        using var drained = new CancellationTokenSource();
        var notReadySeen = Task.Run(async () =>
        {
            while (!drained.IsCancellationRequested)
            {
                try
                {
                    using var ready = await probe.GetAsync("/readyz", drained.Token);
                    if (ready.StatusCode == HttpStatusCode.ServiceUnavailable)
                    {
                        return true;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                }

                await Task.Delay(20, CancellationToken.None);
            }

            return false;
        });
        foreach (var (_, stream) in streams)
        {
            var closeEvent = await stream.WaitForAsync("close", TimeSpan.FromSeconds(10));
            var close = closeEvent.Json;
            Assert.Equal("shutdown", close.GetProperty("reason").GetString());
            Assert.True(close.GetProperty("reconnect").GetBoolean());
            closedAt.Add(closeEvent.ReceivedAt);
            await stream.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        }

        await drained.CancelAsync();
        var sawNotReady = await notReadySeen.WaitAsync(TimeSpan.FromSeconds(10));
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));
        // The checkpoint keeps the position: nothing was published since, so it is the id seen before.
        Assert.Equal(idBefore, streams[0].Stream.LastEventId);
        Assert.True(sawNotReady, "/readyz never reported not ready while draining");
        Assert.True(closedAt.Max() - closedAt.Min() >= TimeSpan.FromMilliseconds(800), $"connections were closed all at once, not in waves: {string.Join(", ", closedAt.Select(t => (t - closedAt.Min()).TotalMilliseconds))}");
        foreach (var (client, stream) in streams)
        {
            await stream.DisposeAsync();
            client.Dispose();
        }

        await gateway.App.DisposeAsync();
    }

    [Fact]
    public async Task Stop_InOneWave_EveryConnectionGetsItsClose_NoneIsCutBeforeItIsSent()
    {
        // With one wave every close is queued at once, just before the sweep for connections that arrived meanwhile:
        // that sweep must leave a queued close to its writer (busy sending events), not cut the connection before the
        // close is sent.
        var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["SseCluster:Shutdown:DrainSeconds"] = "1",
            ["SseCluster:Shutdown:Waves"] = "1",
        });
        var streams = new List<(HttpClient Client, SseStream Stream)>();
        for (var i = 0; i < 30; i++)
        {
            var client = gateway.CreateClient(Tokens.For($"one-wave-{i}"));
            var stream = await SseStream.OpenAsync(client, "/sse/connect");
            await stream.WaitForAsync("welcome");
            streams.Add((client, stream));
        }

        // Broadcasts keep every writer busy flushing while the closes are queued.
        using var publisher = gateway.CreateClient(Tokens.Publisher());
        using var stopPublishing = new CancellationTokenSource();
        var publishing = Task.Run(async () =>
        {
            while (!stopPublishing.IsCancellationRequested)
            {
                try
                {
                    await publisher.PostAsync("/sse/broadcast", new StringContent($$"""{"data":"{{new string('x', 2000)}}"}""", System.Text.Encoding.UTF8, "application/json"));
                }
                catch (HttpRequestException)
                {
                    return; // the node stopped listening
                }
            }
        });
        await streams[0].Stream.WaitForAsync("message");

        var stopping = gateway.App.StopAsync();
        foreach (var (_, stream) in streams)
        {
            await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await stopPublishing.CancelAsync();
        await publishing.WaitAsync(TimeSpan.FromSeconds(10));
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));
        var missed = streams.Select((s, i) => (s.Stream, i)).Where(s => !s.Stream.Received.Any(e => e.EventType == "close")).Select(s => s.i).ToList();
        Assert.True(missed.Count == 0, $"{missed.Count} of {streams.Count} streams ended without their close: {string.Join(", ", missed)}");
        foreach (var (client, stream) in streams)
        {
            await stream.DisposeAsync();
            client.Dispose();
        }

        await gateway.App.DisposeAsync();
    }

    [Fact]
    public async Task Sigterm_OnTheGatewayProcess_ClosesStreamsWithShutdown_AndExitsCleanly()
    {
        var port = FreePorts.Next();
        var dll = Path.Combine(AppContext.BaseDirectory, "SseCluster.Gateway.dll");
        var start = new ProcessStartInfo("dotnet", [dll, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["SseCluster__Auth__SigningKey"] = GatewayHost.SigningKey;
        start.Environment["SseCluster__Shutdown__DrainSeconds"] = "1";
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = Timeout.InfiniteTimeSpan };
            await WaitForHealthAsync(client);
            client.DefaultRequestHeaders.Authorization = new("Bearer", Tokens.For("sigterm-user"));
            await using var stream = await SseStream.OpenAsync(client, "/sse/connect");
            await stream.WaitForAsync("welcome");

            Assert.Equal(0, Kill(process.Id, 15)); // SIGTERM
            var close = (await stream.WaitForAsync("close", TimeSpan.FromSeconds(15))).Json;
            Assert.Equal("shutdown", close.GetProperty("reason").GetString());
            await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    internal static Task WaitForHealthAsync(HttpClient client) =>
        Eventually.TrueAsync(
            async () =>
            {
                try
                {
                    return (await client.GetAsync("/healthz")).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            "the gateway process to become healthy",
            TimeSpan.FromSeconds(30));

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
