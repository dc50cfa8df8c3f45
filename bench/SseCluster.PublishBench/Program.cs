using SseCluster.PublishBench;

// Publish throughput of an SseCluster: as many sendToUser publishes as C loops (one call in flight each) get through in
// D seconds, after a warm-up, round-robin over N users. Two ways in:
//   http    --url U [--url2 U2] ...   POST /sse/send with one publisher dev token (loops split over the URLs)
//   library --redis HOST:PORT ...     ISseEventPublisher.SendToUserAsync of the publisher library (SseCluster.Client)
// stdout: one JSON line (the result); progress and logs go to stderr. Exit code 0 = every measured publish accepted
// (and, with --subscribers 1, every accepted event delivered), 1 = the run finished short of that, 2 = usage or setup
// error.

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.Error.WriteLine(Usage.Text);
    return args.Length == 0 ? 2 : 0;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    var options = Options.Parse(args[0], args.AsSpan(1));
    return await Bench.RunAsync(options, cancel.Token);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(Usage.Text);
    return 2;
}
catch (SetupException ex)
{
    Console.Error.WriteLine($"publishbench: {ex.Message}");
    Console.Out.WriteLine(Result.Error(ex.Message));
    return 2;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("publishbench: cancelled");
    return 2;
}

namespace SseCluster.PublishBench
{
    internal static class Usage
    {
        public const string Text = """
            usage:
              SseCluster.PublishBench http --url http://127.0.0.1:5080 [--url2 http://127.0.0.1:5081]
                  [--users 1000] [--concurrency 32] [--seconds 10] [--warmup-seconds 3] [--pad-bytes 0]
                  [--user-prefix pb] [--subscribers 0|1] [--drain-seconds 10] [--timeout-seconds 30]
              SseCluster.PublishBench library --redis 127.0.0.1:6379 [--cluster-id ID]
                  [--users 1000] [--concurrency 32] [--seconds 10] [--warmup-seconds 3] [--pad-bytes 0]
                  [--user-prefix pb] [--connect-timeout-seconds 60] [--timeout-seconds 30]
                  [--subscribers 0|1 --url http://127.0.0.1:5080 [--url2 http://127.0.0.1:5081]] [--drain-seconds 10]
            http:     POST /sse/send {"userId":..,"eventType":"bench","data":{..}} with one publisher dev token
                      (POST /dev/token {"userId":"bench-pub","roles":["publisher"]}); loop k publishes to URL k % 2.
            library:  AddSseClusterPublisher(configuration) with SseCluster:Redis:Configuration = --redis (and
                      SseCluster:Orleans:ClusterId = --cluster-id when given) in a generic host, started before the run.
            --subscribers 1: one SSE stream per user (user i on URL i % 2) held during the run; reports delivered/lost.
            Output: one JSON line on stdout.
            """;
    }
}
