using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Grains;

namespace SseCluster.Gateway.Api;

/// <summary>Stats, connection listings and disconnects, cluster-wide whichever node is asked.</summary>
internal static class AdminEndpoints
{
    public static RouteGroupBuilder MapAdminEndpoints(this RouteGroupBuilder group)
    {
        var admin = group.MapGroup("").AddEndpointFilter<AdminGate>();
        admin.MapGet("/stats", StatsAsync);
        admin.MapGet("/users/{userId}/connections", UserConnectionsAsync);
        admin.MapPost("/users/{userId}/disconnect", DisconnectUserAsync);
        group.MapDelete("/connections/{connectionId}", DeleteConnectionAsync).AddEndpointFilter<AnyCallerGate>();
        return group;
    }

    private static async Task<IResult> StatsAsync(HttpContext context, IConnectionDirectory directory, int? top)
    {
        if (top is < 0 or > 1000)
        {
            return Problems.Field("top", "must be between 0 and 1000");
        }

        return await Guard(async () => Results.Json(await directory.GetStatsAsync(top ?? 10, context.RequestAborted), SseJsonContext.Default.StatsResponse));
    }

    private static async Task<IResult> UserConnectionsAsync(string userId, HttpContext context, IConnectionDirectory directory)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            return Problems.Field("userId", Identifiers.UserIdRule);
        }

        return await Guard(async () => Results.Json(
            await directory.GetUserConnectionsAsync(userId, context.RequestAborted),
            SseJsonContext.Default.IReadOnlyListConnectionInfoDto));
    }

    private static async Task<IResult> DisconnectUserAsync(string userId, HttpContext context, ISseEventPublisher publisher, IOptions<LimitsOptions> limits)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            return Problems.Field("userId", Identifiers.UserIdRule);
        }

        var request = new DisconnectRequest();
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var (body, problem) = await JsonBody.ReadAsync(context, SseJsonContext.Default.DisconnectRequest, limits.Value.MaxPayloadBytes);
            if (problem is not null)
            {
                return problem;
            }

            request = body!;
        }

        if (request.Reason is { } reason && (reason.Length > 200 || reason.Any(char.IsControl)))
        {
            return Problems.Field("reason", "at most 200 characters, no control characters");
        }

        return await Guard(async () =>
        {
            var closed = await publisher.DisconnectUserAsync(userId, request.Reason, request.Reconnect ?? true, context.RequestAborted);
            return Results.Json(new DisconnectResponse(closed), SseJsonContext.Default.DisconnectResponse);
        });
    }

    private static async Task<IResult> DeleteConnectionAsync(string connectionId, HttpContext context, IConnectionDirectory directory, IControlBus control)
    {
        if (connectionId.Length > 64)
        {
            return Problems.Field("connectionId", "unknown connection id");
        }

        var caller = CallerGate.CallerOf(context);
        return await Guard(async () =>
        {
            var connection = await directory.FindAsync(connectionId, context.RequestAborted);
            if (connection is null)
            {
                return Problems.Status(StatusCodes.Status404NotFound, $"no gateway holds connection '{connectionId}'", "Not found");
            }

            if (!caller.IsAdmin && (caller.UserId is null || caller.UserId != connection.UserId))
            {
                return Problems.Forbidden("only an admin or the connection's own user may close it");
            }

            await control.SendAsync(new ControlCommand(ControlTarget.Connection, connectionId, "disconnected", true), TimeSpan.Zero, context.RequestAborted);
            return Results.NoContent();
        });
    }

    private static async Task<IResult> Guard(Func<Task<IResult>> action)
    {
        try
        {
            return await action();
        }
        catch (RoutingUnavailableException ex)
        {
            return Problems.Unavailable(ex.Message);
        }
    }
}
