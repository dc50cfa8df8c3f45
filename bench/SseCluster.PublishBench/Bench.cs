using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SseCluster.PublishBench;

/// <summary>One way to publish a sendToUser: HTTP or the publisher library.</summary>
internal interface IPublishTarget : IAsyncDisposable
{
    /// <summary>What is measured, for the result line (the publisher's type, the URLs).</summary>
    string Describe { get; }

    /// <summary>Publishes one event to <paramref name="userId"/> through the loop's target; null when it was accepted,
    /// else why not (an HTTP status, an exception's type).</summary>
    Task<string?> SendAsync(int loop, string userId, string json, CancellationToken cancellationToken);
}

/// <summary>
/// C loops, one publish in flight each, round-robin over the users (one shared counter), until the end of the measured
/// window. A publish counts when it completes inside the window [warm-up end, warm-up end + D]; what completes during
/// the warm-up or after the end is not counted (the loops start no new publish after the end).
/// </summary>
internal static class Bench
{
    public static async Task<int> RunAsync(Options options, CancellationToken cancellationToken)
    {
        var users = Enumerable.Range(0, options.Users).Select(i => $"{options.UserPrefix}-{i}").ToArray();
        await using var target = options.Mode == BenchMode.Http
            ? await HttpTarget.CreateAsync(options, cancellationToken)
            : await LibraryTarget.CreateAsync(options, cancellationToken);

        await using var subscribers = options.Subscribers
            ? await Subscribers.OpenAsync(options.Urls, users, options.TimeoutSeconds, cancellationToken)
            : null;

        Progress($"{target.Describe}: {options.Concurrency} loops over {options.Users} users, {options.WarmupSeconds} s warm-up + {options.Seconds} s measured" +
            (subscribers is null ? ", no streams open" : $", {users.Length} streams open"));

        var pad = options.PadBytes > 0 ? new string('x', options.PadBytes) : null;
        var frequency = Stopwatch.Frequency;
        var start = Stopwatch.GetTimestamp();
        var windowStart = start + options.WarmupSeconds * frequency;
        var windowEnd = windowStart + options.Seconds * frequency;
        long counter = -1;
        var cpuAtWindowStart = TimeSpan.Zero;
        var cpuTimer = Task.Run(async () =>
        {
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), windowStart);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            cpuAtWindowStart = Process.GetCurrentProcess().TotalProcessorTime;
        }, cancellationToken);

        var loops = Enumerable.Range(0, options.Concurrency).Select(loop => Task.Run(async () =>
        {
            var stats = new LoopStats();
            while (Stopwatch.GetTimestamp() < windowEnd)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = Interlocked.Increment(ref counter);
                var user = users[n % users.Length];
                var json = pad is null
                    ? string.Create(CultureInfo.InvariantCulture, $"{{\"n\":{n}}}")
                    : string.Create(CultureInfo.InvariantCulture, $"{{\"n\":{n},\"pad\":\"{pad}\"}}");
                var before = Stopwatch.GetTimestamp();
                string? refusal;
                try
                {
                    refusal = await target.SendAsync(loop, user, json, cancellationToken);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    refusal = ex is OperationCanceledException ? "timeout" : ex.GetType().Name;
                }

                var after = Stopwatch.GetTimestamp();
                if (refusal is null)
                {
                    stats.AcceptedTotal++;
                }

                if (after < windowStart || after > windowEnd)
                {
                    continue;
                }

                if (refusal is null)
                {
                    stats.Latencies.Add(after - before);
                }
                else
                {
                    stats.Refused[refusal] = stats.Refused.GetValueOrDefault(refusal) + 1;
                }
            }

            return stats;
        }, cancellationToken)).ToArray();

        var all = await Task.WhenAll(loops);
        await cpuTimer;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuAtWindowStart).TotalSeconds;

        var latencies = all.SelectMany(s => s.Latencies).Select(t => t * 1000.0 / frequency).ToArray();
        Array.Sort(latencies);
        var refusedBy = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (reason, count) in all.SelectMany(s => s.Refused))
        {
            refusedBy[reason] = refusedBy.GetValueOrDefault(reason) + count;
        }

        var accepted = latencies.Length;
        var refused = refusedBy.Values.Sum();
        var acceptedTotal = all.Sum(s => s.AcceptedTotal);

        long? delivered = null, lost = null, extra = null;
        if (subscribers is not null)
        {
            Progress($"waiting up to {options.DrainSeconds} s for {acceptedTotal} deliveries");
            var drainEnd = Stopwatch.GetTimestamp() + options.DrainSeconds * frequency;
            while (subscribers.Delivered < acceptedTotal && Stopwatch.GetTimestamp() < drainEnd)
            {
                await Task.Delay(50, cancellationToken);
            }

            await Task.Delay(300, cancellationToken); // late duplicates
            delivered = subscribers.Delivered;
            lost = Math.Max(0, acceptedTotal - delivered.Value);
            extra = Math.Max(0, delivered.Value - acceptedTotal);
        }

        var result = new Result
        {
            Mode = options.Mode == BenchMode.Http ? "http" : "library",
            Target = target.Describe,
            Users = options.Users,
            Concurrency = options.Concurrency,
            Seconds = options.Seconds,
            WarmupSeconds = options.WarmupSeconds,
            PadBytes = options.PadBytes,
            Sends = accepted + refused,
            Accepted = accepted,
            Refused = refused,
            RefusedBy = refusedBy,
            SendsPerSecond = accepted / (double)options.Seconds,
            P50Ms = Percentile(latencies, 50),
            P90Ms = Percentile(latencies, 90),
            P99Ms = Percentile(latencies, 99),
            MaxMs = latencies.Length == 0 ? double.NaN : latencies[^1],
            AcceptedTotal = acceptedTotal,
            Streams = subscribers?.Open ?? 0,
            StreamsDropped = subscribers?.Dropped,
            Delivered = delivered,
            Lost = lost,
            Extra = extra,
            ClientCpuSeconds = cpuSeconds,
        };
        Console.Out.WriteLine(result.ToJson());
        var ok = accepted > 0 && refused == 0 && (lost ?? 0) == 0 && (extra ?? 0) == 0 && (subscribers?.Dropped ?? 0) == 0;
        return ok ? 0 : 1;
    }

    public static void Progress(string message) =>
        Console.Error.WriteLine($"publishbench {DateTime.UtcNow:HH:mm:ss.fff}: {message}");

    /// <summary>Nearest-rank percentile of a sorted array.</summary>
    private static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private sealed class LoopStats
    {
        public List<long> Latencies { get; } = new(1 << 14);
        public Dictionary<string, long> Refused { get; } = new(StringComparer.Ordinal);
        public long AcceptedTotal { get; set; }
    }
}

/// <summary>The result line.</summary>
internal sealed class Result
{
    public required string Mode { get; init; }
    public required string Target { get; init; }
    public int Users { get; init; }
    public int Concurrency { get; init; }
    public int Seconds { get; init; }
    public int WarmupSeconds { get; init; }
    public int PadBytes { get; init; }
    public long Sends { get; init; }
    public long Accepted { get; init; }
    public long Refused { get; init; }
    public required SortedDictionary<string, long> RefusedBy { get; init; }
    public double SendsPerSecond { get; init; }
    public double P50Ms { get; init; }
    public double P90Ms { get; init; }
    public double P99Ms { get; init; }
    public double MaxMs { get; init; }
    public long AcceptedTotal { get; init; }
    public int Streams { get; init; }
    public long? StreamsDropped { get; init; }
    public long? Delivered { get; init; }
    public long? Lost { get; init; }
    public long? Extra { get; init; }
    public double ClientCpuSeconds { get; init; }

    public string ToJson()
    {
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["phase"] = "summary",
            ["mode"] = Mode,
            ["target"] = Target,
            ["users"] = Users,
            ["concurrency"] = Concurrency,
            ["seconds"] = Seconds,
            ["warmupSeconds"] = WarmupSeconds,
            ["padBytes"] = PadBytes,
            ["sends"] = Sends,
            ["accepted"] = Accepted,
            ["refused"] = Refused,
            ["refusedBy"] = new System.Text.Json.Nodes.JsonObject(RefusedBy.Select(kv =>
                new KeyValuePair<string, System.Text.Json.Nodes.JsonNode?>(kv.Key, kv.Value))),
            ["sendsPerSecond"] = Round(SendsPerSecond, 1),
            ["p50Ms"] = Round(P50Ms),
            ["p90Ms"] = Round(P90Ms),
            ["p99Ms"] = Round(P99Ms),
            ["maxMs"] = Round(MaxMs),
            ["acceptedTotal"] = AcceptedTotal,
            ["streams"] = Streams,
            ["streamsDropped"] = StreamsDropped,
            ["delivered"] = Delivered,
            ["lost"] = Lost,
            ["extra"] = Extra,
            ["clientCpuSeconds"] = Round(ClientCpuSeconds, 2),
            ["loadavg"] = LoadAverage(),
        };
        return json.ToJsonString();
    }

    public static string Error(string message) =>
        new System.Text.Json.Nodes.JsonObject { ["phase"] = "error", ["message"] = message }.ToJsonString();

    private static System.Text.Json.Nodes.JsonNode? Round(double value, int digits = 3) =>
        double.IsNaN(value) ? null : System.Text.Json.Nodes.JsonValue.Create(Math.Round(value, digits));

    private static string? LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(' ', parts.Take(3));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Shared HTTP bits: dev tokens.</summary>
internal static class DevTokens
{
    public static async Task<string> FetchAsync(HttpClient http, Uri baseUrl, string userId, string[] roles, CancellationToken cancellationToken)
    {
        var rolesJson = string.Join(',', roles.Select(r => $"\"{r}\""));
        var body = $"{{\"userId\":\"{userId}\",\"roles\":[{rolesJson}],\"lifetimeSeconds\":7200}}";
        string? lastError = null;
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "application/json");
                using var response = await http.PostAsync(new Uri(baseUrl, "dev/token"), content, cancellationToken);
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    using var json = System.Text.Json.JsonDocument.Parse(text);
                    return json.RootElement.GetProperty("token").GetString() ?? throw new SetupException("dev token answer without token");
                }

                lastError = $"{(int)response.StatusCode} {text}";
                if ((int)response.StatusCode is 404 or 400 or 401 or 403)
                {
                    break; // dev tokens off or a bad request: retrying does not help
                }
            }
            catch (HttpRequestException ex)
            {
                lastError = ex.Message;
            }

            await Task.Delay(200 * attempt, cancellationToken);
        }

        throw new SetupException($"POST {baseUrl}dev/token for '{userId}' failed: {lastError} (is the gateway running in Development, or with SseCluster:Auth:DevTokens=true?)");
    }
}
