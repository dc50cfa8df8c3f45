using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.Tests.Infrastructure;
using SseCluster.Tests.Shared;

namespace SseCluster.Failover.Tests;

/// <summary>
/// <c>deploy/local-cluster.sh</c> as a user runs it, on ports of its own: it comes up, serves a dev token, a stream
/// and a publish through haproxy, and on SIGINT (Ctrl-C) stops every process it started and frees every port.
/// </summary>
public sealed partial class LocalClusterScriptTests(ITestOutputHelper output)
{
    [RequiresHaproxyFact]
    public async Task LocalCluster_ServesThroughHaproxy_AndStopsEverythingOnSigint()
    {
        await RedisServer.EnsureInstalledAsync();
        var root = Tools.RepositoryRoot();
        var ports = Posix.FreePorts(6);
        var (lbPort, gatewayPorts, statsPort, redisPort) = (ports[0], ports[1..4], ports[4], ports[5]);

        // env --default-signal=INT: a shell started from a background job inherits SIGINT ignored and could not trap it.
        var start = new ProcessStartInfo("env")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root,
        };
        foreach (var argument in new[]
                 {
                     "--default-signal=INT", "bash", Path.Combine(root, "deploy", "local-cluster.sh"),
                     "--port", Str(lbPort), "--gateway-ports", string.Join(',', gatewayPorts.Select(Str)),
                     "--stats-port", Str(statsPort), "--redis-port", Str(redisPort),
                     // The gateway this test project was built with; no build inside the test.
                     "--gateway-dll", GatewayProcess.DllPath, "--no-build",
                     // Stops the cluster if the test host dies before it can.
                     "--exit-with-parent",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("SseCluster__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("SSE_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["SseCluster__Shutdown__DrainSeconds"] = "2";

        var lines = new ConcurrentQueue<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var script = Process.Start(start)!;
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lines.Enqueue(line);
            if (line.StartsWith("local-cluster: ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }

        script.OutputDataReceived += (_, e) => OnLine(e.Data);
        script.ErrorDataReceived += (_, e) => OnLine(e.Data);
        script.BeginOutputReadLine();
        script.BeginErrorReadLine();
        string Output() => string.Join('\n', lines);

        var pids = new List<int>();
        try
        {
            var exited = script.WaitForExitAsync();
            var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(90)));
            Assert.True(first == ready.Task, $"local-cluster.sh did not print 'ready' within 90 s (exited: {script.HasExited}):\n{Output()}");
            output.WriteLine(Output());

            // What it printed: every URL and PID.
            var text = Output();
            var gateways = GatewayLine().Matches(text).Select(m => (Id: m.Groups[1].Value, Url: m.Groups[2].Value, Pid: int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture))).ToList();
            Assert.Equal(["gw-1", "gw-2", "gw-3"], gateways.Select(g => g.Id));
            Assert.Equal(gatewayPorts.Select(p => $"http://127.0.0.1:{p}/"), gateways.Select(g => g.Url));
            var redis = RedisLine().Match(text);
            var haproxy = HaproxyLine().Match(text);
            Assert.True(redis.Success && haproxy.Success, text);
            Assert.Equal(Str(redisPort), redis.Groups[1].Value);
            Assert.Equal($"http://127.0.0.1:{lbPort}/", haproxy.Groups[1].Value);
            Assert.Contains($"dashboard  http://127.0.0.1:{lbPort}/", text, StringComparison.Ordinal);
            Assert.Contains($"stats      http://127.0.0.1:{statsPort}/", text, StringComparison.Ordinal);
            var logs = LogsLine().Match(text).Groups[1].Value;
            Assert.True(Directory.Exists(logs), $"no temp directory '{logs}'");
            pids.AddRange(gateways.Select(g => g.Pid));
            pids.Add(int.Parse(redis.Groups[2].Value, CultureInfo.InvariantCulture));
            pids.Add(int.Parse(haproxy.Groups[2].Value, CultureInfo.InvariantCulture));
            Assert.All(pids, pid => Assert.True(Posix.IsRunning(pid), $"pid {pid} is not running"));

            using var lb = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{lbPort}"), Timeout = TimeSpan.FromSeconds(15) };

            // The dashboard and the haproxy stats page.
            using (var page = await lb.GetAsync("/"))
            {
                Assert.Equal(HttpStatusCode.OK, page.StatusCode);
                Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            }

            using (var statsPage = await lb.GetAsync($"http://127.0.0.1:{statsPort}/"))
            {
                Assert.Equal(HttpStatusCode.OK, statsPage.StatusCode);
            }

            // A development token through haproxy.
            var user = $"smoke-{Guid.NewGuid():N}"[..20];
            using var tokenResponse = await lb.PostAsync("/dev/token", new StringContent($$"""{"userId":"{{user}}","roles":["publisher","admin"]}""", Encoding.UTF8, "application/json"));
            var tokenBody = await tokenResponse.Content.ReadAsStringAsync();
            Assert.True(tokenResponse.StatusCode == HttpStatusCode.OK, $"POST /dev/token through haproxy answered {(int)tokenResponse.StatusCode}: {tokenBody}");
            var token = JsonDocument.Parse(tokenBody).RootElement.GetProperty("token").GetString()!;

            // A stream through haproxy, a publish through haproxy, the event on the stream.
            using var streamClient = new HttpClient { BaseAddress = lb.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
            streamClient.DefaultRequestHeaders.Authorization = new("Bearer", token);
            await using var stream = await SseStream.OpenAsync(streamClient, "/sse/connect?clientId=smoke");
            var welcome = (await stream.WaitForAsync("welcome")).Json;
            Assert.Contains(welcome.GetProperty("gatewayId").GetString(), gateways.Select(g => g.Id));

            using var publisher = new HttpClient { BaseAddress = lb.BaseAddress, Timeout = TimeSpan.FromSeconds(15) };
            publisher.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var receipt = await publisher.SendAsync(user, """{"smoke":1}""", "smoke");
            Assert.Equal(1, receipt.GetProperty("connections").GetInt32());
            var received = await stream.WaitForAsync("smoke", TimeSpan.FromSeconds(10));
            Assert.Equal("""{"smoke":1}""", received.Data);

            var stats = await publisher.GetJsonAsync("/sse/stats");
            Assert.Equal(3, stats.GetProperty("gateways").GetArrayLength());
            Assert.Equal(1, stats.GetProperty("connections").GetInt32());

            // Ctrl-C: everything it started stops, every port is free, the temp directory is gone.
            Assert.True(Posix.Signal(script.Id, Posix.SigInt), "SIGINT not delivered");
            await exited.WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine(string.Join('\n', lines.Skip(text.Split('\n').Length)));
            Assert.Contains("local-cluster: stopped", Output(), StringComparison.Ordinal);
            Assert.Equal(130, script.ExitCode);
            await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.All(pids, pid => Assert.False(Posix.IsRunning(pid), $"pid {pid} still runs after the script stopped"));
            Assert.All(ports, port => Assert.True(Posix.IsPortFree(port), $"port {port} still accepts connections"));
            Assert.False(Directory.Exists(logs), $"temp directory {logs} left behind");
        }
        finally
        {
            // A failed run must not leave anything behind: the script's own cleanup first, then by PID.
            if (!script.HasExited)
            {
                Posix.Signal(script.Id, Posix.SigTerm);
                if (!script.WaitForExit(40_000))
                {
                    script.Kill();
                }
            }

            foreach (var pid in pids.Where(Posix.IsRunning))
            {
                Posix.Signal(pid, Posix.SigKill);
            }
        }
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\s+gateway\s+(\S+)\s+(http://\S+)\s+pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex GatewayLine();

    [GeneratedRegex(@"^\s+redis\s+127\.0\.0\.1:(\d+)\s+pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex RedisLine();

    [GeneratedRegex(@"^\s+haproxy\s+(http://\S+)\s+pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HaproxyLine();

    [GeneratedRegex(@"^\s+logs\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex LogsLine();
}
