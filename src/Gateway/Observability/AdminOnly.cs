using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Gateway.Api;
using SseCluster.Gateway.Auth;

namespace SseCluster.Gateway.Observability;

/// <summary>
/// Puts the API's admin check (<see cref="AdminGate"/>: an admin token or an API key; 401/403 problem otherwise) in front
/// of endpoints that are plain request delegates — the Prometheus scrape and the Orleans Dashboard — where endpoint
/// filters do not run. The dashboard's own page and data requests carry no token, so there an admin's dashboard cookie
/// (<see cref="StreamSessionCookie.AppendDashboard"/>, from <c>POST /sse/orleans-session</c>) admits them as well.
/// </summary>
internal static class AdminOnly
{
    public static TBuilder RequireAdminCaller<TBuilder>(this TBuilder builder, bool acceptDashboardCookie = false)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.Add(endpoint =>
        {
            var inner = endpoint.RequestDelegate;
            if (inner is null)
            {
                return;
            }

            endpoint.RequestDelegate = async context =>
            {
                if (acceptDashboardCookie)
                {
                    var cookies = context.RequestServices.GetRequiredService<StreamSessionCookie>();
                    if (context.Request.Cookies[cookies.DashboardName] is { Length: > 0 } cookie && cookies.IsValidDashboard(cookie))
                    {
                        await inner(context);
                        return;
                    }
                }

                var gate = context.RequestServices.GetRequiredService<AdminGate>();
                var admitted = false;
                var answer = await gate.InvokeAsync(EndpointFilterInvocationContext.Create(context), _ =>
                {
                    admitted = true;
                    return ValueTask.FromResult<object?>(null);
                });
                if (admitted)
                {
                    await inner(context);
                }
                else if (answer is IResult refused)
                {
                    await refused.ExecuteAsync(context);
                }
            };
        });
        return builder;
    }
}
