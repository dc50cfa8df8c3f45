namespace SseCluster.Contracts.Routing;

/// <summary>
/// The grain of one streamed answer, keyed by its answer id. It owns the answer's state — who asked, how many chunks
/// and bytes it holds, whether it finished — and is the one writer of the answer's stream (<c>a:&lt;answerId&gt;</c>):
/// calls are not interleaved, so nothing can be appended after <c>done</c> or <c>error</c>. The state is rebuilt from
/// the stream's history when the grain activates elsewhere, so it survives the silo that held it.
/// </summary>
[Alias("sse.IAnswerGrain")]
public interface IAnswerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Starts the answer for <paramref name="userId"/>: stores the <c>answer</c> event (sequence 1). The answer is held to
    /// the limits of the silo that holds its grain (<c>SseCluster:Answers</c>); callers cannot choose them.
    /// </summary>
    [Alias("open")]
    Task<AnswerOutcome> Open(string userId, CancellationToken cancellationToken = default);

    /// <summary>The answer's state; <see cref="AnswerStatus.NotFound"/> when it never existed or outlived its retention.</summary>
    [Alias("describe")]
    Task<AnswerInfo> Describe(CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends one chunk unless the answer finished or a limit would be passed. <paramref name="chunkId"/> makes the call
    /// idempotent: the same chunk sent again with the same id (a retry after a silo died) answers with the sequence it was
    /// stored at instead of storing it twice.
    /// </summary>
    [Alias("append")]
    Task<AnswerOutcome> Append([Immutable] EventPayload chunk, Guid chunkId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ends the answer with <c>done</c> (<paramref name="failure"/> null) or <c>error</c>. A second end answers
    /// <see cref="AnswerOutcomeKind.Finished"/> with the sequence of the end already stored.
    /// </summary>
    [Alias("finish")]
    Task<AnswerOutcome> Finish(string? failure, CancellationToken cancellationToken = default);
}

/// <summary>
/// Keeps the count of one user's open answers (keyed by user id). Held in memory: after its silo fails the count
/// starts again from zero, which errs on the side of letting a user in; entries also expire with the answer timeout.
/// </summary>
[Alias("sse.IAnswerQuotaGrain")]
public interface IAnswerQuotaGrain : IGrainWithStringKey
{
    [Alias("tryOpen")]
    Task<bool> TryOpen(string answerId, int maxOpen, DateTimeOffset expiresAt);

    [Alias("release")]
    Task Release(string answerId);
}

/// <summary>
/// The limits an answer is held to: the configuration (<c>SseCluster:Answers</c>) of the silo whose grain holds it, the
/// same that silo's gateway enforces on its HTTP endpoints. Never sent by callers, so a publisher-library client cannot
/// choose its own. <see cref="MaxChunkBytes"/> bounds one chunk's data.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.AnswerLimits")]
public sealed record AnswerLimits(
    [property: Id(0)] int MaxChunks,
    [property: Id(1)] long MaxBytes,
    [property: Id(2)] int MaxOpenPerUser,
    [property: Id(3)] TimeSpan Timeout,
    [property: Id(4)] TimeSpan Retention,
    [property: Id(5)] int MaxChunkBytes)
{
    /// <summary>The defaults of <c>SseCluster:Answers</c>.</summary>
    public static AnswerLimits Default { get; } = new(900, 1024 * 1024, 5, TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(600), 16 * 1024);
}

[GenerateSerializer]
[Alias("sse.AnswerOutcomeKind")]
public enum AnswerOutcomeKind : byte
{
    Ok,
    NotFound,
    Exists,
    Finished,
    TooManyOpen,
    TooManyChunks,
    TooManyBytes,
    ChunkTooLarge,
}

/// <summary>What an answer call did; <see cref="Sequence"/> is the stored event's sequence when it succeeded.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.AnswerOutcome")]
public sealed record AnswerOutcome([property: Id(0)] AnswerOutcomeKind Kind, [property: Id(1)] long Sequence = 0);

[GenerateSerializer]
[Alias("sse.AnswerStatus")]
public enum AnswerStatus : byte
{
    NotFound,
    Open,
    Done,
    Failed,
}

/// <summary>An answer's state. <see cref="FinalSequence"/> is the sequence of <c>done</c>/<c>error</c> once it finished.</summary>
[GenerateSerializer]
[Immutable]
[Alias("sse.AnswerInfo")]
public sealed record AnswerInfo(
    [property: Id(0)] AnswerStatus Status,
    [property: Id(1)] string? UserId,
    [property: Id(2)] long FinalSequence,
    [property: Id(3)] int Epoch);
