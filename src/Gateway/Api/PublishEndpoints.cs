using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Gateway.Observability;
using SseCluster.Gateway.Routing;

namespace SseCluster.Gateway.Api;

/// <summary><c>POST /sse/send</c>, <c>/sse/broadcast</c>, <c>/sse/topics/{topic}/publish</c>: publishers and admins, rate limited per caller.</summary>
internal static class PublishEndpoints
{
    public static RouteGroupBuilder MapPublishEndpoints(this RouteGroupBuilder group)
    {
        var publish = group.MapGroup("").AddEndpointFilter<PublisherGate>();
        publish.MapPost("/send", SendAsync);
        publish.MapPost("/broadcast", BroadcastAsync);
        publish.MapPost("/topics/{topic}/publish", PublishToTopicAsync);
        return group;
    }

    private static async Task<IResult> SendAsync(HttpContext context, ISseEventPublisher publisher, IOptions<LimitsOptions> limits, GatewayMetrics metrics)
    {
        var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.SendRequest, limits.Value.MaxPayloadBytes);
        if (problem is not null)
        {
            return problem;
        }

        if (body!.UserId is not null && body.UserIds is not null)
        {
            return Problems.Field("userIds", "give either userId or userIds, not both");
        }

        var userIds = body.UserIds ?? (body.UserId is null ? null : [body.UserId]);
        if (userIds is null || userIds.Count == 0)
        {
            return Problems.Field(body.UserIds is null ? "userId" : "userIds", "at least one user id is required");
        }

        if (userIds.Count > 10_000)
        {
            return Problems.Field("userIds", "at most 10000 users per send");
        }

        for (var i = 0; i < userIds.Count; i++)
        {
            if (!Identifiers.IsValidUserId(userIds[i]))
            {
                return Problems.Field(body.UserIds is null ? "userId" : $"userIds[{i}]", Identifiers.UserIdRule);
            }
        }

        if (Validate(body.EventType, body.Data) is { } invalid)
        {
            return invalid;
        }

        return await PublishAsync(context, metrics, body.EventType, body.Data, evt => publisher.SendToUsersAsync(userIds.ToArray(), evt, context.RequestAborted));
    }

    private static async Task<IResult> BroadcastAsync(HttpContext context, ISseEventPublisher publisher, IOptions<LimitsOptions> limits, GatewayMetrics metrics)
    {
        var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.BroadcastRequest, limits.Value.MaxPayloadBytes);
        if (problem is not null)
        {
            return problem;
        }

        if (Validate(body!.EventType, body.Data) is { } invalid)
        {
            return invalid;
        }

        var only = body.Filter?.UserIds;
        if (body.Filter is not null && only is null)
        {
            return Problems.Field("filter.userIds", "a filter needs userIds");
        }

        if (only is not null)
        {
            for (var i = 0; i < only.Count; i++)
            {
                if (!Identifiers.IsValidUserId(only[i]))
                {
                    return Problems.Field($"filter.userIds[{i}]", Identifiers.UserIdRule);
                }
            }
        }

        return await PublishAsync(context, metrics, body.EventType, body.Data, evt => publisher.BroadcastAsync(evt, only?.ToArray(), context.RequestAborted));
    }

    private static async Task<IResult> PublishToTopicAsync(string topic, HttpContext context, ISseEventPublisher publisher, IOptions<LimitsOptions> limits, GatewayMetrics metrics)
    {
        if (!Identifiers.IsValidTopic(topic))
        {
            return Problems.Field("topic", Identifiers.TopicRule);
        }

        var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.TopicPublishRequest, limits.Value.MaxPayloadBytes);
        if (problem is not null)
        {
            return problem;
        }

        if (Validate(body!.EventType, body.Data) is { } invalid)
        {
            return invalid;
        }

        return await PublishAsync(context, metrics, body.EventType, body.Data, evt => publisher.PublishToTopicAsync(topic, evt, context.RequestAborted));
    }

    private static IResult? Validate(string? eventType, JsonElement data)
    {
        if (eventType is not null)
        {
            if (!Identifiers.IsValidEventType(eventType))
            {
                return Problems.Field("eventType", Identifiers.EventTypeRule);
            }

            if (Identifiers.ReservedEventTypes.Contains(eventType))
            {
                return Problems.Field("eventType", $"'{eventType}' is reserved for the gateway");
            }
        }

        return data.ValueKind == JsonValueKind.Undefined ? Problems.Field("data", "is required (any JSON value)") : null;
    }

    /// <summary>The longest <c>Idempotency-Key</c> accepted.</summary>
    public const int MaxIdempotencyKeyLength = 255;

    // The data is the caller's JSON text exactly as sent, so the browser parses back what was published. The body was
    // parsed and the event type checked (Validate) already, so the text is not parsed a second time. An
    // Idempotency-Key makes the publish id, scoped to the caller, so two callers' keys never collide.
    private static async Task<IResult> PublishAsync(HttpContext context, GatewayMetrics metrics, string? eventType, JsonElement data, Func<OutgoingEvent, Task<PublishReceipt>> publish)
    {
        if (!context.RequestServices.GetRequiredService<RoutingCalls>().IsAvailable)
        {
            return Problems.Unavailable("the event was not stored: this gateway has not joined the cluster yet");
        }

        var evt = OutgoingEvent.Trusted(eventType, data.GetRawText());
        if (context.Request.Headers["Idempotency-Key"] is { Count: > 0 } keys)
        {
            var key = keys.ToString();
            if (keys.Count > 1 || key.Length is 0 or > MaxIdempotencyKeyLength || key.Any(c => c is < ' ' or > '~'))
            {
                return Problems.Field("Idempotency-Key", $"one key of 1-{MaxIdempotencyKeyLength} printable ASCII characters");
            }

            evt = evt.WithIdempotencyKey(CallerGate.CallerOf(context).RateKey + "\n" + key);
        }

        try
        {
            var receipt = await publish(evt);
            metrics.Published.Add(1);
            return Results.Json(
                new PublishResponse(receipt.Events.Select(e => new StreamSequenceDto(e.Stream.ToString(), e.Sequence)).ToList(), receipt.Gateways, receipt.Connections),
                SseJsonContext.Default.PublishResponse,
                statusCode: StatusCodes.Status202Accepted);
        }
        catch (PublishTooLargeException ex)
        {
            return Problems.Status(StatusCodes.Status413PayloadTooLarge, ex.Message, "The publish is too large");
        }
        catch (RoutingUnavailableException ex)
        {
            return Problems.Unavailable($"the event was not stored: {ex.Message}");
        }
    }
}
