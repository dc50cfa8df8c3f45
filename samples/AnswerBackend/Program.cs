using System.Net.Http.Json;
using System.Text.Json;
using SseCluster.Samples.AnswerBackend;

// The application side of streamed answers. The gateway POSTs {answerId, userId, body} here with the shared secret in
// X-SseCluster-Secret; this backend accepts at once (202) and writes the answer in the background: 5 characters every
// 10 ms through POST /sse/answers/{id}/chunks, then /complete (or /fail if the gateway refused a chunk).
//
//   dotnet run --project samples/AnswerBackend -- --urls http://127.0.0.1:5090 \
//     --AnswerBackend:GatewayUrl http://127.0.0.1:5080 --AnswerBackend:Secret <the gateway's SseCluster:Answers:BackendSecret>
var builder = WebApplication.CreateBuilder(args);
var settings = builder.Configuration.GetSection("AnswerBackend").Get<BackendSettings>() ?? new BackendSettings();
if (string.IsNullOrEmpty(settings.Secret) || !Uri.TryCreate(settings.GatewayUrl, UriKind.Absolute, out var gateway))
{
    Console.Error.WriteLine("AnswerBackend:Secret and AnswerBackend:GatewayUrl (an absolute URL) are required");
    return 2;
}

builder.Services.AddHttpClient("gateway", client =>
{
    client.BaseAddress = gateway;
    client.DefaultRequestHeaders.Add(Writer.SecretHeader, settings.Secret);
});
builder.Services.AddSingleton<Writer>();
var app = builder.Build();

app.MapPost("/answer", (HttpContext context, Question question, Writer writer) =>
{
    // The gateway proves itself with the shared secret; anyone else could start answers on a user's behalf.
    if (context.Request.Headers[Writer.SecretHeader] != settings.Secret)
    {
        return Results.Unauthorized();
    }

    writer.Start(question.AnswerId);
    return Results.Accepted();
});

await app.RunAsync();
return 0;

namespace SseCluster.Samples.AnswerBackend
{
    internal sealed class BackendSettings
    {
        public string GatewayUrl { get; set; } = "http://127.0.0.1:5080";

        public string? Secret { get; set; }
    }

    /// <summary>What the gateway sends; <c>body</c> is the browser's question as it posted it.</summary>
    internal sealed record Question(string AnswerId, string UserId, JsonElement Body);

    internal sealed partial class Writer(IHttpClientFactory clients, ILogger<Writer> logger)
    {
        public const string SecretHeader = "X-SseCluster-Secret";

        private const string Answer =
            "## Streamed answers\n\n" +
            "The gateway stores every chunk in the answer's stream, so a reader that drops **resumes** " +
            "with `Last-Event-ID` on any node.\n\n" +
            "- chunks arrive in order\n- nothing is lost or repeated\n- `done` ends the stream\n";

        public void Start(string answerId) => _ = WriteAsync(answerId);

        private async Task WriteAsync(string answerId)
        {
            var gateway = clients.CreateClient("gateway");
            try
            {
                for (var i = 0; i < Answer.Length; i += 5)
                {
                    var chunk = Answer.Substring(i, Math.Min(5, Answer.Length - i));
                    using var sent = await gateway.PostAsJsonAsync($"/sse/answers/{answerId}/chunks", new { data = chunk });
                    sent.EnsureSuccessStatusCode();
                    await Task.Delay(10);
                }

                using var done = await gateway.PostAsync($"/sse/answers/{answerId}/complete", null);
                done.EnsureSuccessStatusCode();
            }
            catch (HttpRequestException ex)
            {
                Log.WriteFailed(logger, answerId, ex.Message);
                using var failed = await gateway.PostAsJsonAsync($"/sse/answers/{answerId}/fail", new { reason = "sample-backend-failed" });
            }
        }

        private static partial class Log
        {
            [LoggerMessage(1, LogLevel.Warning, "Answer {AnswerId}: the gateway refused a chunk ({Reason}); failing the answer")]
            public static partial void WriteFailed(ILogger logger, string answerId, string reason);
        }
    }
}
