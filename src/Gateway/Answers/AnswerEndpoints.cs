using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Api;
using SseCluster.Gateway.Auth;
using SseCluster.Gateway.Routing;
using SseCluster.Gateway.Streaming;
using SseCluster.Grains.Answers;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Answers;

/// <summary>
/// Streamed answers (the chat pattern): <c>POST /sse/answers</c> asks and reads the answer as SSE;
/// <c>GET /sse/answers/{id}</c> resumes it on any node; the backend writes it with <c>/chunks</c>, <c>/complete</c>
/// and <c>/fail</c>. Readers use a stream's credentials and see only their own answers (another user's is 404, so ids
/// do not leak); the backend uses the shared secret or the publisher role.
/// </summary>
internal static class AnswerEndpoints
{
    public static RouteGroupBuilder MapAnswerEndpoints(this RouteGroupBuilder group)
    {
        group.MapPost("/answers", AskAsync);
        group.MapGet("/answers/{answerId}", ResumeAsync);
        group.MapPost("/answers/{answerId}/chunks", ChunkAsync);
        group.MapPost("/answers/{answerId}/complete", CompleteAsync);
        group.MapPost("/answers/{answerId}/fail", FailAsync);
        return group;
    }

    private static async Task AskAsync(HttpContext context, AnswerServices s)
    {
        var (caller, refused) = await ReaderAsync(context, s);
        if (refused is not null)
        {
            await refused.ExecuteAsync(context);
            return;
        }

        var o = s.Options.Value;
        if (string.IsNullOrEmpty(o.BackendUrl))
        {
            await Problems.Unavailable("streamed answers are off: SseCluster:Answers:BackendUrl is not set").ExecuteAsync(context);
            return;
        }

        var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.JsonObject, o.MaxRequestBytes, "SseCluster:Answers:MaxRequestBytes");
        if (problem is not null)
        {
            await problem.ExecuteAsync(context);
            return;
        }

        if (!s.Calls.IsAvailable || !s.History.IsAvailable)
        {
            await Problems.Unavailable("the answer was not started: the cluster is not available").ExecuteAsync(context);
            return;
        }

        var answerId = NewAnswerId();
        AnswerOutcome opened;
        try
        {
            // Not retried: a new answer id makes a second attempt a second answer, which the first one's failure leaves unknown.
            var grain = s.Grains.GetGrain<IAnswerGrain>(answerId);
            opened = await s.Calls.RunAsync(ct => grain.Open(caller!.UserId!, ct), $"opening answer {answerId}", context.RequestAborted);
        }
        catch (RoutingUnavailableException ex)
        {
            await Problems.Unavailable($"the answer was not started: {ex.Message}").ExecuteAsync(context);
            return;
        }

        if (opened.Kind == AnswerOutcomeKind.TooManyOpen)
        {
            await Problems.Status(StatusCodes.Status429TooManyRequests, $"at most {o.MaxOpenAnswersPerUser} answers may be open per user (SseCluster:Answers:MaxOpenAnswersPerUser); wait for one to finish", "Too many open answers").ExecuteAsync(context);
            return;
        }

        s.Backend.Start(answerId, caller!.UserId!, body!.ToJsonString());
        await StreamAsync(context, s, StreamKey.ForAnswer(answerId), 0);
    }

    private static async Task ResumeAsync(string answerId, HttpContext context, AnswerServices s)
    {
        var (caller, refused) = await ReaderAsync(context, s);
        if (refused is not null)
        {
            await refused.ExecuteAsync(context);
            return;
        }

        AnswerInfo? own;
        try
        {
            own = await OwnAnswerAsync(answerId, caller!, s, context.RequestAborted);
        }
        catch (RoutingUnavailableException ex)
        {
            await Problems.Unavailable($"the answer cannot be read now: {ex.Message}").ExecuteAsync(context);
            return;
        }

        if (own is not { } info)
        {
            await NotFound(answerId).ExecuteAsync(context);
            return;
        }

        var after = 0L;
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } header ? header : context.Request.Query["lastEventId"].ToString();
        if (lastEventId.Length > 0)
        {
            if (!AnswerPosition.TryParse(lastEventId, out after, out var epoch))
            {
                await Problems.Field("Last-Event-ID", "not an id of this answer's stream (<sequence>-<epoch>)").ExecuteAsync(context);
                return;
            }

            if (epoch != 0 && epoch != info.Epoch)
            {
                after = 0; // an id of a stream the store lost and started again: everything it holds is new
            }
        }

        if (info.Status is AnswerStatus.Done or AnswerStatus.Failed && after >= info.FinalSequence)
        {
            // The client has the end already; 204 is the one answer that makes EventSource stop without an error.
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        await StreamAsync(context, s, StreamKey.ForAnswer(answerId), after);
    }

    private static async Task<IResult> ChunkAsync(string answerId, HttpContext context, AnswerServices s)
    {
        if (await BackendAsync(context, s) is { } refused)
        {
            return refused;
        }

        var o = s.Options.Value;
        var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.AnswerChunkRequest, o.MaxChunkBytes, "SseCluster:Answers:MaxChunkBytes");
        if (problem is not null)
        {
            return problem;
        }

        if (body!.EventType is { } type && Identifiers.AnswerChunkTypeProblem(type) is { } typeProblem)
        {
            return Problems.Field("eventType", typeProblem);
        }

        if (body.Data.ValueKind == System.Text.Json.JsonValueKind.Undefined)
        {
            return Problems.Field("data", "is required (any JSON value)");
        }

        if (!Identifiers.IsValidAnswerId(answerId))
        {
            return NotFound(answerId);
        }

        // The chunk id is the same through the retries below, so a chunk a dying silo stored is not stored twice; an
        // Idempotency-Key (scoped to the answer) gives the backend's own retries, on any node, that same guarantee.
        var chunkId = Guid.NewGuid();
        if (context.Request.Headers["Idempotency-Key"] is { Count: > 0 } keys)
        {
            var key = keys.ToString();
            if (keys.Count > 1 || key.Length is 0 or > PublishEndpoints.MaxIdempotencyKeyLength || key.Any(c => c is < ' ' or > '~'))
            {
                return Problems.Field("Idempotency-Key", $"one key of 1-{PublishEndpoints.MaxIdempotencyKeyLength} printable ASCII characters");
            }

            chunkId = PublishIds.FromKey("answer\n" + answerId + "\n" + key);
        }

        var chunk = new EventPayload(body.EventType ?? AnswerEvents.Chunk, body.Data.GetRawText(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        return await CallAsync(answerId, s, (g, ct) => g.Append(chunk, chunkId, ct), finishing: false, context.RequestAborted);
    }

    private static async Task<IResult> CompleteAsync(string answerId, HttpContext context, AnswerServices s)
    {
        if (await BackendAsync(context, s) is { } refused)
        {
            return refused;
        }

        return Identifiers.IsValidAnswerId(answerId)
            ? await CallAsync(answerId, s, (g, ct) => g.Finish(null, ct), finishing: true, context.RequestAborted)
            : NotFound(answerId);
    }

    private static async Task<IResult> FailAsync(string answerId, HttpContext context, AnswerServices s)
    {
        if (await BackendAsync(context, s) is { } refused)
        {
            return refused;
        }

        var reason = "backend-failed";
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.AnswerFailRequest, 1024, "the fail body limit of 1024 bytes");
            if (problem is not null)
            {
                return problem;
            }

            if (body!.Reason is { } given)
            {
                if (!Identifiers.IsValidAnswerFailReason(given))
                {
                    return Problems.Field("reason", Identifiers.AnswerFailReasonRule);
                }

                reason = given;
            }
        }

        return Identifiers.IsValidAnswerId(answerId)
            ? await CallAsync(answerId, s, (g, ct) => g.Finish(reason, ct), finishing: true, context.RequestAborted)
            : NotFound(answerId);
    }

    // The call is retried while the silo holding the grain dies and until it is declared dead, as publishes are: appends
    // carry one chunk id through every attempt, and an end that an earlier attempt may have stored counts as done.
    private static async Task<IResult> CallAsync(string answerId, AnswerServices s, Func<IAnswerGrain, CancellationToken, Task<AnswerOutcome>> call, bool finishing, CancellationToken cancellationToken)
    {
        var o = s.Options.Value;
        var grain = s.Grains.GetGrain<IAnswerGrain>(answerId);
        var attempts = 0;
        AnswerOutcome outcome;
        try
        {
            outcome = await s.Calls.RetryAsync(
                ct =>
                {
                    attempts++;
                    return call(grain, ct);
                },
                $"writing answer {answerId}",
                cancellationToken);
        }
        catch (RoutingUnavailableException ex)
        {
            return Problems.Unavailable($"the outcome is unknown (a chunk sent again stores once only with the same Idempotency-Key): {ex.Message}");
        }

        if (finishing && outcome.Kind == AnswerOutcomeKind.Finished && attempts > 1)
        {
            outcome = outcome with { Kind = AnswerOutcomeKind.Ok };
        }

        return outcome.Kind switch
        {
            AnswerOutcomeKind.Ok => Results.Json(new AnswerEventResponse(answerId, outcome.Sequence), SseJsonContext.Default.AnswerEventResponse, statusCode: StatusCodes.Status202Accepted),
            AnswerOutcomeKind.Finished => Problems.Status(StatusCodes.Status409Conflict, $"answer '{answerId}' has finished (complete or fail was called); it takes nothing more", "The answer has finished"),
            AnswerOutcomeKind.TooManyChunks => Problems.Status(StatusCodes.Status409Conflict, $"answer '{answerId}' has {s.Limits.MaxChunks} chunks, the most it may hold (SseCluster:Answers:MaxChunksPerAnswer, at most SseCluster:History:MaxEventsPerStream less 2)", "Too many chunks"),
            AnswerOutcomeKind.TooManyBytes => Problems.Status(StatusCodes.Status413PayloadTooLarge, $"answer '{answerId}' would pass {o.MaxBytesPerAnswer} bytes of chunk data (SseCluster:Answers:MaxBytesPerAnswer)", "The answer is too large"),
            AnswerOutcomeKind.ChunkTooLarge => Problems.Status(StatusCodes.Status413PayloadTooLarge, $"a chunk of answer '{answerId}' may hold at most {o.MaxChunkBytes} bytes of data (SseCluster:Answers:MaxChunkBytes)", "The chunk is too large"),
            _ => NotFound(answerId),
        };
    }

    private static IResult NotFound(string answerId) =>
        Problems.Status(StatusCodes.Status404NotFound, $"there is no answer '{(answerId.Length > 64 ? answerId[..64] : answerId)}' for these credentials (it never existed, belongs to someone else, or is past its retention)", "No such answer");

    // The answer if it exists and belongs to the caller; null otherwise (the two are not told apart).
    private static async Task<AnswerInfo?> OwnAnswerAsync(string answerId, Caller caller, AnswerServices s, CancellationToken cancellationToken)
    {
        if (!Identifiers.IsValidAnswerId(answerId))
        {
            return null;
        }

        var grain = s.Grains.GetGrain<IAnswerGrain>(answerId);
        var info = await s.Calls.RetryAsync(ct => grain.Describe(ct), $"reading answer {answerId}", cancellationToken);
        return info.Status != AnswerStatus.NotFound && info.UserId == caller.UserId ? info : null;
    }

    private static async Task<(Caller? Caller, IResult? Refused)> ReaderAsync(HttpContext context, AnswerServices s)
    {
        var auth = await s.Authenticator.AuthenticateStreamAsync(context, context.RequestAborted);
        if (auth.Caller is not { } caller)
        {
            return (null, auth.Unavailable ? Problems.Unavailable(auth.Failure!) : Problems.Unauthorized(auth));
        }

        if (caller.UserId is not { } userId || !Identifiers.IsValidUserId(userId))
        {
            return (null, Problems.Forbidden("streamed answers need credentials naming a user ('sub')"));
        }

        return (caller, null);
    }

    // The backend proves itself with the shared secret, or is a caller with the publisher role.
    private static async Task<IResult?> BackendAsync(HttpContext context, AnswerServices s)
    {
        if (context.Request.Headers[AnswerBackend.SecretHeader].ToString() is { Length: > 0 } presented)
        {
            var expected = s.Options.Value.BackendSecret;
            return expected is { Length: > 0 } && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected))
                ? null
                : Problems.Status(StatusCodes.Status401Unauthorized, $"the {AnswerBackend.SecretHeader} header does not match SseCluster:Answers:BackendSecret", "Authentication failed");
        }

        var auth = await s.Authenticator.AuthenticateApiAsync(context);
        if (auth.Caller is not { } caller)
        {
            return auth.Unavailable ? Problems.Unavailable(auth.Failure!) : Problems.Unauthorized(auth);
        }

        return caller.IsPublisher ? null : Problems.Forbidden($"writing an answer needs the {AnswerBackend.SecretHeader} header, the 'publisher' or 'admin' role, or an API key");
    }

    private static async Task StreamAsync(HttpContext context, AnswerServices s, StreamKey stream, long after)
    {
        var response = context.Response;
        StreamConnectHandler.SetStreamHeaders(context);
        try
        {
            await s.Reader.RunAsync(response, stream, after, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left; it resumes with GET /sse/answers/{id} and its Last-Event-ID.
        }
        catch (RoutingUnavailableException)
        {
            context.Abort(); // the client resumes where it stopped once the store is back
        }
    }

    private static string NewAnswerId()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}

/// <summary>What the answer endpoints need, resolved once.</summary>
internal sealed class AnswerServices(
    CallerAuthenticator authenticator,
    IGrainFactory grains,
    RoutingCalls calls,
    IStreamHistory history,
    AnswerReader reader,
    AnswerBackend backend,
    IOptions<AnswerOptions> options,
    IOptions<Grains.HistoryOptions> historyOptions)
{
    public AnswerLimits Limits => Options.Value.LimitsFor(historyOptions.Value);

    public CallerAuthenticator Authenticator { get; } = authenticator;
    public IGrainFactory Grains { get; } = grains;
    public RoutingCalls Calls { get; } = calls;
    public IStreamHistory History { get; } = history;
    public AnswerReader Reader { get; } = reader;
    public AnswerBackend Backend { get; } = backend;
    public IOptions<AnswerOptions> Options { get; } = options;
}
