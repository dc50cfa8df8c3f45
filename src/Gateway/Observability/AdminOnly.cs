using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SseCluster.Gateway.Api;

namespace SseCluster.Gateway.Observability;

/// <summary>
/// Puts the API's admin check (<see cref="AdminGate"/>: an admin token or an API key; 401/403 problem otherwise) in front
/// of endpoints that are plain request delegates — the Prometheus scrape and the Orleans Dashboard — where endpoint
/// filters do not run.
/// </summary>
internal static class AdminOnly
{
    public static TBuilder RequireAdminCaller<TBuilder>(this TBuilder builder)
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
