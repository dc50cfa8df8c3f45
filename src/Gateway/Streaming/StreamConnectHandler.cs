using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Api;
using SseCluster.Gateway.Auth;
using SseCluster.Gateway.Observability;
using SseCluster.Gateway.Routing;
using SseCluster.Grains.Storage;

namespace SseCluster.Gateway.Streaming;

/// <summary>
/// <c>GET /sse/connect</c>: authenticate, admit, register, then hand the response to the connection's writer.
/// Only a client that should stop for good gets a status other than 200 (401, 403, 400, 204): overload, shutdown and
/// an unreachable routing layer answer 200 with a jittered <c>retry:</c> and <c>event: close</c>, because a browser's
/// EventSource gives up forever on any error status.
/// </summary>
internal sealed partial class StreamConnectHandler(
    CallerAuthenticator authenticator,
    StreamSessionCookie sessionCookie,
    ConnectionAdmission admission,
    ConnectionRegistry registry,
    ConnectionWriter writer,
    IStreamHistory history,
    IReconnectBlocks blocks,
    LiveStreams live,
    GatewayIdentity gateway,
    GatewayMetrics metrics,
    TimeProvider time,
    IOptions<LimitsOptions> limits,
    IOptions<HeartbeatOptions> heartbeat,
    ILogger<StreamConnectHandler> logger)
{
    public async Task HandleAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        var auth = await authenticator.AuthenticateStreamAsync(context, aborted);
        if (auth.Unavailable)
        {
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "routing-unavailable"));
            await RefuseWithCloseAsync(context, "unavailable");
            return;
        }

        if (auth.Caller is not { } caller)
        {
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "unauthorized"));
            await Problems.Unauthorized(auth).ExecuteAsync(context);
            return;
        }

        // Tokens are checked when validated; a ticket or session cookie carries the user of a token checked earlier,
        // maybe under an older, looser rule. A user no other endpoint could address is not let in.
        if (caller.UserId is { } userId && !Identifiers.IsValidUserId(userId))
        {
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "unauthorized"));
            await Problems.Unauthorized($"the credentials' user ('sub') is not a valid user id: {Identifiers.UserIdRule}").ExecuteAsync(context);
            return;
        }

        if (ParseRequest(context.Request, caller, out var topics) is { } problem)
        {
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "bad-request"));
            await problem.ExecuteAsync(context);
            return;
        }

        if (!history.IsAvailable)
        {
            // Every step from here needs the stream store; with it known to be down, say "retry later" at once instead
            // of waiting out its timeouts one after another.
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "routing-unavailable"));
            await RefuseWithCloseAsync(context, "unavailable");
            return;
        }

        if (caller.UserId is { } blockedUser && await IsBlockedAsync(blockedUser, aborted))
        {
            // 204 is the one answer that makes EventSource stop retrying without an error.
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "blocked"));
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        if (!admission.TryEnter())
        {
            var reason = admission.IsDraining ? "shutdown" : "overloaded";
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
            await RefuseWithCloseAsync(context, reason);
            return;
        }

        try
        {
            await StreamAsync(context, caller, topics);
        }
        finally
        {
            admission.Leave();
        }
    }

    private async Task StreamAsync(HttpContext context, Caller caller, IReadOnlyList<string> topics)
    {
        var clientId = context.Request.Query["clientId"].ToString() is { Length: > 0 } c ? c : null;
        var connection = new SseConnection(
            NewConnectionId(),
            gateway.Name,
            caller.UserId,
            clientId,
            topics,
            time.GetUtcNow(),
            caller.ExpiresAt,
            context.Connection.RemoteIpAddress?.ToString(),
            Truncate(context.Request.Headers.UserAgent.ToString(), 256),
            limits.Value.ConnectionQueueCapacity);

        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, connection.Closing);
        var cancellationToken = lifetime.Token;
        try
        {
            if (!await registry.TryAddAsync(connection, limits.Value.MaxConnectionsPerUser, cancellationToken))
            {
                metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "user-connection-limit"));
                await RefuseWithCloseAsync(context, "user-connection-limit");
                return;
            }
        }
        catch (RoutingUnavailableException ex)
        {
            Log.RoutingUnavailable(logger, connection.Id, ex.Message);
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "routing-unavailable"));
            await RefuseWithCloseAsync(context, "unavailable");
            return;
        }

        try
        {
            var start = await PlanStartAsync(context.Request, connection, cancellationToken);
            PrepareResponse(context, caller);
            Log.Connected(logger, connection.Id, connection.UserId, topics.Count);
            await writer.RunAsync(connection, context.Response.BodyWriter, start, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
        {
            // The client left, or the connection was cut.
        }
        catch (RoutingUnavailableException ex) when (!context.Response.HasStarted)
        {
            Log.RoutingUnavailable(logger, connection.Id, ex.Message);
            await RefuseWithCloseAsync(context, "unavailable");
        }
        catch (Exception ex) when (ex is RoutingUnavailableException or IOException or InvalidOperationException)
        {
            Log.StreamFailed(logger, connection.Id, ex.Message);
        }
        finally
        {
            if (connection.Overflowed)
            {
                metrics.SlowConsumerDisconnects.Add(1);
                Log.SlowConsumer(logger, connection.Id, connection.UserId);
                context.Abort(); // the client resumes from history on its reconnect
            }
            else
            {
                // The client has everything it will get: end the response now, not after the cluster was told.
                await CompleteResponseAsync(context);
            }

            await registry.RemoveAsync(connection);
            Log.Disconnected(logger, connection.Id, connection.UserId);
        }
    }

    /// <summary>
    /// Sets each stream's starting position. Streams are already attached, so anything published from here on reaches
    /// the queue live; what the client missed before (if it resumes) is replayed up to the newest sequence read now,
    /// and live events at or below a position the writer has reached are dropped as duplicates. A position under another
    /// epoch than the stream's now belongs to a stream the store lost: that stream gets <c>reset</c> and is replayed
    /// from the start of its new epoch.
    /// </summary>
    private async Task<StreamStart> PlanStartAsync(HttpRequest request, SseConnection connection, CancellationToken cancellationToken)
    {
        var tails = await history.GetTailsAsync(connection.Streams, cancellationToken);
        var latest = new StreamTail[connection.SlotCount];
        for (int slot = 0, i = 0; slot < connection.SlotCount; slot++)
        {
            if (connection.StreamAt(slot) is { } stream)
            {
                latest[slot] = tails[i++];
                if (live.TryGet(stream, out var tracked))
                {
                    tracked.StartAt(latest[slot]);
                }
            }
        }

        var resumeFrom = request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } header ? header : request.Query["lastEventId"].ToString();
        var welcome = SseFrames.FormatEvent("welcome", new WelcomeData(
            connection.Id, connection.ClientId, connection.UserId, gateway.Name, time.GetUtcNow(), connection.Topics, heartbeat.Value.IntervalSeconds),
            SseJsonContext.Default.WelcomeData);
        var replayUpTo = latest.Select(t => t.LastSequence).ToArray();
        if (string.IsNullOrEmpty(resumeFrom))
        {
            for (var slot = 0; slot < connection.SlotCount; slot++)
            {
                connection.Positions[slot] = latest[slot].LastSequence;
                connection.Epochs[slot] = latest[slot].Epoch;
            }

            return new StreamStart(welcome, replayUpTo, null, []);
        }

        var outcome = ResumePosition.TryParse(resumeFrom, connection.SlotCount, connection.TopicFingerprint, connection.Positions, connection.Epochs);
        string? resetReason = null;
        var resetStreams = new List<string>();
        for (var slot = 0; slot < connection.SlotCount; slot++)
        {
            if (connection.StreamAt(slot) is not { } stream)
            {
                connection.Positions[slot] = 0;
                connection.Epochs[slot] = 0;
                continue;
            }

            var parsed = outcome == ResumePosition.ParseOutcome.Complete
                || outcome == ResumePosition.ParseOutcome.TopicsChanged && slot < ResumePosition.FirstTopicIndex;
            var position = connection.Positions[slot];
            var epoch = connection.Epochs[slot];
            var tail = latest[slot];
            if (parsed && position == 0)
            {
                connection.Epochs[slot] = tail.Epoch; // nothing seen yet: any epoch will do
                continue;
            }

            if (parsed && epoch != 0 && epoch == tail.Epoch && position <= tail.LastSequence)
            {
                continue; // replay from here
            }

            if (parsed && epoch != 0 && epoch != tail.Epoch)
            {
                // The store lost the stream and started it again: the client missed all of the new one.
                resetReason ??= "stream-restarted";
                resetStreams.Add(stream.ToString());
                connection.Positions[slot] = 0;
                connection.Epochs[slot] = tail.Epoch;
                continue;
            }

            // Unparseable, made for another topic set, ahead of the stream, or of a stream that is gone: continue live.
            resetReason ??= parsed || outcome == ResumePosition.ParseOutcome.Invalid ? "invalid-last-event-id" : "topics-changed";
            resetStreams.Add(stream.ToString());
            connection.Positions[slot] = tail.LastSequence;
            connection.Epochs[slot] = tail.Epoch;
        }

        return new StreamStart(welcome, replayUpTo, resetReason, resetStreams);
    }

    private void PrepareResponse(HttpContext context, Caller caller)
    {
        SetStreamHeaders(context);
        if (caller.Kind is CallerKind.Token or CallerKind.Ticket or CallerKind.SessionCookie)
        {
            sessionCookie.Append(context, caller);
        }
    }

    private async Task RefuseWithCloseAsync(HttpContext context, string reason)
    {
        SetStreamHeaders(context);
        var response = context.Response;
        await response.Body.WriteAsync(writer.JitteredRetry());
        await response.Body.WriteAsync(SseFrames.FormatEvent("close", new CloseData(reason, true), SseJsonContext.Default.CloseData));
    }

    private static async Task CompleteResponseAsync(HttpContext context)
    {
        try
        {
            await context.Response.CompleteAsync();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
        {
            // The client is gone already.
        }
    }

    // No proxy may buffer, cache, transform or compress the stream, and no browser may sniff it.
    internal static void SetStreamHeaders(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private async Task<bool> IsBlockedAsync(string userId, CancellationToken cancellationToken)
    {
        try
        {
            return await blocks.IsBlockedAsync(userId, cancellationToken);
        }
        catch (RoutingUnavailableException)
        {
            return false; // the connect itself will meet the outage and answer with a retry
        }
    }

    /// <summary>Checks the query; on success <paramref name="topics"/> holds the requested topics, distinct and sorted.</summary>
    private IResult? ParseRequest(HttpRequest request, Caller caller, out string[] topics)
    {
        topics = [];
        if (request.Query["clientId"].ToString() is { Length: > 0 } clientId && !Identifiers.IsValidClientId(clientId))
        {
            return Problems.Field("clientId", "must be 1-128 printable characters without commas or braces");
        }

        var raw = request.Query["topics"].ToString();
        if (raw.Length == 0)
        {
            return null;
        }

        topics = raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToArray();
        Array.Sort(topics, StringComparer.Ordinal);
        if (topics.Length > limits.Value.MaxTopicsPerConnection)
        {
            return Problems.Field("topics", $"at most {limits.Value.MaxTopicsPerConnection} topics per connection");
        }

        foreach (var topic in topics)
        {
            if (!Identifiers.IsValidTopic(topic))
            {
                return Problems.Field("topics", $"'{Truncate(topic, 140)}' is not a valid topic: {Identifiers.TopicRule}");
            }

            if (!caller.MaySubscribe(topic))
            {
                return Problems.Forbidden($"the credentials do not allow topic '{topic}'");
            }
        }

        return null;
    }

    private static string NewConnectionId()
    {
        Span<byte> bytes = stackalloc byte[12];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToBase64String(bytes).Replace('+', '-').Replace('/', '_');
    }

    private static string? Truncate(string? value, int max) => value is null ? null : value.Length <= max ? value : value[..max];

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Debug, "Connection {ConnectionId} opened for user {UserId} with {TopicCount} topics")]
        public static partial void Connected(ILogger logger, string connectionId, string? userId, int topicCount);

        [LoggerMessage(21, LogLevel.Debug, "Connection {ConnectionId} of user {UserId} closed")]
        public static partial void Disconnected(ILogger logger, string connectionId, string? userId);

        [LoggerMessage(22, LogLevel.Warning, "Connection {ConnectionId} of user {UserId} cut: its queue overflowed (slow consumer); it resumes from history")]
        public static partial void SlowConsumer(ILogger logger, string connectionId, string? userId);

        [LoggerMessage(23, LogLevel.Warning, "Connection {ConnectionId}: routing unavailable ({Reason}); client told to retry")]
        public static partial void RoutingUnavailable(ILogger logger, string connectionId, string reason);

        [LoggerMessage(24, LogLevel.Warning, "Connection {ConnectionId} ended with an error: {Reason}")]
        public static partial void StreamFailed(ILogger logger, string connectionId, string reason);
    }
}
