using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SseCluster.Cluster.Tests.Support;

/// <summary>
/// The application side of a streamed answer, on a free loopback port: <c>POST /answer</c> takes each question the
/// gateway hands off and passes its answer id on; answering is left to the test.
/// </summary>
internal static class QuestionBackend
{
    public static async Task<WebApplication> StartAsync(Action<string> onQuestion)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/answer", async (HttpContext context) =>
        {
            using var question = await JsonDocument.ParseAsync(context.Request.Body);
            onQuestion(question.RootElement.GetProperty("answerId").GetString()!);
            return Results.Accepted();
        });
        await app.StartAsync();
        return app;
    }
}
