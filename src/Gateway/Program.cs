using Microsoft.Extensions.Options;
using SseCluster.Gateway.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSseClusterGateway(builder.Configuration);

var app = builder.Build();
app.UseDefaultFiles();
app.UseStaticFiles();
app.UseCors();
app.MapSseClusterGateway();

try
{
    await app.RunAsync();
}
catch (OptionsValidationException ex)
{
    // A configuration mistake gets its message, not a stack trace.
    Console.Error.WriteLine("SseCluster gateway: invalid configuration");
    foreach (var failure in ex.Failures)
    {
        Console.Error.WriteLine($"  - {failure}");
    }

    return 2;
}

return 0;

/// <summary>The gateway's entry point; public so tests can host it.</summary>
public partial class Program;
