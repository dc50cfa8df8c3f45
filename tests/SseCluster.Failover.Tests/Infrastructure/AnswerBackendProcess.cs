using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using SseCluster.TestSupport;

namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>
/// <c>samples/AnswerBackend</c> as its own process, as <c>dotnet build SseCluster.sln</c> builds it, on a port chosen
/// before the gateways start (they are given its URL, it is given theirs). Disposing kills it by its own handle.
/// </summary>
internal sealed class AnswerBackendProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private AnswerBackendProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public Uri BaseAddress { get; }

    /// <summary>Where the gateways hand questions (<c>SseCluster:Answers:BackendUrl</c>).</summary>
    public string QuestionUrl => new Uri(BaseAddress, "/answer").ToString();

    public int Pid => _process.Id;

    public string RecentOutput => string.Join('\n', _output);

    /// <summary>Starts the sample on <paramref name="port"/> and waits until it answers HTTP.</summary>
    public static async Task<AnswerBackendProcess> StartAsync(int port, IReadOnlyList<Uri> gateways, string secret, int repeat, int chunkDelayMilliseconds)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var dll = Path.Combine(Tools.RepositoryRoot(), "samples", "AnswerBackend", "bin", framework.Parent!.Name, framework.Name, "SseCluster.Samples.AnswerBackend.dll");
        Assert.True(File.Exists(dll), $"no sample at {dll}: build it (dotnet build SseCluster.sln -c {framework.Parent!.Name})");
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        foreach (var argument in new[]
                 {
                     dll, "--urls", address.ToString().TrimEnd('/'),
                     "--AnswerBackend:GatewayUrl", string.Join(',', gateways.Select(g => g.ToString().TrimEnd('/'))),
                     "--AnswerBackend:Secret", secret,
                     "--AnswerBackend:Repeat", repeat.ToString(CultureInfo.InvariantCulture),
                     "--AnswerBackend:ChunkDelayMilliseconds", chunkDelayMilliseconds.ToString(CultureInfo.InvariantCulture),
                 })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("DOTNET_URLS", StringComparison.OrdinalIgnoreCase) || k.StartsWith("AnswerBackend__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__SseCluster"] = "Information";
        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        ChildProcesses.Track(process);
        var backend = new AnswerBackendProcess(process, address);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            await Eventually.TrueAsync(
                async () =>
                {
                    Assert.False(process.HasExited, $"the answer backend exited with {(process.HasExited ? process.ExitCode : 0)}:\n{backend.RecentOutput}");
                    try
                    {
                        using var _ = await http.GetAsync(address); // any answer: it listens
                        return true;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                "the answer backend to listen",
                TimeSpan.FromSeconds(30),
                TimeSpan.FromMilliseconds(200));
            return backend;
        }
        catch
        {
            await backend.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
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

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }
}
