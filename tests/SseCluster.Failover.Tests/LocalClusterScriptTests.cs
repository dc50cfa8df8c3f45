using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// <c>deploy/local-cluster.sh</c> as a user runs it, on ports of its own: it comes up as one cluster, serves a dev
/// token, a stream and a publish through haproxy, and on SIGINT (Ctrl-C) drains the gateways through haproxy before
/// stopping it, stops every process it started and frees every port; <c>--keep-logs</c> leaves the logs behind.
/// </summary>
public sealed partial class LocalClusterScriptTests(ITestOutputHelper output)
{
    [RequiresHaproxyFact]
    public async Task LocalCluster_FormsOneClusterBehindHaproxy_AndDrainsThroughItOnSigint()
    {
        await RedisServer.EnsureInstalledAsync();
        var ports = FreePorts.Take(6);
        var (lbPort, gatewayPorts, statsPort, redisPort) = (ports[0], ports[1..4], ports[4], ports[5]);
        await using var run = ScriptRun.Start(output,
        [
            "--port", Str(lbPort), "--gateway-ports", string.Join(',', gatewayPorts.Select(Str)),
            "--stats-port", Str(statsPort), "--redis-port", Str(redisPort),
        ]);
        var text = await run.WaitReadyAsync();

        // What it printed: every URL and PID, each gateway's silo on ports of its own, one cluster id.
        var gateways = GatewayLine().Matches(text).Select(m => (Id: m.Groups[1].Value, Url: m.Groups[2].Value, Pid: Int(m.Groups[3].Value))).ToList();
        Assert.Equal(["gw-1", "gw-2", "gw-3"], gateways.Select(g => g.Id));
        Assert.Equal(gatewayPorts.Select(p => $"http://127.0.0.1:{p}/"), gateways.Select(g => g.Url));
        var silos = SiloLine().Matches(text).Select(m => (Id: m.Groups[1].Value, Silo: Int(m.Groups[2].Value), Publisher: Int(m.Groups[3].Value))).ToList();
        Assert.Equal(["gw-1", "gw-2", "gw-3"], silos.Select(s => s.Id));
        var siloPorts = silos.SelectMany(s => new[] { s.Silo, s.Publisher }).ToList();
        Assert.Equal(6, siloPorts.Distinct().Count());
        Assert.Empty(siloPorts.Intersect(ports));
        Assert.All(siloPorts, port => Assert.False(Posix.IsPortFree(port), $"nothing listens on silo port {port}"));
        Assert.Equal("ssecluster", ClusterLine().Match(text).Groups[1].Value); // the default: a publisher needs only the Redis address
        var redis = RedisLine().Match(text);
        var haproxy = HaproxyLine().Match(text);
        Assert.True(redis.Success && haproxy.Success, text);
        Assert.Equal(Str(redisPort), redis.Groups[1].Value);
        Assert.Equal($"http://127.0.0.1:{lbPort}/", haproxy.Groups[1].Value);
        Assert.Contains($"dashboard  http://127.0.0.1:{lbPort}/", text, StringComparison.Ordinal);
        Assert.Contains($"stats      http://127.0.0.1:{statsPort}/", text, StringComparison.Ordinal);
        var logs = LogsLine().Match(text).Groups[1].Value;
        Assert.True(Directory.Exists(logs), $"no temp directory '{logs}'");
        run.Pids.AddRange(gateways.Select(g => g.Pid));
        run.Pids.Add(Int(redis.Groups[2].Value));
        run.Pids.Add(Int(haproxy.Groups[2].Value));
        Assert.All(run.Pids, pid => Assert.True(Posix.IsRunning(pid), $"pid {pid} is not running"));

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

        // A stream through haproxy, a publish through haproxy (to whichever node), the event on the stream.
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

        // One cluster: whichever node haproxy picks lists all three gateways and the one stream.
        var stats = await publisher.GetJsonAsync("/sse/stats");
        Assert.Equal(["gw-1", "gw-2", "gw-3"], stats.GetProperty("gateways").EnumerateArray().Select(g => g.GetProperty("gatewayId").GetString()).Order());
        Assert.Equal(1, stats.GetProperty("connections").GetInt32());

        // Ctrl-C: the gateways drain first, so the stream gets its close event through haproxy, which is still up.
        var linesBefore = run.LineCount;
        Assert.True(Posix.Signal(run.Pid, Posix.SigInt), "SIGINT not delivered");
        var close = await stream.WaitForAsync("close", TimeSpan.FromSeconds(30));
        Assert.Equal("shutdown", close.Json.GetProperty("reason").GetString());
        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));

        // Then everything it started stops, every port is free, the temp directory is gone.
        var exitCode = await run.WaitExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine(string.Join('\n', run.Lines.Skip(linesBefore)));
        Assert.Contains("local-cluster: stopped", run.Output, StringComparison.Ordinal);
        Assert.Equal(130, exitCode);
        Assert.All(run.Pids, pid => Assert.False(Posix.IsRunning(pid), $"pid {pid} still runs after the script stopped"));
        Assert.All(ports.Concat(siloPorts), port => Assert.True(Posix.IsPortFree(port), $"port {port} still accepts connections"));
        Assert.False(Directory.Exists(logs), $"temp directory {logs} left behind");
    }

    [RequiresHaproxyFact]
    public async Task LocalCluster_WithKeepLogs_LeavesItsLogsAfterSigterm_OnTheSiloPortsGiven()
    {
        await RedisServer.EnsureInstalledAsync();
        var ports = FreePorts.Take(5);
        var (lbPort, gatewayPort, redisPort, siloPort, publisherPort) = (ports[0], ports[1], ports[2], ports[3], ports[4]);
        await using var run = ScriptRun.Start(output,
        [
            "--port", Str(lbPort), "--gateway-ports", Str(gatewayPort), "--stats-port", "0", "--redis-port", Str(redisPort),
            "--silo-ports", $"{Str(siloPort)}:{Str(publisherPort)}", "--cluster-id", "keep-logs-test", "--keep-logs",
        ]);
        var text = await run.WaitReadyAsync();

        var silo = SiloLine().Match(text);
        Assert.True(silo.Success, text);
        Assert.Equal(("gw-1", siloPort, publisherPort), (silo.Groups[1].Value, Int(silo.Groups[2].Value), Int(silo.Groups[3].Value)));
        Assert.Equal("keep-logs-test", ClusterLine().Match(text).Groups[1].Value);
        var logs = LogsLine().Match(text).Groups[1].Value;
        Assert.Contains($"logs       {logs}  (kept on exit)", text, StringComparison.Ordinal);
        run.Pids.AddRange(PidOnLine().Matches(text).Select(m => Int(m.Groups[1].Value)));
        Assert.Equal(3, run.Pids.Count); // gateway, redis, haproxy
        try
        {
            Assert.True(Posix.Signal(run.Pid, Posix.SigTerm), "SIGTERM not delivered");
            var exitCode = await run.WaitExitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(143, exitCode);
            Assert.Contains($"local-cluster: logs kept in {logs}", run.Output, StringComparison.Ordinal);
            Assert.Contains("local-cluster: stopped", run.Output, StringComparison.Ordinal);
            Assert.All(run.Pids, pid => Assert.False(Posix.IsRunning(pid), $"pid {pid} still runs after the script stopped"));
            Assert.All(ports, port => Assert.True(Posix.IsPortFree(port), $"port {port} still accepts connections"));

            // The gateway's log (with its drain), haproxy's and Redis's are all there.
            foreach (var file in new[] { "gw-1.log", "haproxy.log", "haproxy.cfg", Path.Combine("redis", "redis.log") })
            {
                Assert.True(File.Exists(Path.Combine(logs, file)), $"{file} is not in the kept directory {logs}");
            }

            Assert.NotEqual(0, new FileInfo(Path.Combine(logs, "gw-1.log")).Length);
        }
        finally
        {
            if (logs.StartsWith(Path.GetTempPath(), StringComparison.Ordinal) && logs.Contains("sse-local-cluster.", StringComparison.Ordinal) && Directory.Exists(logs))
            {
                Directory.Delete(logs, recursive: true);
            }
        }
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static int Int(string value) => int.Parse(value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^\s+gateway\s+(\S+)\s+(http://\S+)\s+pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex GatewayLine();

    [GeneratedRegex(@"^\s+silo\s+(\S+)\s+127\.0\.0\.1:(\d+)\s+publisher port (\d+)$", RegexOptions.Multiline)]
    private static partial Regex SiloLine();

    [GeneratedRegex(@"^\s+cluster\s+(\S+)\s", RegexOptions.Multiline)]
    private static partial Regex ClusterLine();

    [GeneratedRegex(@"^\s+redis\s+127\.0\.0\.1:(\d+)\s+pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex RedisLine();

    [GeneratedRegex(@"^\s+haproxy\s+(http://\S+)\s+pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex HaproxyLine();

    [GeneratedRegex(@" pid (\d+)$", RegexOptions.Multiline)]
    private static partial Regex PidOnLine();

    [GeneratedRegex(@"^\s+logs\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex LogsLine();

    /// <summary>
    /// One run of the script with the gateway this test project was built with (no build inside the test), its output
    /// collected line by line. Disposing a run that is still going stops it: its own cleanup first (SIGTERM), then
    /// SIGKILL on the script and on every PID it printed, so a failed test leaves nothing behind.
    /// </summary>
    private sealed class ScriptRun : IAsyncDisposable
    {
        private readonly Process _script;
        private readonly ConcurrentQueue<string> _lines = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _exited;
        private readonly ITestOutputHelper _output;

        private ScriptRun(Process script, ITestOutputHelper output)
        {
            _script = script;
            _output = output;
            _script.OutputDataReceived += (_, e) => OnLine(e.Data);
            _script.ErrorDataReceived += (_, e) => OnLine(e.Data);
            _script.BeginOutputReadLine();
            _script.BeginErrorReadLine();
            _exited = _script.WaitForExitAsync();
        }

        public int Pid => _script.Id;

        /// <summary>The PIDs the script printed (filled in by the test once it parsed them).</summary>
        public List<int> Pids { get; } = [];

        public IEnumerable<string> Lines => _lines;

        public int LineCount => _lines.Count;

        public string Output => string.Join('\n', _lines);

        public static ScriptRun Start(ITestOutputHelper output, string[] options)
        {
            // env --default-signal=INT: a shell started from a background job inherits SIGINT ignored and could not trap it.
            var start = new ProcessStartInfo("env")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Tools.RepositoryRoot(),
            };
            foreach (var argument in new[] { "--default-signal=INT", "bash", Path.Combine(Tools.RepositoryRoot(), "deploy", "local-cluster.sh") }
                         .Concat(options)
                         // Stops the cluster if the test host dies before it can.
                         .Concat(["--gateway-dll", GatewayProcess.DllPath, "--no-build", "--exit-with-parent"]))
            {
                start.ArgumentList.Add(argument);
            }

            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("SseCluster__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("SSE_", StringComparison.Ordinal)).ToList())
            {
                start.Environment.Remove(key);
            }

            start.Environment["SseCluster__Shutdown__DrainSeconds"] = "2";
            return new ScriptRun(Process.Start(start)!, output);
        }

        /// <summary>Waits for "local-cluster: ready" and returns what the script printed by then.</summary>
        public async Task<string> WaitReadyAsync()
        {
            var first = await Task.WhenAny(_ready.Task, _exited, Task.Delay(TimeSpan.FromSeconds(90)));
            Assert.True(first == _ready.Task, $"local-cluster.sh did not print 'ready' within 90 s (exited: {_script.HasExited}):\n{Output}");
            var text = Output;
            _output.WriteLine(text);
            return text;
        }

        public async Task<int> WaitExitAsync(TimeSpan timeout)
        {
            await _exited.WaitAsync(timeout);
            return _script.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_script.HasExited)
            {
                Posix.Signal(_script.Id, Posix.SigTerm);
                try
                {
                    await _exited.WaitAsync(TimeSpan.FromSeconds(40));
                }
                catch (TimeoutException)
                {
                    _script.Kill();
                }
            }

            foreach (var pid in Pids.Where(Posix.IsRunning))
            {
                Posix.Signal(pid, Posix.SigKill);
            }

            _script.Dispose();
        }

        private void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            _lines.Enqueue(line);
            if (line.StartsWith("local-cluster: ready", StringComparison.Ordinal))
            {
                _ready.TrySetResult();
            }
        }
    }
}
