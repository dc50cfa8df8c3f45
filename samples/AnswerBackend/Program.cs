using System.Net.Http.Json;
using System.Text.Json;
using SseCluster.Samples.AnswerBackend;

// The application side of streamed answers. The gateway POSTs {answerId, userId, body} here with the shared secret in
// X-SseCluster-Secret; this backend accepts at once (202) and writes the answer in the background: 5 characters every
// 10 ms through POST /sse/answers/{id}/chunks, then /complete (or /fail if the gateway refused a chunk).
//
//   dotnet run --project samples/AnswerBackend -- --urls http://127.0.0.1:5090 \
//     --AnswerBackend:GatewayUrl http://127.0.0.1:5080 --AnswerBackend:Secret <the gateway's SseCluster:Answers:BackendSecret>
//
// GatewayUrl may list several gateways (comma-separated): a write that one cannot take (it is down, or answers 5xx) is
// sent again to the next, with the same Idempotency-Key, so a gateway dying mid-answer loses and repeats nothing.
var builder = WebApplication.CreateBuilder(args);
var settings = builder.Configuration.GetSection("AnswerBackend").Get<BackendSettings>() ?? new BackendSettings();
var gateways = settings.GatewayUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
    .Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) ? uri : null).ToList();
if (string.IsNullOrEmpty(settings.Secret) || gateways.Count == 0 || gateways.Contains(null) || settings.Repeat < 1 || settings.ChunkDelayMilliseconds < 0)
{
    Console.Error.WriteLine("AnswerBackend:Secret and AnswerBackend:GatewayUrl (absolute URLs, comma-separated) are required; Repeat is at least 1, ChunkDelayMilliseconds at least 0");
    return 2;
}

builder.Services.AddHttpClient("gateway", client =>
{
    client.Timeout = TimeSpan.FromSeconds(30);
    client.DefaultRequestHeaders.Add(Writer.SecretHeader, settings.Secret);
});
builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(new GatewayList(gateways!));
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
        /// <summary>One gateway, or several separated by commas (tried in turn when one cannot take a write).</summary>
        public string GatewayUrl { get; set; } = "http://127.0.0.1:5080";

        public string? Secret { get; set; }

        /// <summary>How many times the canned answer is streamed in one answer (a longer answer). Default 1.</summary>
        public int Repeat { get; set; } = 1;

        /// <summary>The pause after each chunk. Default 10.</summary>
        public int ChunkDelayMilliseconds { get; set; } = 10;
    }

    /// <summary>What the gateway sends; <c>body</c> is the browser's question as it posted it.</summary>
    internal sealed record Question(string AnswerId, string UserId, JsonElement Body);

    /// <summary>The gateways to write to; the one that last took a write is tried first.</summary>
    internal sealed class GatewayList(IReadOnlyList<Uri> gateways)
    {
        private int _current;

        public int Count => gateways.Count;

        public Uri Current => gateways[Volatile.Read(ref _current) % gateways.Count];

        public void Next(Uri failed)
        {
            var at = Volatile.Read(ref _current);
            if (gateways[at % gateways.Count] == failed)
            {
                Interlocked.CompareExchange(ref _current, at + 1, at);
            }
        }
    }

    internal sealed partial class Writer(IHttpClientFactory clients, BackendSettings settings, GatewayList gateways, ILogger<Writer> logger)
    {
        public const string SecretHeader = "X-SseCluster-Secret";

        private static readonly TimeSpan RetryFor = TimeSpan.FromSeconds(30);

        private const string Answer =
            "## Streamed answers\n\n" +
            "The gateway stores every chunk in the answer's stream, so a reader that drops **resumes** " +
            "with `Last-Event-ID` on any node.\n\n" +
            "- chunks arrive in order\n- nothing is lost or repeated\n- `done` ends the stream\n";

        public void Start(string answerId) => _ = WriteAsync(answerId);

        private async Task WriteAsync(string answerId)
        {
            var text = string.Concat(Enumerable.Repeat(Answer, settings.Repeat));
            try
            {
                for (var i = 0; i < text.Length; i += 5)
                {
                    var chunk = text.Substring(i, Math.Min(5, text.Length - i));
                    await SendAsync($"/sse/answers/{answerId}/chunks", JsonContent.Create(new { data = chunk }), $"{i / 5}");
                    await Task.Delay(settings.ChunkDelayMilliseconds);
                }

                await SendAsync($"/sse/answers/{answerId}/complete", null, null);
            }
            catch (HttpRequestException ex)
            {
                Log.WriteFailed(logger, answerId, ex.Message);
                try
                {
                    await SendAsync($"/sse/answers/{answerId}/fail", JsonContent.Create(new { reason = "sample-backend-failed" }), null);
                }
                catch (HttpRequestException)
                {
                    // The gateway's timeout (SseCluster:Answers:TimeoutSeconds) ends the answer instead.
                }
            }
        }

        // A gateway that is down, or answers 5xx (the cluster could not store the write in time), gets the next one on
        // the list; a refusal (4xx) is final. A chunk carries its Idempotency-Key, so sending it again stores it once.
        private async Task SendAsync(string path, HttpContent? content, string? idempotencyKey)
        {
            var http = clients.CreateClient("gateway");
            var deadline = DateTime.UtcNow + RetryFor;
            var body = content is null ? null : await content.ReadAsByteArrayAsync();
            for (var attempt = 1; ; attempt++)
            {
                var gateway = gateways.Current;
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, path));
                if (body is not null)
                {
                    request.Content = new ByteArrayContent(body);
                    request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                }

                if (idempotencyKey is not null)
                {
                    request.Headers.Add("Idempotency-Key", idempotencyKey);
                }

                string failure;
                try
                {
                    using var response = await http.SendAsync(request);
                    if (response.StatusCode == System.Net.HttpStatusCode.Conflict && idempotencyKey is null && attempt > 1)
                    {
                        return; // the end an earlier attempt sent was stored before that gateway failed
                    }

                    if ((int)response.StatusCode < 500)
                    {
                        response.EnsureSuccessStatusCode();
                        return;
                    }

                    failure = $"status {(int)response.StatusCode}";
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    failure = ex.Message;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new HttpRequestException($"no gateway took {path} in {RetryFor.TotalSeconds} s (last: {gateway}: {failure})");
                }

                Log.Retrying(logger, path, gateway.ToString(), failure);
                gateways.Next(gateway);
                await Task.Delay(gateways.Count > 1 ? 50 : 500);
            }
        }

        private static partial class Log
        {
            [LoggerMessage(1, LogLevel.Warning, "Answer {AnswerId}: the gateway refused a chunk ({Reason}); failing the answer")]
            public static partial void WriteFailed(ILogger logger, string answerId, string reason);

            [LoggerMessage(2, LogLevel.Information, "{Path}: {Gateway} did not take it ({Reason}); trying the next gateway")]
            public static partial void Retrying(ILogger logger, string path, string gateway, string reason);
        }
    }
}
