using System.Diagnostics;
using System.Globalization;
using SseCluster.TestSupport;

namespace SseCluster.Tests;

/// <summary>
/// The built gateway as a process of its own (<c>dotnet SseCluster.Gateway.dll</c> from this test's output directory),
/// for what only a real start shows: the environment, exit codes, files it writes. Nothing from the test runner's
/// environment reaches it but what each test sets; its home and data directories are the test's.
/// </summary>
internal sealed class GatewayDllProcess : IAsyncDisposable
{
    private readonly OwnedProcess _owned;
    private readonly Process _process;

    private GatewayDllProcess(OwnedProcess process, Uri baseAddress)
    {
        _owned = process;
        _process = process.Process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>Everything the gateway wrote (standard output and error).</summary>
    public string Output => _owned.RecentOutput;

    /// <summary>Starts the gateway on <paramref name="url"/> (a free loopback port when null).</summary>
    public static GatewayDllProcess Start(string home, IDictionary<string, string> environment, string? url = null)
    {
        url ??= $"http://127.0.0.1:{FreePorts.Next().ToString(CultureInfo.InvariantCulture)}";
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SseCluster.Gateway.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(url);
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("SseCluster", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) || k.StartsWith("XDG_", StringComparison.OrdinalIgnoreCase)
                     || k is "DOTNET_ENVIRONMENT" or "DOTNET_URLS" or "DOTNET_HTTP_PORTS" or "DOTNET_HTTPS_PORTS").ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["HOME"] = home;
        start.Environment["XDG_DATA_HOME"] = Path.Combine(home, "data");
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_HOME"] = home;
        start.Environment["SseCluster__Orleans__SiloPort"] = FreePorts.Next().ToString(CultureInfo.InvariantCulture);
        start.Environment["SseCluster__Orleans__GatewayPort"] = "0";
        start.Environment["SseCluster__Orleans__AdvertisedAddress"] = "127.0.0.1";
        start.Environment["SseCluster__Shutdown__DrainSeconds"] = "0";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        // Every line: tests read the whole output for what the gateway said at start or exit.
        var process = OwnedProcess.Start(start, keepLines: int.MaxValue);
        return new GatewayDllProcess(process, new Uri(url.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)));
    }

    /// <summary>Starts the gateway and waits (at most 30 s) for it to exit.</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(string home, IDictionary<string, string> environment, string? url = null)
    {
        await using var gateway = Start(home, environment, url);
        var exitCode = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (exitCode, gateway.Output);
    }

    /// <summary>A fresh directory to serve as a process's HOME; deleted by the caller.</summary>
    public static string TemporaryHome()
    {
        var home = Path.Combine(Path.GetTempPath(), "sse-home-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(home);
        return home;
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the gateway did not exit within {timeout.TotalSeconds} s:\n{Output}");
        }

        _process.WaitForExit(); // the rest of its output
        return _process.ExitCode;
    }

    /// <summary>Waits until <c>/readyz</c> answers 200 (at most 60 s).</summary>
    public Task WaitReadyAsync() =>
        Readiness.WaitAsync(BaseAddress, TimeSpan.FromSeconds(60), "the gateway", () => _owned.ExitCodeIfExited, () => Output);

    public ValueTask DisposeAsync() => _owned.DisposeAsync();
}
