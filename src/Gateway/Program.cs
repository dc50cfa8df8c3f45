using SseCluster.Gateway.Hosting;

// dotnet run's launch profile asks for Development; an explicit environment wins over it (LaunchEnvironment).
var builder = WebApplication.CreateBuilder(LaunchEnvironment.Options(args));
builder.Services.AddSseClusterGateway(builder.Configuration);

var app = builder.Build();

// A configuration mistake gets its message, naming the key, not a stack trace.
if (app.Services.ValidateSseClusterOptions() is { Count: > 0 } failures)
{
    Console.Error.WriteLine($"SseCluster gateway: invalid configuration (environment '{app.Environment.EnvironmentName}')");
    foreach (var failure in failures)
    {
        Console.Error.WriteLine($"  - {failure}");
    }

    return 2;
}

app.UseDefaultFiles();
app.UseStaticFiles();
app.UseCors();
app.MapSseClusterGateway();
try
{
    await app.RunAsync();
}
catch (SseCluster.Gateway.Routing.SiloPortInUseException e)
{
    Console.Error.WriteLine($"SseCluster gateway: {e.Message}");
    return 1;
}
catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    // Another process holds the port: say which, not a stack trace.
    Console.Error.WriteLine($"SseCluster gateway: {e.Message} Another process is listening there; stop it or choose other --urls.");
    return 1;
}

return 0;

/// <summary>The gateway's entry point; public so tests can host it.</summary>
public partial class Program;
