using System.Diagnostics;
using SseCluster.Failover.Tests.Infrastructure;

namespace SseCluster.Failover.Tests;

/// <summary>
/// scripts/lib.sh decides whether deploy/local-cluster.sh, bench/ and the browser tests build the gateway first: only
/// when a source is newer than the last build (bin/, obj/, node_modules/ and wwwroot/ do not count).
/// </summary>
public sealed class ScriptLibraryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sse-lib-test.").FullName;

    [Fact]
    public async Task SourcesChanged_OnlyWhenASourceIsNewerThanTheLastBuild_NotForBinObjOrWwwroot()
    {
        var src = Directory.CreateDirectory(Path.Combine(_dir, "src")).FullName;
        var output = Path.Combine(_dir, "out", "Gateway.dll");
        await File.WriteAllTextAsync(Path.Combine(src, "A.cs"), "class A {}");

        Assert.True(await SourcesChangedAsync(output, src), "no build yet must count as changed");

        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        await File.WriteAllTextAsync(output, "built");
        var built = DateTime.UtcNow;
        File.SetLastWriteTimeUtc(Path.Combine(src, "A.cs"), built.AddMinutes(-1));
        Assert.False(await SourcesChangedAsync(output, src), "nothing changed since the build");

        foreach (var ignored in new[] { "bin", "obj", "wwwroot", "node_modules" })
        {
            var file = Path.Combine(Directory.CreateDirectory(Path.Combine(src, ignored)).FullName, "x.txt");
            await File.WriteAllTextAsync(file, "later");
            File.SetLastWriteTimeUtc(file, built.AddMinutes(1));
        }

        Assert.False(await SourcesChangedAsync(output, src), "bin/, obj/, wwwroot/ and node_modules/ are not sources");

        File.SetLastWriteTimeUtc(Path.Combine(src, "A.cs"), built.AddMinutes(1));
        Assert.True(await SourcesChangedAsync(output, src), "a source edited after the build");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<bool> SourcesChangedAsync(string output, string sources)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { "-c", ". \"$1\" && sources_changed \"$2\" \"$3\"", "bash", Path.Combine(Tools.RepositoryRoot(), "scripts", "lib.sh"), output, sources })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(limit.Token);
        return process.ExitCode switch
        {
            0 => true,
            1 => false,
            _ => throw new InvalidOperationException($"sources_changed exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}"),
        };
    }
}
