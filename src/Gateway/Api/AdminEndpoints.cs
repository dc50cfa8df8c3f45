using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using SseCluster.Contracts;
using SseCluster.Contracts.Routing;
using SseCluster.Gateway.Routing;

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

    // top is read here, not bound: a binding failure would answer without naming the parameter in Production.
    private static async Task<IResult> StatsAsync(HttpContext context, ClusterDirectory directory)
    {
        var top = 10;
        if (context.Request.Query["top"] is { Count: > 0 } values
            && (values.Count > 1 || !int.TryParse(values.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out top) || top > 1000))
        {
            return Problems.Field("top", "a whole number between 0 and 1000");
        }

        return await Guard(async () => Results.Json(await directory.GetStatsAsync(top, context.RequestAborted), SseJsonContext.Default.StatsResponse));
    }

    private static async Task<IResult> UserConnectionsAsync(string userId, HttpContext context, ClusterDirectory directory)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            return Problems.Field("userId", Identifiers.UserIdRule);
        }

        return await Guard(async () =>
        {
            var connections = await directory.GetUserConnectionsAsync(userId, context.RequestAborted);
            return Results.Json(connections.Select(ToDto).ToList(), SseJsonContext.Default.IReadOnlyListConnectionInfoDto);
        });
    }

    private static ConnectionInfoDto ToDto(ConnectionRecord c) =>
        new(c.ConnectionId, c.Gateway, c.UserId, c.ClientId, c.Topics, c.ConnectedAt, c.RemoteAddress, c.UserAgent);

    private static async Task<IResult> DisconnectUserAsync(string userId, HttpContext context, ISseEventPublisher publisher, RoutingCalls calls, IOptions<LimitsOptions> limits)
    {
        if (!Identifiers.IsValidUserId(userId))
        {
            return Problems.Field("userId", Identifiers.UserIdRule);
        }

        if (!calls.IsAvailable)
        {
            return Problems.Unavailable("this gateway has not joined the cluster yet");
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

    private static async Task<IResult> DeleteConnectionAsync(string connectionId, HttpContext context, ClusterDirectory directory)
    {
        if (connectionId.Length > 64)
        {
            return Problems.Field("connectionId", "unknown connection id");
        }

        var caller = CallerGate.CallerOf(context);
        if (!caller.IsAdmin && caller.UserId is null)
        {
            return Problems.Forbidden("only an admin or the connection's own user may close it");
        }

        // A user may close only their own connections; another user's id answers exactly like an unknown one.
        var onlyUser = caller.IsAdmin ? null : caller.UserId;
        return await Guard(async () =>
            await directory.DisconnectConnectionAsync(connectionId, onlyUser, context.RequestAborted)
                ? Results.NoContent()
                : Problems.Status(StatusCodes.Status404NotFound, $"no connection '{connectionId}' that you may close", "Not found"));
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
