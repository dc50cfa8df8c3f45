using System.Globalization;

namespace SseCluster.PublishBench;

/// <summary>A run cannot start (gateway unreachable, tokens refused, no cluster): exit code 2.</summary>
internal sealed class SetupException(string message) : Exception(message);

internal enum BenchMode
{
    Http,
    Library,
}

/// <summary>The command line: a mode, then <c>--name value</c> pairs; unknown options are refused.</summary>
internal sealed class Options
{
    public BenchMode Mode { get; private init; }
    public IReadOnlyList<Uri> Urls { get; private init; } = [];
    public string? Redis { get; private init; }
    public string? ClusterId { get; private init; }
    public int Users { get; private init; }
    public int Concurrency { get; private init; }
    public int Seconds { get; private init; }
    public int WarmupSeconds { get; private init; }
    public int PadBytes { get; private init; }
    public string UserPrefix { get; private init; } = "pb";
    public bool Subscribers { get; private init; }
    public int DrainSeconds { get; private init; }
    public int TimeoutSeconds { get; private init; }
    public int ConnectTimeoutSeconds { get; private init; }

    public static Options Parse(string mode, ReadOnlySpan<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
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

            if (!values.TryAdd(name[2..], args[++i]))
            {
                throw new ArgumentException($"{name} given twice");
            }
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        string? Get(string name)
        {
            used.Add(name);
            return values.GetValueOrDefault(name);
        }

        int Int(string name, int fallback, int min, int max)
        {
            var text = Get(name);
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

        Uri? Url(string name)
        {
            var text = Get(name);
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

        var benchMode = mode switch
        {
            "http" => BenchMode.Http,
            "library" => BenchMode.Library,
            _ => throw new ArgumentException($"unknown mode '{mode}' (http or library)"),
        };
        var url = Url("url");
        var url2 = Url("url2");
        if (url is null && url2 is not null)
        {
            throw new ArgumentException("--url2 needs --url");
        }

        List<Uri> urls = url is null ? [] : url2 is null ? [url] : [url, url2];
        var subscribers = Int("subscribers", 0, 0, 1) == 1;
        var redis = Get("redis");
        var clusterId = Get("cluster-id");
        if (benchMode == BenchMode.Http)
        {
            if (urls.Count == 0)
            {
                throw new ArgumentException("http mode needs --url");
            }

            if (redis is not null || clusterId is not null)
            {
                throw new ArgumentException("--redis and --cluster-id are for the library mode");
            }
        }
        else
        {
            if (string.IsNullOrWhiteSpace(redis))
            {
                throw new ArgumentException("library mode needs --redis HOST:PORT (the cluster's Redis)");
            }

            if (subscribers && urls.Count == 0)
            {
                throw new ArgumentException("library mode with --subscribers 1 needs --url (where the streams connect)");
            }

            if (!subscribers && urls.Count > 0)
            {
                throw new ArgumentException("in library mode --url is only for --subscribers 1");
            }
        }

        var options = new Options
        {
            Mode = benchMode,
            Urls = urls,
            Redis = redis,
            ClusterId = clusterId,
            Users = Int("users", 1000, 1, 1_000_000),
            Concurrency = Int("concurrency", 32, 1, 4096),
            Seconds = Int("seconds", 10, 1, 3600),
            WarmupSeconds = Int("warmup-seconds", 3, 0, 600),
            PadBytes = Int("pad-bytes", 0, 0, 60_000),
            UserPrefix = Get("user-prefix") ?? "pb",
            Subscribers = subscribers,
            DrainSeconds = Int("drain-seconds", 10, 0, 600),
            TimeoutSeconds = Int("timeout-seconds", 30, 1, 600),
            ConnectTimeoutSeconds = Int("connect-timeout-seconds", 60, 1, 600),
        };
        var unknown = values.Keys.Where(k => !used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }

        if (options.Subscribers && options.Users > 15_000)
        {
            throw new ArgumentException("--subscribers 1 holds one stream per user: at most 15000 users");
        }

        return options;
    }
}
