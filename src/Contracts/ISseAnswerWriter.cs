namespace SseCluster.Contracts;

/// <summary>
/// Writes streamed answers (<c>POST /sse/answers</c>) from a .NET backend through the cluster's grains, with no HTTP
/// hop: what <c>POST /sse/answers/{id}/chunks</c>, <c>/complete</c> and <c>/fail</c> do, with the same outcomes as
/// exceptions. The answer's limits are those of the gateways (<c>SseCluster:Answers</c>); a writer cannot change them.
/// </summary>
/// <remarks>
/// Each call returns once the event is stored in the answer's history: readers on any node get it, in the order the
/// calls returned. While a silo that held the answer dies and until it is declared dead, a call retries (a chunk with
/// one id through every attempt, so it is stored once) for <c>SseCluster:Publish:RetryForSeconds</c>, then throws
/// <see cref="RoutingUnavailableException"/>: its outcome is then unknown. Calls for one answer should not overlap.
/// </remarks>
public interface ISseAnswerWriter
{
    /// <summary>
    /// Appends <paramref name="text"/> as one chunk; readers get it as a JSON string (as an HTTP backend posting
    /// <c>{"data": text}</c>). <paramref name="eventType"/> defaults to <c>chunk</c>.
    /// </summary>
    /// <returns>The chunk's sequence in the answer's stream.</returns>
    /// <exception cref="ArgumentException">The answer id or event type breaks its rule, or the type is reserved.</exception>
    /// <exception cref="AnswerNotFoundException">No such answer, or it is past its retention.</exception>
    /// <exception cref="AnswerFinishedException">The answer was completed or failed.</exception>
    /// <exception cref="AnswerLimitException">The chunk would pass one of the answer's limits; nothing was stored.</exception>
    /// <exception cref="RoutingUnavailableException">The cluster did not answer in time; the outcome is unknown.</exception>
    Task<long> AppendAsync(string answerId, string text, string? eventType = null, CancellationToken cancellationToken = default);

    /// <summary>Appends one chunk whose data is <paramref name="json"/>, one JSON value sent to readers as it is. See <see cref="AppendAsync"/>.</summary>
    /// <exception cref="ArgumentException">Also when <paramref name="json"/> is not one JSON value.</exception>
    Task<long> AppendJsonAsync(string answerId, string json, string? eventType = null, CancellationToken cancellationToken = default);

    /// <summary>Ends the answer with <c>done</c>; its readers' streams end after it.</summary>
    /// <returns>The sequence of <c>done</c>.</returns>
    /// <exception cref="AnswerNotFoundException">No such answer, or it is past its retention.</exception>
    /// <exception cref="AnswerFinishedException">The answer had already been completed or failed.</exception>
    /// <exception cref="RoutingUnavailableException">The cluster did not answer in time; the outcome is unknown.</exception>
    Task<long> CompleteAsync(string answerId, CancellationToken cancellationToken = default);

    /// <summary>Ends the answer with <c>error</c> carrying <paramref name="reason"/> (1-200 characters, no control characters).</summary>
    /// <returns>The sequence of <c>error</c>.</returns>
    /// <exception cref="ArgumentException">The answer id or reason breaks its rule.</exception>
    /// <exception cref="AnswerNotFoundException">No such answer, or it is past its retention.</exception>
    /// <exception cref="AnswerFinishedException">The answer had already been completed or failed.</exception>
    /// <exception cref="RoutingUnavailableException">The cluster did not answer in time; the outcome is unknown.</exception>
    Task<long> FailAsync(string answerId, string reason, CancellationToken cancellationToken = default);
}

/// <summary>A write to a streamed answer was refused; nothing was stored. <see cref="AnswerId"/> names the answer.</summary>
public abstract class AnswerWriteException(string answerId, string message) : Exception(message)
{
    public string AnswerId { get; } = answerId;
}

/// <summary>
/// There is no such answer: it never existed, or it finished longer ago than <c>SseCluster:Answers:RetentionSeconds</c>.
/// The HTTP endpoints answer 404.
/// </summary>
public sealed class AnswerNotFoundException(string answerId)
    : AnswerWriteException(answerId, $"there is no answer '{answerId}' (it never existed, or it finished longer ago than SseCluster:Answers:RetentionSeconds)");

/// <summary>The answer was completed or failed and takes nothing more. The HTTP endpoints answer 409.</summary>
public sealed class AnswerFinishedException(string answerId)
    : AnswerWriteException(answerId, $"answer '{answerId}' has finished (it was completed or failed, or timed out after SseCluster:Answers:TimeoutSeconds); it takes nothing more");

/// <summary>
/// A chunk would pass one of the answer's limits; <see cref="Setting"/> names the gateways' setting
/// (<c>SseCluster:Answers:MaxChunksPerAnswer</c>, <c>MaxBytesPerAnswer</c> or <c>MaxChunkBytes</c>). The HTTP endpoints
/// answer 409 (chunks) or 413 (bytes).
/// </summary>
public sealed class AnswerLimitException(string answerId, string setting, string message) : AnswerWriteException(answerId, message)
{
    public string Setting { get; } = setting;
}
