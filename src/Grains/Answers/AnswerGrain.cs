using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Grains.Storage;

namespace SseCluster.Grains.Answers;

/// <summary>
/// One answer (<see cref="IAnswerGrain"/>). Not reentrant: open, append, finish and the timeout run one at a time, so
/// the checks (finished? over a limit?) and the append they guard cannot interleave. Events go through the answer's
/// <see cref="IStreamGrain"/>, which stores them and hands them to the gateways whose readers wait for them.
/// </summary>
internal sealed partial class AnswerGrain(IStreamHistory history, TimeProvider time, IOptions<AnswerGrainOptions> options, ILogger<AnswerGrain> logger) : Grain, IAnswerGrain
{
    private const int ReadBatch = 256;

    // This silo's configuration, never a caller's: whoever writes (a gateway, a publisher-library client) is held to it.
    private readonly AnswerLimits _limits = options.Value.Limits;

    private string _id = "";
    private StreamKey _stream;
    private string? _user;
    private AnswerStatus _status;
    private int _chunks;
    private long _bytes;
    private long _final;
    private int _epoch;
    private DateTimeOffset _createdAt;
    private DateTimeOffset _finishedAt;
    private long _last;
    private IGrainTimer? _timeout;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _id = this.GetPrimaryKeyString();
        _stream = StreamKey.ForAnswer(_id);

        // The history is the state: an activation after a silo failure carries on where the last one stopped.
        var after = 0L;
        while (true)
        {
            var read = await history.ReadAsync(_stream, after, ReadBatch, cancellationToken);
            _epoch = read.Epoch;
            foreach (var e in read.Events)
            {
                Apply(e.Sequence, e.Payload);
                after = e.Sequence;
            }

            if (read.Events.Count < ReadBatch)
            {
                break;
            }
        }

        // The timer of the activation that was lost with its silo is armed again here, with the time that is left: an
        // open answer ends (done, or error timeout) whichever silo holds it, and whoever woke it (a chunk, a reader).
        ArmTimeout();
    }

    public async Task<AnswerOutcome> Open(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        var limits = _limits;
        if (_status != AnswerStatus.NotFound)
        {
            return new AnswerOutcome(AnswerOutcomeKind.Exists);
        }

        var now = time.GetUtcNow();
        var quota = GrainFactory.GetGrain<IAnswerQuotaGrain>(userId);
        if (!await quota.TryOpen(_id, limits.MaxOpenPerUser, now + limits.Timeout))
        {
            return new AnswerOutcome(AnswerOutcomeKind.TooManyOpen);
        }

        var sequence = await PublishAsync(AnswerEvents.Answer, AnswerEvents.AnswerData(_id, userId), now, cancellationToken);
        _user = userId;
        _last = sequence;
        _status = AnswerStatus.Open;
        _createdAt = now;
        ArmTimeout();
        return new AnswerOutcome(AnswerOutcomeKind.Ok, sequence);
    }

    public Task<AnswerInfo> Describe(CancellationToken cancellationToken = default)
    {
        if (IsGone())
        {
            return Task.FromResult(new AnswerInfo(AnswerStatus.NotFound, null, 0, 0));
        }

        ArmTimeout();
        return Task.FromResult(new AnswerInfo(_status, _user, _final, _epoch));
    }

    public async Task<AnswerOutcome> Append(EventPayload chunk, Guid chunkId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var limits = _limits;
        if (IsGone())
        {
            return new AnswerOutcome(AnswerOutcomeKind.NotFound);
        }

        if (_status != AnswerStatus.Open)
        {
            return new AnswerOutcome(AnswerOutcomeKind.Finished);
        }

        if (_chunks + 1 > limits.MaxChunks)
        {
            return new AnswerOutcome(AnswerOutcomeKind.TooManyChunks);
        }

        var bytes = chunk.DataBytes;
        if (bytes > limits.MaxChunkBytes)
        {
            return new AnswerOutcome(AnswerOutcomeKind.ChunkTooLarge);
        }

        if (_bytes + bytes > limits.MaxBytes)
        {
            return new AnswerOutcome(AnswerOutcomeKind.TooManyBytes);
        }

        ArmTimeout();
        var sequence = await PublishAsync(chunk.EventType, chunk.Data, time.GetUtcNow(), cancellationToken, chunkId);
        if (sequence > _last)
        {
            // Not a retry that the stream answered with the sequence it stored the chunk at before: count it once.
            _last = sequence;
            _chunks++;
            _bytes += bytes;
        }

        return new AnswerOutcome(AnswerOutcomeKind.Ok, sequence);
    }

    public Task<AnswerOutcome> Finish(string? failure, CancellationToken cancellationToken = default) => FinishAsync(failure, cancellationToken);

    private async Task<AnswerOutcome> FinishAsync(string? failure, CancellationToken cancellationToken)
    {
        if (IsGone())
        {
            return new AnswerOutcome(AnswerOutcomeKind.NotFound);
        }

        if (_status != AnswerStatus.Open)
        {
            return new AnswerOutcome(AnswerOutcomeKind.Finished, _final);
        }

        var now = time.GetUtcNow();
        var sequence = failure is null
            ? await PublishAsync(AnswerEvents.Done, AnswerEvents.DoneData(_id), now, cancellationToken)
            : await PublishAsync(AnswerEvents.Error, AnswerEvents.ErrorData(_id, failure), now, cancellationToken);
        _status = failure is null ? AnswerStatus.Done : AnswerStatus.Failed;
        _final = sequence;
        _last = sequence;
        _finishedAt = now;
        _timeout?.Dispose();
        _timeout = null;
        if (failure is not null)
        {
            Log.Failed(logger, _id, failure);
        }

        if (_user is not null)
        {
            await GrainFactory.GetGrain<IAnswerQuotaGrain>(_user).Release(_id);
        }

        return new AnswerOutcome(AnswerOutcomeKind.Ok, sequence);
    }

    // An answer outlives its end by the retention, then reads as never having existed (the store forgets it later).
    private bool IsGone() =>
        _status == AnswerStatus.NotFound
        || (_status is AnswerStatus.Done or AnswerStatus.Failed && time.GetUtcNow() - _finishedAt > _limits.Retention);

    // The backend has until the timeout to finish. The timer keeps the activation alive; an activation after a silo
    // failure arms it again when it activates (at its first call: a reader's describe, a chunk), with the time that is left.
    private void ArmTimeout()
    {
        if (_timeout is not null || _status != AnswerStatus.Open)
        {
            return;
        }

        var due = _createdAt + _limits.Timeout - time.GetUtcNow();
        _timeout = this.RegisterGrainTimer(
            ct => FinishAsync("timeout", ct),
            new GrainTimerCreationOptions { DueTime = due > TimeSpan.Zero ? due : TimeSpan.Zero, Period = Timeout.InfiniteTimeSpan, KeepAlive = true });
    }

    private async Task<long> PublishAsync(string? eventType, string data, DateTimeOffset at, CancellationToken cancellationToken, Guid publishId = default)
    {
        var ack = await GrainFactory.GetGrain<IStreamGrain>(_stream.GrainKey)
            .Publish(new EventPayload(eventType, data, at.ToUnixTimeMilliseconds()), publishId == Guid.Empty ? Guid.NewGuid() : publishId, cancellationToken);
        _epoch = ack.Epoch;
        return ack.Sequence;
    }

    private void Apply(long sequence, EventPayload payload)
    {
        _last = sequence;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(payload.PublishedAt);
        switch (payload.EventType)
        {
            case AnswerEvents.Answer when sequence == 1:
                _user = AnswerEvents.UserOf(payload.Data);
                _status = AnswerStatus.Open;
                _createdAt = at;
                break;
            case AnswerEvents.Done or AnswerEvents.Error:
                _status = payload.EventType == AnswerEvents.Done ? AnswerStatus.Done : AnswerStatus.Failed;
                _final = sequence;
                _finishedAt = at;
                break;
            default:
                _chunks++;
                _bytes += payload.DataBytes;
                break;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Information, "Answer {AnswerId} failed: {Reason}")]
        public static partial void Failed(ILogger logger, string answerId, string reason);
    }
}

/// <summary>See <see cref="IAnswerQuotaGrain"/>.</summary>
internal sealed class AnswerQuotaGrain(TimeProvider time) : Grain, IAnswerQuotaGrain
{
    private readonly Dictionary<string, DateTimeOffset> _open = new(StringComparer.Ordinal);

    public Task<bool> TryOpen(string answerId, int maxOpen, DateTimeOffset expiresAt)
    {
        var now = time.GetUtcNow();
        foreach (var stale in _open.Where(e => e.Value <= now).Select(e => e.Key).ToList())
        {
            _open.Remove(stale);
        }

        if (_open.Count >= maxOpen)
        {
            return Task.FromResult(false);
        }

        _open[answerId] = expiresAt;
        return Task.FromResult(true);
    }

    public Task Release(string answerId)
    {
        _open.Remove(answerId);
        return Task.CompletedTask;
    }
}
