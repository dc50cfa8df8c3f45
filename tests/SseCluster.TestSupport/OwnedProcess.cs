using System.Collections.Concurrent;
using System.Diagnostics;

namespace SseCluster.TestSupport;

/// <summary>
/// A process a test started (a gateway, a sample backend): tracked by <see cref="ChildProcesses"/> so an aborted run
/// still ends it, its last lines kept for failure messages, and killed by its own handle when disposed.
/// </summary>
public sealed class OwnedProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private readonly int _keepLines;

    private OwnedProcess(Process process, int keepLines)
    {
        Process = process;
        Id = process.Id;
        _keepLines = keepLines;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    /// <summary>The process id, also after the process was disposed.</summary>
    public int Id { get; }

    public bool HasExited => Process.HasExited;

    /// <summary>The exit code once the process has exited, else null (what a readiness wait asks).</summary>
    public int? ExitCodeIfExited => Process.HasExited ? Process.ExitCode : null;

    /// <summary>The last lines (standard output and error) the process wrote.</summary>
    public string RecentOutput => string.Join('\n', _output);

    /// <summary>Starts <paramref name="start"/> with its output redirected, keeping its last <paramref name="keepLines"/> lines.</summary>
    public static OwnedProcess Start(ProcessStartInfo start, int keepLines = 200)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start");
        ChildProcesses.Track(process);
        return new OwnedProcess(process, keepLines);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill();
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // Already gone, or the kernel is slow to reap it: ChildProcesses no longer owns it either way.
        }
        finally
        {
            ChildProcesses.Untrack(Process);
            Process.Dispose();
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > _keepLines && _output.TryDequeue(out _))
        {
        }
    }
}
