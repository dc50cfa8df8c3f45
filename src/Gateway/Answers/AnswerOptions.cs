using SseCluster.Contracts.Routing;

namespace SseCluster.Gateway.Answers;

/// <summary>Streamed answers (<c>SseCluster:Answers</c>): <c>POST /sse/answers</c> and its backend.</summary>
public sealed class AnswerOptions
{
    public const string Section = "SseCluster:Answers";

    /// <summary>Where the gateway hands each question (<c>POST {answerId, userId, body}</c>). Unset: <c>POST /sse/answers</c> answers 503.</summary>
    public string? BackendUrl { get; set; }

    /// <summary>Sent to the backend as <c>X-SseCluster-Secret</c>; the backend sends it back on the chunk endpoints. At least 16 characters when set.</summary>
    public string? BackendSecret { get; set; }

    /// <summary>Seconds the backend has to complete an answer, counted from its start; then the answer ends with <c>error</c> (<c>timeout</c>). Default 120.</summary>
    public int TimeoutSeconds { get; set; } = 120;

    /// <summary>Largest question body in bytes (413 above). Default 16 KiB.</summary>
    public int MaxRequestBytes { get; set; } = 16 * 1024;

    /// <summary>Largest chunk request body in bytes (413 above). Default 16 KiB.</summary>
    public int MaxChunkBytes { get; set; } = 16 * 1024;

    /// <summary>Chunks per answer (409 above). Default 900; must stay below <c>SseCluster:History:MaxEventsPerStream</c> less 2.</summary>
    public int MaxChunksPerAnswer { get; set; } = 900;

    /// <summary>Bytes of chunk data per answer (413 above). Default 1 MiB.</summary>
    public int MaxBytesPerAnswer { get; set; } = 1024 * 1024;

    /// <summary>Answers one user may have open at once (429 above). Default 5.</summary>
    public int MaxOpenAnswersPerUser { get; set; } = 5;

    /// <summary>Seconds a finished answer can still be read; after that it answers 404. Default 600.</summary>
    public int RetentionSeconds { get; set; } = 600;

    /// <summary>
    /// The limits answer grains apply. An answer's events must all fit the stream's history (its <c>answer</c> event, the
    /// chunks and its end), so fewer chunks are allowed than configured where <c>History:MaxEventsPerStream</c> is smaller.
    /// </summary>
    internal AnswerLimits LimitsFor(Grains.HistoryOptions history) => new(
        EffectiveMaxChunks(history), MaxBytesPerAnswer, MaxOpenAnswersPerUser, TimeSpan.FromSeconds(TimeoutSeconds), TimeSpan.FromSeconds(RetentionSeconds), MaxChunkBytes);

    internal int EffectiveMaxChunks(Grains.HistoryOptions history) => Math.Max(1, Math.Min(MaxChunksPerAnswer, history.MaxEventsPerStream - 2));
}
