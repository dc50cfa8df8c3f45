using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SseCluster.Client;
using SseCluster.Contracts;
using SseCluster.Failover.Tests.Infrastructure;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests;

/// <summary>
/// <c>samples/Publisher</c> as a user runs it: its own process, an Orleans client of the cluster found through the
/// cluster's Redis, publishing order events to users connected to other gateway processes. What it prints is what
/// the users get, once each; a re-run with the same orders stores nothing new. <c>samples/QuickPublisher</c>, the
/// README's snippet, runs as written; a publisher host stops promptly.
/// </summary>
public sealed partial class PublisherProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan SampleTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SampleProcess_PublishesEachOrderEventOnce_ToUsersOnOtherGateways_AndARerunStoresNothingNew()
    {
        var dll = SampleDll();
        var total = Stopwatch.StartNew();
        await using var cluster = await ProcessCluster.StartAsync(3);
        output.WriteLine($"cluster up in {total.Elapsed.TotalSeconds:F1} s: redis :{cluster.Redis.Port}, " +
                         string.Join(", ", cluster.Gateways.Select(g => $"{g.GatewayId} :{g.Port}")));

        using var aliceHttp = BrowserOf(cluster.Gateways[1], "alice");
        using var bobHttp = BrowserOf(cluster.Gateways[2], "bob");
        await using var alice = await OpenAsync(aliceHttp, cluster.Gateways[1]);
        await using var bob = await OpenAsync(bobHttp, cluster.Gateways[2]);

        // Two orders each: alice's are 42 and 43, bob's 44 and 45 (the first user's come first).
        string[] arguments = ["--user", "alice", "--user", "bob", "--orders", "2", "--first-order", "42", "--interval-ms", "20", "--connect-timeout-seconds", "20"];
        var first = await RunSampleAsync(dll, cluster.Redis.ConnectionString, arguments);
        Assert.True(first.ExitCode == 0, $"the sample exited with {first.ExitCode}:\n{first.Stderr}");
        var expected = new List<Receipt>();
        foreach (var (user, orders) in new[] { ("alice", new[] { 42, 43 }), ("bob", new[] { 44, 45 }) })
        {
            var sequence = 0;
            foreach (var order in orders)
            {
                expected.Add(new Receipt("order.created", order, user, $"order-{order}-created", $"u:{user}", ++sequence));
                expected.Add(new Receipt("order.shipped", order, user, $"order-{order}-shipped", $"u:{user}", ++sequence));
            }
        }

        var printed = Parse(first);
        Assert.Equal(expected, printed.Select(p => p.Receipt));
        Assert.All(printed, p => Assert.True(p.Gateways == 1 && p.Connections == 1, $"'{p.Line}': the user's one connection should have got it live"));

        // Each user got exactly what was published for them, in order, and nothing else.
        await AssertReceivedAsync(alice, "alice", expected);
        await AssertReceivedAsync(bob, "bob", expected);

        // The same orders again: the idempotency keys answer with the first run's sequences and store nothing.
        var second = await RunSampleAsync(dll, cluster.Redis.ConnectionString, arguments);
        Assert.True(second.ExitCode == 0, $"the re-run exited with {second.ExitCode}:\n{second.Stderr}");
        Assert.Equal(expected, Parse(second).Select(p => p.Receipt));

        // A marker published after the re-run lands at sequence 5 (nothing new was stored) and, since each stream is
        // delivered in order, is the next thing each user gets: no order event came twice.
        using var publisher = new HttpClient { BaseAddress = cluster.Gateways[0].BaseAddress, Timeout = TimeSpan.FromSeconds(15) };
        publisher.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.Publisher());
        foreach (var (user, stream) in new[] { ("alice", alice), ("bob", bob) })
        {
            var receipt = await publisher.SendAsync(user, """{"marker":true}""", "marker");
            Assert.Equal(5, receipt.GetProperty("events")[0].GetProperty("sequence").GetInt64());
            await stream.WaitForAsync("marker");
            AssertOrderEvents(stream, user, expected);
        }

        output.WriteLine($"sample: first run {first.Elapsed.TotalMilliseconds:F0} ms, re-run {second.Elapsed.TotalMilliseconds:F0} ms (process start to exit); test {total.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task SampleProcess_BadArguments_ExitWith2AndSayWhy()
    {
        var dll = SampleDll();
        var noUser = await RunSampleAsync(dll, "127.0.0.1:1", ["--orders", "3"]);
        Assert.Equal(2, noUser.ExitCode);
        Assert.Contains("--user is required", noUser.Stderr, StringComparison.Ordinal);

        var badOrders = await RunSampleAsync(dll, "127.0.0.1:1", ["--user", "alice", "--orders", "many"]);
        Assert.Equal(2, badOrders.ExitCode);
        Assert.Contains("--orders", badOrders.Stderr, StringComparison.Ordinal);

        var noRedis = await RunSampleAsync(dll, null, ["--user", "alice"]);
        Assert.Equal(2, noRedis.ExitCode);
        Assert.Contains("SseCluster:Redis:Configuration is required", noRedis.Stderr, StringComparison.Ordinal);
        Assert.Empty(noUser.Stdout + badOrders.Stdout + noRedis.Stdout);
    }

    [Fact]
    public async Task QuickPublisher_AsTheReadmeQuotesIt_StoresTheEventAndAliceGetsItLive()
    {
        var dll = SampleDll("QuickPublisher");
        await using var cluster = await ProcessCluster.StartAsync(1);
        using var aliceHttp = BrowserOf(cluster.Gateways[0], "alice");
        await using var alice = await OpenAsync(aliceHttp, cluster.Gateways[0]);

        var run = await RunSampleAsync(dll, cluster.Redis.ConnectionString, []);

        Assert.True(run.ExitCode == 0, $"the quick publisher exited with {run.ExitCode}:\n{run.Stderr}");
        // Its stdout also carries the host's and Orleans' console logs: the receipt is one line among them.
        var lines = run.Stdout.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains("stored as u:alice#1, live on 1 connection(s)", lines);
        var shipped = await alice.WaitForAsync("order.shipped");
        Assert.Equal("""{"orderId":42}""", shipped.Data);
        output.WriteLine($"quick publisher: {run.Elapsed.TotalMilliseconds:F0} ms from process start to exit");
    }

    [Fact]
    public void QuickPublisher_IsWhatTheReadmeQuotes()
    {
        var program = File.ReadAllText(Path.Combine(Tools.RepositoryRoot(), "samples", "QuickPublisher", "Program.cs")).ReplaceLineEndings("\n");
        var readme = File.ReadAllText(Path.Combine(Tools.RepositoryRoot(), "README.md")).ReplaceLineEndings("\n");
        const string Start = "// readme-snippet-start\n";
        const string End = "// readme-snippet-end\n";
        var from = program.IndexOf(Start, StringComparison.Ordinal);
        var to = program.IndexOf(End, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, "samples/QuickPublisher/Program.cs has lost its readme-snippet markers");
        var snippet = program[(from + Start.Length)..to];

        Assert.Contains("```csharp\n" + snippet + "```\n", readme, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PublisherHost_StopsAndIsDisposedWithinSeconds_EvenWhileTheClusterRedisDoesNotAnswer()
    {
        await using var cluster = await ProcessCluster.StartAsync(1);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSseClusterPublisher(o => o.RedisConfiguration = cluster.Redis.ConnectionString);
        var host = builder.Build();
        using (var started = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await host.StartAsync(started.Token);
        }

        var receipt = await host.Services.GetRequiredService<ISseEventPublisher>()
            .SendToUserAsync("stop-bound", OutgoingEvent.FromJson("ping", "{}"));
        Assert.Equal(1, receipt.Events[0].Sequence);

        // A Redis that does not answer (frozen, or a network gone quiet): Orleans closed its own Redis connections with
        // a QUIT to each server and waited up to 5 s for the answers.
        var redis = cluster.Redis.ProcessId ?? throw new InvalidOperationException("redis-server is not running");
        Assert.True(Posix.Signal(redis, Posix.SigStop), "SIGSTOP was not delivered to redis-server");
        try
        {
            var clock = Stopwatch.StartNew();
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            {
                await host.StopAsync(stop.Token);
            }

            await ((IAsyncDisposable)host).DisposeAsync();
            output.WriteLine($"publisher host stopped and disposed in {clock.Elapsed.TotalMilliseconds:F0} ms with Redis frozen");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"stopping and disposing the publisher host took {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            Posix.Signal(redis, Posix.SigCont);
        }
    }

    private sealed record Receipt(string EventType, int Order, string User, string Key, string Stream, long Sequence);

    private sealed record PrintedReceipt(string Line, Receipt Receipt, int Gateways, int Connections);

    private sealed record SampleRun(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

    private static HttpClient BrowserOf(GatewayProcess gateway, string user)
    {
        var http = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = gateway.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.For(user));
        return http;
    }

    private static async Task<SseStream> OpenAsync(HttpClient http, GatewayProcess gateway)
    {
        var stream = await SseStream.OpenAsync(http, "/sse/connect?clientId=browser");
        var welcome = await stream.WaitForAsync("welcome");
        Assert.Equal(gateway.GatewayId, welcome.Json.GetProperty("gatewayId").GetString());
        return stream;
    }

    private static async Task AssertReceivedAsync(SseStream stream, string user, List<Receipt> expected)
    {
        var count = expected.Count(r => r.User == user);
        for (var i = 1; i <= count; i++)
        {
            await stream.WaitForAsync(e => e.EventType.StartsWith("order.", StringComparison.Ordinal), $"{user}'s order event {i} of {count}");
        }

        AssertOrderEvents(stream, user, expected);
    }

    private static void AssertOrderEvents(SseStream stream, string user, List<Receipt> expected)
    {
        List<ReceivedEvent> received;
        lock (stream.Received)
        {
            received = stream.Received.Where(e => e.EventType.StartsWith("order.", StringComparison.Ordinal)).ToList();
        }

        var mine = expected.Where(r => r.User == user).ToList();
        Assert.Equal(
            mine.Select(r => (r.EventType, $$"""{"orderId":{{r.Order}},"status":"{{r.EventType["order.".Length..]}}"}""")),
            received.Select(e => (e.EventType, e.Data)));
        Assert.Equal(received.Count, received.Select(e => e.Id).Distinct().Count());
    }

    private static List<PrintedReceipt> Parse(SampleRun run)
    {
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Select(line =>
        {
            var m = ReceiptLine().Match(line);
            Assert.True(m.Success, $"not a receipt line: '{line}'\nstdout:\n{run.Stdout}\nstderr:\n{run.Stderr}");
            return new PrintedReceipt(
                line,
                new Receipt(m.Groups[1].Value, Int(m.Groups[2].Value), m.Groups[3].Value, m.Groups[4].Value, m.Groups[5].Value, Int(m.Groups[6].Value)),
                Int(m.Groups[7].Value),
                Int(m.Groups[8].Value));
        }).ToList();
    }

    /// <summary>
    /// The sample as <c>test.sh</c> builds it (<c>dotnet build SseCluster.sln</c>), in the configuration this test
    /// was built in.
    /// </summary>
    private static string SampleDll(string sample = "Publisher")
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent!.Name;
        var dll = Path.Combine(Tools.RepositoryRoot(), "samples", sample, "bin", configuration, framework.Name, $"SseCluster.Samples.{sample}.dll");
        Assert.True(File.Exists(dll), $"no sample at {dll}: build it (dotnet build SseCluster.sln -c {configuration})");
        return dll;
    }

    private static async Task<SampleRun> RunSampleAsync(string dll, string? redis, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Only what the test gives: nothing from the runner's environment may configure the sample.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("SseCluster__", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("DOTNET_ENVIRONMENT", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        if (redis is not null)
        {
            start.Environment["SseCluster__Redis__Configuration"] = redis;
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        ChildProcesses.Track(process);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                await process.WaitForExitAsync().WaitAsync(SampleTimeout);
            }
            catch (TimeoutException)
            {
                process.Kill();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Fail($"the sample did not exit within {SampleTimeout.TotalSeconds} s:\n{await stdout}\n{await stderr}");
            }

            return new SampleRun(process.ExitCode, await stdout, await stderr, clock.Elapsed);
        }
        finally
        {
            ChildProcesses.Untrack(process);
        }
    }

    private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(order\.\w+) order=(\d+) user=(\S+) key=(\S+) stream=(\S+) sequence=(\d+) gateways=(\d+) connections=(\d+)$")]
    private static partial Regex ReceiptLine();
}
