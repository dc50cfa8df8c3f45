// README.md ("Publishing from .NET services") quotes this file between the markers, and a test keeps the two equal.
// Run it: dotnet run --project samples/QuickPublisher -- --SseCluster:Redis:Configuration=127.0.0.1:6379
// readme-snippet-start
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SseCluster.Client;
using SseCluster.Contracts;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddSseClusterPublisher(builder.Configuration); // reads SseCluster:Redis:Configuration (required)
using var host = builder.Build();
await host.StartAsync();                                        // the Orleans client connects here

var sse = host.Services.GetRequiredService<ISseEventPublisher>();
var receipt = await sse.SendToUserAsync(
    "alice",
    OutgoingEvent.FromJson("order.shipped", """{"orderId":42}""").WithIdempotencyKey("order-42-shipped"));
Console.WriteLine($"stored as {receipt.Events[0].Stream}#{receipt.Events[0].Sequence}, live on {receipt.Connections} connection(s)");
await host.StopAsync();                                         // leaves the cluster
// readme-snippet-end
