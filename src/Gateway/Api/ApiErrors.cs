using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SseCluster.Gateway.Api;

/// <summary>
/// Makes every error of the gateway's paths (<c>/sse</c>, <c>/dev</c>, <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>)
/// an <c>application/problem+json</c> answer in every environment: routing's 404 and 405 and any other empty error
/// status get a problem body, a request that cannot be read answers 400 (or 413), and an unexpected exception answers
/// 500 with only a trace id. Nothing of the exception, the request headers or the cluster's internals is sent, and the
/// developer exception page is never reached on these paths. Other paths (the dashboard's files, a host's own pages)
/// keep the host's handling.
/// </summary>
internal static partial class ApiErrors
{
    /// <summary>True for a path the gateway serves.</summary>
    public static bool IsApiPath(PathString path) =>
        path.StartsWithSegments("/sse", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/dev", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/healthz", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/readyz", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase);

    /// <summary>Adds the exception handler and status code pages for the gateway's paths; call before its endpoints run.</summary>
    public static IApplicationBuilder UseApiProblems(this IApplicationBuilder app) =>
        app.UseWhen(context => IsApiPath(context.Request.Path), api =>
        {
            api.UseExceptionHandler(new ExceptionHandlerOptions
            {
                ExceptionHandler = WriteExceptionAsync,

                // A request the server could not read is the client's mistake, logged at Debug below; anything else is
                // a fault of ours and keeps the middleware's error log, with the exception.
                SuppressDiagnosticsCallback = c => c.Exception is BadHttpRequestException,
            });
            api.UseStatusCodePages(context => WriteStatusAsync(context.HttpContext));
        });

    private static Task WriteExceptionAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        if (error is BadHttpRequestException bad)
        {
            Log.BadRequest(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ApiErrors).FullName!), bad.StatusCode, bad.Message);
            return Unreadable(bad).ExecuteAsync(context);
        }

        // The trace id is set here as well: the problem details service adds it only for clients that accept JSON, and a
        // browser asking for HTML gets the same problem+json written without that service.
        return Results.Problem(
            statusCode: StatusCodes.Status500InternalServerError,
            title: "Internal server error",
            detail: "the request failed unexpectedly; nothing about it is disclosed here, quote the traceId to the operator",
            extensions: new Dictionary<string, object?> { ["traceId"] = Activity.Current?.Id ?? context.TraceIdentifier }).ExecuteAsync(context);
    }

    // Binding messages read 'Failed to bind parameter "int? top" from "abc".' or 'Required parameter "string userId" was
    // not provided from route.': name the parameter, send nothing else of the message.
    private static IResult Unreadable(BadHttpRequestException bad)
    {
        if (bad.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problems.Status(StatusCodes.Status413PayloadTooLarge, "the body is larger than the server accepts", "Payload too large");
        }

        if (ParameterName().Match(bad.Message) is { Success: true } match)
        {
            return Problems.Field(match.Groups["name"].Value, "is missing or not in the expected format", bad.StatusCode);
        }

        return Problems.Status(bad.StatusCode, "the request could not be read", ReasonPhrases.GetReasonPhrase(bad.StatusCode));
    }

    private static Task WriteStatusAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var detail = status switch
        {
            StatusCodes.Status404NotFound => "no endpoint of the API answers this path",
            StatusCodes.Status405MethodNotAllowed => $"this endpoint does not answer {context.Request.Method}; the Allow header lists the methods it does",
            StatusCodes.Status400BadRequest => "the request is invalid",
            _ => ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "the request failed",
        };
        return Problems.Status(status, detail, ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } title ? title : "Error").ExecuteAsync(context);
    }

    [GeneratedRegex("parameter \"(?:[^\"]* )?(?<name>[A-Za-z_][A-Za-z0-9_]*)\"", RegexOptions.CultureInvariant)]
    private static partial Regex ParameterName();

    private static partial class Log
    {
        [LoggerMessage(121, LogLevel.Debug, "A request could not be read ({Status}): {Reason}")]
        public static partial void BadRequest(ILogger logger, int status, string reason);
    }
}
