using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SseCluster.LoadClient;

/// <summary>A run cannot start (gateway unreachable, tokens refused): exit code 2.</summary>
internal sealed class SetupException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public static Arguments Parse(ReadOnlySpan<string> args)
    {
        var result = new Arguments();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal) || name.Length < 3)
            {
                throw new ArgumentException($"expected --option, got '{name}'");
            }

            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"{name} needs a value");
            }

            result._values[name[2..]] = args[++i];
        }

        return result;
    }

    public string? String(string name)
    {
        _used.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public string String(string name, string fallback) => String(name) ?? fallback;

    public int Int(string name, int fallback, int min, int max)
    {
        var text = String(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new ArgumentException($"--{name} must be an integer between {min} and {max}, got '{text}'");
        }

        return value;
    }

    public Uri Url(string name) => OptionalUrl(name) ?? throw new ArgumentException($"--{name} is required");

    public Uri? OptionalUrl(string name)
    {
        var text = String(name);
        if (text is null)
        {
            return null;
        }

        if (!Uri.TryCreate(text.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException($"--{name} must be an http:// URL, got '{text}'");
        }

        return uri;
    }

    /// <summary>Throws for options no mode asked for: a typo must not silently run the defaults.</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }
}

/// <summary>Progress and results as JSON lines on stdout (stdout auto-flushes, so scripts can follow it).</summary>
internal static class Report
{
    private static readonly Lock Gate = new();

    public static void Line(JsonObject line)
    {
        var text = line.ToJsonString();
        lock (Gate)
        {
            Console.Out.WriteLine(text);
        }
    }

    public static double Ms(long stopwatchTicks) =>
        Math.Round(stopwatchTicks * 1000.0 / System.Diagnostics.Stopwatch.Frequency, 3);

    /// <summary>Nearest-rank percentile of a sorted array.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static JsonNode? Number(double value) => double.IsNaN(value) ? null : JsonValue.Create(Math.Round(value, 3));

    /// <summary>Prints <paramref name="line"/>'s line every 2 s until <paramref name="stop"/> is cancelled.</summary>
    public static async Task ProgressAsync(Func<JsonObject> line, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), stop);
                Line(line());
            }
        }
        catch (OperationCanceledException)
        {
            // done
        }
    }

    /// <summary>Counts by reason, in a stable order.</summary>
    public static JsonObject Counts(IEnumerable<KeyValuePair<string, int>> counts)
    {
        var json = new JsonObject();
        foreach (var (key, value) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json[key] = value;
        }

        return json;
    }
}

/// <summary>Development tokens from <c>POST /dev/token</c>, one per user, fetched with bounded concurrency.</summary>
internal static class DevTokens
{
    public static async Task<string[]> FetchAsync(HttpClient http, Uri baseUrl, IReadOnlyList<string> userIds, string[] roles, CancellationToken cancellationToken)
    {
        var tokens = new string[userIds.Count];
        var next = -1;
        var deadline = DateTime.UtcNow.AddSeconds(60 + userIds.Count / 50);
        var workers = Enumerable.Range(0, Math.Min(16, userIds.Count)).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < userIds.Count)
            {
                tokens[i] = await FetchOneAsync(http, baseUrl, userIds[i], roles, deadline, cancellationToken);
            }
        });
        await Task.WhenAll(workers);
        return tokens;
    }

    private static async Task<string> FetchOneAsync(HttpClient http, Uri baseUrl, string userId, string[] roles, DateTime deadline, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["userId"] = userId,
            ["roles"] = new JsonArray(roles.Select(r => (JsonNode?)JsonValue.Create(r)).ToArray()),
            ["lifetimeSeconds"] = 7200,
        };
        string? lastError = null;
        for (var attempt = 1; attempt <= 5 && DateTime.UtcNow < deadline; attempt++)
        {
            try
            {
                using var content = JsonContent.Create(body);
                using var response = await http.PostAsync(new Uri(baseUrl, "dev/token"), content, cancellationToken);
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    using var json = JsonDocument.Parse(text);
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
