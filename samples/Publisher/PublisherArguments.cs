using System.Globalization;
using SseCluster.Contracts;

namespace SseCluster.Samples.Publisher;

/// <summary>
/// The sample's own command line. Options whose name holds a <c>:</c> (<c>--SseCluster:Redis:Configuration=…</c>,
/// <c>--Logging:LogLevel:Default Debug</c>) are configuration keys and go to the host untouched; anything else unknown
/// is a mistake, reported with the usage, rather than a typo silently ignored.
/// </summary>
internal sealed record PublisherArguments
{
    public const string Usage = """
        usage: SseCluster.Samples.Publisher --user <id> [--user <id>…] [--orders <n>] [--first-order <id>]
                                            [--interval-ms <ms>] [--connect-timeout-seconds <s>]
                                            [--SseCluster:Redis:Configuration=<host:port>] [--<any configuration key>=<value>]

          --user                     who gets the order events; repeat it (or give a,b,c) for several users
          --orders                   orders per user (default 1)
          --first-order              the first order id (default 1); the first user's orders come first, numbered on
          --interval-ms              pause between two publishes (default 500)
          --connect-timeout-seconds  how long to wait for a gateway of the cluster (default 30)

        The cluster's Redis comes from SseCluster:Redis:Configuration (SseCluster__Redis__Configuration=127.0.0.1:6379, or
        the option above); SseCluster:Orleans:ClusterId and ServiceId default to the gateways' "ssecluster".
        Exit codes: 0 every event stored, 2 bad arguments, 3 the cluster could not store an event (or was not reached).
        """;

    public IReadOnlyList<string> Users { get; init; } = [];

    public int Orders { get; init; } = 1;

    public long FirstOrder { get; init; } = 1;

    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public bool Help { get; init; }

    /// <summary>Arguments for the host: the configuration keys given on the command line.</summary>
    public IReadOnlyList<string> HostArguments { get; init; } = [];

    /// <summary>Parses <paramref name="args"/>; on failure <paramref name="error"/> says which argument and why.</summary>
    public static bool TryParse(IReadOnlyList<string> args, out PublisherArguments parsed, out string? error)
    {
        parsed = new PublisherArguments();
        error = null;
        var users = new List<string>();
        var host = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "--help" or "-?")
            {
                parsed = parsed with { Help = true };
                continue;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                error = $"unexpected argument '{arg}'";
                return false;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals > 0 ? arg[2..equals] : arg[2..];
            string? value = equals > 0 ? arg[(equals + 1)..] : null;
            if (name.Contains(':', StringComparison.Ordinal))
            {
                // A configuration key: "--key=value" or "--key value", as the host's command-line provider reads it.
                host.Add(arg);
                if (value is null && i + 1 < args.Count)
                {
                    host.Add(args[++i]);
                }

                continue;
            }

            if (value is null)
            {
                if (i + 1 >= args.Count)
                {
                    error = $"--{name} needs a value";
                    return false;
                }

                value = args[++i];
            }

            switch (name)
            {
                case "user":
                    foreach (var user in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (!Identifiers.IsValidUserId(user))
                        {
                            error = $"--user '{user}' is not a valid user id: {Identifiers.UserIdRule}";
                            return false;
                        }

                        if (!users.Contains(user, StringComparer.Ordinal))
                        {
                            users.Add(user);
                        }
                    }

                    break;
                case "orders" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var orders) && orders is >= 1 and <= 10_000:
                    parsed = parsed with { Orders = orders };
                    break;
                case "first-order" when long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var first) && first is >= 1 and <= long.MaxValue / 2:
                    parsed = parsed with { FirstOrder = first };
                    break;
                case "interval-ms" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms is >= 0 and <= 600_000:
                    parsed = parsed with { Interval = TimeSpan.FromMilliseconds(ms) };
                    break;
                case "connect-timeout-seconds" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s is >= 1 and <= 3600:
                    parsed = parsed with { ConnectTimeout = TimeSpan.FromSeconds(s) };
                    break;
                case "orders":
                    error = $"--orders must be a whole number from 1 to 10000, not '{value}'";
                    return false;
                case "first-order":
                    error = $"--first-order must be a positive whole number, not '{value}'";
                    return false;
                case "interval-ms":
                    error = $"--interval-ms must be a whole number of milliseconds from 0 to 600000, not '{value}'";
                    return false;
                case "connect-timeout-seconds":
                    error = $"--connect-timeout-seconds must be a whole number from 1 to 3600, not '{value}'";
                    return false;
                default:
                    error = $"unknown option '--{name}'";
                    return false;
            }
        }

        if (users.Count == 0 && !parsed.Help)
        {
            error = "--user is required: who gets the order events";
            return false;
        }

        parsed = parsed with { Users = users, HostArguments = host };
        return true;
    }
}
