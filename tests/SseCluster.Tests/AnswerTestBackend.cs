using System.Net.Http.Json;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SseCluster.Tests;

/// <summary>
/// A real application backend for streamed answers, on Kestrel: the question's <c>mode</c> says what it does —
/// <c>ok</c> streams <c>text</c> in 5-character chunks and completes, <c>fail</c> answers 500, <c>hang</c> accepts and
/// never completes, <c>manual</c> accepts and leaves the answer to the test.
/// </summary>
internal sealed class AnswerTestBackend : IAsyncDisposable
{
    public const string Secret = "answer-backend-secret-0123456789";

    private readonly WebApplication _app;
    private readonly HttpClient _gateway;

    private AnswerTestBackend(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
        _gateway = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        _gateway.DefaultRequestHeaders.Add("X-SseCluster-Secret", Secret);
    }

    public Uri Url { get; }

    /// <summary>Where chunks go; set once the gateway runs.</summary>
    public Uri? Gateway { get; set; }

    /// <summary>Every question received: answer id, user id, body.</summary>
    public Channel<(string AnswerId, string UserId, JsonElement Body)> Questions { get; } = Channel.CreateUnbounded<(string, string, JsonElement)>();

    public static async Task<AnswerTestBackend> StartAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        AnswerTestBackend? self = null;
        app.MapPost("/answer", async (HttpContext context) =>
        {
            if (context.Request.Headers["X-SseCluster-Secret"] != Secret)
            {
                return Results.StatusCode(401);
            }

            var question = await JsonDocument.ParseAsync(context.Request.Body);
            var root = question.RootElement.Clone();
            var answerId = root.GetProperty("answerId").GetString()!;
            self!.Questions.Writer.TryWrite((answerId, root.GetProperty("userId").GetString()!, root.GetProperty("body")));
            switch (root.GetProperty("body").GetProperty("mode").GetString())
            {
                case "fail":
                    return Results.StatusCode(500);
                case "ok":
                    _ = self.StreamAsync(answerId, root.GetProperty("body").GetProperty("text").GetString()!);
                    return Results.Accepted();
                default:
                    return Results.Accepted();
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new AnswerTestBackend(app, new Uri(new Uri(address), "/answer"));
        return self;
    }

    public Task<HttpResponseMessage> ChunkAsync(string answerId, string text) =>
        _gateway.PostAsJsonAsync(new Uri(Gateway!, $"/sse/answers/{answerId}/chunks"), new { data = text });

    public Task<HttpResponseMessage> CompleteAsync(string answerId) =>
        _gateway.PostAsync(new Uri(Gateway!, $"/sse/answers/{answerId}/complete"), null);

    private async Task StreamAsync(string answerId, string text)
    {
        for (var i = 0; i < text.Length; i += 5)
        {
            (await ChunkAsync(answerId, text.Substring(i, Math.Min(5, text.Length - i)))).EnsureSuccessStatusCode();
        }

        (await CompleteAsync(answerId)).EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        _gateway.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
