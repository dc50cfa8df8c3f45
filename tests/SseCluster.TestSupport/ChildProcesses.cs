using System.Diagnostics;

namespace SseCluster.TestSupport;

/// <summary>
/// Processes the tests started (redis-server, gateways). Whatever a failed or aborted run leaves behind is killed, by
/// its own Process handle, when the test host exits.
/// </summary>
public static class ChildProcesses
{
    private static readonly HashSet<Process> Running = [];

    static ChildProcesses()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            lock (Running)
            {
                foreach (var process in Running)
                {
                    try
                    {
                        process.Kill();
                    }
                    catch (InvalidOperationException)
                    {
                    }
                }
            }
        };
    }

    public static void Track(Process process)
    {
        lock (Running)
        {
            Running.Add(process);
        }
    }

    public static void Untrack(Process process)
    {
        lock (Running)
        {
            Running.Remove(process);
        }
    }
}
