using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Answers;

/// <summary>
/// Hands a question to the application's backend: <c>POST {BackendUrl}</c> with <c>{answerId, userId, body}</c> and
/// the shared secret in <c>X-SseCluster-Secret</c>. A backend that cannot be reached, answers other than 2xx, or does
/// not answer within the timeout fails the answer, so its readers get <c>error</c> and an end instead of a wait.
/// </summary>
internal sealed partial class AnswerBackend(
    IHttpClientFactory clients,
    IGrainFactory grains,
    IOptions<AnswerOptions> options,
    ILogger<AnswerBackend> logger)
{
    public const string ClientName = "SseCluster.Answers";
    public const string SecretHeader = "X-SseCluster-Secret";

    /// <summary>Starts the hand-off in the background: it must outlive the request, whose client may drop and resume elsewhere.</summary>
    public void Start(string answerId, string userId, string body) => _ = RunAsync(answerId, userId, body);

    private async Task RunAsync(string answerId, string userId, string body)
    {
        var o = options.Value;
        string? failure = null;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(o.TimeoutSeconds));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, o.BackendUrl) { Content = new StringContent(Payload(answerId, userId, body), Encoding.UTF8) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            if (o.BackendSecret is { Length: > 0 } secret)
            {
                request.Headers.Add(SecretHeader, secret);
            }

            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                failure = $"backend-status-{(int)response.StatusCode}";
            }
        }
        catch (HttpRequestException ex)
        {
            failure = "backend-unreachable";
            Log.Unreachable(logger, answerId, ex.Message);
        }
        catch (OperationCanceledException)
        {
            failure = "timeout";
        }

        if (failure is null)
        {
            return;
        }

        try
        {
            await grains.GetGrain<IAnswerGrain>(answerId).Finish(failure);
        }
        catch (Exception ex)
        {
            // The answer grain's own timeout still ends the answer.
            Log.FinishFailed(logger, answerId, ex.Message);
        }
    }

    private static string Payload(string answerId, string userId, string body)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("answerId", answerId);
            json.WriteString("userId", userId);
            json.WritePropertyName("body");
            json.WriteRawValue(body, skipInputValidation: true); // parsed strictly on the way in
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static partial class Log
    {
        [LoggerMessage(320, LogLevel.Warning, "Answer {AnswerId}: the backend could not be reached ({Reason})")]
        public static partial void Unreachable(ILogger logger, string answerId, string reason);

        [LoggerMessage(321, LogLevel.Warning, "Answer {AnswerId}: could not record the backend's failure ({Reason}); the answer times out instead")]
        public static partial void FinishFailed(ILogger logger, string answerId, string reason);
    }
}
