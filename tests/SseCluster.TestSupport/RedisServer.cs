using System.Diagnostics;
using Xunit;

namespace SseCluster.TestSupport;

/// <summary>
/// A real <c>redis-server</c> (the Debian package) on a free loopback port, in its own temp directory, without
/// persistence (<c>--save '' --appendonly no</c>). Use it as an xunit fixture (<see cref="RedisCollections.Server"/>), or
/// create one with <see cref="StartNewAsync"/> for a test that stops it. <see cref="StopAsync"/> kills the process
/// (by PID, like a crash); <see cref="StartAsync"/> starts it again on the same port, empty.
/// </summary>
public sealed class RedisServer : IAsyncLifetime, IAsyncDisposable
{
    public const string ServerPath = "/usr/bin/redis-server";
    public const string CliPath = "/usr/bin/redis-cli";

    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private readonly bool _cluster;
    private readonly string _directory;
    private Process? _process;

    /// <summary>A standalone server on a free port; started by <see cref="InitializeAsync"/>.</summary>
    public RedisServer()
        : this(FreePorts.Next(), cluster: false)
    {
    }

    internal RedisServer(int port, bool cluster)
    {
        Port = port;
        _cluster = cluster;
        _directory = Directory.CreateTempSubdirectory("sse-redis-").FullName;
    }

    public int Port { get; }

    /// <summary>StackExchange.Redis configuration for this server: <c>127.0.0.1:&lt;port&gt;</c>.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The redis-server process's id while it runs (to freeze it with SIGSTOP, say).</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Starts a standalone server the caller owns (and disposes).</summary>
    public static async Task<RedisServer> StartNewAsync(CancellationToken cancellationToken = default)
    {
        var server = new RedisServer();
        await server.StartAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    public Task InitializeAsync() => StartAsync();

    /// <summary>Starts the server (again) on its port and waits until it answers PING.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            return;
        }

        await EnsureInstalledAsync(cancellationToken).ConfigureAwait(false);
        var start = new ProcessStartInfo(ServerPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        foreach (var argument in new[]
                 {
                     "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", _directory, "--daemonize", "no",
                     "--logfile", Path.Combine(_directory, "redis.log"),
                 })
        {
            start.ArgumentList.Add(argument);
        }

        if (_cluster)
        {
            File.Delete(Path.Combine(_directory, "nodes.conf"));
            foreach (var argument in new[] { "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"{ServerPath} did not start.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        ChildProcesses.Track(_process);

        var deadline = Stopwatch.StartNew();
        while (!await RedisWire.PingAsync(Port, cancellationToken).ConfigureAwait(false))
        {
            if (_process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(15))
            {
                var log = File.Exists(Path.Combine(_directory, "redis.log")) ? await File.ReadAllTextAsync(Path.Combine(_directory, "redis.log"), cancellationToken).ConfigureAwait(false) : "";
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING within 15 s (exited: {_process.HasExited}). Log:\n{log}");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Kills the server by PID (no shutdown, no save) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Exited already.
        }
        finally
        {
            ChildProcesses.Untrack(process);
            process.Dispose();
        }
    }

    /// <summary>
    /// <c>SHUTDOWN SAVE</c>: the server writes its data to its directory and exits (clients see their connections drop),
    /// as a persistent production Redis does; <see cref="StartAsync"/> then brings it back with that data.
    /// </summary>
    public async Task ShutdownSavingAsync()
    {
        var process = _process;
        try
        {
            await ExecuteAsync("SHUTDOWN", "SAVE").ConfigureAwait(false);
        }
        catch (IOException)
        {
            // SHUTDOWN answers by closing the connection.
        }

        if (process is not null)
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }

        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>Runs one command on this server, e.g. <c>ExecuteAsync("PUBSUB", "CHANNELS", "sse:*")</c>.</summary>
    public Task<object?> ExecuteAsync(params string[] command) => RedisWire.ExecuteAsync(Port, command);

    public async Task DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync().ConfigureAwait(false);

    /// <summary>Installs Debian's redis-server when it is missing, waiting for an apt run already in progress.</summary>
    public static async Task EnsureInstalledAsync(CancellationToken cancellationToken = default)
    {
        if (File.Exists(ServerPath) && File.Exists(CliPath))
        {
            return;
        }

        await InstallLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (File.Exists(ServerPath) && File.Exists(CliPath))
            {
                return;
            }

            var install = new ProcessStartInfo("apt-get") { UseShellExecute = false };
            foreach (var argument in new[] { "install", "-y", "-o", "DPkg::Lock::Timeout=600", "redis-server" })
            {
                install.ArgumentList.Add(argument);
            }

            install.Environment["DEBIAN_FRONTEND"] = "noninteractive";
            using var process = Process.Start(install) ?? throw new InvalidOperationException("apt-get did not start.");
            await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromMinutes(10), cancellationToken).ConfigureAwait(false);
            if (!File.Exists(ServerPath))
            {
                throw new InvalidOperationException($"{ServerPath} is missing and 'apt-get install -y redis-server' did not provide it (exit {process.ExitCode}).");
            }
        }
        finally
        {
            InstallLock.Release();
        }
    }
}
