using SseCluster.LoadClient;

// Load client for SseCluster benchmarks. Modes:
//   idle    --url U --connections N --users M [--source-ips K] [--hold-seconds S] ...  many cheap idle streams
//   latency --url U [--url2 U2] --users M --events N --rate R ...                    publish-to-delivery latency
//   storm   --url U --connections N --users M --events K [--storm-concurrency C] ...   N streams resume at once
// Output: one JSON object per line (progress, then a "summary" line). Exit code 0 = every target met, 1 = the run
// finished but some connections/events were missing, 2 = usage or setup error.

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.Error.WriteLine(Usage.Text);
    return args.Length == 0 ? 2 : 0;
}

Arguments parsed;
try
{
    parsed = Arguments.Parse(args.AsSpan(1));
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(Usage.Text);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    return args[0] switch
    {
        "idle" => await IdleMode.RunAsync(IdleSettings.From(parsed), cancel.Token),
        "latency" => await LatencyMode.RunAsync(LatencySettings.From(parsed), cancel.Token),
        "storm" => await StormMode.RunAsync(StormSettings.From(parsed), cancel.Token),
        _ => throw new ArgumentException($"unknown mode '{args[0]}'"),
    };
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(Usage.Text);
    return 2;
}
catch (SetupException ex)
{
    Report.Line(new() { ["phase"] = "error", ["message"] = ex.Message });
    return 2;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Report.Line(new() { ["phase"] = "error", ["message"] = "cancelled" });
    return 2;
}

namespace SseCluster.LoadClient
{
    internal static class Usage
    {
        public const string Text = """
            usage:
              SseCluster.LoadClient idle --url http://127.0.0.1:5080 --connections 10000 --users 1000
                  [--source-ips 4] [--hold-seconds 15] [--concurrency 32] [--settle-seconds 0] [--warmup 20]
                  [--open-timeout-seconds 150] [--attempt-timeout-seconds 15] [--max-attempts 6] [--user-prefix idle]
              SseCluster.LoadClient latency --url http://127.0.0.1:5080 [--url2 http://127.0.0.1:5081]
                  [--users 200] [--events 5000] [--rate 500] [--warmup 200] [--max-in-flight 64]
                  [--drain-seconds 10] [--user-prefix lat]
              SseCluster.LoadClient storm --url http://127.0.0.1:5080 [--connections 10000] [--users 1000] [--events 50]
                  [--source-ips 4] [--concurrency 32] [--storm-concurrency 1000] [--timeout-seconds 120]
                  [--user-prefix storm]
            """;
    }
}
