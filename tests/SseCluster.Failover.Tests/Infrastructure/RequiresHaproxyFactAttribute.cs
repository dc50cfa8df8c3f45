namespace SseCluster.Failover.Tests.Infrastructure;

/// <summary>A fact that is skipped, saying why, on a machine without haproxy (<c>test.sh</c> installs it).</summary>
internal sealed class RequiresHaproxyFactAttribute : FactAttribute
{
    public RequiresHaproxyFactAttribute()
    {
        if (Tools.Find("haproxy") is null)
        {
            Skip = "haproxy is not installed (sudo apt-get install -y haproxy; ./test.sh installs it)";
        }
    }
}

/// <summary>Finds programs and the repository.</summary>
internal static class Tools
{
    /// <summary>The full path of <paramref name="program"/> on PATH (or in /usr/sbin), or null.</summary>
    public static string? Find(string program)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]);
        return path.Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);
    }

    /// <summary>The repository root: the first parent of the test's output directory that holds SseCluster.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SseCluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no SseCluster.sln above {AppContext.BaseDirectory}");
    }
}
