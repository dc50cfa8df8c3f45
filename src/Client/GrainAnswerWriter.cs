using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;

namespace SseCluster.Client;

/// <summary>
/// <see cref="ISseAnswerWriter"/> over the answer grains. The grain holds the limits of its silo's gateway and answers
/// with an outcome; this turns each outcome into the exception the HTTP endpoints' status stands for.
/// </summary>
internal sealed class GrainAnswerWriter : ISseAnswerWriter
{
    private const string DefaultChunkType = "chunk";

    private readonly IGrainFactory _grains;
    private readonly TimeProvider _time;
    private readonly PublishRetry _retry;

    public GrainAnswerWriter(IGrainFactory grains, TimeProvider time, IOptions<PublisherOptions> options, ILogger<GrainAnswerWriter> logger)
    {
        _grains = grains;
        _time = time;
        _retry = new PublishRetry(options.Value, time, logger);
    }

    public Task<long> AppendAsync(string answerId, string text, string? eventType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return AppendDataAsync(answerId, JsonSerializer.Serialize(text, SseJsonContext.Default.String), eventType, cancellationToken);
    }

    public Task<long> AppendJsonAsync(string answerId, string json, string? eventType = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"data is not valid JSON: {ex.Message}", nameof(json), ex);
        }

        return AppendDataAsync(answerId, json, eventType, cancellationToken);
    }

    public Task<long> CompleteAsync(string answerId, CancellationToken cancellationToken = default)
    {
        ValidateAnswerId(answerId);
        return FinishAsync(answerId, null, cancellationToken);
    }

    public Task<long> FailAsync(string answerId, string reason, CancellationToken cancellationToken = default)
    {
        ValidateAnswerId(answerId);
        if (!Identifiers.IsValidAnswerFailReason(reason))
        {
            throw new ArgumentException($"'{reason}' is not a valid reason: {Identifiers.AnswerFailReasonRule}", nameof(reason));
        }

        return FinishAsync(answerId, reason, cancellationToken);
    }

    private async Task<long> AppendDataAsync(string answerId, string data, string? eventType, CancellationToken cancellationToken)
    {
        ValidateAnswerId(answerId);
        if (eventType is not null && Identifiers.AnswerChunkTypeProblem(eventType) is { } problem)
        {
            throw new ArgumentException($"'{eventType}' cannot type a chunk: {problem}", nameof(eventType));
        }

        var chunk = new EventPayload(eventType ?? DefaultChunkType, data, _time.GetUtcNow().ToUnixTimeMilliseconds());
        var chunkId = Guid.NewGuid(); // one id through every retry: a chunk a dying silo stored is not stored twice
        var grain = _grains.GetGrain<IAnswerGrain>(answerId);
        var outcome = await _retry.RunAsync(ct => grain.Append(chunk, chunkId, ct), $"appending to answer {answerId}", cancellationToken).ConfigureAwait(false);
        return Result(answerId, outcome);
    }

    private async Task<long> FinishAsync(string answerId, string? failure, CancellationToken cancellationToken)
    {
        var grain = _grains.GetGrain<IAnswerGrain>(answerId);
        var attempts = 0;
        var outcome = await _retry.RunAsync(
            ct =>
            {
                attempts++;
                return grain.Finish(failure, ct);
            },
            $"{(failure is null ? "completing" : "failing")} answer {answerId}",
            cancellationToken).ConfigureAwait(false);

        // An attempt that failed may have stored the end before its silo died: finding the answer finished on a later
        // attempt is then this call's own success, not someone else's end.
        return outcome.Kind == AnswerOutcomeKind.Finished && attempts > 1 ? outcome.Sequence : Result(answerId, outcome);
    }

    private static long Result(string answerId, AnswerOutcome outcome) => outcome.Kind switch
    {
        AnswerOutcomeKind.Ok => outcome.Sequence,
        AnswerOutcomeKind.Finished => throw new AnswerFinishedException(answerId),
        AnswerOutcomeKind.TooManyChunks => throw new AnswerLimitException(answerId, "SseCluster:Answers:MaxChunksPerAnswer",
            $"answer '{answerId}' holds the most chunks it may (SseCluster:Answers:MaxChunksPerAnswer, at most SseCluster:History:MaxEventsPerStream less 2); nothing was stored"),
        AnswerOutcomeKind.TooManyBytes => throw new AnswerLimitException(answerId, "SseCluster:Answers:MaxBytesPerAnswer",
            $"the chunk would take answer '{answerId}' past its most bytes of chunk data (SseCluster:Answers:MaxBytesPerAnswer); nothing was stored"),
        AnswerOutcomeKind.ChunkTooLarge => throw new AnswerLimitException(answerId, "SseCluster:Answers:MaxChunkBytes",
            $"the chunk's data is larger than one chunk of answer '{answerId}' may be (SseCluster:Answers:MaxChunkBytes); nothing was stored"),
        _ => throw new AnswerNotFoundException(answerId),
    };

    private static void ValidateAnswerId(string answerId)
    {
        if (!Identifiers.IsValidAnswerId(answerId))
        {
            throw new ArgumentException($"'{answerId}' is not a valid answer id: {Identifiers.AnswerIdRule}", nameof(answerId));
        }
    }
}
