using System.Diagnostics;
using System.Net;
using SseCluster.Tests.Infrastructure;
using SseCluster.Tests.Shared;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>
/// A gateway as its own process (<c>dotnet SseCluster.Gateway.dll</c> from this test's output, Production environment,
/// configured through environment variables), so a test can kill it the hard way: no shutdown, no cleanup.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private GatewayProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts the gateway and waits until <c>/readyz</c> answers 200 (it has joined the routing layer).</summary>
    public static async Task<GatewayProcess> StartAsync(IDictionary<string, string> settings, TimeSpan? readyTimeout = null)
    {
        var port = RedisServer.FreePort(needsBusPort: false);
        var directory = AppContext.BaseDirectory;
        // The dotnet host running these tests, so the gateway runs on the same runtime.
        var host = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(host)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        start.ArgumentList.Add(Path.Combine(directory, "SseCluster.Gateway.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["SseCluster__Auth__SigningKey"] = GatewayHost.SigningKey;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var gateway = new GatewayProcess(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, e) => gateway.Log(e.Data);
        process.ErrorDataReceived += (_, e) => gateway.Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        ChildProcesses.Track(process);

        try
        {
            using var client = gateway.CreateClient();
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the gateway process exited with {process.ExitCode}: {gateway.Output}");
                }

                try
                {
                    using var ready = await client.GetAsync("/readyz");
                    if (ready.StatusCode == HttpStatusCode.OK)
                    {
                        return gateway;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                if (deadline.Elapsed > (readyTimeout ?? TimeSpan.FromSeconds(30)))
                {
                    throw new TimeoutException($"the gateway process on port {port} was not ready within {deadline.Elapsed.TotalSeconds:0} s: {gateway.Output}");
                }

                await Task.Delay(100);
            }
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join("\n", _output.TakeLast(40));
            }
        }
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>SIGKILL: the process stops at once, leaving its presence records and leases in Redis.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
        }
        finally
        {
            ChildProcesses.Untrack(_process);
            _process.Dispose();
        }
    }

    private void Log(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Add(line);
        }
    }
}
