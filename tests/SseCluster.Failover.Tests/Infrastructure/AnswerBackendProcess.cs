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
    private readonly OwnedProcess _process;

    private AnswerBackendProcess(OwnedProcess process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>Where the gateways hand questions (<c>SseCluster:Answers:BackendUrl</c>).</summary>
    public string QuestionUrl => new Uri(BaseAddress, "/answer").ToString();

    public int Pid => _process.Id;

    public string RecentOutput => _process.RecentOutput;

    /// <summary>Starts the sample on <paramref name="port"/> and waits until it answers HTTP.</summary>
    public static async Task<AnswerBackendProcess> StartAsync(int port, IReadOnlyList<Uri> gateways, string secret, int repeat, int chunkDelayMilliseconds)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var dll = Path.Combine(Tools.RepositoryRoot(), "samples", "AnswerBackend", "bin", framework.Parent!.Name, framework.Name, "SseCluster.Samples.AnswerBackend.dll");
        Assert.True(File.Exists(dll), $"no sample at {dll}: build it (dotnet build SseCluster.sln -c {framework.Parent!.Name})");
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = Path.GetDirectoryName(dll)! };
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
        var process = OwnedProcess.Start(start);
        var backend = new AnswerBackendProcess(process, address);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            await Eventually.TrueAsync(
                async () =>
                {
                    Assert.False(process.HasExited, $"the answer backend exited with {process.ExitCodeIfExited}:\n{backend.RecentOutput}");
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

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
