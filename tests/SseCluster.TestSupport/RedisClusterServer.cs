using System.Diagnostics;
using Xunit;

namespace SseCluster.TestSupport;

/// <summary>
/// A real 3-master Redis Cluster on loopback (no replicas): three <c>redis-server --cluster-enabled yes</c> processes
/// joined with <c>redis-cli --cluster create</c>. Ready when every node reports <c>cluster_state:ok</c>. Use it as an
/// xunit fixture (<see cref="RedisCollections.Cluster"/>).
/// </summary>
public sealed class RedisClusterServer : IAsyncLifetime, IAsyncDisposable
{
    private readonly List<RedisServer> _nodes = [];

    public IReadOnlyList<RedisServer> Nodes => _nodes;

    /// <summary>StackExchange.Redis configuration naming every master: <c>127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3</c>.</summary>
    public string ConnectionString => string.Join(",", _nodes.Select(n => n.ConnectionString));

    public async Task InitializeAsync()
    {
        await RedisServer.EnsureInstalledAsync().ConfigureAwait(false);
        for (var i = 0; i < 3; i++)
        {
            _nodes.Add(new RedisServer(FreePorts.NextWithBusPort(), cluster: true));
        }

        await Task.WhenAll(_nodes.Select(n => n.StartAsync())).ConfigureAwait(false);

        var create = new ProcessStartInfo(RedisServer.CliPath)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        create.ArgumentList.Add("--cluster");
        create.ArgumentList.Add("create");
        foreach (var node in _nodes)
        {
            create.ArgumentList.Add(node.ConnectionString);
        }

        create.ArgumentList.Add("--cluster-replicas");
        create.ArgumentList.Add("0");
        create.ArgumentList.Add("--cluster-yes");
        using (var process = Process.Start(create) ?? throw new InvalidOperationException("redis-cli did not start."))
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"redis-cli --cluster create failed ({process.ExitCode}): {await output.ConfigureAwait(false)} {await error.ConfigureAwait(false)}");
            }
        }

        await Eventually.TrueAsync(
            async () =>
            {
                var states = await Task.WhenAll(_nodes.Select(n => n.ExecuteAsync("CLUSTER", "INFO"))).ConfigureAwait(false);
                return states.All(s => s is string text && text.Contains("cluster_state:ok", StringComparison.Ordinal) && text.Contains("cluster_known_nodes:3", StringComparison.Ordinal));
            },
            $"the Redis Cluster on {ConnectionString} to reach cluster_state:ok",
            TimeSpan.FromSeconds(30)).ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync())).ConfigureAwait(false);
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync().ConfigureAwait(false);
}
