using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Client;
using SseCluster.Contracts.Routing;
using SseCluster.Samples.Publisher;

// An order service that tells its users' browsers about their orders through an SseCluster, with no HTTP hop:
//   SseCluster__Redis__Configuration=127.0.0.1:6379 dotnet run --project samples/Publisher -- --user alice --orders 3
if (!PublisherArguments.TryParse(args, out var arguments, out var error))
{
    await Console.Error.WriteLineAsync($"publisher: {error}\n\n{PublisherArguments.Usage}");
    return ExitCodes.BadArguments;
}

if (arguments.Help)
{
    Console.WriteLine(PublisherArguments.Usage);
    return ExitCodes.Stored;
}

var builder = Host.CreateApplicationBuilder([.. arguments.HostArguments]);
var redis = builder.Configuration[SseClusterIdentity.RedisConfigurationKey];
if (string.IsNullOrWhiteSpace(redis))
{
    await Console.Error.WriteLineAsync(
        $"publisher: {SseClusterIdentity.RedisConfigurationKey} is required: the cluster's Redis, e.g. SseCluster__Redis__Configuration=127.0.0.1:6379 or --{SseClusterIdentity.RedisConfigurationKey}=127.0.0.1:6379");
    return ExitCodes.BadArguments;
}

// stdout carries the receipts, one line each; logs (warnings and up unless configured) go to stderr. The host's own
// "failed to start" is left out: every way the start can fail is reported below, in one line.
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);

builder.Services.AddSseClusterPublisher(builder.Configuration);
builder.Services.AddSingleton(arguments);
builder.Services.AddSingleton<OrderNotifier>();
builder.Services.AddSingleton<OrderRun>();

using var host = builder.Build();

// Ctrl-C or SIGTERM (the host's console lifetime) stops connecting and publishing.
var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
using (var connect = CancellationTokenSource.CreateLinkedTokenSource(stopping))
{
    // The publisher keeps trying while no gateway answers; a command-line tool gives up after a while.
    connect.CancelAfter(arguments.ConnectTimeout);
    try
    {
        await host.StartAsync(connect.Token);
    }
    catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
    {
        await Console.Error.WriteLineAsync($"publisher: no gateway of the cluster answered within {arguments.ConnectTimeout.TotalSeconds:0} s (its Redis: {redis})");
        return ExitCodes.NotStored;
    }
    catch (OperationCanceledException)
    {
        return ExitCodes.Interrupted;
    }
    catch (OptionsValidationException ex)
    {
        await Console.Error.WriteLineAsync($"publisher: invalid configuration: {string.Join("; ", ex.Failures)}");
        return ExitCodes.BadArguments;
    }
}

int exitCode;
try
{
    exitCode = await host.Services.GetRequiredService<OrderRun>().RunAsync(Console.Out, Console.Error, stopping);
}
catch (OperationCanceledException) when (stopping.IsCancellationRequested)
{
    exitCode = ExitCodes.Interrupted;
}

// Leaves the cluster: closes the client's gateway connections (about 0.1 s; nothing is left to flush, every publish
// above was answered).
await host.StopAsync(CancellationToken.None);
return exitCode;
